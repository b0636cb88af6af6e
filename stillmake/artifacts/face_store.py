"""Faces found in an image, kept in the user's cache by the image's content.

Finding and describing faces is most of what the gate costs an image (about 0.25 s with
dlib on one core), and a build measures the same pixels again and again: a review sheet
rebuilt for a new threshold, an edit step re-judged, the same stand-in in another
project. The answer is a pure function of the pixels and the detector's settings, so it
is kept under that digest (stillmake/user_cache.py) and never trusted for other pixels
or other settings.
"""

from __future__ import annotations

import json
from typing import Any

from stillmake import user_cache

KIND = "faces"
FORMAT = 1  # bump when what is kept changes shape


def load(key: str) -> list[dict[str, Any]] | None:
    """The faces kept for `key` (box, descriptor, score each), or None."""
    path = user_cache.entry(KIND, key, ".json")
    if path is None:
        return None
    try:
        kept = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("format") != FORMAT or kept.get("key") != key:
        return None
    faces = kept.get("faces")
    return faces if isinstance(faces, list) else None


def keep(key: str, faces: list[dict[str, Any]]) -> None:
    text = json.dumps({"format": FORMAT, "key": key, "faces": faces})
    user_cache.keep(user_cache.entry(KIND, key, ".json"), text)
