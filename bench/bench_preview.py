"""Preview backend and review: images/s and contact sheets/s at 1536x1024, and the
offline main job's wall time at 5 and 100 shots.

    python bench/bench_preview.py [--images 12]
"""

from __future__ import annotations

import argparse
import time

from common import generate_production, snakemake, workflow_copy

from stillmake.backends.preview import PreviewBackend
from stillmake.requests import ImageRequest
from stillmake.sheets import contact_sheet


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--images", type=int, default=12)
    args = ap.parse_args(argv)
    backend = PreviewBackend()
    rounds = max(1, args.images // 3)
    drafts = []
    t = time.perf_counter()
    for i in range(rounds):
        req = ImageRequest("generate", "gpt-image-1.5", f"prompt {i}", 3, "1536x1024", "medium")
        drafts = backend.generate(req, {"shot": f"s{i}", "lighting": "fluorescent"}).images
    gen = time.perf_counter() - t
    t = time.perf_counter()
    for i in range(rounds):
        contact_sheet(drafts, shot=f"s{i}", title="Bench", labels=["a", "b", "c"],
                      flags=[[{"level": "warn", "message": "highlights clipped on 1.2% of pixels"}]] * 3)
    sheets = time.perf_counter() - t
    print(f"preview render   {rounds * 3 / gen:6.1f} images/s  ({gen / rounds / 3 * 1000:.0f} ms per 1536x1024 image)")
    print(f"contact sheets   {rounds / sheets:6.1f} sheets/s  ({sheets / rounds * 1000:.0f} ms per 3-draft sheet)")
    wf = workflow_copy()
    wall, _ = snakemake(wf)
    print(f"main job, THE TRACE sample (5 shots, all passes):  {wall:6.1f} s")
    wf = workflow_copy()
    generate_production(wf, 100, picks=False)
    wall, _ = snakemake(wf, "review")
    print(f"drafts + review, 100 generated shots (300 drafts): {wall:6.1f} s")


if __name__ == "__main__":
    main()
