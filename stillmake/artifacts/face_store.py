"""Faces found in an image, kept on disk by the image's content.

Finding and describing faces is most of what the gate costs an image (about 0.25 s with
dlib on one core), and a build measures the same pixels again and again: a review sheet
rebuilt for a new threshold, an edit step re-judged, the same stand-in in another
project. The answer is a pure function of the pixels and the detector's settings, so it
is kept under that digest and never trusted for other pixels or other settings.

Where: `$STILLMAKE_FACE_CACHE` (empty or `off`: nothing kept), else
`$XDG_CACHE_HOME/stillmake/faces`, else `~/.cache/stillmake/faces`. An entry that cannot
be read is measured afresh; one that cannot be written is simply not kept.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from stillmake.errors import WriteFailed
from stillmake.files import atomic_write_text

CACHE_ENV = "STILLMAKE_FACE_CACHE"
FORMAT = 1  # bump when what is kept changes shape


def store_dir() -> Path | None:
    where = os.environ.get(CACHE_ENV)
    if where is not None:
        return Path(where) if where.strip() and where.strip() != "off" else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stillmake" / "faces"


def _entry(key: str) -> Path | None:
    root = store_dir()
    return None if root is None else root / key[:2] / f"{key}.json"


def load(key: str) -> list[dict[str, Any]] | None:
    """The faces kept for `key` (box, descriptor, score each), or None."""
    path = _entry(key)
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
    path = _entry(key)
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, json.dumps({"format": FORMAT, "key": key, "faces": faces}))
    except (OSError, WriteFailed):
        pass  # a cache that cannot be written costs time, never a result
