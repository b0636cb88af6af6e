"""Image metrics for the seed's quick quality gate, measured from pixels.

Clipped highlights (luminance and per channel, over the frame and inside each highlight
region: artifacts/highlights.py), crushed shadows, colour cast (CIE Lab a*/b* of the
frame's neutrals as rendered), midtone separation, sharpness, the mean level and, for
edits, change outside the mask (edit leak). Faces add skin (artifacts/skin.py), identity
and wardrobe (artifacts/identity.py, artifacts/wardrobe.py). Each metric is judged
against warn/fail bounds chosen by the shot's `lighting` tag (`DEFAULT_THRESHOLDS`: the
`quality` default of the config schema, overridable from config `quality:`), giving one
`Flag` per metric with a one-line reason an art director can act on.

Everything is vectorised numpy in float32, no per-pixel Python. The Lab
statistics (cast_a, cast_b, midtone_separation) are computed on every 2nd pixel
in each direction (a quarter of the pixels), and the colour cast's rounds on at most
about 65,536 of those: that moves the means and spreads by far less than any
threshold and keeps `measure` well within 2x the time of decoding the PNG (see
bench/bench_quality.py). Clip, crush, sharpness, mean luminance and the highlight
regions use every pixel.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from itertools import combinations
from typing import IO, SupportsFloat, TypedDict

import numpy as np
from PIL import Image

from stillmake.artifacts import highlights
from stillmake.artifacts.colour import LUMA, as_rgb
from stillmake.artifacts.colour import lab as _lab
from stillmake.artifacts.thresholds import METRICS, Bound, Bounds, MetricThresholds, thresholds_for
from stillmake.inputs.masks import grow

HIGHLIGHT_LUMA = 250  # luminance at or above: a blown highlight
CHANNEL_CLIP = 254  # channel value at or above: that channel clipped
SHADOW_LUMA = 5  # luminance at or below: crushed to black
NEUTRAL_CHROMA = 20.0  # Lab chroma below which a pixel counts as near-neutral...
NEUTRAL_L = (20.0, 90.0)  # ...when its L* is in this band (not black, not blown)
NEUTRAL_MIN_SHARE = 0.01  # fewer near-neutrals than this share: look wider...
NEUTRAL_WIDER = (1.5, 2.0)  # ...up to this many times NEUTRAL_CHROMA, then all pixels
CAST_RADII = (14.0, 10.0)  # then the pixels this close (a*b*) to the cast so far
CAST_ROUNDS = 8  # at most this many re-estimates...
CAST_SETTLED = 0.05  # ...stopping once the estimate moves less than this
CAST_SAMPLE = 65_536  # the rounds look at about this many pixels of the L* band, evenly spread
MIDTONE_L = (25.0, 75.0)
LAB_STEP = 2  # Lab statistics on every LAB_STEP-th pixel in each direction
_EPS = 1e-3  # float32 luminance of (250, 250, 250) may land a hair below 250

LEVELS = ("pass", "warn", "fail")  # in order of severity


Metrics = dict[str, float]  # metric -> its value, as `measure` and the face checks read it


@dataclass(frozen=True)
class Flag:
    level: str  # pass | warn | fail
    metric: str
    value: float | None  # None: nothing measured (no face found), the message says why
    message: str


class FlagJson(TypedDict):
    """A Flag as review JSON, sidecars, the gate and the board keep it (`flags_to_json`);
    the critique's verdicts (rubric.critique_flags) take the same shape."""

    level: str
    metric: str
    value: float | None
    message: str


class ImageCheck(TypedDict):
    """One image measured and judged (`check_image`)."""

    path: str
    size: str
    metrics: Metrics
    flags: list[FlagJson]
    worst: str


# --------------------------------------------------------------------------- metrics


_as_rgb = as_rgb


