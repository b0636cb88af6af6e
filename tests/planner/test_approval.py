"""Approval bound to what was seen (issue 19): the judge (planner/approval.py) case by
case, without Snakemake; the loader's locks and waivers; and `stillmake lock` / `waive`
on a sample whose picks are built (one `snakemake review selected` on the preview, ~8 s)."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from stillmake.artifacts.picks import image_sha256
from stillmake.artifacts.thresholds import METRICS
from stillmake.cli.main import cli
from stillmake.errors import StillmakeError
from stillmake.inputs.checks import gate_checks
from stillmake.inputs.config import load_config
from stillmake.inputs.selections import load_selections
from stillmake.planner.approval import (
    APPROVED,
    AWAITING,
    GATE,
    LET_THROUGH,
    TO_CHECK,
    TRUST_ANY,
    TRUST_PREVIEW,
    UNLOCKED,
    Lock,
    decide,
    what_changed,
)
from stillmake.planner.load import load_build
from stillmake.rubric import CRITERIA
from tests.conftest import Workflow, copy_workflow

SHA = "5be0c3a1d2f4" + "7" * 52
PATH = "runs/edits/s3/step_2.png"
FAIL = {"metric": "highlight_detail", "level": "fail", "message": "the lamp is blown out"}
WARN = {"metric": "cast_a", "level": "warn", "message": "a green cast"}


def lock(approved=None, trust=None, waive=None, locked=True) -> Lock:
    return Lock("s3", locked, approved, trust, waive or {}, "runs/input/selections.yaml")


@pytest.mark.parametrize(
    "the_lock, sha, flags, rebuilt, state, words",
    [
        (
            lock(),
            SHA,
            [],
            None,
            AWAITING,
            "`lock: true` approves no particular image on the "
            "openai backend; look at runs/edits/s3/step_2.png, then `stillmake lock s3` (or write "
            "`lock: 5be0c3a1d2f4` in runs/input/selections.yaml)",
        ),
        (lock(trust=TRUST_PREVIEW), SHA, [WARN], None, LET_THROUGH, ""),
        (
            lock(trust=TRUST_PREVIEW),
            SHA,
            [FAIL],
            None,
            GATE,
            "fails the gate: highlight_detail (the lamp is blown out)",
        ),
        (lock("5be0c3a1d2f4"), SHA, [WARN], None, APPROVED, ""),  # warn never blocks
        (lock("5be0c3a1"), SHA, [], None, APPROVED, ""),  # a shorter fingerprint, by hand
        (
            lock("0123456789ab"),
            SHA,
            [],
            None,
            AWAITING,
            "the lock approved candidate 0123456789ab, but runs/edits/s3/step_2.png is now "
            "5be0c3a1d2f4 (it is not the image the lock approved)",
        ),
        (
            lock("0123456789ab"),
            SHA,
            [FAIL],
            None,
            AWAITING,
            "first waive what fails the gate (highlight_detail)",
        ),
        (lock("5be0c3a1d2f4"), SHA, [FAIL], None, GATE, "`stillmake waive s3 highlight_detail"),
        (
            lock("5be0c3a1d2f4", waive={"highlight_detail": "it blooms"}),
            SHA,
            [FAIL],
            None,
            APPROVED,
            "",
        ),
        (lock(trust=TRUST_ANY), SHA, [FAIL], "a new pick", LET_THROUGH, ""),
        (
            lock("5be0c3a1d2f4"),
            SHA,
            [],
            "a new pick",
            AWAITING,
            "will be re-rendered (a new pick); build it (`snakemake runs/edits/s3/step_2.png`)",
        ),
        (lock(trust=TRUST_PREVIEW), None, [], "a new pick", LET_THROUGH, ""),
        (lock("5be0c3a1d2f4"), None, None, None, TO_CHECK, ""),  # its final job checks it
        (lock(), None, None, None, AWAITING, "is not built yet"),
        (lock(locked=False), SHA, [], None, UNLOCKED, "s3 is not locked"),
    ],
)
def test_the_judge(the_lock, sha, flags, rebuilt, state, words):
    record = {"flags": flags, "chain": ["draft 1", "step 1", "step 2"]} if sha else None
    verdict = decide(the_lock, PATH, sha, record, rebuilt=rebuilt, backend="openai")
    assert verdict.state == state and words in verdict.why, verdict.why
    assert verdict.wanted == (state in (APPROVED, LET_THROUGH, TO_CHECK))
    if state == APPROVED and the_lock.waive:
        assert verdict.verdict.waived == {"highlight_detail": "it blooms"}


def test_what_changed_since_the_lock():
    note = {"candidate": "aaa111", "chain": ["draft 2", "step 1"]}
    said = lambda chain: what_changed(note, "aaa111", {"chain": chain})  # noqa: E731
    assert said(["draft 1", "step 1"]) == "a new pick: draft 2, now draft 1"
    assert said(["draft 2", "step 1", "step 2"]) == "edit steps added: 1, now 2"
    assert said(["draft 2"]) == "edit steps removed: 1, now 0"
    assert said(["draft 2", "step 1"]).startswith("re-rendered")
    assert what_changed(None, "aaa111", {"chain": ["draft 2"]}) == (
        "it is not the image the lock approved"
    )


def test_unused_waivers_are_kept_apart():
    verdict = decide(
        lock("5be0c3a1d2f4", waive={"highlight_detail": "blooms", "identity": "a profile"}),
        PATH,
        SHA,
        {"flags": [FAIL, WARN]},
    )
    assert verdict.state == APPROVED
    assert verdict.verdict.waived == {"highlight_detail": "blooms"}
    assert verdict.verdict.unused == {"identity": "a profile"}


def test_waivable_checks_are_the_gates_own_names():
    assert set(gate_checks()) == (
        set(METRICS) | {"identity_across_shots"} | {f"critique:{c}" for c in CRITERIA}
    )


def test_the_loader_reads_locks_and_waivers(tmp_path):
    path = tmp_path / "selections.yaml"
    path.write_text(
        "s1: {pick: 1, lock: 3fa9c2e1b0d4, waive: {identity: '  a   profile '}}\n"
        "s2: {pick: 2, drafts: 123456789012, lock: 123456789012}\n"  # all digits: numbers
        "s3: {pick: 3, lock: true}\n",
        encoding="utf-8",
    )
    sel = load_selections(path, shots=["s1", "s2", "s3"], draft_n=3)
    assert (sel["s1"].lock, sel["s1"].approved, sel["s1"].waive) == (
        True,
        "3fa9c2e1b0d4",
        {"identity": "a profile"},
    )
    assert (sel["s2"].drafts, sel["s2"].approved) == ("123456789012", "123456789012")
    assert (sel["s3"].lock, sel["s3"].approved) == (True, None)


# -- the commands, on built picks ------------------------------------------------------


@pytest.fixture(scope="module")
def selected(tmp_path_factory):
    wf = Workflow(copy_workflow(tmp_path_factory.mktemp("approval") / "wf"))
    wf.snakemake("review", "selected")
    yield wf, wf.path("runs/input/selections.yaml").read_text(encoding="utf-8")


@pytest.fixture
def project(selected, monkeypatch):
    wf, original = selected
    monkeypatch.chdir(wf.root)
    yield wf
    wf.path("runs/input/selections.yaml").write_text(original, encoding="utf-8")


def decided():
    return load_build(load_config()).selections


def test_lock_refuses_what_nobody_could_have_seen(project):
    run = CliRunner().invoke
    # a pick typed by hand is bound to the drafts the build first applied it to
    record = json.loads(project.path("runs/selected/s3.json").read_text())
    assert record["bound_by"] == "build" and record["worst"] == "pass" and record["flags"]
    assert load_build(load_config()).bound_drafts("s3") == record["drafts"]
    # s1's candidate is its edit step: `snakemake selected` did not build it
    out = run(cli, ["lock", "s1"])
    assert out.exit_code == 1
    assert (
        "cannot lock s1: its candidate runs/edits/s1/step_1.png is not built yet: run "
        "`snakemake runs/edits/s1/step_1.png`, look at it, then `stillmake lock s1`"
    ) in out.output
    # s2's candidate is its selected draft: the lock names it by content, once
    out = run(cli, ["lock", "s2"])
    fp = image_sha256("runs/selected/s2.png")[:12]
    assert out.exit_code == 0 and f"s2: locked on its candidate runs/selected/s2.png ({fp})" in (
        out.output
    )
    assert decided()["s2"].approved == fp
    text = project.path("runs/input/selections.yaml").read_text(encoding="utf-8")
    assert (  # the comment stays on its line; the blank line still ends the entry
        "s2:\n  pick: 1   # composition is right; wardrobe to be checked after s3 is final\n"
        f"  lock: {fp}\n\ns3:\n"
    ) in text.replace(f"'{fp}'", fp)
    assert "already locked on its candidate" in run(cli, ["lock", "s2"]).output
    # a re-pick: the candidate is out of date until it is built; the finals target waits
    assert run(cli, ["pick", "s2", "2"]).exit_code == 0
    out = run(cli, ["lock", "s2"])
    assert out.exit_code == 1 and "is out of date (a new pick)" in out.output
    with pytest.raises(StillmakeError, match="target 'finals' needs approved candidates; s2"):
        load_build(load_config()).require_locked(["s2"], "finals")
    status = run(cli, ["status"]).output
    assert "s2 awaits approval: its candidate runs/selected/s2.png will be re-rendered" in status


def test_waivers_are_kept_used_or_not(project):
    run = CliRunner().invoke
    out = run(cli, ["waive", "s2", "highlight_clip", "the sink light blooms"])
    assert out.exit_code == 0
    assert "unused for now: its candidate does not fail highlight_clip" in out.output
    # every draft of s4 is drawn to blow its alarm light out: its candidate fails the gate
    assert run(cli, ["pick", "s4", "2"]).exit_code == 0
    project.snakemake("runs/selected/s4.png")
    out = run(cli, ["lock", "s4"])
    assert out.exit_code == 1 and "cannot lock s4: its candidate runs/selected/s4.png fails " in (
        out.output
    )
    assert "highlight_detail (" in out.output and "practical_separation (" in out.output
    for check in ("highlight_detail", "practical_separation"):
        assert run(cli, ["waive", "s4", check, "the alarm light is meant to bloom"]).exit_code == 0
    out = run(cli, ["lock", "s4"])
    assert out.exit_code == 0 and "highlight_detail waived (the alarm light is meant to bloom)" in (
        out.output
    )
    status = run(cli, ["status"]).output
    assert "s4: practical_separation waived (the alarm light is meant to bloom)" in status
    assert "s2: waiver of highlight_clip unused" in status
    bad = run(cli, ["waive", "s4", "clipped_highlights", "why"])
    assert bad.exit_code == 2 and "'clipped_highlights' is not a gate check" in bad.output
