"""Rebuilds that must happen, limits known before paying, and failures that read as one line.

* A changed request rebuilds its job whether or not Snakemake's metadata (.snakemake/)
  exists, and nothing else: a prompt, an edit step, a final's model.
* A draft changed by hand after its pick is noticed from the pixels on disk.
* A job stopped by the user's own input (moderation, budget, stale pick) is one line
  in snakemake's output, not a stack.
* `snakemake --report` runs on what `pip install -e .` installs.
"""

from __future__ import annotations

import importlib.metadata as md
import json
import re
import shutil
import subprocess
import sys
import tomllib

import numpy as np
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name
from PIL import Image

from stillmake.artifacts import picks
from stillmake.artifacts.provenance import raw_image, read_sidecar, with_text_chunks
from stillmake.files import sha256_bytes
from tests.conftest import PROMPTS, REPO, edit_prompt

SELECTIONS = "runs/input/selections.yaml"
OUTPUT_DIRS = ("drafts", "review", "selected", "edits", "final")
TARGET_RULES = {"all", "drafts", "review", "selected", "edits", "finals", "critical"}
STACK_LINE = re.compile(r'^\s*File "', re.M)


# ---------------------------------------------------------------- helpers


def planned_jobs(stdout: str) -> list[tuple[str, str]]:
    """(rule, wildcards) of every job `snakemake -n` lists, target rules left out."""
    jobs, rule, wildcards = [], None, ""
    for line in stdout.splitlines() + ["[end]"]:
        line = line.strip()
        starts = line.startswith(("rule ", "localrule ")) and line.endswith(":")
        if (starts or line.startswith("[")) and rule:
            if rule not in TARGET_RULES:
                jobs.append((rule, wildcards))
            rule, wildcards = None, ""
        if starts:
            rule = line.split()[1].rstrip(":")
        elif line.startswith("wildcards:") and rule:
            wildcards = line.removeprefix("wildcards:").strip()
    return sorted(jobs)


def outputs(wf) -> dict[str, int]:
    """Every built file under runs/ with its mtime (ns)."""
    found = {}
    for d in OUTPUT_DIRS:
        for p in wf.path(f"runs/{d}").rglob("*"):
            if p.is_file():
                found[str(p.relative_to(wf.root))] = p.stat().st_mtime_ns
    return found


def rewritten(before: dict[str, int], after: dict[str, int]) -> set[str]:
    return {p for p, t in after.items() if before.get(p) != t}


def forget_metadata(wf) -> None:
    """A fresh clone, a CI cache, a cluster node: Snakemake's own records are gone."""
    shutil.rmtree(wf.path(".snakemake"))


S3 = [
    ("draft", "shot=s3"),
    ("edit_step", "shot=s3, step=1"),
    ("edit_step", "shot=s3, step=2"),
    ("final", "shot=s3"),
    ("manifest", ""),
    ("review_sheet", "shot=s3"),
    ("select", "shot=s3"),
]


# ---------------------------------------------------------------- rebuilds without .snakemake/


def test_prompt_edit_rebuilds_its_shot_without_snakemake_metadata(built):
    wf = built
    forget_metadata(wf)
    assert planned_jobs(wf.snakemake("-n").stdout) == []  # nothing changed: nothing to do

    edit_prompt(wf, "s3", "Leyla kneels by the drain, one hand flat on the wet tiles.")
    assert planned_jobs(wf.snakemake("-n", "review").stdout) == [
        ("draft", "shot=s3"),
        ("review_sheet", "shot=s3"),
    ]
    assert planned_jobs(wf.snakemake("-n").stdout) == S3  # -n twice: the same truth
    before = outputs(wf)
    # the pick typed by hand was bound to the drafts the build first applied it to
    proc = wf.snakemake(check=False)
    assert proc.returncode != 0 and "shot s3: pick 1 was made on drafts" in proc.stderr
    wf.stillmake("pick", "s3", "1")  # the new sheet looked at: the same pick, on new drafts
    wf.snakemake()
    changed = rewritten(before, outputs(wf))
    assert changed and all(
        "/s3/" in p or "/s3." in p or p.startswith("runs/final/manifest") or "gate" in p
        for p in changed
    ), sorted(changed)
    assert "drain" in read_sidecar(wf.path("runs/drafts/s3/draft_1.png"))["prompt"]
    assert planned_jobs(wf.snakemake("-n").stdout) == []


def test_edit_step_change_rebuilds_that_step_on_without_metadata(built):
    wf = built
    forget_metadata(wf)
    path = wf.path(SELECTIONS)
    text = path.read_text(encoding="utf-8")
    assert "match Leyla's blazer, tie" in text
    path.write_text(text.replace("match Leyla's blazer, tie", "match Leyla's tie"), "utf-8")
    assert planned_jobs(wf.snakemake("-n").stdout) == [
        ("edit_step", "shot=s3, step=2"),
        ("final", "shot=s3"),
        ("manifest", ""),
    ]
    wf.snakemake()
    assert "match Leyla's tie" in read_sidecar(wf.path("runs/edits/s3/step_2.png"))["prompt"]


