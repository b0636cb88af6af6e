"""Scheduling efficiency: build wall time against the API's own latency.

The loopback server answers every request after L seconds; the 5-shot draft
pass runs at -c 1, 2, 5. Ideal = ceil(jobs / c) * L. Printed: the whole
snakemake command (start-up and DAG included) and the build span (first request
in to last answer out, from the server's clock), each as a ratio to the ideal.

    python bench/bench_scheduling.py [--latency 2]
"""

from __future__ import annotations

import argparse
import math

from common import FakeOpenAI, api_env, snakemake, workflow_copy


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--latency", type=float, default=2.0)
    args = ap.parse_args(argv)
    L = args.latency
    wf = workflow_copy()
    startup, _ = snakemake(wf, "-n", "drafts")
    print(f"latency L = {L:.1f} s; snakemake start-up + DAG (`-n`): {startup:.2f} s")
    print(f"{'c':>3} {'jobs':>5} {'ideal s':>8} {'wall s':>7} {'wall/ideal':>10} {'span s':>7} {'span/ideal':>10}")
    for c in (1, 2, 5):
        wf = workflow_copy()
        with FakeOpenAI(latency=L) as server:
            wall, _ = snakemake(wf, "drafts", "-c", str(c), "--resources", f"api={c}",
                                "--config", "backend=openai", env=api_env(server))
            starts = [r.time for r in server.requests]
            span = max(starts) + L - min(starts)
            jobs = len(starts)
        ideal = math.ceil(jobs / c) * L
        print(f"{c:>3} {jobs:>5} {ideal:>8.1f} {wall:>7.2f} {wall / ideal:>10.2f} {span:>7.2f} {span / ideal:>10.2f}")
    print("target: wall/ideal <= 1.2 (start-up is a fixed cost, so the ratio falls as L or jobs grow)")


if __name__ == "__main__":
    main()
