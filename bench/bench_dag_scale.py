"""DAG scale: `snakemake -n --quiet` on the workflow against a bare Snakefile with the same jobs.

For N = 5, 100, 1000 generated shots (s1..sN, one simple prompt each; selections:
every shot picked with one region edit step, every 3rd locked) the real workflow
and a generated bare Snakefile are timed side by side (best of 3 each). The bare
one has the same rules, wildcards, wildcard constraints, inputs, outputs, logs,
report() wrappers, resources and job count, and one params function per job
like the real one, but no stillmake logic: plain Python lists and `run: pass`.
Both run in a copy of the workflow, so the same profile (2 cores, threads,
keep-going) and config.yaml apply. The ratio is stillmake's own DAG-time cost.
The planning the art director repeats (`snakemake -n` again) is timed: the runs share
one user cache (STILLMAKE_CACHE_DIR, a scratch folder), so documents checked against
their schema by the first run are not checked again; best of N drops that first run.

With --profile (and always when the target is missed) the real workflow at the
largest N is run under cProfile and the top stillmake functions (library and
Snakefile/rules code) are printed.

    python bench/bench_dag_scale.py [--sizes 5 100 1000] [--repeat 3] [--profile]
"""

from __future__ import annotations

import argparse
import atexit
import os
import pstats
import shutil
import subprocess
import sys
import tempfile

from common import REPO, generate_production, machine, snakemake, work_jobs, workflow_copy

from stillmake.user_cache import CACHE_ENV

TARGET_RATIO = 1.2  # at 1000 shots; at 10,000: 1.3, and under a minute

BARE = """# Bare twin of the stillmake workflow for bench_dag_scale.py: same rules, wildcards,
# outputs and jobs; no stillmake logic (plain lists, `run: pass`).

configfile: "config.yaml"

N = @N@
K = [1, 2, 3]
SHOTS = [f"s{i}" for i in range(1, N + 1)]
PICKED = SHOTS
LOCKED = [f"s{i}" for i in range(1, N + 1) if i % 3 == 0]
REF = "runs/input/refs/leyla_ref.png"


wildcard_constraints:
    shot="|".join(SHOTS),
    step=r"\\d+",


def all_targets(wildcards):
    return (expand("runs/review/{shot}.{ext}", shot=SHOTS, ext=["png", "json"])
            + expand("runs/selected/{shot}.png", shot=PICKED)
            + [f"runs/edits/{shot}/step_1.png" for shot in PICKED]
            + expand("runs/final/{shot}.png", shot=LOCKED) + ["runs/final/manifest.csv"])


rule all:
    default_target: True
    input:
        all_targets,


rule draft:
    output:
        images=expand("runs/drafts/{{shot}}/draft_{k}.png", k=K),
        sidecars=expand("runs/drafts/{{shot}}/draft_{k}.json", k=K),
    log:
        "runs/logs/draft/{shot}.log",
    resources:
        api=1,
    params:
        request=lambda wc: {"prompt": wc.shot},
        context=lambda wc: {"shot": wc.shot},
    run:
        pass


rule drafts:
    input:
        expand("runs/drafts/{shot}/draft_{k}.png", shot=SHOTS, k=K),


rule review_sheet:
    input:
        drafts=lambda wc: expand("runs/drafts/{shot}/draft_{k}.png", shot=wc.shot, k=K),
    output:
        sheet=report("runs/review/{shot}.png", caption="../report/review.rst",
                     category="1. Review", subcategory="{shot}",
                     labels={"shot": "{shot}", "file": "contact sheet"}),
        json="runs/review/{shot}.json",
    log:
        "runs/logs/review/{shot}.log",
    params:
        context=lambda wc: {"shot": wc.shot},
    run:
        pass


rule review:
    input:
        expand("runs/review/{shot}.{ext}", shot=SHOTS, ext=["png", "json"]),


rule select:
    input:
        drafts=lambda wc: expand("runs/drafts/{shot}/draft_{k}.png", shot=wc.shot, k=K),
    output:
        image="runs/selected/{shot}.png",
        sidecar="runs/selected/{shot}.json",
    log:
        "runs/logs/select/{shot}.log",
    params:
        spec=lambda wc: {"shot": wc.shot},
    run:
        pass


rule selected:
    input:
        expand("runs/selected/{shot}.png", shot=PICKED),


rule edit_step:
    input:
        unpack(lambda wc: {"source": f"runs/selected/{wc.shot}.png", "refs": [REF]}),
    output:
        image="runs/edits/{shot}/step_{step}.png",
        sidecar="runs/edits/{shot}/step_{step}.json",
    log:
        "runs/logs/edit/{shot}_step_{step}.log",
    resources:
        api=1,
    params:
        request=lambda wc: {"prompt": wc.shot},
        step=lambda wc: {"step": wc.step},
        context=lambda wc: {"shot": wc.shot},
    run:
        pass


rule edits:
    input:
        [f"runs/edits/{shot}/step_1.png" for shot in PICKED],


rule final:
    input:
        unpack(lambda wc: {"candidate": f"runs/edits/{wc.shot}/step_1.png", "refs": [REF]}),
    output:
        image=report("runs/final/{shot}.png", caption="../report/final.rst",
                     category="2. Finals", subcategory="{shot}",
                     labels={"shot": "{shot}", "file": "final"}),
        sidecar="runs/final/{shot}.json",
    log:
        "runs/logs/final/{shot}.log",
    resources:
        api=1,
    params:
        request=lambda wc: {"prompt": wc.shot},
        spec=lambda wc: {"shot": wc.shot},
        context=lambda wc: {"shot": wc.shot},
    run:
        pass


rule manifest:
    input:
        finals=expand("runs/final/{shot}.png", shot=LOCKED),
    output:
        csv=report("runs/final/manifest.csv", caption="../report/manifest.rst",
                   category="3. Manifest", labels={"file": "manifest"}),
        json="runs/final/manifest.json",
        gate=report("runs/final/gate.json", caption="../report/gate.rst",
                    category="3. Manifest", labels={"file": "quality gate"}),
    log:
        "runs/logs/final/manifest.log",
    params:
        size=config["final"]["size"],
        shots=LOCKED,
    run:
        pass


rule finals:
    input:
        lambda wc: expand("runs/final/{shot}.png", shot=SHOTS) + ["runs/final/manifest.csv"],


rule critical:
    input:
        lambda wc: expand("runs/final/{shot}.png", shot=config["critical"]) + ["runs/final/manifest.csv"],
"""


