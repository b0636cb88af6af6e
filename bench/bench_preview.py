"""Preview backend and review: throughput of the offline pieces, and the offline main job.

* images/s of `PreviewBackend().generate` at 1536x864 (the default draft size), n=3 (PNG bytes out)
* contact sheets/s of `stillmake.artifacts.sheets.contact_sheet` on 3 such drafts
* wall time of the full offline main job, plain `snakemake` (preview backend,
  default target: drafts, review, selected, edits, finals + manifest as the
  sample's selections allow) on the 5-shot THE TRACE sample
* wall time of `snakemake review` (drafts + review sheets only) on a generated
  100-shot production (as in bench_dag_scale)

  python bench/bench_preview.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
from common import generate_production, job_stats, machine, snakemake, work_jobs, workflow_copy
from PIL import Image

from stillmake.api.backends.preview import PreviewBackend
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.sheets import contact_sheet

FLAGS = [
    [{"level": "warn", "message": "highlights clipped on 1.2% of pixels"}],
    [{"level": "pass", "message": "ok"}],
    [{"level": "fail", "message": "colour cast: b* +9.1 on near-neutrals (fluorescent allows +6)"}],
]


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--rounds", type=int, default=5, help="generate calls (n=3) and sheets to time")
    ap.add_argument("--shots", type=int, default=100, help="size of the generated production")
    args = ap.parse_args(argv)
    print(machine())
    backend = PreviewBackend()

    def request(i):
        return ImageRequest(
            "generate",
            "gpt-image-2.6-flare",
            f"Leyla in corridor {i}, 35mm.",
            3,
            "1536x864",
            "medium",
        )

    label = {"shot": "s1", "pass": "draft", "lighting": "fluorescent"}
    drafts = backend.generate(request(-1), label).images  # warm-up: fonts, numpy
    contact_sheet(drafts, shot="s1", title="Warm-up", labels=["a", "b", "c"], flags=FLAGS)
    t = time.perf_counter()
    for i in range(args.rounds):
        drafts = backend.generate(request(i), label).images
    gen = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(args.rounds):
        contact_sheet(
            drafts,
            shot=f"s{i}",
            title="Wet Footprints",
            labels=["sharp 0.61", "sharp 0.58", "sharp 0.66"],
            flags=FLAGS,
        )
    sheets = time.perf_counter() - t
    images = args.rounds * 3
    print(
        f"preview generate (n=3, 1536x864): {images / gen:6.1f} images/s   "
        f"({gen / images * 1000:.0f} ms per image, {args.rounds} calls)"
    )
    print(
        f"contact_sheet (3 drafts):          {args.rounds / sheets:6.1f} sheets/s   "
        f"({sheets / args.rounds * 1000:.0f} ms per sheet)"
    )

    wf = workflow_copy()
    run = snakemake(wf)
    stats = job_stats(run.text)
    summary = ", ".join(f"{rule} {c}" for rule, c in stats.items() if rule != "all")
    print(
        f"offline main job `snakemake`, THE TRACE sample (5 shots): {run.wall:6.1f} s  "
        f"({work_jobs(run.text)} jobs: {summary})"
    )

    wf = workflow_copy()
    generate_production(wf, args.shots)
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    run = snakemake(wf, "review")
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    jobs = work_jobs(run.text)
    print(
        f"`snakemake review`, {args.shots} generated shots ({args.shots * 3} drafts): "
        f"{run.wall:6.1f} s  ({jobs} jobs, {run.wall / args.shots:.2f} s per shot on the "
        f"profile's 2 cores)"
    )
    # what a shot's review costs next to reading its three drafts' pixels at all
    shots = [f"s{i}" for i in range(1, min(args.shots, 20) + 1)]
    t = time.perf_counter()
    for shot in shots:
        for k in (1, 2, 3):
            with Image.open(wf / f"runs/drafts/{shot}/draft_{k}.png") as im:
                np.asarray(im.convert("RGB"))
    decode = (time.perf_counter() - t) / len(shots)
    per_shot = cpu / args.shots
    print(
        f"review per shot: {per_shot:.2f} s CPU (drafts and review jobs, faces found afresh) "
        f"vs {decode:.3f} s to decode its 3 drafts' PNGs: {per_shot / decode:.1f}x"
    )


if __name__ == "__main__":
    main()
