"""Quality metrics on synthetic images with known properties."""

from __future__ import annotations

import dataclasses
import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from stillmake.artifacts.quality import (
    Flag,
    check_image,
    consistency_flags,
    edit_leak,
    evaluate,
    flags_to_json,
    measure,
    temperature_spread,
    worst,
)
from stillmake.artifacts.thresholds import DEFAULT_THRESHOLDS, METRICS, thresholds_for
from stillmake.errors import InputError
from stillmake.inputs.masks import composite_outside, editable_area, region_mask

H, W = 200, 300
N = H * W


def textured(base=(120, 120, 120), seed=0, sd=25):
    """A grainy frame around `base`, kept in 20..235 so no pixel clips or crushes by chance."""
    rng = np.random.default_rng(seed)
    img = np.asarray(base, np.float32) + rng.normal(0, sd, (H, W, 1))
    return np.clip(img, 20, 235).astype(np.uint8)


def by_metric(flags):
    return {f.metric: f for f in flags}


def levels(flags):
    return {f.metric: f.level for f in flags}


def png(a) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


# ---------------------------------------------------------------- measure


def test_clean_frame_passes_every_default_gate():
    m = measure(textured())
    assert set(m) == {
        "highlight_clip",
        "clip_r",
        "clip_g",
        "clip_b",
        "shadow_crush",
        "cast_a",
        "cast_b",
        "midtone_separation",
        "sharpness",
        "mean_luma",
        "highlight_detail",  # no highlight region in this frame: 0 of 0 clipped
        "highlight_regions",
    }
    assert m["highlight_regions"] == 0 and m["highlight_detail"] == 0
    assert m["highlight_clip"] == m["shadow_crush"] == m["clip_r"] == 0
    assert abs(m["cast_a"]) < 0.5 and abs(m["cast_b"]) < 0.5
    assert m["mean_luma"] == pytest.approx(120, abs=1)
    assert m["midtone_separation"] > 5 and m["sharpness"] > 1000
    flags = evaluate(m, None)
    assert worst(flags) == "pass" and all(f.level == "pass" for f in flags)
    assert all(isinstance(v, float) for v in m.values())


def test_clip_fractions_are_exact_shares_of_pixels():
    img = textured()
    img[:20, :150] = 255  # 3000 of 60000 pixels = 5%
    img[20:32, :50] = (10, 10, 255)  # 600 more with only blue clipped: 1%
    m = measure(img)
    assert m["highlight_clip"] == 0.05
    assert (m["clip_r"], m["clip_g"], m["clip_b"]) == (0.05, 0.05, 0.06)
    f = by_metric(evaluate(m, None))["highlight_clip"]
    assert (
        f.level == "fail"
        and f.message == "highlights clipped on 5.0% of pixels; allowed up to 1.0%"
    )


def test_luminance_250_counts_as_clipped_and_5_as_crushed():
    img = np.full((10, 10, 3), 250, np.uint8)
    img[5:] = 5
    m = measure(img)
    assert m["highlight_clip"] == 0.5 and m["shadow_crush"] == 0.5
    img[:5], img[5:] = 249, 6
    m = measure(img)
    assert m["highlight_clip"] == 0 and m["shadow_crush"] == 0


def test_red_highlight_patch_fails_in_red_scene_with_its_share():
    img = textured((90, 20, 20), sd=15)
    img[:20, :150] = (255, 60, 40)  # 5%
    m = measure(img)
    assert m["clip_r"] == 0.05 and m["clip_g"] == 0 and m["highlight_clip"] == 0
    f = by_metric(evaluate(m, "red_emergency"))["clip_r"]
    assert f.level == "fail" and f.value == 0.05
    assert f.message.startswith("red highlights clipped on 5.0% of pixels")
    # red clipping is only judged where red practicals are the intent
    assert "clip_r" not in levels(evaluate(m, None))


@pytest.mark.parametrize("rows, level", [(3, "pass"), (4, "warn"), (9, "warn"), (10, "fail")])
def test_red_clip_bounds_pass_warn_fail(rows, level):
    img = textured((90, 20, 20), sd=15)
    img[:rows, :200] = (255, 60, 40)  # rows*200/60000: 1%, 1.33%, 3%, 3.33%
    assert levels(evaluate(measure(img), "red_emergency"))["clip_r"] == level


