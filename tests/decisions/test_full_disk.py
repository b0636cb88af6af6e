"""A full disk and an unwritable folder, for real (a tmpfs filled up, a read-only bind
mount): `stillmake pick`, a board click, the review-sheet job and the manifest job each
stop with one line that says what to do, and leave every file as it was. Needs root
(mount); about 20 s (one `snakemake critical` on the preview backend)."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from stillmake.cli.main import cli
from tests.bad_inputs import SELECTIONS
from tests.conftest import Workflow, copy_workflow

pytestmark = pytest.mark.skipif(os.getuid() != 0, reason="mounting a tmpfs needs root")


def _mount(*args: str) -> None:
    subprocess.run(["mount", *args], check=True, capture_output=True)


@contextlib.contextmanager
def full_disk(folder: Path, room: int = 0) -> Iterator[None]:
    """`folder` on a file system of its own, holding what it held, then filled up to
    `room` bytes: a full disk there, and only there."""
    saved = folder.with_name(folder.name + ".saved")
    folder.mkdir(parents=True, exist_ok=True)
    shutil.copytree(folder, saved)
    _mount("-t", "tmpfs", "-o", "size=64m", "tmpfs", str(folder))
    try:
        shutil.copytree(saved, folder, dirs_exist_ok=True)
        with open(folder / ".fill", "wb") as fh:  # hidden: not a file the build knows
            try:
                while True:
                    fh.write(b"\0" * (1 << 20))
                    fh.flush()
            except OSError:
                pass
        with open(folder / ".fill", "ab") as fh:
            size = fh.tell()
            fh.truncate(max(0, size - room))
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)
        shutil.rmtree(saved)


@contextlib.contextmanager
def read_only(folder: Path) -> Iterator[None]:
    _mount("--bind", str(folder), str(folder))
    try:
        _mount("-o", "remount,bind,ro", str(folder))
        yield
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=True)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    """The sample built as far as the critical finals and their manifest (preview)."""
    wf = Workflow(copy_workflow(tmp_path_factory.mktemp("full") / "wf"))
    wf.snakemake("critical")
    return wf


def one_line(text: str) -> str:
    lines = [line for line in text.strip().splitlines() if line.strip()]
    assert len(lines) == 1, text
    assert "Traceback" not in text
    return lines[0]


def test_a_pick_on_a_full_disk_is_one_line_and_writes_nothing(built, monkeypatch):
    monkeypatch.chdir(built.root)
    sel = built.path(SELECTIONS)
    before = sel.read_bytes()
    with full_disk(built.path("runs/input")):
        result = CliRunner().invoke(cli, ["pick", "s3", "2"])
        assert result.exit_code == 1
        line = one_line(result.output)
        assert "No space left on device" in line and "nothing was written" in line
        assert "Free the disk" in line and SELECTIONS in line
        assert sel.read_bytes() == before
        assert [p.name for p in sel.parent.glob(".selections.yaml.*.tmp")] == []
    assert sel.read_bytes() == before


def test_a_board_click_on_a_full_disk_is_one_line(built, monkeypatch):
    from stillmake.board.app import create_app

    monkeypatch.chdir(built.root)
    sel = built.path(SELECTIONS)
    before = sel.read_bytes()
    client = create_app(token="t").test_client()
    client.get("/?token=t")
    seen = {s["id"]: s for s in client.get("/api/board").get_json()["shots"]}
    with full_disk(built.path("runs/input")):
        resp = client.post("/api/reroll", json={"shot": "s4", "seen": seen["s4"]["seen"]})
        assert resp.status_code == 400, resp.data
        error = one_line(resp.get_json()["error"])
        assert "No space left on device" in error and "nothing was written" in error
        # and a markup the disk cannot keep
        from tests.board.test_board_api import markup_png

        resp = client.post(
            "/api/edit", json={"shot": "s2", "change": "close the tap", "markup": markup_png()}
        )
        assert resp.status_code == 400, resp.data
        assert "No space left on device" in one_line(resp.get_json()["error"])
        assert client.get("/api/board").status_code == 200
    assert sel.read_bytes() == before


def test_a_read_only_input_folder_is_one_line(built, monkeypatch):
    """runs/input/ read-only: the lock beside selections.yaml cannot be made."""
    monkeypatch.chdir(built.root)
    sel = built.path(SELECTIONS)
    before = sel.read_bytes()
    lock = built.path("runs/input/.selections.yaml.lock")
    lock.unlink(missing_ok=True)
    with read_only(built.path("runs/input")):
        result = CliRunner().invoke(cli, ["unlock", "s3"])
        assert result.exit_code == 1
        line = one_line(result.output)
        assert f"cannot lock {SELECTIONS} for writing" in line and "Read-only file system" in line
        assert "nothing was written: make" in line
    assert sel.read_bytes() == before


@pytest.mark.parametrize(
    "folder, target, words",
    [
        ("runs/review", "runs/review/s3.png", "s3 review failed: cannot write runs/review/s3."),
        ("runs/final", "runs/final/manifest.csv", "manifest failed: cannot write runs/final/"),
    ],
)
def test_a_job_on_a_full_disk_is_one_line(built, folder, target, words):
    outputs = list(built.path(folder).glob(Path(target).stem + ".*"))
    if "manifest" in target:
        outputs.append(built.path("runs/final/gate.json"))
    kept = {p: p.read_bytes() for p in outputs}
    for p in outputs:
        p.unlink()
    try:
        with full_disk(built.path(folder)):
            proc = built.snakemake(target, check=False, timeout=120)
        assert proc.returncode != 0
        assert "Traceback" not in proc.stderr and "OSError" not in proc.stderr, proc.stderr[-3000:]
        failed = [ln for ln in proc.stderr.splitlines() if words in ln]
        assert failed, proc.stderr[-3000:]
        assert "No space left on device. Free the disk or fix the permissions" in failed[0]
        assert not any(p.exists() for p in outputs)  # nothing half-written left behind
    finally:
        for p, data in kept.items():
            p.write_bytes(data)
