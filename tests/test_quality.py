"""Quality metrics on synthetic images with known properties."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, ImageFilter

from stillmake.masks import composite_outside, editable_area, region_mask
from stillmake.quality import (check_image, consistency_flags, edit_leak, evaluate, measure,
                               thresholds_for, worst)

H, W = 200, 300


def textured(base=(120, 120, 120), seed=0):
    rng = np.random.default_rng(seed)
    img = np.asarray(base, np.float32) + rng.normal(0, 25, (H, W, 1))
    return np.clip(img, 0, 255).astype(np.uint8)


def levels(flags):
    return {f.metric: f.level for f in flags}


def test_clean_frame_passes():
    m = measure(textured())
    assert m["highlight_clip"] == 0 and m["shadow_crush"] == 0
    assert abs(m["cast_a"]) < 1 and abs(m["cast_b"]) < 1
    assert worst(evaluate(m, None)) == "pass"


def test_red_highlight_patch_fails_in_red_scene_with_its_share():
    img = textured((90, 20, 20))
    img[:20, :150] = (255, 60, 40)  # 3000 of 60000 pixels = 5%
    m = measure(img)
    assert m["clip_r"] == pytest.approx(0.05, abs=0.002)
    flags = evaluate(m, "red_emergency")
    fail = [f for f in flags if f.metric == "clip_r"][0]
    assert fail.level == "fail" and fail.message == "red highlights clipped on 5.0% of pixels"


def test_green_cast_allowed_for_fluorescent_but_not_elsewhere():
    mild = textured((116, 126, 116))
    m = measure(mild)
    assert -8 < m["cast_a"] < -2
    assert levels(evaluate(m, "fluorescent"))["cast_a"] == "pass"
    assert levels(evaluate(m, None))["cast_a"] in ("warn", "fail")
    strong = measure(textured((80, 150, 80)))
    assert levels(evaluate(strong, "fluorescent"))["cast_a"] == "fail"
    assert "green" in [f for f in evaluate(strong, "fluorescent") if f.metric == "cast_a"][0].message


def test_crushed_and_soft_frames():
    crushed = textured((8, 8, 8))
    m = measure(crushed)
    assert m["shadow_crush"] > 0.3
    assert levels(evaluate(m, None))["shadow_crush"] == "fail"
    sharp = textured()
    soft = np.asarray(Image.fromarray(sharp).filter(ImageFilter.GaussianBlur(6)))
    assert measure(soft)["sharpness"] < measure(sharp)["sharpness"] / 20
    assert levels(evaluate(measure(soft), None))["sharpness"] != "pass"


def test_red_scene_midtone_separation():
    flat = np.full((H, W, 3), (150, 40, 40), np.uint8)
    assert levels(evaluate(measure(flat), "red_emergency"))["midtone_separation"] == "fail"


def test_edit_leak_and_protect_unmasked():
    src = textured(seed=1)
    mask = region_mask((0.5, 0.2, 0.9, 0.8), (W, H))
    editable = editable_area(mask)
    assert editable.sum() == 120 * 120  # (0.9-0.5)*300 by (0.8-0.2)*200
    clean = src.copy()
    clean[editable] = 0
    assert edit_leak(src, clean, editable)["leak_mean"] == 0
    leaky = clean.copy()
    leaky[:, :50] = np.clip(leaky[:, :50].astype(int) + 40, 0, 255)
    leak = edit_leak(src, leaky, editable)
    assert leak["leak_mean"] > 1 and leak["leak_max"] >= 30
    flags = evaluate({**measure(leaky), **leak}, None)
    assert levels(flags)["leak_mean"] == "fail"
    assert "outside the mask" in [f for f in flags if f.metric == "leak_mean"][0].message
    # protect_unmasked: pasting the source back leaves zero change beyond the feather
    png = lambda a: (lambda b: (Image.fromarray(a).save(b, "PNG"), b.getvalue())[1])(io.BytesIO())
    fixed = np.asarray(Image.open(io.BytesIO(composite_outside(png(src), png(leaky), mask, 8))))
    assert edit_leak(src, fixed, editable, feather_px=8)["leak_max"] == 0
    assert (fixed[editable] != src[editable]).any()  # the edit itself survives


def test_thresholds_overrides_and_consistency(tmp_path):
    t = thresholds_for("fluorescent", {"fluorescent": {"cast_a": {"warn": [-1.0, 1.0]}}})
    assert t["cast_a"]["warn"] == [-1.0, 1.0] and t["cast_a"]["fail"] == [-14.0, 6.0]
    group = {"s1": {"cast_b": -2.0}, "s2": {"cast_b": 15.0}}
    (flag,) = consistency_flags(group, "fluorescent")
    assert flag.level == "fail" and "s1 -2.0" in flag.message
    path = tmp_path / "x.png"
    Image.fromarray(textured()).save(path)
    out = check_image(path)
    assert out["size"] == f"{W}x{H}" and out["worst"] == "pass"
