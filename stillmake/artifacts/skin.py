"""Skin under the cast: the colour of the faces, judged apart from the frame's.

The seed: under fluorescent light keep the slight green institutional cast but preserve
natural skin tones. A colourist checks that on the vectorscope, where skin of every
complexion falls near one line, the skin-tone line, at about 123 degrees (between red
at 103 and yellow at 175 in Rec.709's Cb/Cr plane); complexion moves skin along the
line (how far from the centre), light and grading move it off the line (its angle). So:

* the skin of a face is the median Cb and Cr of the face's cheeks and nose (the inner
  part of the detector's box: across 20-80% of its width, down 25-75% of its height),
  over the pixels neither near black nor near white (luma 0.12-0.95);
* `skin_hue`: its angle minus SKIN_LINE, in degrees: + toward yellow and then green (a
  face pushed green by the fluorescent cast lands at +25 to +45), - toward red and
  magenta;
* `skin_chroma`: its distance from the centre over its luma (a grey face: about 0; the
  palest natural skin about 0.03-0.04, most skin 0.1-0.35). Below SKIN_HUE_MIN_CHROMA
  the angle means nothing and is not judged.

Limits: the detector's box is a frontal face; heavy make-up, a face lit by one coloured
practical, or a face a few dozen pixels wide reads as what it is in pixels, not as the
skin under it. A yellow grade moves skin toward +15-20 and can warn.
"""

from __future__ import annotations

import math
from typing import TypedDict

import numpy as np

from stillmake.artifacts.colour import ycbcr

SKIN_LINE = 123.0  # degrees, the vectorscope's skin-tone line
SKIN_HUE_MIN_CHROMA = 0.02  # below this chroma a face is grey: its hue is not judged
INNER = (0.20, 0.25, 0.80, 0.75)  # fractions of the face box: x0, y0, x1, y1
LUMA_BAND = (0.12, 0.95)
MIN_PIXELS = 150


class SkinReading(TypedDict):
    """The skin of one face (`face_skin`)."""

    hue: float  # degrees off the skin-tone line
    chroma: float  # chroma over luma
    pixels: int  # how many pixels of the face were read


def face_skin(rgb: np.ndarray, box: tuple[int, int, int, int] | list[int]) -> SkinReading | None:
    """{"hue": degrees off the skin-tone line, "chroma": chroma / luma, "pixels"} of one
    face (box: left, top, right, bottom in the image's pixels); None when too little of
    the face is usable (too small, or all near black or white)."""
    left, top, right, bottom = (int(v) for v in box)
    w, h = right - left, bottom - top
    x0, y0 = left + round(w * INNER[0]), top + round(h * INNER[1])
    x1, y1 = left + round(w * INNER[2]), top + round(h * INNER[3])
    patch = rgb[max(0, y0) : max(0, y1), max(0, x0) : max(0, x1)]
    if patch.size == 0:
        return None
    y, cb, cr = ycbcr(patch.reshape(-1, 3))
    keep = (y >= LUMA_BAND[0]) & (y <= LUMA_BAND[1])
    if np.count_nonzero(keep) < MIN_PIXELS:
        return None
    mcb, mcr, my = (float(np.median(v[keep])) for v in (cb, cr, y))
    chroma = math.hypot(mcb, mcr) / max(my, 1e-3)
    hue = (math.degrees(math.atan2(mcr, mcb)) - SKIN_LINE + 180.0) % 360.0 - 180.0
    return SkinReading(hue=round(hue, 2), chroma=round(chroma, 4), pixels=int(keep.sum()))


def metrics(reading: SkinReading | None) -> dict[str, float]:
    """The gate's metrics of one face's reading: skin_chroma always, skin_hue only where
    the face has colour enough to have a hue."""
    if reading is None:
        return {}
    out = {"skin_chroma": reading["chroma"]}
    if reading["chroma"] >= SKIN_HUE_MIN_CHROMA:
        out["skin_hue"] = reading["hue"]
    return out