def measure(rgb: np.ndarray) -> Metrics:
    """Quality metrics of an HxWx3 uint8 sRGB image (fractions are 0..1, floats to 6 digits).

    highlight_clip, shadow_crush: share of pixels with Rec.709 luminance >= 250 / <= 5.
    clip_r/g/b: share of pixels with that channel >= 254.
    cast_a, cast_b: mean Lab a*, b* of the frame's neutral surfaces as the cast rendered
    them (see `colour_cast`).
    highlight_detail, highlight_regions, hl_*, practical_separation: the highlight regions
    (see artifacts/highlights.py): the worst one's clipped share, how many, where and
    which channels the worst is clipped in, the least L* spread around a red practical.
    midtone_separation: std of L* over pixels with 25 <= L* <= 75 (0 if there are none).
    sharpness: variance of the 4-neighbour Laplacian of luminance.
    mean_luma: mean luminance 0..255.
    The Lab ones use every 2nd pixel in each direction (see the module docstring).
    """
    rgb = _as_rgb(rgb)
    luma = rgb.astype(np.float32) @ LUMA
    n = luma.size
    highlight = np.count_nonzero(luma >= HIGHLIGHT_LUMA - _EPS) / n
    crush = np.count_nonzero(luma <= SHADOW_LUMA + _EPS) / n
    clip = [np.count_nonzero(rgb[..., i] >= CHANNEL_CLIP) / n for i in range(3)]

    if luma.shape[0] >= 3 and luma.shape[1] >= 3:
        lap = luma[1:-1, 1:-1] * np.float32(4)
        lap -= luma[:-2, 1:-1]
        lap -= luma[2:, 1:-1]
        lap -= luma[1:-1, :-2]
        lap -= luma[1:-1, 2:]
        sharpness = float(lap.var(dtype=np.float64))
    else:
        sharpness = 0.0

    L, a, b = _lab_sample(rgb)
    cast_a, cast_b = colour_cast(L, a, b)
    mid = L[(L >= MIDTONE_L[0]) & (L <= MIDTONE_L[1])]

    values: dict[str, SupportsFloat] = {
        **highlights.summary(highlights.regions(rgb)),
        "highlight_clip": highlight,
        "clip_r": clip[0],
        "clip_g": clip[1],
        "clip_b": clip[2],
        "shadow_crush": crush,
        "cast_a": cast_a,
        "cast_b": cast_b,
        "midtone_separation": mid.std(dtype=np.float64) if mid.size else 0.0,
        "sharpness": sharpness,
        "mean_luma": luma.mean(dtype=np.float64),
    }
    return {k: _num(v) for k, v in values.items()}


