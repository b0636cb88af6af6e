"""The planner's answer to "which jobs would the next build run" (planner/pending.py)
held against Snakemake's own (`snakemake --summary`), state after state of the sample."""

from __future__ import annotations

import csv
import io
import os
import re
import shutil
import time

import pytest
from PIL import Image

from stillmake.inputs.config import load_config
from stillmake.planner.load import load_build
from stillmake.planner.pending import Pending
from tests.conftest import edit_prompt


def snakemake_pending(wf, target="all") -> set[str]:
    """Output files `snakemake --summary` says are missing or pending an update."""
    proc = wf.snakemake(target, "--summary")
    rows = csv.reader(io.StringIO(proc.stdout), delimiter="\t")
    return {
        row[0].strip()
        for row in rows
        if len(row) >= 6
        and row[0] != "output_file"
        and row[-1].strip() in ("missing", "update pending")
    }


def planner_pending(wf, target="all") -> set[str]:
    here = os.getcwd()
    os.chdir(wf.root)
    try:
        return Pending(load_build(load_config())).outputs([target])
    finally:
        os.chdir(here)


def agree(wf, target="all") -> set[str]:
    ours, theirs = planner_pending(wf, target), snakemake_pending(wf, target)
    assert ours == theirs, (sorted(ours - theirs), sorted(theirs - ours))
    return ours


def retouch(path) -> None:
    """New pixels in a built image, newer than everything built from it. (Snakemake
    compares content as well as mtime where it recorded the content: a file only
    touched runs nothing.)"""
    time.sleep(1)  # a filesystem with coarse mtimes, too
    with Image.open(path) as im:
        rgb = im.convert("RGB")
    rgb.putpixel((0, 0), (255, 0, 0))
    rgb.save(path)


def test_on_a_fresh_copy_the_planner_runs_what_snakemake_would_run(workflow):
    wf = workflow
    fresh = agree(wf)
    assert "runs/final/manifest.csv" in fresh and "runs/drafts/s4/draft_1.png" in fresh
    assert agree(wf, "drafts") == {p for p in fresh if p.startswith("runs/drafts/")}
    assert agree(wf, "runs/edits/s3/step_2.png") >= {"runs/drafts/s3/draft_1.png"}


def test_after_a_build_the_planner_runs_what_snakemake_would_run(built):
    wf = built
    assert agree(wf) == set()

    old = edit_prompt(wf, "s3", "Leyla at the clock, one change: the light is colder")
    changed = agree(wf)
    shots = {m for p in changed for m in re.findall(r"/(s\d)[/.]", p)}
    assert shots == {"s3"} and "runs/final/manifest.csv" in changed, changed
    edit_prompt(wf, "s3", old)  # undone: nothing to rebuild
    assert agree(wf) == set()

    retouch(wf.path("runs/selected/s1.png"))  # an input newer than what was built from it
    assert agree(wf) >= {"runs/edits/s1/step_1.png", "runs/final/s1.png"}
    wf.snakemake()

    shutil.rmtree(wf.path(".snakemake"))  # rebuilds do not depend on Snakemake's metadata
    assert agree(wf) == set()
    config = wf.path("config.yaml")
    config.write_text(config.read_text() + "quality: {default: {sharpness: {warn: 50, fail: 9}}}\n")
    assert any(p.startswith("runs/review/") for p in agree(wf))


def test_finals_of_unlocked_shots_are_refused_alike(workflow):
    wf = workflow
    proc = wf.snakemake("finals", "--summary", check=False)
    assert proc.returncode != 0 and "not locked: s2, s4" in proc.stderr
    with pytest.raises(Exception, match="not locked: s2, s4"):
        planner_pending(wf, "finals")
