"""Shared by the benchmarks: temp workflow copies, generated productions, timed runs.

Every benchmark copies the workflow into a scratch directory (removed at exit;
set STILLMAKE_BENCH_KEEP=1 to keep it) and runs `python -m snakemake` there as
a subprocess, so the repository's own `runs/` is never touched.
"""

from __future__ import annotations

import atexit
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from stillmake.user_cache import CACHE_ENV  # noqa: E402
from tests.conftest import copy_workflow  # noqa: E402
from tests.fake_openai import FakeOpenAI  # noqa: E402,F401

# faces and schemas worked out afresh, as on a first build (STILLMAKE_CACHE_DIR=DIR: warm)
os.environ.setdefault(CACHE_ENV, "off")

PROMPTS = "runs/input/the_trace.image_prompts.refined.json"
SELECTIONS = "runs/input/selections.yaml"
LIGHTS = ("fluorescent", "red_emergency", "daylight")
# rules that only name files (no work of their own): not counted as jobs
TARGET_RULES = {"all", "drafts", "review", "selected", "edits", "finals", "critical"}
FAKE_KEY = "sk-bench-fake"

_SCRATCH: Path | None = None


def scratch() -> Path:
    """One scratch directory per benchmark process, removed when it exits."""
    global _SCRATCH
    if _SCRATCH is None:
        _SCRATCH = Path(tempfile.mkdtemp(prefix="stillmake-bench-"))
        if not os.environ.get("STILLMAKE_BENCH_KEEP"):
            atexit.register(shutil.rmtree, _SCRATCH, True)
    return _SCRATCH


def workflow_copy() -> Path:
    return copy_workflow(Path(tempfile.mkdtemp(dir=scratch())) / "wf")


def generate_production(wf: Path, n: int, *, picks: bool = True) -> None:
    """Shots s1..sN, one simple prompt each, written over the sample's prompts file.

    With picks (selections.yaml): every shot picked with one region edit step,
    every 3rd shot locked. `critical` in config.yaml still lists s1, s3, s5; it
    only matters for the `critical` target, which no benchmark builds.
    """
    shots = [
        {
            "id": f"s{i}",
            "title": f"Shot {i}",
            "lighting": LIGHTS[i % 3],
            "characters": ["leyla"],
            "negative": "blur",
            "prompt": f"Leyla crosses corridor {i} toward door {i % 7}, medium shot, 35mm.",
        }
        for i in range(1, n + 1)
    ]
    data = json.loads((wf / PROMPTS).read_text())
    data["shots"] = shots
    (wf / PROMPTS).write_text(json.dumps(data, indent=1))
    lines = []
    if picks:
        for i in range(1, n + 1):
            lines.append(
                f"s{i}:\n  pick: {1 + i % 3}\n  edits:\n"
                f"    - change: remove the sign {i}\n      region: [0.1, 0.1, 0.3, 0.3]\n"
                f"  lock: {'true' if i % 3 == 0 else 'false'}\n"
            )
    (wf / SELECTIONS).write_text("".join(lines) or "{}\n")


def set_prompt(wf: Path, shot: str, text: str) -> str:
    """Replace one shot's prompt in the prompts file; returns the old prompt."""
    data = json.loads((wf / PROMPTS).read_text())
    old = None
    for s in data["shots"]:
        if s["id"] == shot:
            old, s["prompt"] = s["prompt"], text
    if old is None:
        raise SystemExit(f"no shot {shot} in {PROMPTS}")
    (wf / PROMPTS).write_text(json.dumps(data, indent=1))
    return old


@dataclass
class Run:
    wall: float  # seconds, the whole `python -m snakemake …` command
    started: float  # time.monotonic() just before the process was started
    ended: float  # time.monotonic() just after it exited
    proc: subprocess.CompletedProcess

    @property
    def text(self) -> str:
        return self.proc.stdout + self.proc.stderr


def clean_env(**extra) -> dict:
    """The caller's environment without OPENAI_* (no key leaks into a preview run)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update({k: str(v) for k, v in extra.items()})
    return env


def api_env(server) -> dict:
    return clean_env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=server.url)


def snakemake(wf: Path, *args, env=None, check=True, prefix=()) -> Run:
    """Run `python [prefix] -m snakemake ARGS` in the workflow copy and time it."""
    cmd = [sys.executable, *prefix, "-m", "snakemake", *args]
    env = env or clean_env()
    started = time.monotonic()
    proc = subprocess.run(cmd, cwd=wf, env=env, capture_output=True, text=True)
    ended = time.monotonic()
    if check and proc.returncode != 0:
        raise SystemExit(
            f"snakemake {' '.join(args)} failed ({proc.returncode}) in {wf}:\n"
            f"{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        )
    return Run(ended - started, started, ended, proc)


BRIEF_PLAN = re.compile(r"^stillmake: \d+ job\(s\) to run: (.*)$", re.M)  # views/console.py


def job_stats(text: str) -> dict[str, int]:
    """Snakemake's 'Job stats' table (rule -> count), first one in the output; a build
    on the brief console (`console: brief`) prints its jobs per pass instead."""
    m = re.search(r"Job stats:\n.*?\n-+\s+-+\n(.*?)\ntotal\s+\d+", text, re.S)
    if not m:
        brief = BRIEF_PLAN.search(text)
        pairs = (item.rsplit(" ", 1) for item in brief.group(1).split(", ")) if brief else ()
        return {name: int(count) for name, count in pairs}
    stats = {}
    for line in m.group(1).splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].isdigit():
            stats[parts[0]] = int(parts[1])
    return stats


def work_jobs(text: str) -> int:
    """Jobs that do work: the Job stats total without target-only rules (all, review, …);
    the brief console counts only those."""
    if "Job stats:" not in text and BRIEF_PLAN.search(text):
        return sum(job_stats(text).values())
    return sum(c for rule, c in job_stats(text).items() if rule not in TARGET_RULES)


def job_shots(text: str) -> list[str]:
    """The `shot` wildcard of every job block printed by a (non-quiet) run or dry run."""
    return re.findall(r"^\s+wildcards: .*?\bshot=([^,\s]+)", text, re.M)


def machine() -> str:
    """One line of context: timings on a shared machine depend on what else runs."""
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return f"machine: {os.cpu_count()} cores, load average {load} (1/5/15 min) at start"


def best_of(n: int, fn) -> float:
    return min(fn() for _ in range(n))
