"""No version of selections.yaml is lost: every write keeps what it replaces in the
history (`stillmake history`, `--show`, `--restore`); an editor's save made at any step
of a write survives, and so does the write; a file being written in place is waited
for; and the file stays the user's (its link, mode, owner, line endings, BOM, a file of
comments). About 15 s."""

from __future__ import annotations

import gzip
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from stillmake.cli.main import cli
from stillmake.inputs.selections import load_selections, ondisk
from stillmake.inputs.selections.history import History
from stillmake.inputs.selections.write import reroll_change, update_selections
from tests.bad_inputs import SELECTIONS
from tests.inputs.test_selections_safety import SHOTS, fake_drafts

TOKEN = "kept-token"


def editor_save(path: Path, text: str) -> None:
    """What an editor does on save: a new file beside, renamed over the old one."""
    tmp = path.with_name(f".{path.name}.swp")
    tmp.write_bytes(text.encode("utf-8"))
    os.rename(tmp, path)


def history(root: Path) -> History:
    real = Path(os.path.realpath(root / SELECTIONS))
    return History(real, SELECTIONS)


def kept_texts(root: Path) -> list[str]:
    h = history(root)
    return [h.data(v.sha).decode("utf-8-sig") for v in h.versions()]


def run(*args):
    result = CliRunner().invoke(cli, list(args))
    assert result.exit_code == 0, result.output
    return result.output


# -- 1. every version kept, and who made it --------------------------------------------


def test_every_version_is_kept_with_who_changed_what(workflow, monkeypatch):
    from stillmake.board.app import create_app

    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    run("pick", "s3", "2")
    after_pick = sel.read_text(encoding="utf-8")
    sel.write_text(after_pick.replace("reroll: 0   # red", "reroll: 1   # red"), encoding="utf-8")
    client = create_app(token=TOKEN).test_client()
    client.get(f"/?token={TOKEN}")
    seen = {s["id"]: s["seen"] for s in client.get("/api/board").get_json()["shots"]}
    body = {"shot": "s2", "check": "identity", "reason": "a profile", "seen": seen["s2"]}
    assert client.post("/api/waive", json=body).status_code == 200
    run("unlock", "s3")

    rows = [line.split() for line in run("history").splitlines()[1:6]]
    assert [(r[0], r[3]) for r in rows] == [
        ("1", "hand"),  # the file as stillmake first saw it
        ("2", "cli"),
        ("3", "hand"),  # the hand edit, kept when the board next read the file
        ("4", "board"),
        ("5", "cli"),
    ]
    listing = run("history")
    assert "pick s3 2" in listing and "s3: pick 1 -> 2" in listing
    assert "saved by hand" in listing and "s4: reroll 0 -> 1" in listing
    assert "waive s2 identity: a profile" in listing and "s2: waive - -> " in listing
    assert "unlock s3" in listing and "s3: lock true -> false" in listing
    # why did s3 change? only the versions that touched it
    s3 = run("history", "s3")
    assert "pick s3 2" in s3 and "unlock s3" in s3 and "waive s2" not in s3 and "s4:" not in s3
    # any version, byte for byte; and back again (the version replaced kept too)
    assert run("history", "--show", "2") == after_pick
    before_restore = sel.read_bytes()
    assert "version 2 restored" in run("history", "--restore", "2")
    assert sel.read_text(encoding="utf-8") == after_pick
    h = history(workflow.root)
    assert h.versions()[-1].by == "cli" and h.versions()[-1].what == "restore version 2"
    assert before_restore.decode() in kept_texts(workflow.root)


