"""stillmake.paths is the one table of output paths: the rules declare exactly these."""

from __future__ import annotations

import hashlib
import io
import json
import subprocess
import sys

import pytest
from PIL import Image

from stillmake import paths
from stillmake.artifacts.picks import current_drafts_fingerprint, drafts_fingerprint
from stillmake.artifacts.provenance import write_image
from stillmake.artifacts.quality import worst_level

# (rule, output name) -> PATTERNS key; a rule's log -> PATTERNS key
RULE_OUTPUTS = {
    ("draft", "images"): "draft",
    ("draft", "sidecars"): "draft_sidecar",
    ("review_sheet", "sheet"): "review_sheet",
    ("review_sheet", "json"): "review_json",
    ("select", "image"): "selected",
    ("select", "sidecar"): "selected_sidecar",
    ("edit_step", "image"): "edit_step",
    ("edit_step", "sidecar"): "edit_step_sidecar",
    ("final", "image"): "final",
    ("final", "sidecar"): "final_sidecar",
    ("manifest", "csv"): "manifest_csv",
    ("manifest", "json"): "manifest_json",
    ("manifest", "gate"): "gate",
}
RULE_LOGS = {
    "draft": "draft_log",
    "review_sheet": "review_log",
    "select": "select_log",
    "edit_step": "edit_log",
    "final": "final_log",
    "manifest": "manifest_log",
}

# Loads the workflow with Snakemake's API (no job runs) and writes every rule's named
# outputs and logs, wildcard constraints stripped, as JSON.
DUMP = """
import json, sys
from pathlib import Path
from snakemake.api import SnakemakeApi
from snakemake.io import strip_wildcard_constraints
from snakemake.settings.types import OutputSettings, ResourceSettings

def plain(files):
    files = files if isinstance(files, list) else [files]
    return [strip_wildcard_constraints(str(f)) for f in files]

with SnakemakeApi(OutputSettings()) as api:
    wf = api.workflow(resource_settings=ResourceSettings(), snakefile=Path("Snakefile"),
                      workdir=Path.cwd())
    rules = {r.name: {"output": {name: plain(r.output.get(name)) for name in r.output.keys()},
                      "log": plain(list(r.log))}
             for r in wf._workflow.rules}
Path(sys.argv[1]).write_text(json.dumps(rules))
"""


@pytest.fixture(scope="module")
def rules(tmp_path_factory):
    from tests.conftest import copy_workflow

    root = copy_workflow(tmp_path_factory.mktemp("paths") / "wf")
    out = root / "rules.json"
    proc = subprocess.run(
        [sys.executable, "-c", DUMP, str(out)],
        cwd=root,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-4000:]
    return json.loads(out.read_text())


def _pattern(key: str, k: int) -> str:
    """A PATTERNS entry as a rule declares it: wildcards kept, draft number filled in."""
    return paths.PATTERNS[key].format(shot="{shot}", step="{step}", k=k)


def test_table_covers_every_rule_output(rules):
    assert set(RULE_OUTPUTS.values()) | set(RULE_LOGS.values()) == set(paths.PATTERNS)
    declared = {(rule, name) for rule, r in rules.items() for name in r["output"]}
    assert declared == set(RULE_OUTPUTS)
    assert {rule for rule, r in rules.items() if r["log"]} == set(RULE_LOGS)


def test_rules_declare_the_table(rules):
    for (rule, name), key in RULE_OUTPUTS.items():
        files = rules[rule]["output"][name]
        assert files == [_pattern(key, k) for k in range(1, len(files) + 1)], (rule, name)
    assert len(rules["draft"]["output"]["images"]) == 3  # draft.n in config.yaml
    for rule, key in RULE_LOGS.items():
        assert rules[rule]["log"] == [paths.PATTERNS[key]], rule


def test_functions_fill_the_patterns():
    assert paths.draft("s3", 2) == "runs/drafts/s3/draft_2.png"
    assert paths.drafts("s3", 3) == [f"runs/drafts/s3/draft_{k}.png" for k in (1, 2, 3)]
    assert paths.drafts("s3", 0) == []
    assert paths.review_sheet("s3") == "runs/review/s3.png"
    assert paths.review_json("s3") == "runs/review/s3.json"
    assert paths.selected("s3") == "runs/selected/s3.png"
    assert paths.edit_step("s3", 2) == "runs/edits/s3/step_2.png"
    assert paths.final("s3") == "runs/final/s3.png"
    assert (paths.MANIFEST_CSV, paths.MANIFEST_JSON, paths.GATE) == (
        "runs/final/manifest.csv",
        "runs/final/manifest.json",
        "runs/final/gate.json",
    )


def test_planned_jobs_chain_through_the_table(monkeypatch):
    from stillmake.inputs.config import load_config
    from stillmake.planner.load import load_build
    from tests.conftest import REPO

    monkeypatch.chdir(REPO)
    build = load_build(load_config())
    assert build.select("s3").review == paths.review_sheet("s3")
    assert build.edit("s3", 1).inputs()["source"] == paths.selected("s3")
    assert build.edit("s3", 2).inputs()["source"] == paths.edit_step("s3", 1)
    n = build.edit_count("s3")
    assert build.final("s3").candidate == (paths.edit_step("s3", n) if n else paths.selected("s3"))
    assert build.final("s2").candidate == paths.selected("s2")  # picked, no edit steps


def test_current_drafts_fingerprint(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pngs = []
    for k in (1, 2, 3):  # the fingerprint is taken from the pixels on disk
        buf = io.BytesIO()
        Image.new("RGB", (4, 4), (k, k, k)).save(buf, "PNG")
        pngs.append(buf.getvalue())
    drafts = paths.drafts("s1", 3)
    shas = [hashlib.sha256(png).hexdigest() for png in pngs]
    for path, png, sha in zip(drafts[:2], pngs, shas, strict=False):
        write_image(path, png, {"image_sha256": sha})
    assert current_drafts_fingerprint(drafts) is None  # draft 3 missing
    write_image(drafts[2], pngs[2], {"image_sha256": shas[2]})
    assert current_drafts_fingerprint(drafts) == drafts_fingerprint(shas)
    assert current_drafts_fingerprint(drafts[::-1]) == drafts_fingerprint(shas[::-1])


def test_worst_level():
    assert worst_level(["pass", "fail", "warn"]) == "fail"
    assert worst_level(["warn", "pass"]) == "warn"
    assert worst_level([]) == "pass" and worst_level([None, ""], default="-") == "-"
