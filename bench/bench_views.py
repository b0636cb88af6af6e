"""`stillmake status` and `stillmake plan` at N shots, with every shot's drafts built.

N generated shots (bench/common.py: each picked, one region edit step, every 3rd
locked); every shot's three drafts are written as the draft job writes them (a preview
stand-in, its record inside the PNG and beside it, the job's request stamp and the
record of what it was built from), so the drafts are up to date and the views must
read their pixels: `status` to compare each pick with the drafts it was made on,
`plan` to follow each shot's chain through the cache. Each command runs as a user runs
it (a fresh process), first cold (no pixel digests kept yet), then warm.

    python bench/bench_views.py [--shots 1000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time

from common import generate_production, machine, workflow_copy

TARGET_S = 3.0


def fabricate_drafts(wf) -> None:
    """Every shot's drafts, stamped and recorded as built from their current request."""
    here = os.getcwd()
    os.chdir(wf)
    try:
        from stillmake import paths
        from stillmake.api.backends.preview import PreviewBackend
        from stillmake.artifacts.provenance import write_image
        from stillmake.files import sha256_bytes
        from stillmake.inputs.config import load_config
        from stillmake.planner.load import load_build
        from stillmake.planner.stamps import record_built

        build = load_build(load_config())
        first = build.draft(build.shots[0]).request
        images = PreviewBackend().generate(first, {"shot": build.shots[0]}).images
        started = time.time()
        for shot in build.shots:
            for k, png in enumerate(images, start=1):
                record = {"shot": shot, "k": k, "pass": "draft", "backend": first.backend}
                write_image(
                    paths.draft(shot, k), png, {**record, "image_sha256": sha256_bytes(png)}
                )
            stamp = build.request_stamp("draft", shot)
            record_built(stamp, build.params("draft", shot), started)
    finally:
        os.chdir(here)


def timed(wf, *args: str) -> float:
    start = time.perf_counter()
    proc = subprocess.run(
        [sys.executable, "-m", "stillmake", *args], cwd=wf, capture_output=True, text=True
    )
    elapsed = time.perf_counter() - start
    if proc.returncode not in (0, 2):  # plan exits 2 over budget
        sys.exit(f"stillmake {' '.join(args)} failed:\n{proc.stderr[-2000:]}")
    return elapsed


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--shots", type=int, default=1000)
    ap.add_argument("--repeat", type=int, default=3)
    args = ap.parse_args(argv)
    print(machine())
    wf = workflow_copy()
    generate_production(wf, args.shots)
    start = time.perf_counter()
    fabricate_drafts(wf)
    print(
        f"{args.shots} shots, {3 * args.shots} drafts written in {time.perf_counter() - start:.1f} s"
    )
    print(f"{'command':<28} {'cold s':>7} {'warm s (best of ' + str(args.repeat) + ')':>22}")
    worst = 0.0
    for command in (("status",), ("plan",), ("plan", "-C", "backend=openai")):
        digests = wf / "runs/.params/pixels.json"
        digests.unlink(missing_ok=True)
        cold = timed(wf, *command)
        warm = min(timed(wf, *command) for _ in range(args.repeat))
        worst = max(worst, warm)
        print(f"{'stillmake ' + ' '.join(command):<28} {cold:>7.2f} {warm:>22.2f}", flush=True)
    met = "met" if worst <= TARGET_S else "MISSED"
    print(f"target: status and plan at most {TARGET_S:.0f} s at {args.shots} shots (warm) -> {met}")


if __name__ == "__main__":
    main()
