"""Run every benchmark in turn and print their figures: python bench/run_all.py

    python bench/run_all.py [--only scheduling dag_scale ...]

Benchmarks run one after another (never in parallel: they time each other's
cores). Exit status is non-zero if a benchmark script failed to run; targets
missed are reported in the figures, not as a failure.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
BENCHES = [
    "scheduling",
    "dag_scale",
    "rebuild",
    "preview",
    "quality",
    "identity",
    "gate",
    "cluster",
    "money",
]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--only", nargs="+", choices=BENCHES, help="run only these")
    args = ap.parse_args(argv)
    failed = []
    started = time.perf_counter()
    for name in args.only or BENCHES:
        script = HERE / f"bench_{name}.py"
        if not script.exists():
            print(f"\n== bench_{name}.py: not found, skipped", flush=True)
            continue
        print(f"\n== bench_{name}.py", flush=True)
        t = time.perf_counter()
        rc = subprocess.run([sys.executable, str(script)], cwd=HERE).returncode
        print(
            f"-- bench_{name}.py: {time.perf_counter() - t:.0f} s"
            + (f", exit status {rc}" if rc else ""),
            flush=True,
        )
        if rc:
            failed.append(name)
    print(
        f"\nall benchmarks: {time.perf_counter() - started:.0f} s"
        + (f"; failed to run: {', '.join(failed)}" if failed else "")
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
