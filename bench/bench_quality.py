"""Quality metrics against PNG decoding, side by side in one run.

Target: computing every metric (`measure` + `evaluate`) on a 1536x1024 frame
takes at most 2x the time of decoding that frame's PNG with Pillow
(`np.asarray(Image.open(path).convert("RGB"))`). Not a test: timings depend on
the machine, the ratio much less.

    python bench/bench_quality.py [--repeat 7] [--size 1536x1024]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stillmake.artifacts.quality import evaluate, measure  # noqa: E402

TARGET = 2.0


def sample_frame(w=1536, h=1024) -> np.ndarray:
    """A photo-like frame: vertical gradient, mid-frequency colour noise, fine grain
    and a bright practical light, so the PNG compresses (and decodes) like a still."""
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    base = np.array([170, 190, 175], np.float32) * (1 - 0.5 * y)
    noise = rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32)
    noise = (
        np.asarray(
            Image.fromarray(np.clip(noise + 128, 0, 255).astype(np.uint8)).resize(
                (w, h), Image.BICUBIC
            ),
            np.float32,
        )
        - 128
    )
    img = np.clip(base + noise + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
    img[h // 10 : h // 10 + 80, w * 3 // 4 : w * 3 // 4 + 120] = 252
    return img


def best(fn, repeat: int) -> float:
    fn()  # warm up (imports, allocator, file cache)
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--repeat", type=int, default=7, help="runs per timing; the best is kept")
    ap.add_argument("--size", default="1536x1024", help="WxH of the synthetic frame")
    args = ap.parse_args(argv)
    w, h = (int(v) for v in args.size.lower().split("x"))

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "frame.png"
        Image.fromarray(sample_frame(w, h)).save(path)

        def decode():
            with Image.open(path) as im:
                return np.asarray(im.convert("RGB"))

        def metrics(rgb):
            return evaluate(measure(rgb), "fluorescent")

        rgb = decode()
        t_decode = best(decode, args.repeat)
        t_metrics = best(lambda: metrics(rgb), args.repeat)
        t_both = best(lambda: metrics(decode()), args.repeat)
        size_mb = path.stat().st_size / 1e6

    ratio = t_metrics / t_decode
    print(f"frame {w}x{h}, PNG {size_mb:.2f} MB, best of {args.repeat}")
    print(f"decode alone          {t_decode * 1000:7.1f} ms")
    print(f"metrics alone         {t_metrics * 1000:7.1f} ms")
    print(f"decode + metrics      {t_both * 1000:7.1f} ms   ({t_both / t_decode:.2f}x decode)")
    print(
        f"ratio metrics/decode  {ratio:7.2f}   (target <= {TARGET:.1f}: "
        f"{'met' if ratio <= TARGET else 'MISSED'})"
    )
    return 0 if ratio <= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
