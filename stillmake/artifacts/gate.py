"""The whole gate on one image: pixels (quality.py), and where the shot has characters,
their faces: identity, skin under the cast, wardrobe. The faces are found once and
every face check reads them."""

from __future__ import annotations

import os
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
    thresholds_for,
    worst,
)
from stillmake.files import sha256_file

_garments: dict[str, dict | None] = {}  # reference sha256 -> its garment


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
    thresholds = thresholds_for(lighting, overrides or None)
    rgb = image if isinstance(image, np.ndarray) else load_rgb(image)
    metrics = measure(rgb)
    flags = evaluate(metrics, lighting, thresholds)
    judged = identity.judge(rgb, characters, thresholds, backend=backend)
    readings, face_flags = face_checks(rgb, metrics, judged, lighting, thresholds)
    all_flags = flags_to_json(flags) + identity.flags_json(judged) + flags_to_json(face_flags)
    return {
        "path": None if isinstance(image, np.ndarray) else str(image),
        "size": f"{rgb.shape[1]}x{rgb.shape[0]}",
        "metrics": metrics,
        "flags": all_flags,
        "identity": identity.to_json(judged),
        "faces": readings,
        "worst": worst(all_flags),
        "descriptors": judged.get("descriptors", {}),
    }
