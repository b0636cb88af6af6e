"""Shared by the benchmarks: temp workflow copies, generated productions, timed runs."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.conftest import copy_workflow  # noqa: E402
from tests.fake_openai import FakeOpenAI  # noqa: E402,F401

PROMPTS = "runs/input/the_trace.image_prompts.refined.json"
SELECTIONS = "runs/input/selections.yaml"
LIGHTS = ("fluorescent", "red_emergency", "daylight")


def workflow_copy() -> Path:
    return copy_workflow(Path(tempfile.mkdtemp(prefix="stillmake-bench-")) / "wf")


def generate_production(wf: Path, n: int, *, picks=True) -> None:
    """n shots; with picks: every shot picked with one region edit, every 3rd locked."""
    shots = [{"id": f"s{i}", "title": f"Shot {i}", "lighting": LIGHTS[i % 3],
              "characters": ["leyla"], "negative": "blur",
              "prompt": f"Leyla crosses corridor {i} toward door {i % 7}, medium shot, 35mm."}
             for i in range(1, n + 1)]
    data = json.loads((wf / PROMPTS).read_text())
    data["shots"] = shots
    (wf / PROMPTS).write_text(json.dumps(data, indent=1))
    lines = []
    if picks:
        for i in range(1, n + 1):
            lines.append(f"s{i}:\n  pick: {1 + i % 3}\n  edits:\n"
                         f"    - change: remove the sign {i}\n      region: [0.1, 0.1, 0.3, 0.3]\n"
                         f"  lock: {'true' if i % 3 == 0 else 'false'}\n")
    (wf / SELECTIONS).write_text("".join(lines) or "{}\n")


def snakemake(wf: Path, *args, env=None, check=True) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, "-m", "snakemake", *args], cwd=wf, env=env,
                          capture_output=True, text=True)
    elapsed = time.perf_counter() - start
    if check and proc.returncode != 0:
        raise SystemExit(f"snakemake {' '.join(args)} failed:\n{proc.stderr[-3000:]}")
    return elapsed, proc


def api_env(server) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(OPENAI_API_KEY="sk-bench-fake", OPENAI_BASE_URL=server.url)
    return env


def best_of(n, fn):
    return min(fn() for _ in range(n))
