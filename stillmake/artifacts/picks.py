"""A pick is bound to the content of the drafts it was made on, not to file names."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from stillmake.artifacts.provenance import embedded_record, raw_image, read_sidecar, sidecar_path
from stillmake.files import atomic_write_json, sha256_bytes
from stillmake.paths import REQUEST_STAMPS

FINGERPRINT_LEN = 12


def drafts_fingerprint(image_sha256s: list[str]) -> str:
    """Digest of the drafts' image bytes (as returned by the backend), in draft order.

    Provenance chunks and timestamps are not part of it, so a rebuild from the
    cache keeps a pick valid while new pixels (reroll, prompt, model, backend, a
    retouch by hand) make it stale. `current_drafts_fingerprint` takes the digests
    from the drafts on disk; `stillmake plan` from the ones it predicts through the cache.
    """
    return hashlib.sha256("\n".join(image_sha256s).encode()).hexdigest()[:FINGERPRINT_LEN]


def image_sha256(path: str | os.PathLike[str]) -> str:
    """The digest of an image as it is on disk: its bytes without our provenance chunks
    (what `image_sha256` in its sidecar recorded when it was written)."""
    return sha256_bytes(raw_image(path))


def current_drafts_fingerprint(draft_paths: Iterable[str | os.PathLike[str]]) -> str | None:
    """The fingerprint of a shot's drafts as they are now on disk, from their pixels
    (not from what their sidecars say), in the order given (draft 1 first); None
    while any draft image is missing.

    What `stillmake pick` binds a pick to, what the review sheet shows, what the select
    job and `stillmake status` compare a pick against: a draft changed by hand after
    the pick makes the pick stale.
    """
    drafts = [Path(p) for p in draft_paths]
    if not all(p.is_file() for p in drafts):
        return None
    return drafts_fingerprint([image_sha256(p) for p in drafts])


def changed_since_drafted(draft_paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """The drafts whose pixels are no longer what was drafted (retouched by hand, or
    overwritten): their bytes, provenance chunks aside, differ from the `image_sha256`
    their record (inside the PNG, else its sidecar) says they were drafted with. Drafts
    without an image or a record are left out."""
    changed = []
    for p in (Path(p) for p in draft_paths):
        if not p.is_file():
            continue
        record = embedded_record(p.read_bytes())
        if record is None and sidecar_path(p).is_file():
            record = read_sidecar(p)  # an editor dropped the record it carried
        if record is not None and record.get("image_sha256") != image_sha256(p):
            changed.append(p)
    return changed


# -- a hand-typed pick, bound by the build ------------------------------------------------
# A pick typed without `drafts:` is bound the first time the build applies it: the select
# job keeps {pick, drafts} beside the shot's request stamps (outside its outputs, which
# Snakemake removes before rerunning it) and in the selected image's record, so drafts
# that change later make it stale exactly like a pick `stillmake pick` bound.


def binding_path(root: str | os.PathLike[str], shot: str) -> Path:
    return Path(root) / REQUEST_STAMPS / shot / "pick.bound"


def build_binding(root: str | os.PathLike[str], shot: str, pick: int | None) -> str | None:
    """The drafts fingerprint the build first applied pick `pick` of `shot` to, or None
    (never applied, or another pick since)."""
    try:
        kept = json.loads(binding_path(root, shot).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(kept, dict) or kept.get("pick") != pick or pick is None:
        return None
    drafts = kept.get("drafts")
    return drafts if isinstance(drafts, str) else None


def keep_binding(root: str | os.PathLike[str], shot: str, pick: int, drafts: str) -> None:
    atomic_write_json(binding_path(root, shot), {"pick": pick, "drafts": drafts})
