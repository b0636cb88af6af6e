"""Quality metrics against PNG decoding, side by side in one run (target: metrics <= 2x decode).

    python bench/bench_quality.py [--repeat 7]
"""

from __future__ import annotations

import argparse
import io
import sys
import time
from pathlib import Path

import numpy as np
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from stillmake.quality import evaluate, measure  # noqa: E402


def sample_png(w=1536, h=1024) -> bytes:
    """A photo-like frame: gradient, mid-frequency noise, a bright patch."""
    rng = np.random.default_rng(7)
    y = np.linspace(0, 1, h, dtype=np.float32)[:, None, None]
    base = np.array([170, 190, 175], np.float32) * (1 - 0.5 * y)
    noise = rng.normal(0, 18, (h // 4, w // 4, 3)).astype(np.float32)
    noise = np.asarray(Image.fromarray(np.clip(noise + 128, 0, 255).astype(np.uint8)).resize((w, h)),
                       np.float32) - 128
    img = np.clip(base + noise + rng.normal(0, 4, (h, w, 3)), 0, 255).astype(np.uint8)
    img[100:180, 1200:1320] = 252
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "PNG")
    return buf.getvalue()


def best(fn, repeat):
    times = []
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return min(times)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--repeat", type=int, default=7)
    args = ap.parse_args(argv)
    png = sample_png()

    def decode():
        with Image.open(io.BytesIO(png)) as im:
            return np.asarray(im.convert("RGB"))

    rgb = decode()
    t_decode = best(decode, args.repeat)
    t_metrics = best(lambda: evaluate(measure(rgb), "fluorescent"), args.repeat)
    t_both = best(lambda: evaluate(measure(decode()), "fluorescent"), args.repeat)
    print(f"image 1536x1024, PNG {len(png) / 1e6:.2f} MB, best of {args.repeat}")
    print(f"decode alone          {t_decode * 1000:7.1f} ms")
    print(f"metrics alone         {t_metrics * 1000:7.1f} ms")
    print(f"decode + metrics      {t_both * 1000:7.1f} ms")
    print(f"ratio metrics/decode  {t_metrics / t_decode:7.2f}   (target <= 2.0)")


if __name__ == "__main__":
    main()
