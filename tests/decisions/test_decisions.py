"""The one way every front end writes a decision (stillmake/decisions.py), called directly:
what each decision writes, what it refuses (and then writes nothing), and the guard that
keeps a page from overwriting what changed since it was shown."""

from __future__ import annotations

import pytest

from stillmake import decisions, paths
from stillmake.api.backends.preview import PreviewBackend
from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.artifacts.provenance import write_image
from stillmake.errors import ChangedMeanwhile, DecisionError
from stillmake.files import sha256_bytes
from stillmake.inputs.config import load_config
from stillmake.planner.load import load_build
from tests.conftest import copy_workflow

SELECTIONS = "runs/input/selections.yaml"


@pytest.fixture
def drafted(tmp_path, monkeypatch):
    """The sample with s2's and s4's drafts on disk (written as the draft job writes them)."""
    wf = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wf)
    build = load_build(load_config())
    for shot in ("s2", "s4"):
        for k, png in enumerate(PreviewBackend().generate(build.draft(shot).request, {}).images, 1):
            write_image(paths.draft(shot, k), png, {"image_sha256": sha256_bytes(png), "k": k})
    return wf


def build():
    return load_build(load_config())


def test_a_pick_is_bound_to_the_drafts_on_disk(drafted):
    done = decisions.pick(build(), "s4", 2, {1: "too dark"})
    assert done.value == current_drafts_fingerprint(paths.drafts("s4", 3))
    s4 = build().selections["s4"]
    assert (s4.pick, s4.drafts, s4.reject) == (2, done.value, {1: "too dark"})


def test_refusals_write_nothing(drafted):
    before = (drafted / SELECTIONS).read_bytes()
    refused = [
        (lambda b: decisions.pick(b, "s3", 1), "has no drafts yet"),  # s3 not drafted
        (lambda b: decisions.pick(b, "s4", 4), "outside 1..3"),
        (lambda b: decisions.pick(b, "s4", 2, {2: "x"}), "cannot reject draft 2"),
        (lambda b: decisions.lock(b, ["s4"]), "no pick yet"),
        (lambda b: decisions.lock(b, ["s2"]), "is not built yet"),  # no candidate to see
        (lambda b: decisions.reroll(b, "s1"), "is locked"),
        (lambda b: decisions.reject(b, "s2", 1, "dull"), "is the pick"),
        (lambda b: decisions.add_step(b, "s4", "a change"), "has no pick yet"),
        (lambda b: decisions.pick(b, "s9", 1), "unknown shot"),
    ]
    for decide, words in refused:
        with pytest.raises(DecisionError, match=words):
            decide(build())
    assert (drafted / SELECTIONS).read_bytes() == before


def test_a_decision_made_on_what_changed_since_is_refused(drafted):
    """A page passes what it showed: the shot's entry and its drafts. A change on disk to
    either since then refuses the decision; a change to another shot does not."""
    seen = decisions.pick(build(), "s2", 2).seen
    decisions.reject(build(), "s4", 1, "flat")  # another shot: the page's view of s2 holds
    decisions.reroll(build(), "s2", seen=seen)
    with pytest.raises(ChangedMeanwhile, match="since this page read it"):
        decisions.reject(build(), "s2", 3, "soft", seen=seen)  # s2's entry changed: rerolled
    with pytest.raises(ChangedMeanwhile, match="changed since they were shown"):
        decisions.pick(build(), "s4", 3, drafts_seen="000000000000")


def test_an_edit_step_from_a_box_dragged_any_way(drafted):
    done = decisions.add_step(build(), "s2", "  close the tap ", "the nurse", [0.8, 0.7, 0.2, 0.1])
    assert done.value == 1
    (step,) = build().selections["s2"].edits
    assert (step.change, step.keep, step.region) == (
        "close the tap",
        "the nurse",
        (0.2, 0.1, 0.8, 0.7),
    )
