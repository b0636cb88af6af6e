"""Image metrics for the seed's quick quality gate, measured from pixels.

Clipped highlights, crushed shadows, colour cast (CIE Lab over near-neutral
pixels), midtone separation, sharpness and, for edits, change outside the mask.
All vectorised numpy; Lab statistics use every 2nd pixel in each direction,
which moves the means by far less than any threshold and halves the cost.
"""

from __future__ import annotations

import copy
from dataclasses import asdict, dataclass

import numpy as np
from PIL import Image, ImageFilter

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)
D65 = np.array([0.95047, 1.0, 1.08883], np.float32)
SRGB_TO_XYZ = np.array([[0.4124, 0.3576, 0.1805],
                        [0.2126, 0.7152, 0.0722],
                        [0.0193, 0.1192, 0.9505]], np.float32)


@dataclass(frozen=True)
class Flag:
    level: str  # pass | warn | fail
    metric: str
    value: float
    message: str


def _lab(rgb: np.ndarray) -> np.ndarray:
    c = rgb.astype(np.float32) / 255.0
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    xyz = (lin @ SRGB_TO_XYZ.T) / D65
    f = np.where(xyz > 0.008856, np.cbrt(xyz), 7.787 * xyz + 16 / 116)
    L = 116 * f[..., 1] - 16
    a = 500 * (f[..., 0] - f[..., 1])
    b = 200 * (f[..., 1] - f[..., 2])
    return np.stack([L, a, b], axis=-1)


def measure(rgb: np.ndarray) -> dict:
    rgb = np.asarray(rgb)[..., :3]
    luma = rgb.astype(np.float32) @ LUMA
    n = float(luma.size)
    lab = _lab(rgb[::2, ::2]).reshape(-1, 3)
    chroma = np.hypot(lab[:, 1], lab[:, 2])
    neutral = (chroma < 20) & (lab[:, 0] > 20) & (lab[:, 0] < 90)
    pick = lab[neutral] if neutral.sum() >= 0.01 * len(lab) else lab
    mid = lab[(lab[:, 0] >= 25) & (lab[:, 0] <= 75), 0]
    lap = (4 * luma[1:-1, 1:-1] - luma[:-2, 1:-1] - luma[2:, 1:-1]
           - luma[1:-1, :-2] - luma[1:-1, 2:])
    clip = (rgb >= 254).reshape(-1, 3).mean(axis=0)
    return {k: round(float(v), 6) for k, v in {
        "highlight_clip": (luma >= 250).sum() / n,
        "clip_r": clip[0], "clip_g": clip[1], "clip_b": clip[2],
        "shadow_crush": (luma <= 5).sum() / n,
        "cast_a": pick[:, 1].mean(), "cast_b": pick[:, 2].mean(),
        "midtone_separation": mid.std() if mid.size else 0.0,
        "sharpness": lap.var() if lap.size else 0.0,
        "mean_luma": luma.mean(),
    }.items()}


def edit_leak(source: np.ndarray, result: np.ndarray, editable: np.ndarray,
              feather_px: int = 0) -> dict:
    """Change outside the editable area (0..255 scale), optionally ignoring a feather band."""
    outside = ~editable
    if feather_px > 0 and editable.any():
        grown = np.asarray(Image.fromarray(editable.astype(np.uint8) * 255).filter(
            ImageFilter.MaxFilter(2 * feather_px + 1)))
        outside = grown == 0
    if not outside.any():
        return {"leak_mean": 0.0, "leak_max": 0.0, "changed_fraction_outside": 0.0}
    diff = np.abs(source.astype(np.int16) - result.astype(np.int16)).max(axis=-1)[outside]
    return {"leak_mean": round(float(diff.mean()), 4), "leak_max": float(diff.max()),
            "changed_fraction_outside": round(float((diff > 2).mean()), 6)}


# metric -> (direction, warn, fail): "max" flags values above, "min" below,
# "range" flags values outside [lo, hi] (warn) and [lo2, hi2] (fail)
DEFAULT_THRESHOLDS = {
    "default": {
        "highlight_clip": {"warn": 0.01, "fail": 0.04},
        "shadow_crush": {"warn": 0.05, "fail": 0.15},
        "cast_a": {"warn": [-4.0, 4.0], "fail": [-9.0, 9.0]},
        "cast_b": {"warn": [-8.0, 10.0], "fail": [-16.0, 18.0]},
        "sharpness": {"warn_below": 40.0, "fail_below": 8.0},
        "leak_mean": {"warn": 1.0, "fail": 4.0},
    },
    "fluorescent": {
        "cast_a": {"warn": [-8.0, 2.0], "fail": [-14.0, 6.0]},
    },
    "red_emergency": {
        "clip_r": {"warn": 0.01, "fail": 0.03},
        "highlight_clip": {"warn": 0.005, "fail": 0.02},
        "midtone_separation": {"warn_below": 8.0, "fail_below": 4.0},
        "shadow_crush": {"warn": 0.12, "fail": 0.30},
        "cast_a": {"warn": [-6.0, 60.0], "fail": [-12.0, 80.0]},
        "cast_b": {"warn": [-20.0, 50.0], "fail": [-30.0, 70.0]},
    },
    "daylight": {
        "cast_b": {"warn": [-6.0, 14.0], "fail": [-12.0, 22.0]},
    },
}

