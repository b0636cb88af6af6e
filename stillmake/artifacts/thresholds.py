"""The quality gate's thresholds: what each metric means, its built-in warn and fail
levels per lighting tag, and the layering of config's `quality:` over them.

The config schema (data/schemas/config.schema.yaml, `$defs.metrics`) describes the
`quality:` overrides key by key; tests/artifacts/test_quality.py pins its metric names to METRICS.
Kept apart from the measures (quality.py: numpy), so planning a build checks the
thresholds without importing them.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from numbers import Real

from stillmake.errors import InputError
from stillmake.inputs.schemas import load_schema

# A bound is a number, or [low, high] for a metric judged by a range; None: not judged.
Bound = float | list[float] | None
Bounds = Mapping[str, Bound]  # {"warn": bound, "fail": bound}: either may be absent
MetricThresholds = dict[str, dict[str, Bound]]  # one lighting tag's: metric -> its bounds
# config `quality:` and the built-in table: {lighting tag: {metric: bounds}}
QualityOverrides = Mapping[str, Mapping[str, Bounds | None] | None]

# metric -> (how it is judged, what it means). "max": bad above the bounds;
# "min": bad below; "range": bounds are [low, high] and bad outside.
METRICS: dict[str, tuple[str, str]] = {
    "highlight_clip": ("max", "share of pixels with luminance >= 250 (blown whites)"),
    "clip_r": ("max", "share of pixels with red at 254-255 (clipped red lights)"),
    "clip_g": ("max", "share of pixels with green at 254-255"),
    "clip_b": ("max", "share of pixels with blue at 254-255"),
    "shadow_crush": ("max", "share of pixels with luminance <= 5 (crushed blacks)"),
    "cast_a": ("range", "mean Lab a* of the frame's neutrals as rendered: - green, + magenta"),
    "cast_b": (
        "range",
        "mean Lab b* of the frame's neutrals as rendered: - cool/blue, + warm/yellow",
    ),
    "highlight_detail": (
        "max",
        "worst highlight region (lamp, specular, white of 400+ px): share of it clipped",
    ),
    "practical_separation": (
        "min",
        "least spread (std) of L* around a red practical; low = it bleeds into a flat glow",
    ),
    "midtone_separation": ("min", "spread (std) of L* among midtones L* 25-75; low = flat"),
    "sharpness": ("min", "variance of the Laplacian of luminance; low = soft"),
    "mean_luma": ("range", "mean luminance 0-255"),
    "leak_mean": ("max", "edits: mean change outside the mask, 0-255"),
    "leak_max": ("max", "edits: largest change of one pixel outside the mask, 0-255"),
    "changed_fraction_outside": ("max", "edits: share of outside pixels changed by more than 2"),
    "temperature_spread": (
        "max",
        "finals: largest a*b* distance between the casts of shots sharing a lighting tag",
    ),
    "identity": (
        "max",
        "face distance to the character's reference (128-D embedding); same person <= 0.6",
    ),
    "skin_hue": (
        "range",
        "faces: degrees of the skin off the vectorscope's skin-tone line (+ yellow/green)",
    ),
    "skin_chroma": ("min", "faces: skin chroma over luma; about 0 = a grey face"),
    "wardrobe": (
        "max",
        "garment under the face vs the character's reference: Lab distance, casts removed",
    ),
}

# Each metric: {"warn": bound, "fail": bound} ([low, high] for range metrics), per
# lighting tag. A value exactly on a bound is still on the good side of it. The table is
# the config schema's `quality` default: one owner, described there metric by metric.
DEFAULT_THRESHOLDS: dict[str, dict[str, Bounds]] = load_schema("config.schema.yaml")["properties"][
    "quality"
]["default"]


def _check_bounds(tag: str, metric: str, bounds: object) -> dict[str, Bound]:
    key = f"quality.{tag}.{metric}"
    if metric not in METRICS:
        raise InputError(f"unknown quality metric '{metric}'; known: {', '.join(METRICS)}", key=key)
    if not isinstance(bounds, dict) or not set(bounds) <= {"warn", "fail"}:
        raise InputError(f"expected {{warn: ..., fail: ...}}, got {bounds!r}", key=key)
    kind = METRICS[metric][0]
    for which, v in bounds.items():
        if v is None:
            continue
        if kind == "range":
            ok = (
                isinstance(v, (list, tuple))
                and len(v) == 2
                and all(isinstance(x, Real) and not isinstance(x, bool) for x in v)
                and v[0] <= v[1]
            )
            if not ok:
                raise InputError(
                    f"{which} must be a range [low, high] for {metric}, got {v!r}", key=key
                )
            bounds[which] = [float(v[0]), float(v[1])]
        elif not isinstance(v, Real) or isinstance(v, bool):
            raise InputError(f"{which} must be a number for {metric}, got {v!r}", key=key)
        else:
            bounds[which] = float(v)
    return bounds


def thresholds_for(
    lighting: str | None, overrides: QualityOverrides | None = None
) -> MetricThresholds:
    """Thresholds for one lighting tag: {metric: {"warn": ..., "fail": ...}}.

    Layers, later wins per metric and per bound: built-in `default`, config
    `quality.default`, built-in tag, config `quality.<tag>`. A metric set to null
    in config is not judged. Unknown tags get the default layers only. Bad
    overrides raise InputError naming `quality.<tag>.<metric>`.
    """
    tag = lighting or "default"
    overrides = overrides or {}
    if not isinstance(overrides, Mapping):
        raise InputError(
            f"expected {{lighting_tag: {{metric: {{warn:, fail:}}}}}}, got {overrides!r}",
            key="quality",
        )
    layers = [DEFAULT_THRESHOLDS["default"], overrides.get("default")]
    if tag != "default":
        layers += [DEFAULT_THRESHOLDS.get(tag), overrides.get(tag)]
    merged: MetricThresholds = {}
    for i, layer in enumerate(layers):
        if not layer:
            continue
        if not isinstance(layer, Mapping):
            raise InputError(
                f"expected {{metric: {{warn:, fail:}}}}, got {layer!r}",
                key=f"quality.{tag if i >= 2 else 'default'}",
            )
        for metric, bounds in layer.items():
            if bounds is None:
                merged.pop(metric, None)
                continue
            bounds = _check_bounds(tag if i >= 2 else "default", metric, copy.deepcopy(bounds))
            merged.setdefault(metric, {}).update(bounds)
    return merged


def layers_for(
    lighting: str | None, overrides: QualityOverrides | None
) -> dict[str, dict[str, Bounds | None]]:
    """The layers that judge one lighting tag, each built-in layer with config's laid over
    it (a metric config sets to null stays null): `thresholds_for(lighting, layers)` gives
    what `thresholds_for(lighting, overrides)` gives, and the layers are the same whether
    config.yaml repeats the built-in table or says nothing. What a shot's review and edit
    jobs carry, so another tag's thresholds do not rerun them."""
    overrides = overrides or {}
    layers: dict[str, dict[str, Bounds | None]] = {}
    for tag in dict.fromkeys(("default", lighting or "default")):
        layer: dict[str, Bounds | None] = copy.deepcopy(dict(DEFAULT_THRESHOLDS.get(tag) or {}))
        for metric, bounds in (overrides.get(tag) or {}).items():
            built_in = layer.get(metric)
            if bounds is None or built_in is None:
                layer[metric] = copy.deepcopy(bounds)
            else:
                layer[metric] = {**built_in, **bounds}
        layers[tag] = layer
    return layers
