"""Highlights where they matter: the bright regions of a frame (practical lights,
speculars on water, medical whites) found and judged one by one.

A share of clipped pixels over the whole frame misses a blown red lamp in a dark frame
(a few hundred pixels of a million) and is set off by a large white wall that keeps its
detail. So the regions are found first and detail is judged inside each:

* A region: pixels whose brightest channel is at least BRIGHT (235; a red lamp is bright
  in red alone, so luminance would miss it), grouped on a grid of CELL x CELL cells. A cell
  with at least CELL_MIN bright pixels belongs to a region; cells that touch (8 ways) are
  one region. A region of fewer than MIN_AREA of the frame's pixels (0.03%: ~400 px at
  1536x864, a lamp about 22 px across) is a glint, not judged.
* Its detail: `clipped`, the share of its bright pixels blown in the light's own colour:
  every channel the light drives (the region's mean at least LIT, 200: all three for a
  white, red alone for a red lamp) at 254-255. A blown highlight is a flat 255 disc; one
  that keeps detail falls off below it, or keeps one of its channels off the ceiling (a
  white shirt with red clipped and green and blue still shaded keeps its folds). The
  share of each channel at 254-255 is kept beside it.
* A red practical (mean red at least RED_RATIO times green and blue, and compact: its
  box no more than 4 times as long as wide, so a streak of reflection on water is not a
  lamp) also gets `separation`: the spread (std) of L* among the pixels around it, in a
  ring two region radii wide. A lamp that keeps its midtones lights the wall in a
  gradient; a blown one bleeds into a flat red glow.

The frame's metrics are the worst region's: `highlight_detail` (its clipped share) and
`practical_separation` (the least separation around a red practical).
"""

from __future__ import annotations

import math
from collections import deque
from typing import NotRequired, TypedDict

import numpy as np

from stillmake.artifacts.colour import lab
from stillmake.inputs.masks import grow

BRIGHT = 235  # brightest channel at or above: a highlight pixel
CLIPPED = 254  # channel at or above: clipped
LIT = 200  # a region's mean channel at or above: a channel its light drives
CELL = 8
CELL_MIN = 4  # bright pixels a cell needs to be part of a region
MIN_AREA = 0.0003  # share of the frame's pixels below which a region is a glint
RED_RATIO = 1.6
COMPACT = 4  # a lamp's box is at most this many times as long as wide
RING_MIN = 64  # pixels a ring needs for its spread to mean something


def _cells(mask: np.ndarray) -> np.ndarray:
    """Bright pixels per CELL x CELL cell (the frame padded to whole cells)."""
    h, w = mask.shape
    ph, pw = -h % CELL, -w % CELL
    if ph or pw:
        mask = np.pad(mask, ((0, ph), (0, pw)))
    gh, gw = mask.shape[0] // CELL, mask.shape[1] // CELL
    return mask.reshape(gh, CELL, gw, CELL).sum(axis=(1, 3), dtype=np.int32)


def _components(active: np.ndarray) -> list[np.ndarray]:
    """The 8-connected groups of True cells, each as an (n, 2) array of (row, col)."""
    seen = np.zeros_like(active)
    groups = []
    rows, cols = active.shape
    for r0, c0 in np.argwhere(active):
        if seen[r0, c0]:
            continue
        seen[r0, c0] = True
        queue, group = deque([(r0, c0)]), []
        while queue:
            r, c = queue.popleft()
            group.append((r, c))
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if 0 <= rr < rows and 0 <= cc < cols and active[rr, cc] and not seen[rr, cc]:
                        seen[rr, cc] = True
                        queue.append((rr, cc))
        groups.append(np.array(group))
    return groups


class Region(TypedDict):
    """One highlight region (`regions`): what it is, how large, where (its centre, in
    fractions of the frame), the share of it clipped, and its channels'."""

    kind: str  # "red practical" | "white"
    area: int
    x: float
    y: float
    clipped: float
    clipped_r: float
    clipped_g: float
    clipped_b: float
    separation: NotRequired[float]  # red practicals: L* spread around it