WORDS = {
    "highlight_clip": "highlights clipped on {pct} of pixels",
    "clip_r": "red highlights clipped on {pct} of pixels",
    "shadow_crush": "shadows crushed on {pct} of frame",
    "cast_a": "colour cast a*={v:+.1f} ({side}) beyond the {tag} allowance",
    "cast_b": "colour temperature b*={v:+.1f} ({side}) beyond the {tag} allowance",
    "midtone_separation": "flat midtones (separation {v:.1f})",
    "sharpness": "soft image (sharpness {v:.0f})",
    "leak_mean": "edit changed pixels outside the mask (mean {v:.1f})",
}


def thresholds_for(lighting: str | None, overrides: dict | None = None) -> dict:
    merged = copy.deepcopy(DEFAULT_THRESHOLDS["default"])
    for tag in (lighting,):
        merged.update(copy.deepcopy(DEFAULT_THRESHOLDS.get(tag or "", {})))
        for metric, bounds in ((overrides or {}).get(tag or "default") or {}).items():
            merged.setdefault(metric, {}).update(bounds)
    return merged


def _level(value: float, bounds: dict) -> str:
    if "fail_below" in bounds or "warn_below" in bounds:
        if value < bounds.get("fail_below", float("-inf")):
            return "fail"
        return "warn" if value < bounds.get("warn_below", float("-inf")) else "pass"
    warn, fail = bounds.get("warn"), bounds.get("fail")
    if isinstance(fail, list):
        if not fail[0] <= value <= fail[1]:
            return "fail"
        return "warn" if warn and not warn[0] <= value <= warn[1] else "pass"
    if fail is not None and value > fail:
        return "fail"
    return "warn" if warn is not None and value > warn else "pass"


def _message(metric: str, value: float, lighting) -> str:
    side = ""
    if metric == "cast_a":
        side = "green" if value < 0 else "magenta"
    elif metric == "cast_b":
        side = "cool/blue" if value < 0 else "warm/yellow"
    return WORDS[metric].format(pct=f"{value * 100:.1f}%", v=value, side=side,
                                tag=lighting or "default")


def evaluate(metrics: dict, lighting: str | None, thresholds: dict | None = None) -> list[Flag]:
    thresholds = thresholds or thresholds_for(lighting)
    flags = []
    for metric, bounds in thresholds.items():
        if metric not in metrics or metrics[metric] is None:
            continue
        value = float(metrics[metric])
        level = _level(value, bounds)
        flags.append(Flag(level, metric, value,
                          _message(metric, value, lighting) if level != "pass" else f"{metric} ok"))
    return flags


def worst(flags) -> str:
    levels = [f.level if isinstance(f, Flag) else f["level"] for f in flags]
    return "fail" if "fail" in levels else ("warn" if "warn" in levels else "pass")


def flags_to_json(flags) -> list[dict]:
    return [asdict(f) for f in flags]


def load_rgb(path) -> np.ndarray:
    with Image.open(path) as im:
        return np.asarray(im.convert("RGB"))


def check_image(path, lighting: str | None = None, thresholds: dict | None = None) -> dict:
    rgb = load_rgb(path)
    metrics = measure(rgb)
    flags = evaluate(metrics, lighting, thresholds)
    return {"path": str(path), "size": f"{rgb.shape[1]}x{rgb.shape[0]}", "metrics": metrics,
            "flags": flags_to_json(flags), "worst": worst(flags)}


def consistency_flags(group: dict, lighting: str | None, limit_b: float = 8.0) -> list[Flag]:
    """Lighting temperature across shots sharing a tag: spread of b* (warm/cool)."""
    if len(group) < 2:
        return []
    values = {shot: m["cast_b"] for shot, m in group.items()}
    spread = max(values.values()) - min(values.values())
    level = "fail" if spread > 2 * limit_b else ("warn" if spread > limit_b else "pass")
    msg = (f"{lighting or 'untagged'} shots differ in colour temperature by b* {spread:.1f} "
           f"({', '.join(f'{s} {v:+.1f}' for s, v in values.items())})")
    return [Flag(level, "temperature_spread", round(spread, 3), msg)]