def test_value_on_a_bound_is_on_the_good_side():
    t = thresholds_for("red_emergency")
    assert levels(evaluate({"clip_r": 0.01}, "red_emergency", t)) == {"clip_r": "pass"}
    assert levels(evaluate({"clip_r": 0.03}, "red_emergency", t)) == {"clip_r": "warn"}
    assert levels(evaluate({"cast_a": -8.0}, "fluorescent")) == {"cast_a": "pass"}


def test_green_cast_allowed_for_fluorescent_but_not_elsewhere():
    m = measure(textured((116, 126, 116)))
    assert -8 < m["cast_a"] < -2 and abs(m["cast_b"]) < 6
    f = by_metric(evaluate(m, "fluorescent"))["cast_a"]
    assert f.level == "pass" and "within the fluorescent allowance" in f.message
    assert levels(evaluate(m, None))["cast_a"] in ("warn", "fail")
    assert levels(evaluate(m, "daylight"))["cast_a"] in ("warn", "fail")
    strong = measure(textured((80, 150, 80)))
    assert strong["cast_a"] < -14
    f = by_metric(evaluate(strong, "fluorescent"))["cast_a"]
    assert f.level == "fail"
    assert (
        f.message
        == f"green cast a*={strong['cast_a']:+.1f} beyond the fluorescent allowance (-8 to -1)"
    )
    # a magenta shift is not what fluorescent tubes do: only +2 allowed
    assert levels(evaluate({"cast_a": 4.0}, "fluorescent"))["cast_a"] == "warn"


def test_warm_and_cool_casts_read_as_temperature():
    warm = measure(textured((140, 120, 90)))
    cool = measure(textured((100, 120, 150)))
    assert warm["cast_b"] > 10 and cool["cast_b"] < -10
    assert "warm/yellow cast" in by_metric(evaluate(warm, None))["cast_b"].message
    assert "cool/blue cast" in by_metric(evaluate(cool, None))["cast_b"].message


def test_lab_is_cie_lab_d65():
    grey = measure(np.full((8, 8, 3), 119, np.uint8))
    assert grey["cast_a"] == pytest.approx(0, abs=1e-3) and grey["cast_b"] == pytest.approx(
        0, abs=1e-3
    )
    # an all-red frame has no near-neutral pixel: the cast falls back to all pixels
    red = measure(np.full((8, 8, 3), (255, 0, 0), np.uint8))
    assert red["cast_a"] == pytest.approx(80.09, abs=0.05)
    assert red["cast_b"] == pytest.approx(67.20, abs=0.05)


# ---------------------------------------------------------------- colour cast against truth


def reference_lab(rgb):
    """CIE Lab (D65) of sRGB pixels in float64, from the standard formulas written out
    here (not stillmake's code): what a cast is measured against."""
    c = np.asarray(rgb, np.float64) / 255
    lin = np.where(c <= 0.04045, c / 12.92, ((c + 0.055) / 1.055) ** 2.4)
    m = np.array(
        [
            [0.4124564, 0.3575761, 0.1804375],
            [0.2126729, 0.7151522, 0.0721750],
            [0.0193339, 0.1191920, 0.9503041],
        ]
    )
    xyz = lin @ m.T / np.array([0.95047, 1.0, 1.08883])
    f = np.where(xyz > 216 / 24389, np.cbrt(xyz), xyz * 24389 / 27 / 116 + 16 / 116)
    return np.stack(
        [116 * f[..., 1] - 16, 500 * (f[..., 0] - f[..., 1]), 200 * (f[..., 1] - f[..., 2])], -1
    )


