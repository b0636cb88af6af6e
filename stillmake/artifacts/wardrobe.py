"""Wardrobe: the garment under a character's face against the one in their reference.

The seed: preserve Leyla's identity and wardrobe across all shots. The clothing is read
where it is below a face: a box as wide as two faces, centred on the face, from 0.3 to
1.1 face heights below its chin (clipped to the frame; at least a quarter of it must be
in frame). Its colour is the median L*, a*, b* of that box after the frame's cast is
taken off (von Kries: the pixels' linear light divided by the gains that render a grey
as the cast; the cast is the light's, not the cloth's, so the same blazer under
fluorescent and under daylight reads as one colour). The reference is taken as shot in
neutral light (a reference sheet), as it is. `wardrobe` is the distance between the
two colours: sqrt((dL*/2)^2 + da*^2 + db*^2), L* halved because exposure moves it more
than a change of cloth does.

Limits: it sees the dominant colour of the upper body, not cut, pattern or layers (a
navy blazer swapped for a navy parka passes); a figure turned away, an arm or a prop
across the chest, or a crop at the shoulders reads what is there. Under strongly
coloured light (red_emergency) it is not judged.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np

from stillmake.artifacts.colour import illuminant_gains, lab_of_linear, linear

BELOW = (0.3, 1.1)  # face heights below the chin: where the box starts and ends
WIDTH = 2.0  # face widths across
MIN_IN_FRAME = 0.25
MIN_PIXELS = 200
STEP = 2  # every 2nd pixel each way: the median barely moves


class Garment(TypedDict):
    """The colour of a garment (median L*, a*, b*, the cast taken off) and the box
    (left, top, right, bottom) it was read in."""

    L: float
    a: float
    b: float
    box: list[int]


def garment(
    rgb: np.ndarray,
    box: tuple[int, int, int, int] | list[int],
    cast: tuple[float, float] = (0.0, 0.0),
) -> Garment | None:
    """{"L", "a", "b", "box"}: the median Lab under a face (box: left, top, right, bottom)
    with the frame's `cast` (a*, b*) taken off; None when too little of it is in frame."""
    left, top, right, bottom = (int(v) for v in box)
    fw, fh = right - left, bottom - top
    cx = (left + right) / 2
    want = (
        round(cx - WIDTH * fw / 2),
        round(bottom + BELOW[0] * fh),
        round(cx + WIDTH * fw / 2),
        round(bottom + BELOW[1] * fh),
    )
    h, w = rgb.shape[:2]
    x0, y0 = max(0, want[0]), max(0, want[1])
    x1, y1 = min(w, want[2]), min(h, want[3])
    wanted = (want[2] - want[0]) * (want[3] - want[1])
    if x1 <= x0 or y1 <= y0 or (x1 - x0) * (y1 - y0) < MIN_IN_FRAME * wanted:
        return None
    px = rgb[y0:y1:STEP, x0:x1:STEP].reshape(-1, 3)
    if len(px) < MIN_PIXELS:
        return None
    balanced = np.clip(linear(px) / illuminant_gains(*cast), 0.0, 1.0)
    L, a, b = (float(np.median(v)) for v in lab_of_linear(balanced).T)
    return Garment(L=round(L, 2), a=round(a, 2), b=round(b, 2), box=[x0, y0, x1, y1])


def difference(seen: Garment, ref: Garment) -> float:
    """The wardrobe distance between two garments' colours."""
    da, db = seen["a"] - ref["a"], seen["b"] - ref["b"]
    return round(math.sqrt((0.5 * (seen["L"] - ref["L"])) ** 2 + da * da + db * db), 2)
