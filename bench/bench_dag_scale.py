"""DAG scale: `snakemake -n` on the workflow against a bare Snakefile with the same jobs.

For N = 5, 100, 1000 generated shots (every shot picked with one region edit,
every 3rd locked), both Snakefiles have the same rules, wildcards, outputs and
job count; the bare one has no stillmake logic (plain lists, `run: pass`).

    python bench/bench_dag_scale.py [--sizes 5 100 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import re

from common import best_of, generate_production, snakemake, workflow_copy

BARE = '''
N = {n}
K = [1, 2, 3]
SHOTS = [f"s{{i}}" for i in range(1, N + 1)]
LOCKED = [f"s{{i}}" for i in range(1, N + 1) if i % 3 == 0]

wildcard_constraints:
    shot="|".join(SHOTS),
    step=r"\\d+",

rule all:
    input:
        expand("runs/review/{{shot}}.{{ext}}", shot=SHOTS, ext=["png", "json"]),
        expand("runs/selected/{{shot}}.png", shot=SHOTS),
        expand("runs/edits/{{shot}}/step_1.png", shot=SHOTS),
        expand("runs/final/{{shot}}.png", shot=LOCKED),
        "runs/final/manifest.csv",

rule draft:
    output:
        images=expand("runs/drafts/{{{{shot}}}}/draft_{{k}}.png", k=K),
        sidecars=expand("runs/drafts/{{{{shot}}}}/draft_{{k}}.json", k=K),
    params:
        request=lambda wc: {{"prompt": wc.shot}},
    log:
        "runs/logs/draft/{{shot}}.log",
    run:
        pass

rule review_sheet:
    input:
        drafts=lambda wc: expand("runs/drafts/{{shot}}/draft_{{k}}.png", shot=wc.shot, k=K),
    output:
        sheet="runs/review/{{shot}}.png",
        json="runs/review/{{shot}}.json",
    log:
        "runs/logs/review/{{shot}}.log",
    run:
        pass

rule select:
    input:
        drafts=lambda wc: expand("runs/drafts/{{shot}}/draft_{{k}}.png", shot=wc.shot, k=K),
    output:
        image="runs/selected/{{shot}}.png",
        sidecar="runs/selected/{{shot}}.json",
    log:
        "runs/logs/select/{{shot}}.log",
    run:
        pass

rule edit_step:
    input:
        source="runs/selected/{{shot}}.png",
    output:
        image="runs/edits/{{shot}}/step_{{step}}.png",
        sidecar="runs/edits/{{shot}}/step_{{step}}.json",
    params:
        request=lambda wc: {{"prompt": wc.shot, "step": wc.step}},
    log:
        "runs/logs/edit/{{shot}}_step_{{step}}.log",
    run:
        pass

rule final:
    input:
        candidate="runs/edits/{{shot}}/step_1.png",
    output:
        image="runs/final/{{shot}}.png",
        sidecar="runs/final/{{shot}}.json",
    params:
        request=lambda wc: {{"prompt": wc.shot}},
    log:
        "runs/logs/final/{{shot}}.log",
    run:
        pass

rule manifest:
    input:
        finals=expand("runs/final/{{shot}}.png", shot=LOCKED),
    output:
        csv="runs/final/manifest.csv",
        json="runs/final/manifest.json",
        gate="runs/final/gate.json",
    log:
        "runs/logs/final/manifest.log",
    run:
        pass
'''


def jobs_of(proc) -> int:
    m = re.search(r"^total\s+(\d+)", proc.stdout + proc.stderr, re.M)
    return int(m.group(1)) if m else -1


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(f"{'shots':>6} {'jobs':>6} {'bare jobs':>9} {'stillmake s':>11} {'bare s':>7} {'ratio':>6}")
    for n in args.sizes:
        wf = workflow_copy()
        generate_production(wf, n)
        bare = workflow_copy()
        (bare / "Snakefile").write_text(BARE.format(n=n))
        jobs = jobs_of(snakemake(wf, "-n")[1])
        bare_jobs = jobs_of(snakemake(bare, "-n", "-c", "1")[1])
        t_wf = best_of(args.repeat, lambda: snakemake(wf, "-n", "--quiet")[0])
        t_bare = best_of(args.repeat, lambda: snakemake(bare, "-n", "--quiet", "-c", "1")[0])
        print(f"{n:>6} {jobs:>6} {bare_jobs:>9} {t_wf:>11.2f} {t_bare:>7.2f} {t_wf / t_bare:>6.2f}")
    print("target: ratio <= 1.5 at 1000 shots")


if __name__ == "__main__":
    main()