UNPROFILED = """
import time, yaml
from stillmake.inputs.config import load_config
from stillmake.inputs.selections.write import read_document
from stillmake.inputs.selections.read import parse, read_text
from stillmake.planner.load import load_build
config = load_config()
path = config.selections_path
def best(fn):
    times = []
    for _ in range(3):
        t = time.perf_counter(); fn(); times.append(time.perf_counter() - t)
    return min(times)
print(f"  load_build(config) (whole input check)    {best(lambda: load_build(config)):6.3f} s")
print(f"  selections: strict reader (libyaml)       {best(lambda: parse(read_text(path), path)):6.3f} s")
print(f"  selections: ruamel round-trip load        {best(lambda: read_document(path)):6.3f} s")
print(f"  selections: yaml.CSafeLoader, same file   "
      f"{best(lambda: yaml.load(open(path), Loader=yaml.CSafeLoader)):6.3f} s")
"""


def profile(wf, top: int = 15) -> None:
    """cProfile `snakemake -n --quiet` in wf; print the heaviest stillmake functions."""
    out = wf / "dag.prof"
    run = snakemake(wf, "-n", "--quiet", prefix=("-m", "cProfile", "-o", str(out)))
    stats = pstats.Stats(str(out))
    total = stats.total_tt
    lib = str(REPO / "stillmake")

    def ours(filename: str) -> bool:
        return (
            "/stillmake/" in filename or filename.endswith((".smk", "Snakefile"))
        ) and "/site-packages/snakemake/" not in filename

    rows = []
    for (filename, line, func), (_cc, nc, tt, ct, _callers) in stats.stats.items():
        if ours(filename):
            short = filename.replace(lib + "/", "stillmake/").replace(str(wf) + "/", "")
            rows.append((ct, tt, nc, f"{short}:{line}:{func}"))
    print(
        f"\ncProfile of the real workflow, `snakemake -n --quiet` ({run.wall:.2f} s wall under the "
        f"profiler, {total:.2f} s profiled)"
    )
    print(
        "top stillmake functions by cumulative time (cumulative includes the Snakemake and "
        "library calls they make):"
    )
    print(f"{'cum s':>7} {'own s':>7} {'calls':>8}  function")
    for ct, tt, nc, name in sorted(rows, reverse=True)[:top]:
        print(f"{ct:>7.3f} {tt:>7.3f} {nc:>8}  {name}")
    print("top stillmake functions by own time:")
    for ct, tt, nc, name in sorted(rows, key=lambda r: -r[1])[:8]:
        print(f"{ct:>7.3f} {tt:>7.3f} {nc:>8}  {name}")
    print("without the profiler (in a fresh interpreter, best of 3):")
    print(
        subprocess.run(
            [sys.executable, "-c", UNPROFILED], cwd=wf, capture_output=True, text=True, check=True
        ).stdout,
        end="",
    )


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--sizes", type=int, nargs="+", default=[5, 100, 1000])
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument(
        "--profile", action="store_true", help="profile the largest N even if the target is met"
    )
    args = ap.parse_args(argv)
    os.environ[CACHE_ENV] = cache = tempfile.mkdtemp(prefix="stillmake-bench-cache-")
    atexit.register(shutil.rmtree, cache, True)
    print(machine())
    print(f"`snakemake -n --quiet`, best of {args.repeat}; same profile and config for both")
    print(
        f"{'shots':>6} {'jobs':>6} {'bare jobs':>9} {'stillmake s':>11} {'bare s':>7} {'ratio':>6}"
    )
    last = None
    for n in args.sizes:
        wf = workflow_copy()
        generate_production(wf, n)
        bare = workflow_copy()
        (bare / "Snakefile").write_text(BARE.replace("@N@", str(n)))
        jobs = work_jobs(snakemake(wf, "-n").text)
        bare_jobs = work_jobs(snakemake(bare, "-n").text)
        if jobs != bare_jobs:
            sys.exit(f"job counts differ at N={n}: stillmake {jobs}, bare {bare_jobs}")
        t_wf, t_bare = [], []
        for _ in range(args.repeat):  # interleaved, so drift on a shared machine hits both
            t_wf.append(snakemake(wf, "-n", "--quiet").wall)
            t_bare.append(snakemake(bare, "-n", "--quiet").wall)
        ratio = min(t_wf) / min(t_bare)
        print(
            f"{n:>6} {jobs:>6} {bare_jobs:>9} {min(t_wf):>11.2f} {min(t_bare):>7.2f} {ratio:>6.2f}",
            flush=True,
        )
        last = (n, ratio, wf)
    n, ratio, wf = last
    met = ratio <= TARGET_RATIO
    print(
        f"target: ratio <= {TARGET_RATIO} at {n} shots -> {'met' if met else 'MISSED'} ({ratio:.2f})"
    )
    print("jobs: jobs that do work (Snakemake's job stats without the target rule `all`)")
    if args.profile or not met:
        profile(wf)


if __name__ == "__main__":
    main()
