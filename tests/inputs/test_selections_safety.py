"""selections.yaml keeps every decision: concurrent writers, ids YAML would retype,
duplicate keys, and files that are not what they should be (one clear line, never a
traceback, never a half-written file)."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from PIL import Image
from ruamel.yaml import YAML

from stillmake import paths
from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.artifacts.provenance import write_image
from stillmake.cli.main import cli
from stillmake.errors import InputError
from stillmake.files import sha256_bytes
from stillmake.inputs.selections import load_selections
from stillmake.inputs.selections.write import read_document
from tests.bad_inputs import PROMPTS, SELECTIONS
from tests.conftest import assert_located

SHOTS = ["s1", "s2", "s3", "s4", "s5"]
# shot ids a YAML 1.1 reader (PyYAML, the build's fast loader) or a YAML 1.2 reader
# (ruamel, the CLI's round trip) would turn into booleans, numbers, dates or null
RETYPED_IDS = [
    "yes",
    "no",
    "on",
    "off",
    "True",
    "040",
    "10",
    "1e3",
    "0b11",
    "0x1F",
    "1_000",
    "null",
    "2024-01-01",
]


def fake_drafts(root: Path, shots: list[str], n: int = 3) -> dict[str, str]:
    """Tiny stand-in drafts with sidecars (all `stillmake pick` reads); each shot's
    fingerprint, as the pick must record it."""
    fps = {}
    for shot in shots:
        for k in range(1, n + 1):
            buf = io.BytesIO()
            Image.new("RGB", (16, 9), (40 * k, 7, 7)).save(buf, "PNG")
            png = buf.getvalue()
            record = {"image_sha256": sha256_bytes(png + shot.encode()), "k": k}
            write_image(root / paths.draft(shot, k), png, record)
        fps[shot] = current_drafts_fingerprint([root / p for p in paths.drafts(shot, n)])
    return fps


def add_shots(root: Path, ids: list[str]) -> None:
    path = root / PROMPTS
    data = json.loads(path.read_text(encoding="utf-8"))
    data["shots"] += [{**data["shots"][1], "id": sid, "title": f"shot {sid}"} for sid in ids]
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")


def build_picks(ids: list[str]) -> dict[str, tuple]:
    """Picks as the build reads them (the Snakefile's planner, from the cwd)."""
    from stillmake.inputs.config import load_config
    from stillmake.planner.load import load_build

    build = load_build(load_config())
    return {sid: (build.selections[sid].pick, build.selections[sid].drafts) for sid in ids}


# -- 1. concurrent writers ----------------------------------------------------


def test_concurrent_picks_and_locks_lose_nothing(workflow, monkeypatch):
    """Several `stillmake pick`/`lock` processes at once, 8 rounds: every decision lands."""
    monkeypatch.chdir(workflow.root)
    fps = fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    original = sel.read_text(encoding="utf-8")
    lost = []
    started = time.monotonic()
    for rnd in range(8):
        sel.write_text(original, encoding="utf-8")
        want = {shot: 1 + (rnd + i) % 3 for i, shot in enumerate(("s1", "s2", "s4", "s5"))}
        # (`unlock`: a lock needs a built candidate to approve, and these drafts are fakes)
        commands = [["pick", shot, str(k)] for shot, k in want.items()] + [["unlock", "s3"]]
        if rnd % 2:
            commands.append(["unlock", "s1"])
        procs = [
            subprocess.Popen(
                [sys.executable, "-m", "stillmake", *args],
                cwd=workflow.root,
                env=workflow.env(),
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for args in commands
        ]
        for args, proc in zip(commands, procs, strict=True):
            _out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, f"stillmake {' '.join(args)}: {err}"
        got = load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
        lost += [
            f"round {rnd}: {shot} pick"
            for shot, k in want.items()
            if (got[shot].pick, got[shot].drafts) != (k, fps[shot])
        ]
        if rnd % 2 and got["s1"].lock:
            lost.append(f"round {rnd}: s1 unlock")
        text = sel.read_text(encoding="utf-8")
        assert "# THE TRACE: the art director's decisions" in text
        assert "# composition is right" in text  # s2's comment, through every rewrite
    assert lost == [], lost
    assert list(sel.parent.glob(".selections.yaml.*.tmp")) == []
    assert time.monotonic() - started < 240


def test_hand_edit_saved_while_a_pick_writes_is_kept(workflow, monkeypatch):
    """A save by an editor between the read and the write is not overwritten: the
    update starts again on what is on disk."""
    from stillmake.inputs.selections.write import update_selections

    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    calls = []

    def change(doc):
        calls.append(1)
        if len(calls) == 1:  # an editor saves right after our read
            text = sel.read_text(encoding="utf-8")
            sel.write_text(text.replace("s4:\n", "s4:\n  pick: 2\n"), encoding="utf-8")
        doc["s2"]["lock"] = True

    update_selections(SELECTIONS, change)
    got = load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
    assert (got["s4"].pick, got["s2"].lock) == (2, True)
    assert len(calls) == 2


def test_refused_update_writes_nothing(workflow, monkeypatch):
    """RS1: an edit whose result would not load is refused; the file keeps its bytes."""
    from stillmake.inputs.selections.write import update_selections

    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    before = sel.read_bytes()

    def check(text):
        load_selections(SELECTIONS, shots=SHOTS, draft_n=3, text=text)

    def unpick_s3(doc):
        del doc["s3"]["pick"]  # s3 is locked and has edits: the result cannot load

    with pytest.raises(InputError) as e:
        update_selections(SELECTIONS, unpick_s3, check=check)
    words = "lock: true needs a pick first (stillmake pick SHOT K); nothing was written"
    assert_located(e.value, SELECTIONS, "s3", "lock", words)
    assert sel.read_bytes() == before
    assert list(sel.parent.glob(".selections.yaml.*.tmp")) == []


def test_file_that_keeps_changing_is_not_overwritten(workflow, monkeypatch):
    """RS2: an editor saving over and over while an edit runs: the edit gives up (a
    bounded number of tries), the editor's last save stays on disk and every save is
    in the history."""
    from stillmake.errors import StillmakeError
    from stillmake.inputs.selections.write import update_selections
    from tests.decisions.test_decisions_kept import editor_save, kept_texts

    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    saves = []

    def change(doc):
        saves.append(sel.read_text(encoding="utf-8") + f"# save {len(saves)}\n")
        editor_save(sel, saves[-1])
        doc["s2"]["lock"] = True

    with pytest.raises(StillmakeError) as e:
        update_selections(SELECTIONS, change)
    assert "kept changing while stillmake was updating it; try again" in str(e.value)
    assert SELECTIONS in str(e.value)
    assert 1 < len(saves) <= 20 and sel.read_text(encoding="utf-8") == saves[-1]
    assert not load_selections(SELECTIONS, shots=SHOTS, draft_n=3)["s2"].lock
    assert set(saves) <= set(kept_texts(workflow.root))


def test_edit_keeps_the_files_mode(workflow, monkeypatch):
    """The atomic rewrite used to leave selections.yaml readable by its owner only (0600)."""
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    sel = workflow.path(SELECTIONS)
    for mode in (0o644, 0o664):
        sel.chmod(mode)
        result = CliRunner().invoke(cli, ["pick", "s3", "2"])
        assert result.exit_code == 0, result.output
        assert sel.stat().st_mode & 0o777 == mode


# -- 2. shot ids that YAML would read as something else ------------------------


def test_retyped_shot_ids_round_trip_as_strings(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    add_shots(workflow.root, RETYPED_IDS)
    fps = fake_drafts(workflow.root, RETYPED_IDS)
    want = {sid: 1 + i % 3 for i, sid in enumerate(RETYPED_IDS)}
    runner = CliRunner()
    for sid, k in want.items():
        result = runner.invoke(cli, ["pick", sid, str(k)])
        assert result.exit_code == 0, result.output
    text = workflow.path(SELECTIONS).read_text(encoding="utf-8")
    # written so that any YAML 1.1 reader and any YAML 1.2 reader sees strings
    assert set(RETYPED_IDS) <= set(yaml.safe_load(text))
    assert set(RETYPED_IDS) <= set(YAML(typ="safe", pure=True).load(text))
    # read back by the build's fast loader and the CLI's round trip
    assert build_picks(RETYPED_IDS) == {sid: (k, fps[sid]) for sid, k in want.items()}
    doc = read_document(SELECTIONS)
    assert {sid: doc[sid]["pick"] for sid in RETYPED_IDS} == want
    # and snakemake plans the select job of each of them
    plan = workflow.snakemake("-n", "selected").stdout
    assert all(f"runs/selected/{sid}.png" in plan for sid in RETYPED_IDS), plan[-3000:]


def test_hand_written_unquoted_ids_are_read_as_written(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    ids = ["yes", "on", "040", "10"]
    add_shots(workflow.root, ids)
    fake_drafts(workflow.root, ids)
    sel = workflow.path(SELECTIONS)
    sel.write_text(
        sel.read_text(encoding="utf-8")
        + "\nyes: {pick: 2}\non: {pick: 3}   # by hand\n040: {pick: 1}\n10:\n  pick: 2\n",
        encoding="utf-8",
    )
    want = {"yes": 2, "on": 3, "040": 1, "10": 2}
    assert {sid: pick for sid, (pick, _fp) in build_picks(ids).items()} == want
    doc = read_document(SELECTIONS)
    assert {sid: doc[sid]["pick"] for sid in ids} == want
    result = CliRunner().invoke(cli, ["unlock", *ids])  # a write to every retyped id
    assert result.exit_code == 0, result.output
    text = sel.read_text(encoding="utf-8")
    assert "# by hand" in text
    plain = yaml.safe_load(text)  # a YAML 1.1 reader now sees the ids as strings too
    assert {sid: (plain[sid]["pick"], plain[sid]["lock"]) for sid in ids} == {
        sid: (k, False) for sid, k in want.items()
    }


# -- 3. duplicate keys ----------------------------------------------------------


@pytest.mark.parametrize(
    "text, shot, key, lines",
    [
        ("s1: {pick: 1}\ns3:\n  pick: 2\n  lock: true\ns3: {reroll: 1}\n", "s3", None, (2, 5)),
        ("s3:\n  pick: 2\n  reroll: 0\n  pick: 3\n", "s3", "pick", (2, 4)),
        (
            "s3:\n  pick: 1\n  edits:\n    - change: a\n      keep: b\n      change: c\n",
            "s3",
            "edits[1].change",
            (4, 6),
        ),
        ("s1:\n  pick: 2\n  reject: {1: blur,\n    1: drift}\n", "s1", "reject.1", (3, 4)),
    ],
)
def test_duplicate_keys_are_refused_by_both_loaders(tmp_path, text, shot, key, lines):
    p = tmp_path / "selections.yaml"
    p.write_text(text, encoding="utf-8")
    words = f"appears twice (lines {lines[0]} and {lines[1]})"
    for load in (lambda: load_selections(p, shots=SHOTS, draft_n=3), lambda: read_document(p)):
        with pytest.raises(InputError) as e:
            load()
        assert_located(e.value, p, shot, key, words)
        if key is None:
            assert f"key '{shot}' appears twice" in str(e.value)


# -- 4. files that are not what they should be -------------------------------------


def _outside_png(root: Path) -> str:
    Image.new("RGBA", (8, 8), (0, 0, 0, 0)).save(root.parent / "outside.png")
    return "../../../outside.png"


BAD_SELECTIONS = [
    # (id, text or callable(root) -> text, shot, key, words)
    ("float pick", "s1: {pick: 2.0}\n", "s1", "pick", "2.0 is not a whole number: write 2"),
    ("float reroll", "s4: {reroll: 1.0}\n", "s4", "reroll", "1.0 is not a whole number: write 1"),
    ("a list", "- s1\n- s2\n", None, None, "must be a mapping of shot ids to decisions"),
    ("a scalar", "pick s1\n", None, None, "must be a mapping of shot ids to decisions"),
    ("a list shot id", "? [s1, s2]\n: {pick: 1}\n", None, None, "shot ids must be plain names"),
    (
        "an unreadable date",
        "s1: {pick: 1, drafts: 2024-13-45}\n",
        "s1",
        None,
        "cannot read a value on line 1",
    ),
    ("a 5000-digit number", "s1: {pick: 1" + "0" * 5000 + "}\n", "s1", None, "on line 1"),
    ("two documents", "s1: {pick: 1}\n---\ns2: {pick: 1}\n", None, None, "one YAML document"),
    (
        "a self-referencing alias",
        "s1: &a {pick: 1, edits: [*a]}\n",
        "s1",
        None,
        "refers to a value that contains it",
    ),
    (
        "a ref outside the workflow",
        "s1: {pick: 1, edits: [{change: x, refs: [../../../../../../../../etc/passwd]}]}\n",
        "s1",
        "edits[1].refs",
        "is outside the workflow directory",
    ),
    (
        "an absolute ref",
        "s1: {pick: 1, edits: [{change: x, refs: [/etc/hostname]}]}\n",
        "s1",
        "edits[1].refs",
        "is outside the workflow directory",
    ),
    (
        "a ref that is a directory",
        "s1: {pick: 1, edits: [{change: x, refs: [refs]}]}\n",
        "s1",
        "edits[1].refs",
        "is a directory, not an image",
    ),
    (
        "a ref that is not an image",
        "s2: {pick: 1, edits: [{change: x}, {change: y, refs: [selections.yaml]}]}\n",
        "s2",
        "edits[2].refs",
        "is not a PNG, JPEG or WebP image",
    ),
    (
        "a mask outside the workflow",
        lambda root: f"s1: {{pick: 1, edits: [{{change: x, mask: {_outside_png(root)}}}]}}\n",
        "s1",
        "edits[1].mask",
        "is outside the workflow directory",
    ),
]


@pytest.mark.parametrize("case", BAD_SELECTIONS, ids=[c[0] for c in BAD_SELECTIONS])
def test_bad_selections_file_is_one_located_error(workflow, monkeypatch, case):
    _id, text, shot, key, words = case
    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    sel.write_text(text(workflow.root) if callable(text) else text, encoding="utf-8")
    with pytest.raises(InputError) as e:
        load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
    assert_located(e.value, SELECTIONS, shot, key, words)
    assert "\n" not in str(e.value)


def test_unreadable_selections_paths(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    with pytest.raises(InputError) as e:
        load_selections("runs/input/refs", shots=SHOTS, draft_n=3)
    assert_located(e.value, "runs/input/refs", None, None, "is a directory, not a file")
    with pytest.raises(InputError) as e:
        read_document("runs/input/refs")
    assert_located(e.value, "runs/input/refs", None, None, "is a directory, not a file")
    workflow.path(SELECTIONS).write_bytes(b"s1: {pick: 1}\n# caf\xe9 notes\n")
    for load in (
        lambda: load_selections(SELECTIONS, shots=SHOTS, draft_n=3),
        lambda: read_document(SELECTIONS),
    ):
        with pytest.raises(InputError) as e:
            load()
        assert_located(e.value, SELECTIONS, None, None, "not UTF-8 text (line 2,")


def _bomb(levels: int = 9) -> str:
    lines = ["l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    lines += [f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]" for i in range(1, levels)]
    return "\n".join(lines) + f"\ns1: {{pick: 1, edits: [{{change: x, refs: *l{levels - 1}}}]}}\n"


# Runs a command in a child limited to 2 GB of address space and prints its peak RSS.
MEASURED = """
import resource, runpy, sys
resource.setrlimit(resource.RLIMIT_AS, (2 << 30, 2 << 30))
sys.argv = ["stillmake", *sys.argv[1:]]
try:
    runpy.run_module("stillmake", run_name="__main__")
finally:
    # VmHWM is this process image's own peak; ru_maxrss would carry over the peak of
    # the (large) pytest process this one was forked from
    with open("/proc/self/status") as fh:
        hwm = next(int(ln.split()[1]) for ln in fh if ln.startswith("VmHWM:"))
    print(f"PEAK_RSS_MB={hwm // 1024}", file=sys.stderr)
"""


def _measured(workflow, *args):
    started = time.monotonic()
    try:
        proc = subprocess.run(
            [sys.executable, "-c", MEASURED, *args],
            cwd=workflow.root,
            env=workflow.env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
    except subprocess.TimeoutExpired:
        pytest.fail(f"stillmake {' '.join(args)} ran past 60 s")
    elapsed = time.monotonic() - started
    peak = [int(line.split("=")[1]) for line in proc.stderr.splitlines() if "PEAK_RSS_MB=" in line]
    return proc, elapsed, (peak[0] if peak else None)


def test_alias_bomb_is_refused_in_bounded_time_and_memory(workflow):
    """A billion laughs (10**9 values from ~1 KB) through the CLI: refused in a second or
    two, without the memory its expansion would need."""
    workflow.path(SELECTIONS).write_text(_bomb(), encoding="utf-8")
    for args in (["status"], ["pick", "s2", "1"]):
        proc, elapsed, peak = _measured(workflow, *args)
        assert proc.returncode == 1, proc.stderr[-2000:]
        assert "aliases expand to more than 100,000 values" in proc.stderr, proc.stderr[-2000:]
        assert "Traceback" not in proc.stderr
        assert elapsed < 15 and peak is not None and peak < 500, (elapsed, peak)
    # the round-trip loader refuses it too, before building anything
    started = time.monotonic()
    with pytest.raises(InputError, match="aliases expand to more than"):
        read_document(workflow.path(SELECTIONS))
    assert time.monotonic() - started < 5


def test_aliases_within_bounds_still_load(tmp_path):
    p = tmp_path / "selections.yaml"
    p.write_text(
        "s1: {pick: 1, edits: [{change: x, keep: &keep the lighting and the pose}]}\n"
        "s2: {pick: 2, edits: [{change: y, keep: *keep}]}\n",
        encoding="utf-8",
    )
    sel = load_selections(p, shots=SHOTS, draft_n=3)
    assert sel["s2"].edits[0].keep == sel["s1"].edits[0].keep == "the lighting and the pose"
    assert read_document(p)["s2"]["edits"][0]["keep"] == "the lighting and the pose"


def test_deep_nesting_is_refused_not_a_crash(workflow):
    """100,000 nested brackets crashed the C loader (segmentation fault) before."""
    workflow.path(SELECTIONS).write_text(
        "s1: {pick: 1, edits: " + "[" * 100_000 + "]" * 100_000 + "}\n", encoding="utf-8"
    )
    proc, _elapsed, _peak = _measured(workflow, "status")
    assert proc.returncode == 1, (proc.returncode, proc.stderr[-2000:])
    assert "nested more than 64 levels deep" in proc.stderr, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr


# -- the CLI reads the same files: one line, exit 1, nothing written ----------------


CLI_CASES = [
    # (id, selections text, words)
    (
        "duplicate shot",
        "s2: {pick: 1}\ns2: {reroll: 1}\n",
        "key 's2' appears twice (lines 1 and 2)",
    ),
    ("float pick", "s2: {pick: 2.0}\n", "key 'pick': 2.0 is not a whole number: write 2"),
    ("a list", "- s2\n", "must be a mapping of shot ids to decisions"),
    ("a scalar", "just a note\n", "must be a mapping of shot ids to decisions"),
    (
        "ref outside",
        "s2: {pick: 1, edits: [{change: x, refs: [/etc/passwd]}]}\n",
        "is outside the workflow directory",
    ),
    ("not UTF-8", b"s2: {pick: 1}  # \xff\n", "not UTF-8 text"),
]


@pytest.mark.parametrize("case", CLI_CASES, ids=[c[0] for c in CLI_CASES])
@pytest.mark.parametrize("command", [["status"], ["pick", "s3", "2"], ["lock", "s2"]])
def test_cli_reports_bad_selections_in_one_line(workflow, monkeypatch, case, command):
    _id, text, words = case
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    sel = workflow.path(SELECTIONS)
    if isinstance(text, bytes):
        sel.write_bytes(text)
    else:
        sel.write_text(text, encoding="utf-8")
    before = sel.read_bytes()
    result = CliRunner().invoke(cli, command)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert words in result.output and SELECTIONS in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
    assert sel.read_bytes() == before


@pytest.mark.parametrize(
    "override, words",
    [
        ("selections=runs/input/refs", "runs/input/refs: is a directory, not a file"),
        ("prompts=runs/input/refs", "runs/input/refs: is a directory, not a file"),
        ("prompts=runs/input/refs/leyla_ref.png", "not UTF-8 text"),
    ],
)
@pytest.mark.parametrize("command", [["status"], ["pick", "s3", "2"]])
def test_cli_reports_unreadable_input_paths(workflow, monkeypatch, override, words, command):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    result = CliRunner().invoke(cli, [*command, "-C", override])
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), result.output
    assert words in result.output, result.output
    assert len(result.output.strip().splitlines()) == 1, result.output