def room(seed=0, objects=True, sky=0.0, wall=0.0):
    """A neutral grey room (a vertical gradient with grain), optionally with coloured
    things in it: a red coat, a blue bag, a face; a blue sky across the top `sky` of the
    frame; a saturated red wall over the bottom `wall`. Returns (float RGB, the mask of
    pixels that are neutral grey)."""
    rng = np.random.default_rng(seed)
    h, w = 300, 450
    y = np.linspace(0, 1, h)[:, None]
    img = np.repeat((60 + 120 * (1 - y) + rng.normal(0, 12, (h, w)))[..., None], 3, axis=2)
    neutral = np.ones((h, w), bool)

    def paint(rows, cols, colour, grain):
        img[rows, cols] = np.asarray(colour, float) + rng.normal(
            0, grain, img[rows, cols].shape[:2] + (1,)
        )
        neutral[rows, cols] = False

    if objects:
        paint(slice(40, 150), slice(40, 110), (170, 40, 40), 8)  # red coat
        paint(slice(170, 280), slice(300, 420), (40, 70, 160), 8)  # blue bag
        paint(slice(80, 190), slice(190, 250), (205, 160, 130), 8)  # a face
    if sky:
        paint(slice(0, int(h * sky)), slice(None), (120, 160, 210), 6)
    if wall:
        paint(slice(h - int(h * wall), h), slice(None), (150, 30, 25), 10)
    return np.clip(img, 0, 255), neutral


CASTS = {
    "strong green": (0.78, 1.12, 0.78),
    "warm": (1.15, 1.0, 0.78),
    "cool": (0.82, 0.95, 1.2),
    "magenta": (1.12, 0.85, 1.12),
    "slight green": (0.95, 1.04, 0.95),
}
SCENES = {
    "grey room": dict(objects=False),
    "room with things": dict(objects=True),
    "room, sky": dict(objects=True, sky=0.35),
    "room, red wall": dict(objects=True, wall=0.45),
}


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("cast", CASTS)
def test_a_global_cast_is_measured_within_a_few_units_of_truth(cast, scene):
    """Truth: the mean a*, b* (D65) of the pixels that were neutral grey before the cast."""
    img, neutral = room(**SCENES[scene])
    rgb = np.clip(img * np.array(CASTS[cast]), 0, 255).astype(np.uint8)
    lab = reference_lab(rgb)
    lit = neutral & (lab[..., 0] > 20) & (lab[..., 0] < 90)
    truth_a, truth_b = lab[lit][:, 1:].mean(axis=0)
    m = measure(rgb)
    got = (m["cast_a"], m["cast_b"])
    assert abs(got[0] - truth_a) <= 2.0 and abs(got[1] - truth_b) <= 2.0, (got, truth_a, truth_b)


def test_a_strong_green_cast_fails_the_default_gate():
    img, _ = room()
    m = measure(np.clip(img * np.array(CASTS["strong green"]), 0, 255).astype(np.uint8))
    assert m["cast_a"] < -18  # the grey itself sits near a* -23
    assert by_metric(evaluate(m, None))["cast_a"].level == "fail"
    assert by_metric(evaluate(m, "fluorescent"))["cast_a"].level == "fail"


@pytest.mark.parametrize("scene", SCENES)
@pytest.mark.parametrize("seed", [0, 1])
def test_no_cast_is_read_into_a_neutral_scene(scene, seed):
    img, _ = room(seed, **SCENES[scene])
    m = measure(img.astype(np.uint8))
    assert abs(m["cast_a"]) < 1.0 and abs(m["cast_b"]) < 1.0, m
    flags = by_metric(evaluate(m, None))
    assert flags["cast_a"].level == flags["cast_b"].level == "pass"


def test_crushed_frame():
    img = textured()
    img[:100] = 0  # half the frame black
    m = measure(img)
    assert m["shadow_crush"] == 0.5
    f = by_metric(evaluate(m, None))["shadow_crush"]
    assert (
        f.level == "fail" and f.message == "shadows crushed on 50.0% of frame; allowed up to 5.0%"
    )
    # a red emergency scene may be darker, but not that dark
    assert levels(evaluate(m, "red_emergency"))["shadow_crush"] == "fail"
    assert levels(evaluate({"shadow_crush": 0.10}, "red_emergency"))["shadow_crush"] == "pass"


