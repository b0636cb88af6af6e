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
from dataclasses import replace
from pathlib import Path

import numpy as np

from stillmake.artifacts import identity, skin, wardrobe
from stillmake.artifacts.quality import (
    Flag,
    evaluate,
    flags_to_json,
    load_rgb,
    measure,
    worst,
)
from stillmake.artifacts.thresholds import thresholds_for
from stillmake.files import sha256_file

REMEMBERED = 16  # images whose gate is kept, by content and what it was judged against

_garments: dict[str, dict | None] = {}  # reference sha256 -> its garment
_recent: OrderedDict[str, dict] = OrderedDict()
_lock = threading.Lock()


def reference_garment(path: Path) -> dict | None:
    """The garment under a reference's face, as shot (by content: read once a build)."""
    key = sha256_file(path)
    if key not in _garments:
        faces = identity.reference_faces(path)
        _garments[key] = wardrobe.garment(load_rgb(path), faces[0].box) if faces else None
    return _garments[key]


def _named(flags: list[Flag], name: str) -> list[Flag]:
    return [replace(f, message=f"{name}: {f.message}") for f in flags]


def face_checks(
    rgb: np.ndarray, metrics: dict, judged: dict, lighting: str | None, thresholds: dict
) -> tuple[dict, list[Flag]]:
    """Skin and wardrobe of each character's face (the one identity matched), or with no
    character matched, skin of the surest face found: {"skin": {who: reading},
    "wardrobe": {who: reading}} and their flags, each named by whom it reads."""
    readings: dict = {"skin": {}, "wardrobe": {}}
    flags: list[Flag] = []
    boxes = {name: c["box"] for name, c in judged.get("characters", {}).items()}
    if not boxes and judged.get("found"):
        surest = max(judged["found"], key=lambda f: f.score)
        boxes = {"face": list(surest.box)}
    cast = (metrics["cast_a"], metrics["cast_b"])
    for name, box in boxes.items():
        reading = skin.face_skin(rgb, box)
        if reading is not None:
            readings["skin"][name] = {**reading, "box": box}
            flags += _named(evaluate(skin.metrics(reading), lighting, thresholds), name)
        if "wardrobe" not in thresholds or name not in judged.get("references", {}):
            continue
        seen = wardrobe.garment(rgb, box, cast)
        refs = [g for g in map(reference_garment, judged["references"][name]) if g]
        if seen is None or not refs:
            continue
        d = min(wardrobe.difference(seen, ref) for ref in refs)
        readings["wardrobe"][name] = {"difference": d, "garment": seen}
        flags += _named(evaluate({"wardrobe": d}, lighting, thresholds), name)
    return readings, flags


def gate_image(
    image: str | os.PathLike[str] | np.ndarray,
    lighting: str | None,
    overrides: dict | None,
    characters: dict[str, list[str]],
    backend: str | None,
) -> dict:
    """The whole gate on one image (a file, or its pixels): {"path", "size", "metrics",
    "flags", "worst", "identity", "faces" (skin and wardrobe readings)}, and
    "descriptors" (the faces matched, for comparing across shots; not JSON)."""
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
    overrides: dict | None,
    characters: dict[str, list[str]],
    backend: str | None,
) -> dict:
    thresholds = thresholds_for(lighting, overrides or None)
    metrics = measure(rgb)
    flags = evaluate(metrics, lighting, thresholds)
    judged = identity.judge(rgb, characters, thresholds, backend=backend)
    readings, face_flags = face_checks(rgb, metrics, judged, lighting, thresholds)
    all_flags = flags_to_json(flags) + identity.flags_json(judged) + flags_to_json(face_flags)
    return {
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "metrics": metrics,
        "flags": all_flags,
        "identity": identity.to_json(judged),
        "faces": readings,
        "worst": worst(all_flags),
        "descriptors": judged.get("descriptors", {}),
    }