def _lab_sample(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """L*, a*, b* of every LAB_STEP-th pixel each way, as flat arrays."""
    lab = _lab(rgb[::LAB_STEP, ::LAB_STEP]).reshape(-1, 3)
    return lab[:, 0], lab[:, 1], lab[:, 2]


def frame_cast(rgb: np.ndarray) -> tuple[float, float]:
    """The frame's colour cast (a*, b*) alone, as `measure` reads it."""
    return colour_cast(*_lab_sample(as_rgb(rgb)))


def colour_cast(L: np.ndarray, a: np.ndarray, b: np.ndarray) -> tuple[float, float]:
    """The colour cast of a frame (flat arrays of L*, a*, b*): the mean a*, b* of its
    neutral surfaces as the cast rendered them.

    A cast moves the neutrals away from a* = b* = 0, so they cannot be picked by their
    distance from 0: a strong one moves most of them out of any such window, and the
    few left under-read it (a 0.78/1.12/0.78 channel cast read a* -7 for a grey at -24).
    So the first guess is the mean of the near-neutrals (chroma < 20, 20 < L* < 90; when
    fewer than 1% of the pixels are, chroma < 30, then < 40); then, round after round,
    the mean of the band's pixels within 14, then 10 a*b* units of the guess so far,
    until it settles. The guess moves onto the neutrals wherever the cast put
    them, and stays at 0 when there is no cast; coloured things farther than that from
    the neutrals do not pull it. A frame with no pixel even that close to neutral (lit
    all red) has no neutrals to read: its cast is the mean over all pixels.
    """
    lit = (L > NEUTRAL_L[0]) & (L < NEUTRAL_L[1])
    step = max(1, int(np.count_nonzero(lit)) // CAST_SAMPLE)
    la, lb = a[lit][::step], b[lit][::step]  # the band, evenly thinned: means barely move
    least = NEUTRAL_MIN_SHARE * len(L) / step  # 1% of the frame, in thinned pixels
    chroma2 = la * la + lb * lb
    for wider in (1.0, *NEUTRAL_WIDER):
        pick = chroma2 < (NEUTRAL_CHROMA * wider) ** 2
        if np.count_nonzero(pick) >= least:
            break
    else:
        return float(a.mean(dtype=np.float64)), float(b.mean(dtype=np.float64))
    ca, cb = la[pick].mean(dtype=np.float64), lb[pick].mean(dtype=np.float64)
    for i in range(CAST_ROUNDS):
        radius = CAST_RADII[min(i, len(CAST_RADII) - 1)]
        da, db = la - np.float32(ca), lb - np.float32(cb)
        near = da * da + db * db < radius * radius
        if np.count_nonzero(near) < least:
            break
        na, nb = la[near].mean(dtype=np.float64), lb[near].mean(dtype=np.float64)
        moved = abs(na - ca) + abs(nb - cb)
        ca, cb = na, nb
        if moved < CAST_SETTLED and i >= len(CAST_RADII) - 1:
            break
    return float(ca), float(cb)


def _num(v: SupportsFloat) -> float:
    v = float(v)
    if not math.isfinite(v):
        return 0.0
    return round(v, 6) if abs(v) < 1000 else round(v, 2)


def edit_leak(
    source: np.ndarray, result: np.ndarray, editable: np.ndarray, feather_px: int = 0
) -> Metrics:
    """How much an edit changed the frame outside its mask (0..255 scale).

    `editable` is bool HxW, True where the edit was allowed. Per pixel the change
    is the largest absolute channel difference. With feather_px > 0 a band that
    wide around the editable area (where `composite_outside` blends) is left out.
    Returns leak_mean, leak_max, changed_fraction_outside (share of outside pixels
    changed by more than 2); all zero when nothing lies outside.
    """
    source, result = _as_rgb(source), _as_rgb(result)
    editable = np.asarray(editable, bool)
    if source.shape != result.shape:
        raise ValueError(
            f"source {source.shape[1]}x{source.shape[0]} and result "
            f"{result.shape[1]}x{result.shape[0]} differ in size"
        )
    if editable.shape != source.shape[:2]:
        raise ValueError(
            f"mask {editable.shape[1]}x{editable.shape[0]} does not match image "
            f"{source.shape[1]}x{source.shape[0]}"
        )
    outside = ~grow(editable, feather_px) if feather_px > 0 else ~editable
    if not outside.any():
        return {"leak_mean": 0.0, "leak_max": 0.0, "changed_fraction_outside": 0.0}
    s, r = source[outside], result[outside]
    diff = (np.maximum(s, r) - np.minimum(s, r)).max(axis=-1)  # uint8, no overflow
    return {
        "leak_mean": _num(diff.mean(dtype=np.float64)),
        "leak_max": float(diff.max()),
        "changed_fraction_outside": _num(np.count_nonzero(diff > 2) / diff.size),
    }


# --------------------------------------------------------------------------- thresholds


def _level(kind: str, value: float, bounds: Bounds) -> str:
    warn, fail = bounds.get("warn"), bounds.get("fail")

    def beyond(bound: Bound) -> bool:
        if bound is None:
            return False
        if kind == "range":
            low, high = _span(bound)
            return not low <= value <= high
        return value < _number(bound) if kind == "min" else value > _number(bound)

    return "fail" if beyond(fail) else ("warn" if beyond(warn) else "pass")


def _span(bound: float | list[float]) -> tuple[float, float]:
    """A range metric's bound, (low, high): `thresholds_for` made every one a pair."""
    if isinstance(bound, list) and len(bound) == 2:
        return bound[0], bound[1]
    raise ValueError(f"a range metric's bound must be [low, high], got {bound!r}")


def _number(bound: float | list[float]) -> float:
    """A min or max metric's bound: `thresholds_for` made every one a number."""
    if isinstance(bound, list):
        raise ValueError(f"a min or max metric's bound must be a number, got {bound!r}")
    return bound


# --------------------------------------------------------------------------- messages


def _pct(v: float) -> str:
    p = v * 100
    return f"{p:.1f}%" if p >= 1 or p == 0 else f"{p:.2f}%"


def _allowed(kind: str, metric: str, bound: Bound) -> str:
    if bound is None:
        return ""
    if kind == "range":
        low, high = _span(bound)
        return f"allowed {low:+g} to {high:+g}"
    return (
        f"{'allowed up to' if kind == 'max' else 'want at least'} {_shown(metric)(_number(bound))}"
    )


def _shown(metric: str) -> Callable[[float], str]:
    """How a bound or value of `metric` is written: a share as a percentage."""
    return _pct if metric in _SHARES else (lambda x: f"{x:g}")


_SHARES = {
    "highlight_clip",
    "highlight_detail",
    "clip_r",
    "clip_g",
    "clip_b",
    "shadow_crush",
    "changed_fraction_outside",
}


def _message(
    metric: str, value: float, level: str, tag: str, metrics: Mapping[str, float], bounds: Bounds
) -> str:
    kind = METRICS.get(metric, ("max", ""))[0]
    if metric in _CLIPS:
        text = f"{_CLIPS[metric]} clipped on {_pct(value)} of pixels"
    elif metric == "shadow_crush":
        text = f"shadows crushed on {_pct(value)} of frame"
    elif metric == "cast_a":
        text = f"{'green' if value < 0 else 'magenta'} cast a*={value:+.1f}"
        bound = _first_bound(bounds)
        if tag == "fluorescent" and level == "warn" and bound is not None:
            low, high = _span(bound)
            if high < 0 < value - high:
                return (
                    f"no institutional cast (a*={value:+.1f}): the fluorescent intent wants a "
                    f"slight green, a* {low:+g} to {high:+g}"
                )
    elif metric == "cast_b":
        text = f"{'cool/blue' if value < 0 else 'warm/yellow'} cast b*={value:+.1f}"
    elif metric == "midtone_separation":
        text = f"{'flat midtones' if level != 'pass' else 'midtones'} (separation {value:.1f})"
    elif metric == "sharpness":
        text = f"{'soft image' if level != 'pass' else 'sharp image'} (sharpness {value:.0f})"
    elif metric == "mean_luma":
        bound = _first_bound(bounds)
        low = _span(bound)[0] if bound is not None else 0.0
        word = (
            "frame"
            if level == "pass"
            else ("frame too dark" if value < low else "frame too bright")
        )
        text = f"{word} (mean luminance {value:.0f})"
    elif metric in ("leak_mean", "leak_max"):
        text = (
            f"edit changed pixels outside the mask (mean {float(metrics.get('leak_mean', 0)):.1f}, "
            f"max {float(metrics.get('leak_max', 0)):.0f})"
        )
        if not metrics.get("leak_max"):
            text = "edit left everything outside the mask untouched"
    elif metric == "changed_fraction_outside":
        text = f"edit changed {_pct(value)} of the pixels outside the mask"
    elif metric == "identity":
        text = f"{'identity drift' if level != 'pass' else 'same face'} (distance {value:.2f})"
    elif metric in _FACE_TEXT:
        text = _FACE_TEXT[metric](value, level)
    elif metric == "highlight_detail":
        text = _highlight_text(value, level, metrics)
    elif metric == "practical_separation":
        text = (
            f"{'red practical bleeds into a flat glow' if level != 'pass' else 'red practicals'}"
            f" (L* spread around it {value:.1f})"
        )
    elif metric == "temperature_spread":
        text = f"colour temperature differs by {value:.1f} across {tag} shots"
    else:
        text = f"{metric} {value:g}"
    bound = _first_bound(bounds)
    if metric in ("cast_a", "cast_b"):
        where = "within" if level == "pass" else "beyond"
        span = " ({:+g} to {:+g})".format(*_span(bound)) if bound is not None else ""
        return f"{text} {where} the {tag} allowance{span}"
    if level == "pass":
        return text if text.endswith("untouched") else f"{text} (ok)"
    allowed = _allowed(kind, metric, bound)
    if metric in _LEAKS:  # both levels, and the setting that keeps the rest of the frame
        fail = bounds.get("fail")
        if fail is not None and bound != fail:
            allowed += f", fails above {_shown(metric)(_number(fail))}"
        allowed += " (edit.protect_unmasked: true pastes the source back outside the mask)"
    return f"{text}; {allowed}" if allowed else text


_LEAKS = {"leak_mean", "changed_fraction_outside"}


_FACE_TEXT = {
    "skin_hue": lambda v, level: (
        f"skin pushed toward {'green' if v > 0 else 'magenta'} ({v:+.0f} deg off the "
        "skin-tone line)"
        if level != "pass"
        else f"skin on the skin-tone line ({v:+.0f} deg)"
    ),
    "skin_chroma": lambda v, level: (
        f"{'grey skin' if level != 'pass' else 'skin colour'} (chroma {v:.2f})"
    ),
    "wardrobe": lambda v, level: (
        f"wardrobe {'differs from' if level != 'pass' else 'matches'} the reference "
        f"(colour difference {v:.1f})"
    ),
}


def _highlight_text(value: float, level: str, metrics: Mapping[str, float]) -> str:
    """The worst highlight region: what it is, where, how much of it is clipped and in
    which channels; or how many regions keep their detail."""
    n = int(metrics.get("highlight_regions") or 0)
    if not n:
        return "no highlight region large enough to judge"
    if level == "pass":
        return f"{n} highlight region(s) keep detail (worst {_pct(value)} clipped)"
    kind = "red practical" if metrics.get("hl_red") else "highlight"
    channels = ", ".join(
        f"{name} {_pct(float(metrics.get(f'hl_clip_{c}', 0)))}"
        for c, name in (("r", "red"), ("g", "green"), ("b", "blue"))
    )
    return (
        f"blown {kind} at x {float(metrics.get('hl_x', 0)):.0%} y "
        f"{float(metrics.get('hl_y', 0)):.0%}: {_pct(value)} of its "
        f"{int(metrics.get('hl_area', 0)):,} px clipped ({channels})"
    )


def _first_bound(bounds: Bounds) -> Bound:
    """The bound that separates pass from the rest: warn, else fail."""
    warn = bounds.get("warn")
    return warn if warn is not None else bounds.get("fail")


_CLIPS = {
    "highlight_clip": "highlights",
    "clip_r": "red highlights",
    "clip_g": "green highlights",
    "clip_b": "blue highlights",
}


# --------------------------------------------------------------------------- gate


def evaluate(
    metrics: Mapping[str, float],
    lighting: str | None,
    thresholds: Mapping[str, Bounds] | None = None,
) -> list[Flag]:
    """One Flag per metric that has thresholds and a value in `metrics`, in threshold order.

    `thresholds` defaults to `thresholds_for(lighting)`. Edit-leak keys
    (leak_mean, changed_fraction_outside, ...) are judged when present.
    """
    tag = lighting or "default"
    if thresholds is None:
        thresholds = thresholds_for(lighting)
    flags = []
    for metric, bounds in thresholds.items():
        read = metrics.get(metric)
        if read is None or metric not in METRICS:
            continue
        value = float(read)
        level = _level(METRICS[metric][0], value, bounds)
        flags.append(
            Flag(level, metric, _num(value), _message(metric, value, level, tag, metrics, bounds))
        )
    return flags


def worst_level(levels: Iterable[str | None], default: str = "pass") -> str:
    """The most severe of `levels` (pass < warn < fail), ignoring anything else;
    `default` when there is none."""
    known = [lvl for lvl in levels if lvl in LEVELS]
    return max(known, key=LEVELS.index) if known else default


def worst(flags: Iterable[Flag | FlagJson]) -> str:
    """ "fail" if any flag fails, else "warn" if any warns, else "pass" (Flags or their dicts)."""
    return worst_level(f.level if isinstance(f, Flag) else f["level"] for f in flags)


def flags_to_json(flags: Iterable[Flag]) -> list[FlagJson]:
    return [
        FlagJson(level=f.level, metric=f.metric, value=f.value, message=f.message) for f in flags
    ]


def load_rgb(path: str | os.PathLike[str] | IO[bytes]) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def check_image(
    path: str | os.PathLike[str],
    lighting: str | None = None,
    thresholds: Mapping[str, Bounds] | None = None,
) -> ImageCheck:
    """Load, measure and judge one image: {"path", "size", "metrics", "flags", "worst"}."""
    rgb = load_rgb(path)
    metrics = measure(rgb)
    flags = evaluate(metrics, lighting, thresholds)
    return {
        "path": str(path),
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "metrics": metrics,
        "flags": flags_to_json(flags),
        "worst": worst(flags),
    }


# --------------------------------------------------------------------------- across shots


Cast = tuple[str, float, float]  # who (a shot), a*, b*


def _farthest_pair(items: list[Cast]) -> tuple[float, tuple[Cast, Cast] | None]:
    """The largest a*b* distance between two of `items`, and those two (None: fewer
    than two, or all at one point)."""
    best: tuple[float, tuple[Cast, Cast] | None] = (0.0, None)
    for p, q in combinations(items, 2):
        d = math.hypot(p[1] - q[1], p[2] - q[2])
        if d > best[0]:
            best = (d, (p, q))
    return best


def temperature_spread(list_of_metrics: Iterable[Mapping[str, float]]) -> float:
    """Largest distance in the Lab a*b* plane between the casts (cast_a, cast_b) of
    any two images: 0 when they all share one colour temperature and tint.
    b* is warm/cool, a* green/magenta; images lacking a cast are skipped."""
    items = [
        (str(i), float(m.get("cast_a", 0.0)), float(m["cast_b"]))
        for i, m in enumerate(list_of_metrics)
        if m.get("cast_b") is not None
    ]
    return round(_farthest_pair(items)[0], 3)


def consistency_flags(
    group: Mapping[str, Mapping[str, float]],
    lighting: str | None,
    thresholds: MetricThresholds | None = None,
) -> list[Flag]:
    """Lighting temperature across shots sharing a tag ({shot: metrics}).

    One `temperature_spread` flag naming the two shots that disagree most; none
    for a single shot or for untagged shots (no shared intent to agree on).
    """
    if not lighting or len(group) < 2:
        return []
    bounds = (thresholds if thresholds is not None else thresholds_for(lighting)).get(
        "temperature_spread"
    )
    if not bounds:
        return []
    items = [
        (shot, float(m.get("cast_a", 0.0)), float(m["cast_b"]))
        for shot, m in group.items()
        if m.get("cast_b") is not None
    ]
    farthest, pair = _farthest_pair(items)
    spread = round(farthest, 3)
    level = _level("max", spread, bounds)
    every = ", ".join(f"{s} a* {a:+.1f} b* {b:+.1f}" for s, a, b in items)
    if pair is None:
        return [Flag(level, "temperature_spread", spread, f"{lighting} shots agree ({every})")]
    p, q = pair
    if abs(p[2] - q[2]) >= abs(p[1] - q[1]):
        warm, cool = (p, q) if p[2] > q[2] else (q, p)
        odd = f"{warm[0]} is warmer than {cool[0]} (b* {warm[2]:+.1f} vs {cool[2]:+.1f})"
    else:
        green, magenta = (p, q) if p[1] < q[1] else (q, p)
        odd = f"{green[0]} is greener than {magenta[0]} (a* {green[1]:+.1f} vs {magenta[1]:+.1f})"
    if level == "pass":
        msg = f"{lighting} shots agree in colour temperature (spread {spread:.1f})"
    else:
        allowed = _allowed("max", "temperature_spread", _first_bound(bounds))
        msg = f"{lighting} shots differ in colour temperature by {spread:.1f}; {allowed}: {odd}"
        if len(items) > 2:
            msg += f"; {every}"
    return [Flag(level, "temperature_spread", spread, msg)]
