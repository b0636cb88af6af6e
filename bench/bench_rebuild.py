"""Rebuild precision: edit one shot's prompt; count the jobs and paid requests that follow.

For N = 5 and 100 generated shots (as in bench_dag_scale: every shot picked with
one region edit, every 3rd locked) on the loopback API with latency 0, target
`review` only (drafts + contact sheets):

  1. build `snakemake review --config backend=openai`
  2. edit the prompt of one shot (s3 at N=5, s50 at N=100)
  3. `snakemake -n review`: jobs planned (Snakemake's job stats, without the
     target rule `review`) and which shots they belong to; expected: 2 jobs
     (draft + review_sheet) of that shot only
  4. `snakemake review`: paid requests = the server's request count delta;
     expected 1
  5. revert the prompt and build again: expected 0 paid requests (the response
     is in runs/cache/ under the request fingerprint), while that shot's 2 jobs
     rerun (their params changed back) and are answered from the cache

    python bench/bench_rebuild.py [--sizes 5 100]
"""

from __future__ import annotations

import argparse
import time

from common import (
    FakeOpenAI,
    api_env,
    generate_production,
    job_shots,
    machine,
    set_prompt,
    snakemake,
    work_jobs,
    workflow_copy,
)

EXPECTED_JOBS, EXPECTED_REQUESTS = 2, 1


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 100])
    args = ap.parse_args(argv)
    print(machine())
    print(
        f"{'shots':>6} {'build s':>7} {'edited':>6} {'jobs exp':>8} {'jobs seen':>9} "
        f"{'other shots':>11} {'req exp':>7} {'req seen':>8} {'ratio':>6} {'revert jobs':>11} "
        f"{'revert req':>10}"
    )
    ok = True
    for n in args.sizes:
        wf = workflow_copy()
        generate_production(wf, n)
        shot = "s3" if n < 10 else f"s{n // 2}"
        with FakeOpenAI(latency=0) as server:
            env = api_env(server)
            cfg = ["--config", "backend=openai", f"budget_usd={max(5, n)}"]
            t = time.perf_counter()
            snakemake(wf, "review", *cfg, env=env)
            build = time.perf_counter() - t
            first = server.count()
            if first != n:
                raise SystemExit(f"initial build sent {first} requests, expected {n}")
            old = set_prompt(
                wf, shot, "Leyla stops at the nurse's door and listens, medium shot, 50mm."
            )
            dry = snakemake(wf, "-n", "review", *cfg, env=env).text
            jobs = work_jobs(dry)
            planned = set(job_shots(dry))
            others = sorted(planned - {shot})
            before = server.count()
            snakemake(wf, "review", *cfg, env=env)
            requests = server.count() - before
            set_prompt(wf, shot, old)
            before = server.count()
            revert_run = snakemake(wf, "review", *cfg, env=env)
            revert = server.count() - before
            revert_jobs = work_jobs(revert_run.text)
        ratio = jobs / EXPECTED_JOBS
        ok &= (jobs, requests, revert, others) == (EXPECTED_JOBS, EXPECTED_REQUESTS, 0, [])
        ok &= shot in planned
        print(
            f"{n:>6} {build:>7.1f} {shot:>6} {EXPECTED_JOBS:>8} {jobs:>9} "
            f"{(','.join(others) or '-'):>11} {EXPECTED_REQUESTS:>7} {requests:>8} {ratio:>6.2f} "
            f"{revert_jobs:>11} {revert:>10}",
            flush=True,
        )
    print(
        "ratio = jobs seen / jobs expected; target: that shot's 2 jobs and 1 request only "
        "(ratio 1.00), 0 requests after the revert -> " + ("met" if ok else "MISSED")
    )


if __name__ == "__main__":
    main()