def test_blurred_frame_is_soft():
    sharp = textured()
    soft = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(6)))
    ms, mb = measure(sharp), measure(soft)
    assert mb["sharpness"] < ms["sharpness"] / 100
    f = by_metric(evaluate(mb, None))["sharpness"]
    assert f.level == "fail"
    assert f.message == f"soft image (sharpness {mb['sharpness']:.0f}); want at least 40"
    flat = measure(np.full((H, W, 3), 128, np.uint8))
    assert flat["sharpness"] == 0


def test_laplacian_variance_is_exact_on_a_checkerboard():
    board = ((np.indices((16, 16)).sum(axis=0) % 2) * 100).astype(np.uint8)
    m = measure(board)  # greyscale input is accepted
    # interior Laplacian is +-400 everywhere: variance 160000
    assert m["sharpness"] == pytest.approx(160000, rel=1e-4)


def test_red_scene_midtone_separation():
    flat = np.full((H, W, 3), (150, 40, 40), np.uint8)
    m = measure(flat)
    assert m["midtone_separation"] == 0
    f = by_metric(evaluate(m, "red_emergency"))["midtone_separation"]
    assert f.level == "fail" and f.message == "flat midtones (separation 0.0); want at least 8"
    graded = measure(textured((150, 40, 40), sd=40))
    assert levels(evaluate(graded, "red_emergency"))["midtone_separation"] == "pass"
    # elsewhere midtone separation is reported, not judged (night scenes have few midtones)
    assert "midtone_separation" not in levels(evaluate(m, None))


def test_measure_input_shapes():
    rgba = np.dstack([textured(), np.full((H, W), 255, np.uint8)])
    assert measure(rgba) == measure(textured())
    assert measure(np.zeros((1, 1, 3), np.uint8))["sharpness"] == 0
    with pytest.raises(ValueError, match="uint8"):
        measure(textured().astype(np.float32))
    with pytest.raises(ValueError, match="HxWx3"):
        measure(np.zeros((4, 4, 2), np.uint8))


# ---------------------------------------------------------------- edit leak


def test_edit_leak_inside_the_mask_is_free():
    src = textured(seed=1)
    mask = region_mask((0.5, 0.2, 0.9, 0.8), (W, H))
    editable = editable_area(mask)
    assert editable.sum() == 120 * 120  # (0.9-0.5)*300 by (0.8-0.2)*200
    clean = src.copy()
    clean[editable] = 0
    leak = edit_leak(src, clean, editable)
    assert leak == {"leak_mean": 0.0, "leak_max": 0.0, "changed_fraction_outside": 0.0}
    f = by_metric(evaluate(leak, None))
    assert f["leak_mean"].level == "pass" and f["changed_fraction_outside"].level == "pass"
    assert f["leak_mean"].message == "edit left everything outside the mask untouched"


def test_edit_leak_outside_the_mask_is_measured_and_flagged():
    src = textured(seed=1)
    editable = editable_area(region_mask((0.5, 0.2, 0.9, 0.8), (W, H)))
    leaky = src.copy()
    leaky[editable] = 0
    leaky[:, :50] += 20  # 10000 outside pixels, +20 each (no overflow: src <= 235)
    leak = edit_leak(src, leaky, editable)
    outside = N - 120 * 120
    assert leak["leak_max"] == 20
    assert leak["leak_mean"] == pytest.approx(20 * 10000 / outside, abs=1e-6)
    assert leak["changed_fraction_outside"] == pytest.approx(10000 / outside, abs=1e-6)
    flags = by_metric(evaluate({**measure(leaky), **leak}, None))
    assert flags["leak_mean"].level == "fail"
    assert (
        flags["leak_mean"].message
        == "edit changed pixels outside the mask (mean 4.4, max 20); allowed up to 1, fails "
        "above 4 (edit.protect_unmasked: true pastes the source back outside the mask)"
    )
    assert flags["changed_fraction_outside"].level == "fail"
    assert "21.9% of the pixels outside the mask" in flags["changed_fraction_outside"].message
    # a decrease counts as much as an increase
    assert edit_leak(leaky, src, editable)["leak_max"] == 20


