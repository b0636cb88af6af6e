"""selections.yaml: strict loading, and CLI edits that keep the art director's comments."""

from __future__ import annotations

import json
import os
import shutil
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stillmake.cli.main import cli
from stillmake.errors import InputError
from stillmake.inputs.selections import load_selections
from tests.conftest import REPO, assert_located

SHOTS = ["s1", "s2", "s3", "s4", "s5"]
GOLDEN = Path(__file__).parents[1] / "golden"


def write(tmp_path, text, masks=True):
    if masks:
        shutil.copytree(REPO / "runs/input/masks", tmp_path / "masks", dirs_exist_ok=True)
        shutil.copytree(REPO / "runs/input/refs", tmp_path / "refs", dirs_exist_ok=True)
    p = tmp_path / "selections.yaml"
    p.write_text(text, encoding="utf-8")
    return p


def test_sample_loads():
    sel = load_selections(REPO / "runs/input/selections.yaml", shots=SHOTS, draft_n=3, root=REPO)
    assert sel["s3"].pick == 1 and len(sel["s3"].edits) == 2 and sel["s3"].lock
    assert sel["s3"].edits[0].region == (0.62, 0.05, 0.80, 0.30)
    assert sel["s5"].edits[0].mask.name == "window.png"
    assert sel["s4"].pick is None and sel["s1"].reject == {
        1: "identity drift",
        3: "clipped highlights",
    }


@pytest.mark.parametrize(
    "text, shot, key, words",
    [
        ("s9: {pick: 1}", "s9", None, "unknown shot id"),
        ("s1: {pick: 4}", "s1", "pick", "outside 1..3"),
        ("s1: {pick: 0}", "s1", "pick", "less than the minimum"),
        ("s1: {pick: two}", "s1", "pick", "'two' is text where a whole number belongs"),
        ("s1: {pick: 1, reject: {1: blurry}}", "s1", "reject", "both picked and rejected"),
        ("s1: {pick: 1, reject: {7: blurry}}", "s1", "reject", "outside 1..3"),
        ("s1: {lock: true}", "s1", "lock", "needs a pick"),
        (
            "s1: {pick: 1, edits: [{change: x, region: [0.5, 0.1, 1.2, 0.3]}]}",
            "s1",
            "edits[1].region",
            "outside [0, 1]",
        ),
        (
            "s1: {pick: 1, edits: [{change: x, region: [0.6, 0.1, 0.5, 0.3]}]}",
            "s1",
            "edits[1].region",
            "inverted",
        ),
        (
            "s1: {pick: 1, edits: [{change: x, region: [0.1, 0.2]}]}",
            "s1",
            "edits[1].region",
            "four numbers",
        ),
        (
            "s1: {pick: 1, edits: [{change: x, mask: masks/none.png}]}",
            "s1",
            "edits[1].mask",
            "not found",
        ),
        (
            "s1: {pick: 1, edits: [{change: x, mask: selections.yaml}]}",
            "s1",
            "edits[1].mask",
            "not a PNG",
        ),
        (
            "s1: {pick: 1, edits: [{change: x, region: [0,0,1,1], mask: masks/window.png}]}",
            "s1",
            "edits[1]",
            "either region or mask",
        ),
        ("s1: {pick: 1, edits: [{keep: y}]}", "s1", "edits.0", "missing required key 'change'"),
        (
            "s1: {pick: 1, edits: [{change: x, refs: [refs/nope.png]}]}",
            "s1",
            "edits[1].refs",
            "not found",
        ),
        ("s1: {pick: 1, colour: red}", "s1", None, "unknown key 'colour'; known: pick"),
        ("s1: {pick: 1, drafts: XYZ}", "s1", "drafts", "is not a fingerprint"),
        ("s1: [pick, 1", None, None, "broken YAML"),
    ],
)
def test_bad_selections_name_file_shot_and_key(tmp_path, text, shot, key, words):
    p = write(tmp_path, text)
    with pytest.raises(InputError) as e:
        load_selections(p, shots=SHOTS, draft_n=3, root=tmp_path)
    assert_located(e.value, p, shot, key, words)


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    """A workflow directory with drafts built by the preview backend (no snakemake needed)."""
    from stillmake.api.backends.preview import PreviewBackend
    from stillmake.artifacts.provenance import write_image
    from stillmake.files import sha256_bytes
    from stillmake.inputs.config import load_config
    from stillmake.planner.load import load_build
    from tests.conftest import copy_workflow

    wf = copy_workflow(tmp_path / "wf")
    monkeypatch.chdir(wf)
    build = load_build(load_config())
    for shot in ("s2", "s3"):
        req = build.draft(shot).request
        for k, png in enumerate(PreviewBackend().generate(req, {"shot": shot}).images, 1):
            write_image(
                f"runs/drafts/{shot}/draft_{k}.png",
                png,
                {"image_sha256": sha256_bytes(png), "k": k},
            )
    return wf


def test_pick_keeps_comments_golden(workdir):
    result = CliRunner().invoke(
        cli, ["pick", "s3", "2", "-r", "1:identity drift", "-r", "3:soft focus"]
    )
    assert result.exit_code == 0, result.output
    assert "s3: picked draft 2 of drafts" in result.output
    text = (workdir / "runs/input/selections.yaml").read_text()
    fp = text.split("\n  drafts: ")[1].split("\n")[0]
    assert len(fp) == 12
    golden = (GOLDEN / "selections_after_pick.yaml").read_text().replace("<FP>", fp)
    assert text == golden


