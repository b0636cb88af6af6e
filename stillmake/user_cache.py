"""The user's cache of answers that depend on content alone (faces found in an image,
a document that passed its schema), shared by every project of the account.

Where: `$STILLMAKE_CACHE_DIR` (empty or `off`: nothing is kept), else
`$XDG_CACHE_HOME/stillmake`, else `~/.cache/stillmake`. Each answer is kept under the
digest of everything it depends on, so it is never trusted for anything else. An entry
that cannot be read is worked out afresh; one that cannot be written is not kept.
"""

from __future__ import annotations

import os
from pathlib import Path

from stillmake.errors import WriteFailed
from stillmake.files import atomic_write_text

CACHE_ENV = "STILLMAKE_CACHE_DIR"


def cache_dir(kind: str) -> Path | None:
    """The folder for one kind of answer, or None when the cache is off."""
    where = os.environ.get(CACHE_ENV)
    if where is not None:
        return Path(where) / kind if where.strip() and where.strip() != "off" else None
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "stillmake" / kind


def entry(kind: str, key: str, suffix: str = "") -> Path | None:
    root = cache_dir(kind)
    return None if root is None else root / key[:2] / f"{key}{suffix}"


def keep(path: Path | None, text: str) -> None:
    if path is None:
        return
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_text(path, text)
    except (OSError, WriteFailed):
        pass  # a cache that cannot be written costs time, never a result
