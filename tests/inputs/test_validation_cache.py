"""A document that passed its schema is marked in the user's cache by its exact content
(and the schema's, and the checker's): the next process skips the check and the 0.2 s
jsonschema import; anything else is checked afresh, and a failure is never kept."""

from __future__ import annotations

import copy
import datetime

import pytest

from stillmake import user_cache
from stillmake.errors import InputError
from stillmake.inputs import schemas
from stillmake.inputs.config import read_config_file
from tests.conftest import REPO

CONFIG = "config.schema.yaml"


def sample() -> dict:
    return read_config_file(REPO / "config.yaml")


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv(user_cache.CACHE_ENV, str(tmp_path))
    return tmp_path


def unchecked(monkeypatch):
    """From here on, a document checked afresh fails the test."""
    monkeypatch.setattr(schemas, "_validators", lambda: pytest.fail("checked afresh"))


def test_a_document_that_passed_is_not_checked_again(cache, monkeypatch):
    doc = sample()
    schemas.validate(doc, CONFIG, file="config.yaml")
    assert len(list((cache / "valid").rglob("*"))) == 2  # its folder and its mark
    unchecked(monkeypatch)
    schemas.validate(copy.deepcopy(doc), CONFIG, file="config.yaml")
    with pytest.raises(pytest.fail.Exception, match="checked afresh"):
        schemas.validate({**doc, "budget_usd": 6.5}, CONFIG, file="config.yaml")


def test_a_failure_is_said_every_time_and_never_kept(cache):
    for _ in range(2):
        with pytest.raises(InputError, match="budget_usd"):
            schemas.validate({**sample(), "budget_usd": "lots"}, CONFIG, file="config.yaml")
    assert not (cache / "valid").exists()


def test_values_json_cannot_hold_are_always_checked(cache, monkeypatch):
    doc = {**sample(), "budget_usd": datetime.date(2026, 12, 8)}
    with pytest.raises(InputError):
        schemas.validate(doc, CONFIG, file="config.yaml")
    assert schemas._passed_before(doc, CONFIG) is None


def test_defaults_filled_from_the_cache_are_the_ones_the_schema_fills(cache, monkeypatch):
    first = {k: v for k, v in sample().items() if k != "draft"}
    schemas.fill_and_validate(first, CONFIG, file="config.yaml")
    assert first["draft"]["n"] == 3
    unchecked(monkeypatch)
    again = {k: v for k, v in sample().items() if k != "draft"}
    schemas.fill_and_validate(again, CONFIG, file="config.yaml")
    assert again == first


def test_off_keeps_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv(user_cache.CACHE_ENV, "off")
    monkeypatch.chdir(tmp_path)
    schemas.validate(sample(), CONFIG, file="config.yaml")
    assert schemas._passed_before(sample(), CONFIG) is None
    assert list(tmp_path.iterdir()) == []
