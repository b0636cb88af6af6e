"""Test sets with known answers for the gate's measures: skin under the cast, highlights
where they matter, wardrobe, edits that stay inside their mask, and the fluorescent
cast. Each case is built here, from the two public-domain photos in tests/data/faces/
or from generated frames, so its answer is known by construction (a face pushed green,
a lamp drawn blown, a jacket dyed). The measures never saw these images while their
levels were chosen beyond the ones named in docs/quality-gate.md.

Used by tests/artifacts/test_gate_measures.py (every case must come out as expected) and by
bench/bench_gate.py (accuracy and time per image, next to decoding the same PNG).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path

import numpy as np
from PIL import Image

from stillmake.api.backends.preview import PreviewBackend
from stillmake.api.requests import ImageRequest
from stillmake.artifacts import identity, skin, wardrobe
from stillmake.artifacts.gate import reference_garment
from stillmake.artifacts.quality import (
    edit_leak,
    evaluate,
    flags_to_json,
    frame_cast,
    measure,
    thresholds_for,
    worst,
)

FACES = Path(__file__).parent / "data" / "faces"
PEOPLE = {"collins": FACES / "collins.jpg", "hopper": FACES / "hopper.jpg"}
SIZE = (1536, 864)
HIGHLIGHT_METRICS = ("highlight_detail", "practical_separation")
LEAK_METRICS = ("leak_mean", "changed_fraction_outside")


@dataclass(frozen=True)
class Case:
    measure: str  # skin | highlights | wardrobe | leak | cast
    name: str
    expect: str  # "pass", or "flag" (warn or fail)
    source: str  # "public domain (hopper)", "generated", ...
    lighting: str | None
    make: Callable[[], dict]  # the judge's inputs: {"image": HxWx3 uint8, ...}


# -- building blocks ---------------------------------------------------------------------


@cache
def _photo(who: str) -> np.ndarray:
    with Image.open(PEOPLE[who]) as im:
        return np.asarray(im.convert("RGB"))


def photo(who: str) -> np.ndarray:
    return _photo(who).copy()


@cache
def face_box(who: str) -> tuple[int, int, int, int]:
    faces = identity.find_faces(_photo(who))
    return max(faces, key=lambda f: f.score).box


def gains(rgb: np.ndarray, g: tuple[float, float, float], where: np.ndarray | None = None):
    """Multiply channels (everywhere, or where a mask says), clipped to 0..255."""
    out = rgb.astype(np.float32)
    if where is None:
        out *= np.asarray(g, np.float32)
    else:
        out[where] *= np.asarray(g, np.float32)
    return np.clip(out, 0, 255).astype(np.uint8)


def face_ellipse(who: str, shape: tuple[int, int]) -> np.ndarray:
    left, top, right, bottom = face_box(who)
    yy, xx = np.mgrid[0 : shape[0], 0 : shape[1]]
    cx, cy = (left + right) / 2, (top + bottom) / 2
    return ((xx - cx) / (0.6 * (right - left))) ** 2 + (
        (yy - cy) / (0.65 * (bottom - top))
    ) ** 2 <= 1


def desaturate(rgb: np.ndarray, keep: float, where: np.ndarray) -> np.ndarray:
    out = rgb.astype(np.float32)
    grey = out[where].mean(axis=1, keepdims=True)
    out[where] = grey + keep * (out[where] - grey)
    return np.clip(out, 0, 255).astype(np.uint8)


def in_frame(rgb: np.ndarray, background=(46, 46, 46), size=SIZE) -> np.ndarray:
    """The photo as a still at film size: scaled to the frame's height, centred."""
    frame = Image.new("RGB", size, background)
    im = Image.fromarray(rgb)
    h = size[1]
    scaled = im.resize((round(im.width * h / im.height), h), Image.LANCZOS)
    frame.paste(scaled, ((size[0] - scaled.width) // 2, 0))
    return np.asarray(frame)


def regrade(rgb: np.ndarray) -> np.ndarray:
    """A colourist's pass: gamma lift and a warm shift."""
    a = (rgb.astype(np.float32) / 255) ** 0.8 * np.array([1.08, 1.0, 0.88], np.float32)
    return (np.clip(a, 0, 1) * 255).astype(np.uint8)


def textured(base, size=SIZE, sd=9.0, seed=0) -> np.ndarray:
    """A wall: a base colour with soft grain, well inside 0..235."""
    rng = np.random.default_rng(seed)
    w, h = size
    small = rng.normal(0, sd, (h // 16 + 1, w // 16 + 1)).astype(np.float32)
    grain = np.asarray(
        Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize((w, h)), np.float32
    )
    grain += rng.normal(0, 2.0, (h, w)).astype(np.float32)
    out = np.asarray(base, np.float32) + (grain[..., None] - 128)
    return np.clip(out, 0, 235).astype(np.uint8)


def lamp(rgb: np.ndarray, x: int, y: int, r: int, colour, blown: bool) -> np.ndarray:
    """A practical light: one that keeps detail shades from a core below 254 and fades
    into the wall; a blown one is a flat 255 disc (in the lamp's own channels) in a flat
    glow."""
    out = rgb.astype(np.float32)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - x, yy - y) / r
    c = np.asarray(colour, np.float32)
    if blown:
        core = np.where(c >= 200, 255.0, c)
        inside, glow = d <= 1, (d > 1) & (d <= 3.5)
        out[inside] = core
        out[glow] = 0.25 * out[glow] + 0.75 * (0.85 * c)
    else:
        inside = d <= 1
        out[inside] = c * (1.0 - 0.12 * d[inside])[:, None]
        fade = (d > 1) & (d <= 3.5)
        wgt = ((1 - (d[fade] - 1) / 2.5) ** 2)[:, None]
        out[fade] = (1 - wgt) * out[fade] + wgt * 0.85 * c
    return np.clip(out, 0, 255).astype(np.uint8)


def preview(lighting: str, flaw: str | None) -> np.ndarray:
    request = ImageRequest(
        "generate",
        "gpt-image-2.6-flare",
        f"a corridor ({lighting})",
        1,
        "1536x864",
        "medium",
        preview=f"1:{flaw}" if flaw else None,
    )
    (png,) = PreviewBackend().generate(request, {"shot": "s1", "lighting": lighting}).images
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


def garment_pixels(who: str, rgb: np.ndarray) -> np.ndarray:
    """The clothes the wardrobe measure reads below the chin: Hopper's dark navy jacket;
    Collins' black suit collar and orange suit."""
    left, _, right, bottom = face_box(who)
    w = right - left
    body = np.zeros(rgb.shape[:2], bool)
    body[bottom + 10 :, max(0, left - w) : right + w] = True
    r, g, b = (rgb[..., i].astype(np.int16) for i in range(3))
    dark = rgb.max(axis=2) < 110
    orange = (r > 120) & (r > 1.3 * g) & (r > 1.5 * b)
    return body & (dark | orange)


def dye(who: str, colour: tuple[int, int, int]) -> np.ndarray:
    """The garment recoloured: `colour` with the garment's own shading."""
    rgb = photo(who).astype(np.float32)
    where = garment_pixels(who, photo(who))
    level = rgb[where].max(axis=1, keepdims=True)
    shade = 0.5 + 0.5 * level / max(float(level.max()), 1.0)
    rgb[where] = np.asarray(colour, np.float32) * shade
    return np.clip(rgb, 0, 255).astype(np.uint8)


# -- the cases -----------------------------------------------------------------------------


def skin_cases() -> list[Case]:
    out = []
    for who in ("hopper", "collins"):
        pd = f"public domain ({who})"
        face = lambda who=who: face_ellipse(who, _photo(who).shape[:2])  # noqa: E731
        out += [
            Case("skin", f"{who} as photographed", "pass", pd, None, lambda w=who: photo(w)),
            Case("skin", f"{who} regraded warm", "pass", pd, None, lambda w=who: regrade(photo(w))),
            Case(
                "skin",
                f"{who} a stop darker",
                "pass",
                pd,
                None,
                lambda w=who: gains(photo(w), (0.6, 0.6, 0.6)),
            ),
            Case(
                "skin",
                f"{who} under a slight fluorescent cast",
                "pass",
                pd,
                "fluorescent",
                lambda w=who: gains(photo(w), (0.95, 1.0, 0.96)),
            ),
            Case(
                "skin",
                f"{who} in a green frame, skin kept natural",
                "pass",
                pd,
                "fluorescent",
                lambda w=who, face=face: gains(photo(w), (0.78, 1.0, 0.82), ~face()),
            ),
            Case(
                "skin",
                f"{who} face pushed green",
                "flag",
                pd,
                "fluorescent",
                lambda w=who, face=face: gains(photo(w), (0.72, 1.0, 0.76), face()),
            ),
            Case(
                "skin",
                f"{who} all pushed green",
                "flag",
                pd,
                "fluorescent",
                lambda w=who: gains(photo(w), (0.75, 1.0, 0.8)),
            ),
            Case(
                "skin",
                f"{who} face grey",
                "flag",
                pd,
                None,
                lambda w=who, face=face: desaturate(photo(w), 0.1, face()),
            ),
            Case(
                "skin",
                f"{who} face pushed magenta",
                "flag",
                pd,
                None,
                lambda w=who, face=face: gains(photo(w), (1.0, 0.76, 1.0), face()),
            ),
        ]
    return out


def highlight_cases() -> list[Case]:
    dark, red_wall, gen = (38, 40, 46), (70, 14, 16), "generated"
    white, red = (240, 240, 236), (240, 60, 48)
    pd = "public domain (hopper), darkened to 85%: no pixel of its own near clipping"
    hopper = lambda: in_frame(gains(photo("hopper"), (0.85, 0.85, 0.85)))  # noqa: E731
    return [
        Case("highlights", "lamp that keeps detail, dark frame", "pass", gen, None,
             lambda: lamp(textured(dark), 1100, 300, 22, white, False)),
        Case("highlights", "small specular glint (5 px)", "pass", gen, None,
             lambda: lamp(textured(dark), 900, 400, 3, white, True)),
        Case("highlights", "white coat that keeps its folds", "pass", gen, None,
             lambda: _coat(blown=False)),
        Case("highlights", "red lamp that lights the wall", "pass", gen, "red_emergency",
             lambda: lamp(textured(red_wall, sd=14), 1000, 300, 20, red, False)),
        Case("highlights", "hopper, lamp that keeps detail", "pass", pd, None,
             lambda: lamp(hopper(), 1300, 250, 24, white, False)),
        Case("highlights", "preview stand-in, fluorescent", "pass", "generated (preview)",
             "fluorescent", lambda: preview("fluorescent", None)),
        Case("highlights", "preview stand-in, red emergency", "pass", "generated (preview)",
             "red_emergency", lambda: preview("red_emergency", None)),
        Case("highlights", "blown white practical, dark frame", "flag", gen, None,
             lambda: lamp(textured(dark), 1100, 300, 20, white, True)),
        Case("highlights", "blown red practical, dark frame (0.1% of it)", "flag", gen,
             "red_emergency", lambda: lamp(textured(red_wall, sd=14), 1000, 300, 14, red, True)),
        Case("highlights", "blown white coat", "flag", gen, None, lambda: _coat(blown=True)),
        Case("highlights", "red lamp bleeding into a flat glow", "flag", gen, "red_emergency",
             lambda: _flat_glow()),
        Case("highlights", "hopper, blown practical", "flag", pd, None,
             lambda: lamp(hopper(), 1300, 250, 20, white, True)),
        Case("highlights", "preview stand-in drawn blown", "flag", "generated (preview)",
             "red_emergency", lambda: preview("red_emergency", "highlights")),
    ]  # fmt: skip


def _coat(blown: bool) -> np.ndarray:
    """A medical white coat filling part of the frame: folds shaded 205-248, or blown."""
    rgb = textured((90, 96, 92)).astype(np.float32)
    yy, xx = np.mgrid[200:700, 500:800]
    folds = 228 + 18 * np.sin(xx / 9.0) * np.cos(yy / 23.0)
    coat = np.stack([folds, folds, folds - 3], axis=-1)
    rgb[200:700, 500:800] = 255.0 if blown else coat
    return np.clip(rgb, 0, 255).astype(np.uint8)


def _flat_glow() -> np.ndarray:
    """A red lamp whose core is just short of clipping but whose glow is one flat red."""
    rgb = textured((70, 14, 16), sd=14).astype(np.float32)
    h, w = rgb.shape[:2]
    yy, xx = np.mgrid[0:h, 0:w]
    d = np.hypot(xx - 1000, yy - 300)
    rgb[d <= 90] = (200, 40, 34)
    rgb[d <= 24] = (250, 70, 60)
    return rgb.astype(np.uint8)


def wardrobe_cases() -> list[Case]:
    out = []
    for who in ("hopper", "collins"):
        pd = f"public domain ({who})"
        ref = str(PEOPLE[who])
        passes = {
            "regraded warm": lambda w=who: regrade(photo(w)),
            "a stop darker": lambda w=who: gains(photo(w), (0.6, 0.6, 0.6)),
            "flipped": lambda w=who: np.ascontiguousarray(photo(w)[:, ::-1]),
            "at draft size": lambda w=who: in_frame(photo(w)),
            "under a fluorescent cast": lambda w=who: gains(photo(w), (0.9, 1.0, 0.93)),
            "under warm daylight": lambda w=who: gains(photo(w), (1.0, 0.95, 0.84)),
        }
        for name, make in passes.items():
            out.append(
                Case(
                    "wardrobe",
                    f"{who} {name}",
                    "pass",
                    pd,
                    None,
                    lambda m=make, r=ref: {"image": m(), "ref": r},
                )
            )
        fails = {
            "garment dyed maroon": lambda w=who: dye(w, (128, 28, 40)),
            "garment dyed dark green": lambda w=who: dye(w, (36, 96, 52)),
            "garment turned light grey": lambda w=who: dye(w, (170, 170, 170)),
        }
        for name, make in fails.items():
            out.append(
                Case(
                    "wardrobe",
                    f"{who} {name}",
                    "flag",
                    pd,
                    None,
                    lambda m=make, r=ref: {"image": m(), "ref": r},
                )
            )
    return out


def leak_cases() -> list[Case]:
    gen = "generated"
    return [
        Case("leak", "change inside the mask only", "pass", gen, None, lambda: _edit("inside")),
        Case("leak", "re-encoded: +-1 here and there outside", "pass", gen, None,
             lambda: _edit("reencoded")),
        Case("leak", "whole frame re-rendered 6 levels brighter", "flag", gen, None,
             lambda: _edit("brighter")),
        Case("leak", "a patch outside the mask changed", "flag", gen, None,
             lambda: _edit("patch")),
        Case("leak", "whole frame shifted by 40 (a model's global re-render)", "flag", gen, None,
             lambda: _edit("shifted")),
    ]  # fmt: skip


def _edit(kind: str) -> dict:
    source = textured((120, 118, 112), size=(768, 432), sd=20)
    editable = np.zeros(source.shape[:2], bool)
    editable[40:200, 480:700] = True
    result = source.astype(np.int16)
    result[editable] = 255 - result[editable]
    if kind == "reencoded":
        rng = np.random.default_rng(1)
        result += (rng.random(source.shape) < 0.3) * rng.choice([-1, 1], source.shape)
    elif kind == "brighter":
        result[~editable] += 6
    elif kind == "patch":
        result[300:400, 50:250] += 40
    elif kind == "shifted":
        result[~editable] += 40
    result = np.clip(result, 0, 255).astype(np.uint8)
    return {"image": result, "source": source, "editable": editable}


def cast_cases() -> list[Case]:
    gen, fl = "generated (textured wall)", "fluorescent"
    return [
        Case("cast", "slight green (a* about -4)", "pass", gen, fl,
             lambda: textured((150, 158, 152))),
        Case("cast", "clear green (a* about -7)", "pass", gen, fl,
             lambda: textured((148, 163, 153))),
        Case("cast", "neutral: no institutional cast", "flag", gen, fl,
             lambda: textured((150, 150, 150))),
        Case("cast", "slight magenta", "flag", gen, fl, lambda: textured((156, 150, 154))),
        Case("cast", "magenta", "flag", gen, fl, lambda: textured((160, 146, 158))),
        Case("cast", "strong green (a* below -14)", "flag", gen, fl,
             lambda: textured((120, 170, 130))),
    ]  # fmt: skip


def cases(measure: str | None = None) -> list[Case]:
    every = skin_cases() + highlight_cases() + wardrobe_cases() + leak_cases() + cast_cases()
    return [c for c in every if measure in (None, c.measure)]


MEASURES = ("skin", "highlights", "wardrobe", "leak", "cast")


# -- judging ---------------------------------------------------------------------------


def inputs(case: Case) -> dict:
    made = case.make()
    return made if isinstance(made, dict) else {"image": made}


def judge(case: Case, given: dict) -> tuple[str, str]:
    """(level, what the gate said) of one case, with the build's default thresholds."""
    rgb, lighting = given["image"], case.lighting
    thresholds = thresholds_for(lighting)
    if case.measure == "skin":
        faces = identity.find_faces(rgb)
        if not faces:
            return "no face", "no face found"
        reading = skin.face_skin(rgb, max(faces, key=lambda f: f.score).box)
        flags = evaluate(skin.metrics(reading), lighting, thresholds)
    elif case.measure == "wardrobe":
        faces = identity.find_faces(rgb)
        if not faces:
            return "no face", "no face found"
        box = max(faces, key=lambda f: f.score).box  # the build reads the face matched
        seen = wardrobe.garment(rgb, box, frame_cast(rgb))
        ref = reference_garment(Path(given["ref"]))
        if seen is None or ref is None:
            return "not measured", "no garment in frame"
        flags = evaluate({"wardrobe": wardrobe.difference(seen, ref)}, lighting, thresholds)
    elif case.measure == "leak":
        leak = edit_leak(given["source"], rgb, given["editable"])
        flags = [f for f in evaluate(leak, lighting, thresholds) if f.metric in LEAK_METRICS]
    elif case.measure == "highlights":
        flags = [
            f for f in evaluate(measure(rgb), lighting, thresholds) if f.metric in HIGHLIGHT_METRICS
        ]
    else:
        flags = [f for f in evaluate(measure(rgb), lighting, thresholds) if f.metric == "cast_a"]
    level = worst(flags)
    said = "; ".join(f["message"] for f in flags_to_json(flags) if f["level"] == level)
    return level, said


def right(case: Case, level: str) -> bool:
    return level == "pass" if case.expect == "pass" else level in ("warn", "fail")
