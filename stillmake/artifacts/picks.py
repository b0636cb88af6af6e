"""A pick is bound to the content of the drafts it was made on, not to file names."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from stillmake.artifacts.provenance import read_sidecar

FINGERPRINT_LEN = 12


def drafts_fingerprint(image_sha256s: list[str]) -> str:
    """Digest of the drafts' image bytes (as returned by the backend), in draft order.

    Provenance chunks and timestamps are not part of it, so a rebuild from the
    cache keeps a pick valid while new pixels (reroll, prompt, model, backend)
    make it stale. `current_drafts_fingerprint` takes the digests from the drafts on
    disk; `stillmake plan` from the ones it predicts through the cache.
    """
    return hashlib.sha256("\n".join(image_sha256s).encode()).hexdigest()[:FINGERPRINT_LEN]


def current_drafts_fingerprint(draft_paths: Iterable[str | os.PathLike[str]]) -> str | None:
    """The fingerprint of a shot's drafts as they are now, from their sidecars, in the
    order given (draft 1 first); None while any draft image is missing.

    What `stillmake pick` binds a pick to, what the review sheet shows, what the select
    job and `stillmake status` compare a pick against.
    """
    draft_paths = [Path(p) for p in draft_paths]
    if not all(p.is_file() for p in draft_paths):
        return None
    return drafts_fingerprint([read_sidecar(p)["image_sha256"] for p in draft_paths])
