"""Faces kept on disk by the image's content: served for the same pixels only, measured
afresh when an entry is damaged, nothing kept when the store is off."""

from __future__ import annotations

import json

import numpy as np
import pytest

from stillmake import standins, user_cache
from stillmake.artifacts import face_store, identity


@pytest.fixture
def store(tmp_path, monkeypatch):
    monkeypatch.setenv(user_cache.CACHE_ENV, str(tmp_path))
    identity._seen.clear()  # the in-process memory would answer first
    yield tmp_path / face_store.KIND
    identity._seen.clear()


def portrait() -> np.ndarray:
    return np.asarray(standins.image("portrait").convert("RGB"))


def test_faces_are_kept_and_served_for_the_same_pixels(store, monkeypatch):
    found = identity.find_faces(portrait())
    assert len(found) == 1
    (entry,) = store.rglob("*.json")
    identity._seen.clear()
    monkeypatch.setattr(identity, "_detect", lambda rgb: pytest.fail("measured again"))
    again = identity.find_faces(portrait())
    assert again[0].box == found[0].box and np.array_equal(again[0].descriptor, found[0].descriptor)
    # other pixels are never answered from it: one pixel changed, measured afresh
    other = portrait().copy()
    other[0, 0] ^= 1
    with pytest.raises(pytest.fail.Exception, match="measured again"):
        identity.find_faces(other)
    assert json.loads(entry.read_text())["key"] == entry.stem


def test_a_damaged_entry_is_measured_afresh_and_rewritten(store):
    found = identity.find_faces(portrait())
    (entry,) = store.rglob("*.json")
    entry.write_text('{"format": 1, "key": "' + entry.stem + '", "faces": [{"box": [1]}]}')
    identity._seen.clear()
    again = identity.find_faces(portrait())
    assert again[0].box == found[0].box
    assert len(json.loads(entry.read_text())["faces"][0]["descriptor"]) == 128


@pytest.mark.parametrize("setting", ["off", ""])
def test_off_keeps_nothing(tmp_path, monkeypatch, setting):
    monkeypatch.setenv(user_cache.CACHE_ENV, setting)
    monkeypatch.chdir(tmp_path)
    identity._seen.clear()
    assert user_cache.cache_dir(face_store.KIND) is None
    assert len(identity.find_faces(portrait())) == 1
    assert list(tmp_path.rglob("*.json")) == []
