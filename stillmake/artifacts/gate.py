"""The whole gate on one image: pixels (quality.py), and where the shot has characters,
their faces: identity, skin under the cast, wardrobe. The faces are found once and
every face check reads them; the last few images' gates are kept by content, so an
image measured again by the next job of the chain (the picked draft as an edit's
source, a step's result as the next step's) costs nothing."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import replace
from pathlib import Path
from typing import NotRequired, TypedDict

import numpy as np

from stillmake.artifacts import identity, skin, wardrobe
from stillmake.artifacts.identity import IdentityRecord, Judged
from stillmake.artifacts.quality import (
    Flag,
    FlagJson,
    Metrics,
    evaluate,
    flags_to_json,
    load_rgb,
    measure,
    worst,
)
from stillmake.artifacts.skin import SkinReading
from stillmake.artifacts.thresholds import Bounds, QualityOverrides, thresholds_for
from stillmake.artifacts.wardrobe import Garment
from stillmake.files import sha256_file

REMEMBERED = 16  # images whose gate is kept, by content and what it was judged against


class SkinSeen(SkinReading):
    box: list[int]  # the face it was read in: left, top, right, bottom


class WardrobeSeen(TypedDict):
    difference: float  # to the nearest of the character's references
    garment: Garment


class FaceReadings(TypedDict):
    """What the face checks read, by whom: a character's name, or "face" (the surest
    face found where no character was matched)."""

    skin: dict[str, SkinSeen]
    wardrobe: dict[str, WardrobeSeen]


class Gated(TypedDict):
    """The whole gate on one image (`gate_image`): JSON, but `descriptors`."""

    path: str | None  # None: judged from pixels, not a file
    size: str
    metrics: Metrics
    flags: list[FlagJson]
    identity: IdentityRecord
    faces: FaceReadings
    worst: str
    # the faces matched, for comparing across shots: taken out before a gate is written
    descriptors: NotRequired[dict[str, np.ndarray]]


class ShotGate(Gated):
    """A final's gate as runs/gate.json keeps it (stages/manifest.py): with its lighting."""

    lighting: str | None


_garments: dict[str, Garment | None] = {}  # reference sha256 -> its garment
_recent: OrderedDict[str, Gated] = OrderedDict()
_lock = threading.Lock()


def reference_garment(path: Path) -> Garment | None:
    """The garment under a reference's face, as shot (by content: read once a build)."""
    key = sha256_file(path)
    if key not in _garments:
        faces = identity.reference_faces(path)
        _garments[key] = wardrobe.garment(load_rgb(path), faces[0].box) if faces else None
    return _garments[key]


def _named(flags: list[Flag], name: str) -> list[Flag]:
    return [replace(f, message=f"{name}: {f.message}") for f in flags]


def face_checks(
    rgb: np.ndarray,
    metrics: Mapping[str, float],
    judged: Judged,
    lighting: str | None,
    thresholds: Mapping[str, Bounds],
) -> tuple[FaceReadings, list[Flag]]:
    """Skin and wardrobe of each character's face (the one identity matched), or with no
    character matched, skin of the surest face found: {"skin": {who: reading},
    "wardrobe": {who: reading}} and their flags, each named by whom it reads."""
    readings = FaceReadings(skin={}, wardrobe={})
    flags: list[Flag] = []
    boxes = {name: c["box"] for name, c in judged["characters"].items()}
    if not boxes and judged["found"]:
        surest = max(judged["found"], key=lambda f: f.score)
        boxes = {"face": list(surest.box)}
    cast = (metrics["cast_a"], metrics["cast_b"])
    for name, box in boxes.items():
        reading = skin.face_skin(rgb, box)
        if reading is not None:
            readings["skin"][name] = {**reading, "box": box}
            flags += _named(evaluate(skin.metrics(reading), lighting, thresholds), name)
        if "wardrobe" not in thresholds or name not in judged["references"]:
            continue
        seen = wardrobe.garment(rgb, box, cast)
        refs = [g for g in map(reference_garment, judged["references"][name]) if g]
        if seen is None or not refs:
            continue
        d = min(wardrobe.difference(seen, ref) for ref in refs)
        readings["wardrobe"][name] = WardrobeSeen(difference=d, garment=seen)
        flags += _named(evaluate({"wardrobe": d}, lighting, thresholds), name)
    return readings, flags


def gate_image(
    image: str | os.PathLike[str] | np.ndarray,
    lighting: str | None,
    overrides: QualityOverrides | None,
    characters: Mapping[str, Iterable[str | os.PathLike[str]]],
    backend: str | None,
) -> Gated:
    """The whole gate on one image (a file, or its pixels), judged against the shot's
    thresholds (`overrides`: config `quality:`) and its characters' references."""
    rgb = image if isinstance(image, np.ndarray) else load_rgb(image)
    refs = {
        n: [(str(p), sha256_file(p) if Path(p).is_file() else None) for p in ps]
        for n, ps in characters.items()
    }
    key = hashlib.sha256(rgb.data).hexdigest() + json.dumps(
        [rgb.shape, lighting, overrides, refs, backend], sort_keys=True, default=str
    )
    with _lock:
        known = _recent.get(key)
    if known is None:
        known = _gate(rgb, lighting, overrides, characters, backend)
        with _lock:
            _recent[key] = known
            while len(_recent) > REMEMBERED:
                _recent.popitem(last=False)
    path = None if isinstance(image, np.ndarray) else str(image)
    return {**copy.deepcopy(known), "path": path}


def _gate(
    rgb: np.ndarray,
    lighting: str | None,
    overrides: QualityOverrides | None,
    characters: Mapping[str, Iterable[str | os.PathLike[str]]],
    backend: str | None,
) -> Gated:
    thresholds = thresholds_for(lighting, overrides or None)
    metrics = measure(rgb)
    flags = evaluate(metrics, lighting, thresholds)
    judged = identity.judge(rgb, characters, thresholds, backend=backend)
    readings, face_flags = face_checks(rgb, metrics, judged, lighting, thresholds)
    all_flags = flags_to_json(flags) + identity.flags_json(judged) + flags_to_json(face_flags)
    return Gated(
        path=None,
        size=f"{rgb.shape[1]}x{rgb.shape[0]}",
        metrics=metrics,
        flags=all_flags,
        identity=identity.to_json(judged),
        faces=readings,
        worst=worst(all_flags),
        descriptors=judged["descriptors"],
    )
