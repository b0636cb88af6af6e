"""Each of the gate's new measures against its test set (tests/gate_cases.py): every known
pass passes, every known fail is flagged, and the flag says what was measured."""

from __future__ import annotations

import numpy as np
import pytest

from stillmake.artifacts import highlights, skin
from stillmake.artifacts.quality import evaluate, measure
from stillmake.artifacts.thresholds import thresholds_for
from tests.gate_cases import MEASURES, cases, inputs, judge, lamp, right, textured

# what each measure's message names, pass or flag: the sheet says what it measured
SAYS = {
    "skin": ("skin",),
    "highlights": ("highlight", "red practical"),
    "wardrobe": ("wardrobe", "colour difference"),
    "leak": ("outside the mask",),
    "cast": ("cast",),
}


@pytest.mark.parametrize("case", cases(), ids=lambda c: f"{c.measure}: {c.name}")
def test_each_case_comes_out_as_known(case):
    level, said = judge(case, inputs(case))
    assert right(case, level), f"{case.name}: expected {case.expect}, got {level}: {said}"
    assert any(word in said for word in SAYS[case.measure]), said


def test_every_measure_has_passes_and_fails_from_photos_and_generated_frames():
    for name in MEASURES:
        found = cases(name)
        assert {c.expect for c in found} == {"pass", "flag"}, name
        assert len(found) >= 5, name
    sources = {c.source.split(" (")[0] for c in cases()}
    assert {"public domain", "generated"} <= sources


def test_skin_is_judged_apart_from_the_frames_cast():
    """Under fluorescent the frame may be green: the face alone decides skin."""
    (natural,) = [
        c for c in cases("skin") if c.name == "hopper in a green frame, skin kept natural"
    ]
    rgb = inputs(natural)["image"]
    assert measure(rgb)["cast_a"] < -4  # the frame reads green...
    level, said = judge(natural, {"image": rgb})
    assert level == "pass" and "skin on the skin-tone line" in said  # ...the skin does not


def test_a_grey_face_has_no_hue_to_judge():
    grey = np.full((40, 40, 3), 128, np.uint8)
    reading = skin.face_skin(grey, (0, 0, 40, 40))
    assert reading["chroma"] == 0 and skin.metrics(reading) == {"skin_chroma": 0.0}
    assert skin.face_skin(grey, (0, 0, 4, 4)) is None  # too few pixels to read


def test_a_glint_is_not_a_region_and_a_streak_of_water_is_not_a_lamp():
    dark = textured((70, 14, 16), sd=14)
    glint = lamp(dark, 600, 300, 3, (255, 255, 255), True)
    assert highlights.regions(glint) == []
    streak = dark.copy()
    streak[700:708, :] = (250, 90, 80)  # a red reflection across the floor
    (region,) = highlights.regions(streak)
    assert region["kind"] == "red practical" and "separation" not in region


def test_red_clipping_a_tiny_share_of_the_frame_is_still_caught():
    """The issue's case: a blown red practical in a dark frame is 0.1% of the pixels;
    the frame's clip_r passes it, the region's detail does not."""
    rgb = lamp(textured((70, 14, 16), sd=14), 1000, 300, 14, (240, 60, 48), True)
    m = measure(rgb)
    flags = {f.metric: f for f in evaluate(m, "red_emergency", thresholds_for("red_emergency"))}
    assert flags["clip_r"].level == "pass" and m["clip_r"] < 0.002
    assert flags["highlight_detail"].level == "fail"
    assert "blown red practical" in flags["highlight_detail"].message
    assert "red 100.0%, green 0.0%, blue 0.0%" in flags["highlight_detail"].message
