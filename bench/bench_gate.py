"""The gate's measures on their test sets: accuracy (right of total) and time per image.

For each measure (skin under the cast, highlights, wardrobe, edit leak, the fluorescent
cast), every case of tests/gate_cases.py (public-domain photos and generated frames with
known answers) is judged with the build's default thresholds, and the time the measure
takes on the image is printed next to the time of decoding the same image as a PNG:
`cold` with the faces found afresh (skin and wardrobe read the faces identity finds),
`alone` with the faces already known, as in a build, where identity found them.
Figures for context, no target; a wrong case is listed with what the gate said.

    python bench/bench_gate.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import io
import sys
from pathlib import Path

from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench_quality import best  # noqa: E402
from common import machine  # noqa: E402

from stillmake.artifacts import identity  # noqa: E402
from tests.gate_cases import MEASURES, cases, inputs, judge, right  # noqa: E402


def png_of(rgb) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(rgb).save(buf, "PNG")
    return buf.getvalue()


def main(repeat: int) -> None:
    identity.available()  # the face models load once, as in a build
    print(machine())
    print(
        f"{'measure':<11} {'right':>7}  {'pass ok':>8} {'fail ok':>8}  "
        f"{'cold s/img':>10} {'alone s/img':>11} {'decode s/img':>12}  "
        f"alone/decode  (best of {repeat})"
    )
    wrong = []
    for name in MEASURES:
        right_n = passes = passes_ok = fails = fails_ok = 0
        cold = alone = decoded = 0.0
        found = cases(name)
        for case in found:
            given = inputs(case)
            identity._seen.clear()  # noqa: SLF001  time the detector, not its memory
            level, said = judge(case, given)
            ok = right(case, level)
            right_n += ok
            if case.expect == "pass":
                passes, passes_ok = passes + 1, passes_ok + ok
            else:
                fails, fails_ok = fails + 1, fails_ok + ok
            if not ok:
                wrong.append(f"{name}: {case.name}: expected {case.expect}, got {level}: {said}")

            def once(case=case, given=given) -> None:
                identity._seen.clear()  # noqa: SLF001
                judge(case, given)

            png = png_of(given["image"])
            cold += best(once, repeat)
            judge(case, given)  # the faces are known from here on
            alone += best(lambda case=case, given=given: judge(case, given), repeat)
            decoded += best(lambda png=png: Image.open(io.BytesIO(png)).convert("RGB"), repeat)
        n = len(found)
        print(
            f"{name:<11} {right_n:>3}/{n:<3}  {passes_ok:>3}/{passes:<4} {fails_ok:>3}/{fails:<4}  "
            f"{cold / n:>10.3f} {alone / n:>11.3f} {decoded / n:>12.3f}  {alone / decoded:12.1f}"
        )
    total = cases()
    right_all = len(total) - len(wrong)
    print(f"\nall measures: {right_all} of {len(total)} right")
    for line in wrong:
        print("  WRONG", line)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    main(parser.parse_args().repeat)
