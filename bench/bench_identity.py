"""Face identity: time per image at draft and final size, and accuracy on the test photos.

Figures for context, no target: identity (detection on a copy at most 1536 px long,
embedding of every face found) per image at 1536x864 and 2560x1440, against decoding
the same PNG; then every variant the tests make of each public-domain photo in
tests/data/faces/ judged against each person's original: same person must pass
(<= 0.45), another person must fail (> 0.6).

    python bench/bench_identity.py [--repeat 5]
"""

from __future__ import annotations

import argparse
import io
import statistics
import sys
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_quality import best  # noqa: E402
from common import machine  # noqa: E402

from stillmake.artifacts import identity  # noqa: E402
from tests.artifacts.test_identity import PEOPLE, VARIANTS, in_frame, photo  # noqa: E402


def timing(repeat: int) -> None:
    identity.available()  # load the models once, as a build does
    print(machine())
    print("size       faces  decode PNG  identity (best of", repeat, ")")
    for size in ((1536, 864), (2560, 1440)):
        frame = in_frame(photo("hopper"), size)
        buf = io.BytesIO()
        frame.save(buf, "PNG")
        png = buf.getvalue()
        rgb = np.asarray(frame)
        decode = best(lambda png=png: Image.open(io.BytesIO(png)).convert("RGB"), repeat)
        ident = best(lambda rgb=rgb: identity.find_faces(rgb), repeat)
        faces = len(identity.find_faces(rgb))
        print(f"{size[0]}x{size[1]}  {faces:5d}  {decode:9.3f}s  {ident:8.3f}s")


def accuracy() -> None:
    refs = {who: identity.reference_descriptors(path) for who, path in PEOPLE.items()}
    same, other = [], []
    print("\nimage                      vs ref    distance  verdict")
    for who in sorted(PEOPLE):
        for name in ["original", *sorted(VARIANTS)]:
            im = photo(who) if name == "original" else VARIANTS[name](photo(who))
            faces = identity.find_faces(np.asarray(im))
            for ref, descriptors in sorted(refs.items()):
                d = min(identity.distance(f.descriptor, r) for f in faces for r in descriptors)
                ok = d <= 0.45 if ref == who else d > 0.6
                (same if ref == who else other).append((d, ok))
                print(f"{who + ' ' + name:26} {ref:8} {d:9.3f}  {'ok' if ok else 'WRONG'}")
    for label, rows in (("same person", same), ("different people", other)):
        ds = [d for d, _ in rows]
        right = sum(ok for _, ok in rows)
        print(
            f"{label}: {right}/{len(rows)} right; distance min {min(ds):.3f} "
            f"median {statistics.median(ds):.3f} max {max(ds):.3f}"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    timing(args.repeat)
    accuracy()


if __name__ == "__main__":
    main()