def test_final_model_change_rebuilds_finals_only_without_metadata(built):
    wf = built
    forget_metadata(wf)
    wf.path("other_final.yaml").write_text("final: {model: gpt-image-2.5-sunburst}\n", "utf-8")
    other = ["--configfile", "other_final.yaml"]
    assert planned_jobs(wf.snakemake("-n", *other).stdout) == [
        ("final", "shot=s1"),
        ("final", "shot=s3"),
        ("final", "shot=s5"),
        ("manifest", ""),
    ]
    before = outputs(wf)
    wf.snakemake(*other)
    changed = rewritten(before, outputs(wf))
    assert {p.split("/")[1] for p in changed} == {"final"}
    assert read_sidecar(wf.path("runs/final/s3.png"))["model"] == "gpt-image-2.5-sunburst"


def test_a_what_if_dry_run_or_an_undone_edit_leaves_nothing_to_rebuild(built):
    """A request stamp goes back to its old state when the outputs were built from it."""
    wf = built
    wf.path("what_if.yaml").write_text("final: {model: gpt-image-2.5-sunburst}\n", "utf-8")
    assert len(planned_jobs(wf.snakemake("-n", "--configfile", "what_if.yaml").stdout)) == 4
    assert planned_jobs(wf.snakemake("-n").stdout) == []
    forget_metadata(wf)
    assert planned_jobs(wf.snakemake("-n").stdout) == []
    old = edit_prompt(wf, "s2", "Leyla waits at the nurse's door.")
    assert ("draft", "shot=s2") in planned_jobs(wf.snakemake("-n").stdout)
    edit_prompt(wf, "s2", old)
    assert planned_jobs(wf.snakemake("-n").stdout) == []


def test_every_job_records_the_request_it_was_built_from(built):
    """The stamp a job depends on and the record it leaves agree (same params digest)."""
    wf = built
    stamps = sorted(p for p in wf.path("runs/.params").rglob("*.json") if p.name != "pixels.json")
    assert len(stamps) == 22  # 5 drafts, 5 reviews, 4 selects, 4 edit steps, 3 finals, manifest
    for stamp in stamps:
        built = stamp.with_suffix(".built")
        assert built.read_text() == stamp.read_text(), stamp


# ---------------------------------------------------------------- a draft retouched by hand


def draft_png(tmp_path, seed: int = 1):
    from stillmake.artifacts.provenance import write_image

    rng = np.random.default_rng(seed)
    img = Image.fromarray(rng.integers(0, 255, (24, 32, 3), dtype=np.uint8))
    import io

    buf = io.BytesIO()
    img.save(buf, "PNG")
    png = buf.getvalue()
    path = tmp_path / f"draft_{seed}.png"
    write_image(path, png, {"image_sha256": sha256_bytes(png), "created": 1})
    return path, png


def test_drafts_fingerprint_comes_from_the_pixels_on_disk(tmp_path):
    paths = [draft_png(tmp_path, k)[0] for k in (1, 2, 3)]
    bound = picks.current_drafts_fingerprint(paths)
    assert bound is not None and picks.changed_since_drafted(paths) == []
    # new provenance chunks (another timestamp) are not new pixels
    png = paths[1].read_bytes()
    paths[1].write_bytes(with_text_chunks(png, {"stillmake": '{"created": 2}'}))
    assert picks.current_drafts_fingerprint(paths) == bound
    # a retouch is: the sidecar still says what was drafted, the pixels say otherwise
    with Image.open(paths[1]) as im:
        rgb = np.asarray(im.convert("RGB")).copy()
    rgb[3:6, 3:6] = 255
    Image.fromarray(rgb).save(paths[1])
    assert picks.current_drafts_fingerprint(paths) != bound
    assert picks.changed_since_drafted(paths) == [paths[1]]
    assert read_sidecar(paths[1])["image_sha256"] != sha256_bytes(raw_image(paths[1]))
    assert picks.current_drafts_fingerprint(paths[:2] + [tmp_path / "gone.png"]) is None


def status_rows(wf) -> dict[str, dict]:
    data = json.loads(wf.stillmake("status", "--json").stdout)
    rows = data["shots"] if isinstance(data, dict) else data
    return {r["shot"]: r for r in rows}


def retouch(path) -> None:
    """What an art director's image editor does: new pixels, our chunks dropped."""
    with Image.open(path) as im:
        rgb = np.asarray(im.convert("RGB")).copy()
    rgb[10:40, 10:40] = (250, 10, 10)
    Image.fromarray(rgb).save(path)


