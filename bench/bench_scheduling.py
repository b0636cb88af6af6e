"""Scheduling efficiency: the draft pass's wall time against the API's own latency.

The loopback server (tests/fake_openai.py) answers every request after L seconds.
The 5-shot sample's draft pass

    snakemake drafts --config backend=openai -c C --resources api=C

runs at C = 1, 2, 5. Ideal = ceil(jobs / C) * L: what the API alone costs.

  wall   the whole snakemake command, as a user sees it: Python + Snakemake
         start-up, DAG, the jobs (as threads), and exit
  span   first request's arrival at the server to the last answer leaving it
         (server-side `Recorded.time`, monotonic, + L): the scheduling itself
  pre    process start to the first request's arrival (start-up, DAG, the first
         job's `import openai`); post: last answer to process exit (writing the
         last drafts, the spend summary, interpreter exit)

Both clocks are time.monotonic() of this machine, so they subtract.

    python bench/bench_scheduling.py [--latency 2] [--concurrency 1 2 5]
"""

from __future__ import annotations

import argparse
import math
import subprocess
import sys
import time

from common import FakeOpenAI, api_env, best_of, machine, snakemake, work_jobs, workflow_copy


def interpreter_import(module: str, repeat: int = 3) -> float:
    """Seconds a fresh interpreter spends importing `module` (minus a bare start)."""

    def run(code):
        t = time.perf_counter()
        subprocess.run([sys.executable, "-c", code], check=True)
        return time.perf_counter() - t

    return best_of(repeat, lambda: run(f"import {module}")) - best_of(repeat, lambda: run("pass"))


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--latency", type=float, default=2.0, help="server latency L in seconds")
    ap.add_argument("--concurrency", type=int, nargs="+", default=[1, 2, 5])
    args = ap.parse_args(argv)
    L = args.latency

    # context: what a build pays before and besides any job
    wf = workflow_copy()
    with FakeOpenAI() as server:
        env = api_env(server)
        startup = best_of(
            3, lambda: snakemake(wf, "-n", "drafts", "--config", "backend=openai", env=env).wall
        )
    openai_import = interpreter_import("openai")
    print(machine())
    print(f"latency L = {L:g} s; 5-shot sample, target `drafts`, backend openai on 127.0.0.1")
    print(f"snakemake start-up alone (`snakemake -n drafts`, best of 3): {startup:.2f} s")
    print(
        f"`import openai` in a fresh interpreter (paid once, by the first job): {openai_import:.2f} s"
    )
    print()
    header = (
        f"{'C':>3} {'jobs':>5} {'requests':>8} {'ideal s':>8} {'wall s':>7} {'wall/ideal':>10} "
        f"{'span s':>7} {'span/ideal':>10} {'pre s':>6} {'post s':>6}"
    )
    print(header)
    rows = []
    for c in args.concurrency:
        wf = workflow_copy()
        with FakeOpenAI(latency=L) as server:
            run = snakemake(
                wf,
                "drafts",
                "--config",
                "backend=openai",
                "-c",
                str(c),
                "--resources",
                f"api={c}",
                env=api_env(server),
            )
            arrivals = sorted(r.time for r in server.requests)
        jobs = work_jobs(run.text)
        first, last_answer = arrivals[0], arrivals[-1] + L
        span = last_answer - first
        ideal = math.ceil(jobs / c) * L
        pre, post = first - run.started, run.ended - last_answer
        rows.append((c, run.wall / ideal))
        print(
            f"{c:>3} {jobs:>5} {len(arrivals):>8} {ideal:>8.1f} {run.wall:>7.2f} "
            f"{run.wall / ideal:>10.2f} {span:>7.2f} {span / ideal:>10.2f} {pre:>6.2f} {post:>6.2f}",
            flush=True,
        )
    print()
    met = [c for c, r in rows if r <= 1.2]
    missed = [c for c, r in rows if r > 1.2]
    print(
        "target: wall/ideal <= 1.2 -> "
        + (f"met at C = {', '.join(map(str, met))}" if met else "met at no C")
        + (f"; missed at C = {', '.join(map(str, missed))}" if missed else "")
    )
    print(
        "wall includes snakemake's own start-up (the `-n` time above) and the first job's "
        "`import openai`: a fixed cost per build, so wall/ideal falls toward span/ideal as "
        "L or the number of jobs grows."
    )


if __name__ == "__main__":
    main()