def test_restore_is_checked_and_works_on_a_broken_file(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    run("pick", "s3", "2")  # versions 1 (as found) and 2
    sel.write_text("s3: {pick: 2\n", encoding="utf-8")  # a broken hand save
    assert "broken YAML" in CliRunner().invoke(cli, ["status"]).output
    assert "version 2 restored" in run("history", "--restore", "2")
    assert load_selections(SELECTIONS, shots=SHOTS, draft_n=3)["s3"].pick == 2
    assert "s3: {pick: 2\n" in kept_texts(workflow.root)  # the broken save is kept too
    # a version the build would refuse now (its shot is gone from the prompts): refused
    sel.write_text("s9: {pick: 1}\n", encoding="utf-8")
    run("history")  # kept now, as version 5
    run("history", "--restore", "2")
    before = sel.read_bytes()
    result = CliRunner().invoke(cli, ["history", "--restore", "5"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    words = (
        "shot s9: unknown shot id (the prompts file has s1, s2, s3, s4, s5); nothing was written"
    )
    assert words in result.output
    assert sel.read_bytes() == before


# -- 2. an editor's save at every step of a write ----------------------------------------

HAND = "# saved by hand meanwhile\n"


def _once(monkeypatch, owner, name, action, *, after=False, when=lambda kw: True):
    """A real save (`action`) at one step of a write: just before (or after) the first
    call to owner.name that `when` accepts; the real function runs as always."""
    real = getattr(owner, name)
    done = []

    def wrapped(*args, **kwargs):
        due = not done and when(kwargs)
        if due and not after:
            done.append(action())
        out = real(*args, **kwargs)
        if due and after:
            done.append(action())
        return out

    monkeypatch.setattr(owner, name, wrapped)
    return done


STEPS = [
    "while the change is made",
    "after the new file is made",
    "just before the swap",
    "just after the swap, stale",
    "just after the swap",
]


@pytest.mark.parametrize("step", STEPS)
def test_a_save_at_any_step_of_a_write_and_the_write_both_survive(workflow, monkeypatch, step):
    """A reroll (one up: applying it twice would show) and an editor's save landing at
    each step of the write: both in the file, and every version in the history."""
    from stillmake.inputs.selections.history import History as HistoryClass

    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    update_selections(SELECTIONS, None)  # the file as found: version 1
    read_before = sel.read_text(encoding="utf-8")
    change = reroll_change("s4", SELECTIONS)
    saved = []

    def save():  # an editor that read the file as it is now
        saved.append(sel.read_text(encoding="utf-8") + HAND)
        editor_save(sel, saved[-1])

    def save_stale():  # an editor whose buffer was read before the write
        saved.append(read_before + HAND)
        editor_save(sel, saved[-1])

    if step == STEPS[0]:
        calls = []

        def change_and_save(doc):
            if not calls:
                calls.append(save())
            change(doc)

        update_selections(SELECTIONS, change_and_save)
    else:
        if step == STEPS[1]:
            _once(monkeypatch, ondisk, "write_temp", save, after=True)
        elif step == STEPS[2]:
            _once(monkeypatch, ondisk, "exchange", save)
        else:
            by_the_write = lambda kw: kw.get("by") == "cli"  # noqa: E731
            action = save_stale if step.endswith("stale") else save
            _once(monkeypatch, HistoryClass, "record", action, after=True, when=by_the_write)
        update_selections(SELECTIONS, change)
    assert len(saved) == 1, step
    text = sel.read_text(encoding="utf-8")
    assert HAND in text, step
    assert load_selections(SELECTIONS, shots=SHOTS, draft_n=3)["s4"].reroll == 1, step
    assert text.startswith("# THE TRACE") and "# composition is right" in text
    kept = kept_texts(workflow.root)
    assert text in kept and read_before in kept and saved[0] in kept, step


def test_a_stale_save_after_the_write_returned_stands_and_both_are_kept(workflow, monkeypatch):
    """A save made after the write has returned is the person's own (they may mean to
    undo it): it stands; the write's version is in the history, and says so."""
    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    update_selections(SELECTIONS, None)
    read_before = sel.read_text(encoding="utf-8")
    written = update_selections(SELECTIONS, reroll_change("s4", SELECTIONS))
    editor_save(sel, read_before + HAND)
    update_selections(SELECTIONS, None)  # as the next command or board refresh does
    assert sel.read_text(encoding="utf-8") == read_before + HAND
    assert written in kept_texts(workflow.root)
    rows = run("history", "s4")
    assert "s4: reroll 0 -> 1" in rows and "s4: reroll 1 -> 0" in rows


# -- 3. a file being written in place --------------------------------------------------

GEN = r"""
import sys, time
path, first, rest, pause = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
with open(path, "w", encoding="utf-8") as fh:   # `gen > selections.yaml`
    fh.write(first); fh.flush()
    open(path + ".started", "w").close()
    time.sleep(pause)
    if rest != "-":
        fh.write(rest)
"""


def _gen(workflow, first, rest, pause):
    sel = workflow.path(SELECTIONS)
    started = Path(str(sel) + ".started")
    proc = subprocess.Popen([sys.executable, "-c", GEN, str(sel), first, rest, str(pause)])
    deadline = time.monotonic() + 20
    while not started.exists():
        assert time.monotonic() < deadline and proc.poll() in (None, 0)
        time.sleep(0.01)
    started.unlink()
    return proc


def test_a_pick_waits_for_a_file_being_written_in_place(workflow, monkeypatch):
    """`gen > selections.yaml` while `stillmake pick s2 2` runs: the pick read the first
    half (s1, s2) and renamed over it, losing s3 to s5. Now it waits for the rest."""
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    run("status")
    update_selections(SELECTIONS, None)  # stillmake has seen the file: version 1
    text = sel.read_text(encoding="utf-8")
    cut = text.index("s3:")
    proc = _gen(workflow, text[:cut], text[cut:], 0.5)
    started = time.monotonic()
    run("pick", "s2", "2")
    assert proc.wait(timeout=20) == 0
    got = load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
    assert got["s2"].pick == 2
    assert (got["s3"].pick, got["s3"].lock, len(got["s3"].edits)) == (1, True, 2)
    assert (got["s5"].pick, got["s5"].lock) == (3, True) and got["s4"].reroll == 0
    assert time.monotonic() - started >= 0.3  # it waited for the writer


def test_a_writer_that_stops_halfway_loses_nothing_stillmake_saw(workflow, monkeypatch):
    """The generator dies after s1 and s2: the pick waits for the file to be still, then
    goes on; the full version it had seen stays in the history, one restore away."""
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    update_selections(SELECTIONS, None)
    full = sel.read_text(encoding="utf-8")
    proc = _gen(workflow, full[: full.index("s3:")], "-", 0)
    assert proc.wait(timeout=20) == 0
    run("pick", "s2", "2")
    assert full in kept_texts(workflow.root)
    listing = run("history")
    assert "s3: removed" in listing and "s5: removed" in listing


# -- 4. the file stays the user's --------------------------------------------------------


def test_a_symlinked_file_is_written_through_its_link(workflow, monkeypatch, tmp_path):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    sel = workflow.path(SELECTIONS)
    shared = workflow.root / "shared" / "selections.yaml"
    shared.parent.mkdir()
    shared.write_bytes(sel.read_bytes())
    sel.unlink()
    sel.symlink_to(os.path.relpath(shared, sel.parent))
    run("pick", "s3", "2")
    assert sel.is_symlink() and os.readlink(sel) == os.path.relpath(shared, sel.parent)
    assert "  pick: 2\n  drafts: " in shared.read_text(encoding="utf-8")
    assert (shared.parent / ".selections.yaml.history" / "log.jsonl").is_file()
    assert (shared.parent / ".selections.yaml.lock").exists()


def test_a_read_only_file_is_not_rewritten(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    sel = workflow.path(SELECTIONS)
    sel.chmod(0o444)
    before = sel.read_bytes()
    result = CliRunner().invoke(cli, ["pick", "s3", "2"])
    assert result.exit_code == 1 and len(result.output.strip().splitlines()) == 1
    assert f"{SELECTIONS} is read-only (mode 0444); nothing was written" in result.output
    assert "chmod u+w" in result.output
    assert sel.read_bytes() == before and sel.stat().st_mode & 0o777 == 0o444


@pytest.mark.parametrize("bom", [False, True])
def test_line_endings_bom_mode_and_owner_are_kept(workflow, monkeypatch, bom):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3", "s2"])
    sel = workflow.path(SELECTIONS)
    crlf = sel.read_text(encoding="utf-8").replace("\n", "\r\n")
    sel.write_bytes((b"\xef\xbb\xbf" if bom else b"") + crlf.encode("utf-8"))
    sel.chmod(0o640)
    os.chown(sel, 65534, 65534)  # the art director's file, not root's
    run("pick", "s3", "2")
    run("waive", "s2", "identity", "a profile")
    data = sel.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf") == bom
    assert data.count(b"\n") == data.count(b"\r\n") > 40  # CRLF throughout, none mixed
    assert b"# composition is right" in data
    st = sel.stat()
    assert (st.st_mode & 0o777, st.st_uid, st.st_gid) == (0o640, 65534, 65534)
    got = load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
    assert got["s3"].pick == 2 and got["s2"].waive == {"identity": "a profile"}


def test_a_file_of_comments_only_keeps_them(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    sel = workflow.path(SELECTIONS)
    header = "# THE TRACE: decisions start here\n#   (written by the art director)\n\n"
    sel.write_text(header, encoding="utf-8")
    run("pick", "s3", "2")
    text = sel.read_text(encoding="utf-8")
    assert text.startswith(header) and "s3:\n  pick: 2\n" in text


def test_history_log_lines_are_plain_json(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, ["s3"])
    run("pick", "s3", "2")
    folder = workflow.path("runs/input/.selections.yaml.history")
    lines = [json.loads(line) for line in (folder / "log.jsonl").read_text().splitlines()]
    assert [(d["n"], d["by"]) for d in lines] == [(1, "hand"), (2, "cli")]
    for d in lines:
        assert gzip.decompress((folder / f"{d['sha']}.gz").read_bytes())


def test_a_file_that_never_stops_being_written_is_refused(workflow, monkeypatch):
    """A program rewriting the file in place without pause: nothing is acted on; after
    the patience given, one line says so and the file is the writer's."""
    import threading

    from stillmake.errors import StillmakeError

    monkeypatch.chdir(workflow.root)
    sel = workflow.path(SELECTIONS)
    update_selections(SELECTIONS, None)
    text, stop = sel.read_text(encoding="utf-8"), threading.Event()

    def rewrite():
        n = 0
        while not stop.is_set():
            with open(sel, "w", encoding="utf-8") as fh:  # in place, again and again
                fh.write(text + f"# pass {n}\n")
            n += 1
            time.sleep(0.005)

    writer = threading.Thread(target=rewrite)
    writer.start()
    try:
        with pytest.raises(StillmakeError) as e:
            update_selections(SELECTIONS, reroll_change("s4", SELECTIONS), patience=1.0)
    finally:
        stop.set()
        writer.join()
    assert f"{SELECTIONS} is being written by another program (it kept changing for 1 s)" in str(
        e.value
    )
    assert "nothing was written" in str(e.value)
    assert "reroll: 1" not in sel.read_text(encoding="utf-8")
