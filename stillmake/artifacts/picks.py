"""A pick is bound to the content of the drafts it was made on, not to file names."""

from __future__ import annotations

import hashlib

FINGERPRINT_LEN = 12


def drafts_fingerprint(image_sha256s: list[str]) -> str:
    """Digest of the drafts' image bytes (as returned by the backend), in draft order.

    Provenance chunks and timestamps are not part of it, so a rebuild from the
    cache keeps a pick valid while new pixels (reroll, prompt, model, backend)
    make it stale.
    """
    return hashlib.sha256("\n".join(image_sha256s).encode()).hexdigest()[:FINGERPRINT_LEN]