def test_edit_leak_feather_band_and_edge_cases():
    src = textured(seed=2)
    editable = np.zeros((H, W), bool)
    editable[50:100, 50:100] = True
    out = src.copy()
    out[100:105, 50:100] += 9  # a seam 5 px below the edit, inside an 8 px feather
    assert edit_leak(src, out, editable)["leak_max"] == 9
    assert edit_leak(src, out, editable, feather_px=8)["leak_max"] == 0
    assert edit_leak(src, out, editable, feather_px=4)["leak_max"] == 9
    everything = np.ones((H, W), bool)
    assert edit_leak(src, out, everything) == {
        "leak_mean": 0.0,
        "leak_max": 0.0,
        "changed_fraction_outside": 0.0,
    }
    with pytest.raises(ValueError, match="differ in size"):
        edit_leak(src, src[:-1], editable)
    with pytest.raises(ValueError, match="mask"):
        edit_leak(src, src, editable[:-1])


def test_composite_outside_removes_the_leak_beyond_the_feather():
    src = textured(seed=1)
    mask = region_mask((0.5, 0.2, 0.9, 0.8), (W, H))
    editable = editable_area(mask)
    leaky = np.clip(src.astype(int) + 40, 0, 255).astype(np.uint8)
    fixed = np.asarray(Image.open(io.BytesIO(composite_outside(png(src), png(leaky), mask, 8))))
    assert edit_leak(src, fixed, editable, feather_px=8)["leak_max"] == 0
    assert (fixed[editable] == leaky[editable]).all()  # the edit itself survives


# ---------------------------------------------------------------- thresholds


def test_default_thresholds_shape():
    assert {"default", "fluorescent", "red_emergency", "daylight"} <= set(DEFAULT_THRESHOLDS)
    for tag, metrics in DEFAULT_THRESHOLDS.items():
        for metric, bounds in metrics.items():
            # null: not judged under that tag (wardrobe and skin hue under red lamps)
            assert bounds is None or set(bounds) == {"warn", "fail"}, (tag, metric)
    fl = thresholds_for("fluorescent")["cast_a"]
    # a slight green is the intent: none at all warns
    assert fl["warn"] == [-8.0, -1.0] and fl["fail"][0] < -8 and fl["fail"][1] > 2
    red = thresholds_for("red_emergency")
    assert red["clip_r"] == {"warn": 0.01, "fail": 0.03} and "midtone_separation" in red
    assert thresholds_for("no_such_tag") == thresholds_for(None) == thresholds_for("default")


def test_threshold_overrides_merge_over_defaults():
    t = thresholds_for("fluorescent", {"fluorescent": {"cast_a": {"warn": [-1.0, 1.0]}}})
    assert t["cast_a"] == {"warn": [-1.0, 1.0], "fail": [-14.0, 6.0]}
    assert DEFAULT_THRESHOLDS["fluorescent"]["cast_a"]["warn"] == [-8.0, -1.0]  # not mutated
    # config `default` applies under every tag; the tag's own values still win over it
    o = {"default": {"sharpness": {"warn": 500, "fail": 100}, "cast_a": {"warn": [-1, 1]}}}
    t = thresholds_for("fluorescent", o)
    assert t["sharpness"] == {"warn": 500.0, "fail": 100.0}
    assert t["cast_a"]["warn"] == [-8.0, -1.0]
    soft = {"sharpness": 300.0}
    assert levels(evaluate(soft, "fluorescent", t)) == {"sharpness": "warn"}
    assert levels(evaluate(soft, "fluorescent")) == {"sharpness": "pass"}
    # null switches a metric off; a new tag can be defined in config
    assert "sharpness" not in thresholds_for(None, {"default": {"sharpness": None}})
    t = thresholds_for("tungsten", {"tungsten": {"cast_b": {"warn": [0, 30], "fail": [-5, 40]}}})
    assert t["cast_b"] == {"warn": [0.0, 30.0], "fail": [-5.0, 40.0]}