def test_hand_retouched_draft_makes_the_pick_stale(built):
    wf = built
    wf.stillmake("pick", "s3", "3")  # draft 2 is drawn to fail the gate: its final would not be
    wf.snakemake()
    status = status_rows(wf)
    assert status["s3"]["pick"] == "3"

    retouch(wf.path("runs/drafts/s3/draft_3.png"))
    status = status_rows(wf)
    assert status["s3"]["pick"] == "3 STALE"
    proc = wf.snakemake(check=False)
    assert proc.returncode != 0
    assert "runs/drafts/s3/draft_3.png changed since it was drafted" in proc.stderr
    line = next(ln for ln in proc.stderr.splitlines() if "changed since it was drafted" in ln)
    assert "stillmake pick s3 K" in line and "runs/review/s3.png" in line
    assert "Traceback" not in proc.stderr and not STACK_LINE.search(proc.stderr)
    assert not wf.path("runs/final/s3.png").exists() or "s3" not in json.loads(
        wf.path("runs/final/manifest.json").read_text()
    )

    # looking again and re-picking takes the retouched draft as an intended input
    wf.stillmake("pick", "s3", "3")
    wf.snakemake()
    side = read_sidecar(wf.path("runs/selected/s3.png"))
    assert side["retouched"] == ["runs/drafts/s3/draft_3.png"]
    assert side["image_sha256"] == sha256_bytes(raw_image(wf.path("runs/selected/s3.png")))
    assert side["image_sha256"] == sha256_bytes(raw_image(wf.path("runs/drafts/s3/draft_3.png")))


# ---------------------------------------------------------------- failures as one line


def one_line_failure(proc, words: str) -> None:
    assert proc.returncode != 0
    assert words in proc.stderr, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert not STACK_LINE.search(proc.stderr), proc.stderr[-3000:]


def test_moderation_refusal_reads_as_one_line(workflow, fake_openai):
    wf = workflow
    s4 = json.loads(wf.path(PROMPTS).read_text())["shots"][3]
    fake_openai.block_prompts_containing(s4["prompt"][:40])
    proc = wf.snakemake(
        "review", "--config", "backend=openai", env=wf.openai_env(fake_openai), check=False
    )
    one_line_failure(proc, "s4 draft failed: moderation refused the request")


def test_budget_refusal_reads_as_one_line(workflow, fake_openai):
    wf = workflow
    proc = wf.snakemake(
        "runs/review/s2.png",
        "--config",
        "backend=openai",
        "budget_usd=0.01",
        env=wf.openai_env(fake_openai),
        check=False,
    )
    one_line_failure(proc, "s2 draft failed:")
    assert "budget_usd $0.01" in proc.stderr
    assert fake_openai.count() == 0


# ---------------------------------------------------------------- the report on a fresh install


# Runs `python -m snakemake ARGS...` as if only the declared distributions were installed:
# importing a package that belongs to no declared distribution fails, as on a fresh
# `pip install -e .`; optional imports snakemake guards (boto3, wcwidth, ...) stay optional.
BLOCK_UNDECLARED = r"""
import importlib.abc, importlib.metadata as md, json, re, runpy, sys
allowed = set(json.loads(sys.argv[1]))
owners = md.packages_distributions()
blocked = set()

def canon(name):
    return re.sub(r"[-_.]+", "-", name).lower()

class Undeclared(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        top = name.partition(".")[0]
        dists = owners.get(top)
        if top in sys.stdlib_module_names or not dists or top == "stillmake":
            return None
        if any(canon(d) in allowed for d in dists):
            return None
        blocked.add(top)
        raise ModuleNotFoundError(f"No module named {top!r}", name=top)

sys.meta_path.insert(0, Undeclared())
sys.argv = ["snakemake", *sys.argv[2:]]
try:
    runpy.run_module("snakemake", run_name="__main__", alter_sys=True)
finally:
    print("not installed:", sorted(blocked), file=sys.stderr)
"""


def declared_closure(extra: list[str] = ()) -> set[str]:
    """The distributions `pip install -e .` brings: pyproject's dependencies and theirs
    (and those of `extra` requirements)."""
    deps = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    deps = [*deps, *extra]
    seen: set[str] = set()
    todo = [Requirement(d) for d in deps]
    while todo:
        req = todo.pop()
        name = canonicalize_name(req.name)
        if name in seen or (req.marker and not req.marker.evaluate({"extra": ""})):
            continue
        seen.add(name)
        try:
            todo += [Requirement(r) for r in md.requires(req.name) or []]
        except md.PackageNotFoundError:
            pass
    return seen


def installed_plugins() -> list[str]:
    """Snakemake plugins the test extra installs (executor, storage): Snakemake imports
    every plugin it finds at start, as on any machine that has them installed."""
    extra = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    test = extra["optional-dependencies"]["test"]
    return [r for r in test if re.match(r"snakemake-\w+-plugin-", Requirement(r).name)]


def test_report_runs_on_what_pip_install_brings(workflow):
    """The README's `snakemake` and `snakemake --report report.html`, with nothing but
    what pyproject.toml declares (and what that requires) importable."""
    wf = workflow
    declared = json.dumps(sorted(declared_closure(installed_plugins())))
    for args in ([], ["--report", "report.html"]):
        proc = subprocess.run(
            [sys.executable, "-c", BLOCK_UNDECLARED, declared, *args],
            cwd=wf.root,
            env=wf.env(),
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, proc.stderr[-3000:]
    html = wf.path("report.html").read_text(encoding="utf-8", errors="replace")
    assert "manifest" in html and len(html) > 10_000