def _ring_spread(
    rgb: np.ndarray, region: np.ndarray, box: tuple[int, int, int, int], radius: int
) -> float | None:
    """Std of L* around a region (a ring `radius` wide, bright pixels left out)."""
    h, w = region.shape
    top, left = max(0, box[0] - radius), max(0, box[1] - radius)
    bottom, right = min(h, box[2] + radius), min(w, box[3] + radius)
    inner = region[top:bottom, left:right]
    ys, xs = np.nonzero(inner)
    yy, xx = np.ogrid[: inner.shape[0], : inner.shape[1]]
    cy, cx = ys.mean(), xs.mean()
    reach = math.sqrt(((ys - cy) ** 2 + (xs - cx) ** 2).max()) + radius  # round, not square
    ring = ((yy - cy) ** 2 + (xx - cx) ** 2 <= reach * reach) & ~grow(inner, 2)
    crop = rgb[top:bottom, left:right]
    ring &= np.maximum(np.maximum(crop[..., 0], crop[..., 1]), crop[..., 2]) < BRIGHT
    if np.count_nonzero(ring) < RING_MIN:
        return None
    return float(lab(crop[ring])[:, 0].std(dtype=np.float64))


def regions(rgb: np.ndarray) -> list[Region]:
    """Every highlight region large enough to judge, worst (most clipped) first:
    {"kind": "red practical" | "white", "area", "x", "y" (centre, fractions of the frame),
    "clipped", "clipped_r", "clipped_g", "clipped_b", "separation" (red practicals)}."""
    h, w = rgb.shape[:2]
    peak = np.maximum(np.maximum(rgb[..., 0], rgb[..., 1]), rgb[..., 2])  # max(axis=2): 10x slower
    bright = peak >= BRIGHT
    counts = _cells(bright)
    least = max(1.0, MIN_AREA * h * w)
    out = []
    for group in _components(counts >= CELL_MIN):
        if counts[group[:, 0], group[:, 1]].sum() < least:
            continue
        r0, c0 = group.min(axis=0) * CELL
        r1, c1 = (group.max(axis=0) + 1) * CELL
        r1, c1 = min(r1, h), min(c1, w)
        cells = np.zeros(((r1 - r0 + CELL - 1) // CELL, (c1 - c0 + CELL - 1) // CELL), bool)
        cells[group[:, 0] - r0 // CELL, group[:, 1] - c0 // CELL] = True
        owned = np.repeat(np.repeat(cells, CELL, 0), CELL, 1)[: r1 - r0, : c1 - c0]
        mask = owned & bright[r0:r1, c0:c1]
        px = rgb[r0:r1, c0:c1][mask]
        area = len(px)
        if area < least:
            continue
        means = px.mean(axis=0, dtype=np.float64)
        red = means[0] >= RED_RATIO * max(means[1], means[2], 1.0)
        lit = (means >= LIT) | (means == means.max())
        ys, xs = np.nonzero(mask)
        clipped_r, clipped_g, clipped_b = (
            round(np.count_nonzero(px[:, i] >= CLIPPED) / area, 4) for i in range(3)
        )
        region = Region(
            kind="red practical" if red else "white",
            area=area,
            x=round(float((xs.mean() + c0) / w), 3),
            y=round(float((ys.mean() + r0) / h), 3),
            clipped=round(np.count_nonzero((px[:, lit] >= CLIPPED).all(axis=1)) / area, 4),
            clipped_r=clipped_r,
            clipped_g=clipped_g,
            clipped_b=clipped_b,
        )
        if red and max(r1 - r0, c1 - c0) <= COMPACT * min(r1 - r0, c1 - c0):
            full = np.zeros((h, w), bool)
            full[r0:r1, c0:c1] = mask
            radius = max(4, round(2 * math.sqrt(area / math.pi)))
            spread = _ring_spread(rgb, full, (r0, c0, r1, c1), radius)
            if spread is not None:
                region["separation"] = round(spread, 3)
        out.append(region)
    return sorted(out, key=lambda r: (-r["clipped"], -r["area"]))


def summary(found: list[Region]) -> dict[str, float]:
    """The frame's highlight metrics from its regions: the worst region's clipped share and
    where it is (hl_*), the count, and the least separation around a red practical."""
    metrics: dict[str, float] = {"highlight_regions": len(found), "highlight_detail": 0.0}
    if found:
        worst = found[0]
        metrics["highlight_detail"] = worst["clipped"]
        metrics.update(
            hl_area=worst["area"],
            hl_x=worst["x"],
            hl_y=worst["y"],
            hl_red=1.0 if worst["kind"] == "red practical" else 0.0,
            hl_clip_r=worst["clipped_r"],
            hl_clip_g=worst["clipped_g"],
            hl_clip_b=worst["clipped_b"],
        )
    spreads = [r["separation"] for r in found if "separation" in r]
    if spreads:
        metrics["practical_separation"] = min(spreads)
    return metrics