@pytest.mark.parametrize(
    "overrides, words",
    [
        ({"fluorescent": {"sharpnes": {"warn": 1}}}, "unknown quality metric 'sharpnes'"),
        ({"fluorescent": {"cast_a": {"warn": 3}}}, "range [low, high]"),
        ({"fluorescent": {"cast_a": {"warn": [3, -3]}}}, "range [low, high]"),
        ({"fluorescent": {"clip_r": {"warn": "1%"}}}, "must be a number"),
        ({"fluorescent": {"clip_r": {"warning": 0.1}}}, "expected {warn: ..., fail: ...}"),
        ({"fluorescent": ["clip_r"]}, "expected {metric:"),
    ],
)
def test_bad_overrides_name_the_key(overrides, words):
    with pytest.raises(InputError) as exc:
        thresholds_for("fluorescent", overrides)
    assert words in str(exc.value) and "key 'quality.fluorescent" in str(exc.value)


# ---------------------------------------------------------------- flags, consistency, check_image


def test_worst_and_json():
    flags = [Flag("pass", "a", 1.0, "ok"), Flag("warn", "b", 2.0, "hm")]
    assert worst(flags) == "warn" and worst([]) == "pass"
    assert worst(flags + [Flag("fail", "c", 3.0, "no")]) == "fail"
    data = flags_to_json(flags)
    assert data[1] == {"level": "warn", "metric": "b", "value": 2.0, "message": "hm"}
    assert worst(data) == "warn"
    with pytest.raises(dataclasses.FrozenInstanceError):
        flags[0].level = "fail"  # frozen


def test_temperature_spread_and_consistency():
    assert (
        temperature_spread(
            [
                {"cast_a": -3.0, "cast_b": 1.0},
                {"cast_a": -3.0, "cast_b": 4.0},
                {"cast_a": 1.0, "cast_b": 4.0},
            ]
        )
        == 5.0
    )
    assert temperature_spread([{"cast_a": 0.0, "cast_b": 0.0}]) == 0
    group = {
        "s1": {"cast_a": 0.0, "cast_b": -2.0},
        "s2": {"cast_a": 0.0, "cast_b": 15.0},
        "s3": {"cast_a": 0.0, "cast_b": 0.0},
    }
    (flag,) = consistency_flags(group, "fluorescent")
    assert flag.level == "fail" and flag.metric == "temperature_spread" and flag.value == 17.0
    assert "s2 is warmer than s1 (b* +15.0 vs -2.0)" in flag.message
    close = {"s1": {"cast_a": -4.0, "cast_b": 1.0}, "s2": {"cast_a": -5.0, "cast_b": 3.0}}
    (flag,) = consistency_flags(close, "fluorescent")
    assert flag.level == "pass"
    tint = {"s1": {"cast_a": -12.0, "cast_b": 0.0}, "s2": {"cast_a": 0.0, "cast_b": 1.0}}
    (flag,) = consistency_flags(tint, "fluorescent")
    assert flag.level == "warn" and "s1 is greener than s2" in flag.message
    assert consistency_flags({"s1": group["s1"]}, "fluorescent") == []
    assert consistency_flags(group, None) == []  # untagged shots share no intent


def test_check_image(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(textured()).save(path)
    out = check_image(path)
    assert out["size"] == f"{W}x{H}" and out["worst"] == "pass" and out["path"] == str(path)
    assert out["metrics"] == measure(textured())
    assert all(set(f) == {"level", "metric", "value", "message"} for f in out["flags"])
    red = textured((90, 20, 20), sd=15)
    red[:20, :150] = (255, 60, 40)
    Image.fromarray(red).save(path)
    assert check_image(path, "red_emergency")["worst"] == "fail"


def test_the_config_schema_describes_every_metric_as_the_gate_judges_it():
    """`quality:` overrides are described by the config schema, metric by metric: the
    same names as METRICS, ranges ([low, high]) exactly where the gate judges a range."""
    from stillmake.inputs.schemas import load_schema

    described = load_schema("config.schema.yaml")["$defs"]["metrics"]["properties"]
    assert set(described) == set(METRICS)
    for metric, (kind, _meaning) in METRICS.items():
        ref = described[metric]["$ref"]
        assert ref.endswith("range_bounds" if kind == "range" else "/bounds"), (metric, ref)