def test_lock_unlock_round_trip(workdir):
    runner = CliRunner()
    before = (workdir / "runs/input/selections.yaml").read_text()
    # a lock approves a candidate someone could look at: none is built here
    out = runner.invoke(cli, ["lock", "s2"])
    assert out.exit_code == 1 and "runs/selected/s2.png is not built yet" in out.output
    assert (workdir / "runs/input/selections.yaml").read_text() == before
    assert runner.invoke(cli, ["unlock", "s2", "s3"]).exit_code == 0
    text = (workdir / "runs/input/selections.yaml").read_text()
    assert "# THE TRACE: the art director's decisions" in text
    assert "lock: false" in text.split("s3:")[1].split("s4:")[0]


@pytest.mark.parametrize(
    "args, code, words",
    [
        (["pick", "s9", "1"], 2, "unknown shot(s) s9"),
        (["pick", "s3", "4"], 2, "outside 1..3"),
        (["pick", "s3", "x"], 2, "'x' is not a valid integer"),
        (["pick", "s3", "1", "-r", "oops"], 2, "is not K:reason"),
        (
            ["pick", "s3", "1", "-r", "1:same"],
            2,
            "cannot reject draft 1: it is the draft being picked",
        ),
        (
            ["pick", "s3", "1", "-r", "5:x"],
            2,
            "cannot reject draft 5: the drafts are 1..3 (draft.n)",
        ),
        (["pick", "s4", "1"], 1, "shot s4 has no drafts yet"),
        (["lock", "s4"], 1, "cannot lock s4: no pick yet"),
        (["lock"], 2, "Missing argument"),
        (["waive", "s9", "identity", "a profile"], 2, "unknown shot(s) s9"),
        (["waive", "s3", "clipped_highlights", "why"], 2, "is not a gate check"),
        (["waive", "s3", "identity", "  "], 2, "say why the identity fail of s3 is accepted"),
        (["status", "-C", "nokeyvalue"], 1, "is not KEY=VALUE"),
        (["validate", "-C", "model=gpt-image-1"], 1, "shut down on 2026-10-23"),
        (["validate", "-C", "draft.size=800x600"], 1, "does not take size '800x600'"),
        (["validate", "-C", "draft.quality=high"], 1, "against the playbook"),
        (["validate", "-C", "backend=midjourney"], 1, "'midjourney' is not one of"),
    ],
)
def test_cli_rejects_bad_arguments(workdir, args, code, words):
    before = (workdir / "runs/input/selections.yaml").read_text()
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == code, result.output
    assert words in result.output
    assert (workdir / "runs/input/selections.yaml").read_text() == before


def test_show_opens_a_sheet_with_the_systems_viewer(workdir, monkeypatch):
    """`stillmake show`: the file goes to the system's opener (click.launch: xdg-open
    here, `open` on macOS, the file's app on Windows); a fake xdg-open records it."""
    import sys

    if not sys.platform.startswith("linux"):
        pytest.skip("the fake opener stands in for xdg-open")
    bin_dir = workdir / "fakebin"
    bin_dir.mkdir()
    opener = bin_dir / "xdg-open"
    opener.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/opened"\n')
    opener.chmod(0o755)
    monkeypatch.setenv("PATH", f"{bin_dir}:{os.environ['PATH']}")
    (workdir / "runs/review").mkdir(parents=True)
    shutil.copy(workdir / "runs/drafts/s3/draft_1.png", workdir / "runs/review/s3.png")
    result = CliRunner().invoke(cli, ["show", "s3"])
    assert result.exit_code == 0 and "opened runs/review/s3.png" in result.output, result.output
    opened = bin_dir / "opened"
    for _ in range(100):  # the opener runs on its own, as a viewer would
        if opened.exists() and opened.read_text().strip():
            break
        time.sleep(0.05)
    assert opened.read_text().split() == ["runs/review/s3.png"]
    for args, words in (
        (["show", "s2"], "runs/review/s2.png is not built yet: run snakemake"),
        (["show", "s3", "--candidate"], "shot s3 has no candidate yet"),
        (["show", "s9"], "unknown shot(s) s9"),
    ):
        result = CliRunner().invoke(cli, args)
        assert result.exit_code != 0 and words in result.output, result.output


def test_status_and_validate(workdir):
    runner = CliRunner()
    out = runner.invoke(cli, ["validate"])
    assert out.exit_code == 0 and "ok: 5 shots, 4 picked, 3 locked" in out.output
    out = runner.invoke(cli, ["status", "--json"])
    rows = {r["shot"]: r for r in json.loads(out.output)["shots"]}
    assert rows["s3"]["stage"] == "drafts" and rows["s3"]["pick"] == "1 (unbound)"
    assert rows["s3"]["edits"] == "0/2" and rows["s4"]["stage"] == "-"
    table = runner.invoke(cli, ["status"]).output
    assert table.splitlines()[0].split() == [
        "shot",
        "title",
        "stage",
        "pick",
        "edits",
        "locked",
        "approval",
        "flag",
        "spend_usd",
    ]


def test_help_teaches():
    out = CliRunner().invoke(cli, ["--help"]).output
    for word in ("snakemake -n", "plan", "status", "pick", "check"):
        assert word in out
    assert "runs/review/SHOT.png" in CliRunner().invoke(cli, ["pick", "--help"]).output
