"""Rebuild precision: edit one shot's prompt; count the jobs and paid requests that follow.

For N = 5 and 100 shots on the loopback API (drafts + review), expected: that
shot's 2 jobs (draft, review_sheet) and 1 paid request; after reverting, 0.

    python bench/bench_rebuild.py [--sizes 5 100]
"""

from __future__ import annotations

import argparse
import json
import re

from common import PROMPTS, FakeOpenAI, api_env, generate_production, snakemake, workflow_copy


def set_prompt(wf, shot, text):
    data = json.loads((wf / PROMPTS).read_text())
    old = None
    for s in data["shots"]:
        if s["id"] == shot:
            old, s["prompt"] = s["prompt"], text
    (wf / PROMPTS).write_text(json.dumps(data, indent=1))
    return old


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 100])
    args = ap.parse_args(argv)
    print(f"{'shots':>6} {'jobs exp':>8} {'jobs seen':>9} {'req exp':>7} {'req seen':>8} "
          f"{'ratio':>6} {'revert req':>10}")
    for n in args.sizes:
        wf = workflow_copy()
        generate_production(wf, n, picks=False)
        with FakeOpenAI() as server:
            env = api_env(server)
            cfg = ["--config", "backend=openai", f"budget_usd={n}"]
            snakemake(wf, "review", "-c", "2", *cfg, env=env)
            shot = f"s{max(1, n // 2)}"
            old = set_prompt(wf, shot, "Leyla stops at the door and listens, medium shot.")
            dry = snakemake(wf, "-n", "review", *cfg, env=env)[1].stdout
            jobs = len(re.findall(r"^\s*(?:local)?rule \w+:", dry, re.M)) - (1 if "rule review:" in dry else 0)
            before = server.count()
            snakemake(wf, "review", *cfg, env=env)
            requests = server.count() - before
            set_prompt(wf, shot, old)
            before = server.count()
            snakemake(wf, "review", *cfg, env=env)
            revert = server.count() - before
        print(f"{n:>6} {2:>8} {jobs:>9} {1:>7} {requests:>8} {requests / 1:>6.2f} {revert:>10}")
    print("target: exactly that shot's jobs and requests (ratio 1.00); 0 requests after the revert")


if __name__ == "__main__":
    main()
