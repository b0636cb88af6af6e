"""The pixels' digest of built images, remembered by file identity.

`stillmake status`, `plan` and the review board compare every shot's drafts with the
fingerprint its pick was made on; hashing 3000 drafts on every call would take most of
their time. A digest is kept with the file's device, inode, size, mtime and ctime, and
reused only while all five are unchanged: any write to the file changes its ctime, which
no tool can set back, so a digest is never trusted across a change of content.
"""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

from stillmake.artifacts.picks import drafts_fingerprint, image_sha256
from stillmake.files import atomic_write_text

Identity = tuple[int, int, int, int, int]


def identity(path: str | os.PathLike[str]) -> Identity:
    st = os.stat(path)
    return (st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns, st.st_ctime_ns)


class PixelDigests:
    """image_sha256 of files, hashed once per content; kept in `store` (a JSON file)
    between commands when one is given."""

    def __init__(self, store: str | os.PathLike[str] | None = None, most: int = 200_000):
        self.store = Path(store) if store is not None else None
        self._kept: dict[str, tuple[Identity, str]] = {}
        self._most = most
        self._lock = threading.Lock()
        self._changed = False
        if self.store is not None:
            self._load()

    def sha256(self, path: str | os.PathLike[str]) -> str:
        """The digest of the image's pixels as built (provenance chunks aside)."""
        key, now = str(path), identity(path)
        with self._lock:
            kept = self._kept.get(key)
        if kept is not None and kept[0] == now:
            return kept[1]
        sha = image_sha256(path)
        with self._lock:
            if len(self._kept) >= self._most:
                self._kept.clear()
            self._kept[key] = (now, sha)
            self._changed = True
        return sha

    def fingerprint(self, draft_paths: list[str]) -> str | None:
        """The drafts' fingerprint as `current_drafts_fingerprint` takes it; None while
        a draft is missing."""
        try:
            return drafts_fingerprint([self.sha256(p) for p in draft_paths])
        except FileNotFoundError:
            return None

    def save(self) -> None:
        """Keep what was hashed for the next command (best effort: a read-only project
        just hashes again)."""
        if self.store is None or not self._changed:
            return
        with self._lock:
            data = {k: [list(ident), sha] for k, (ident, sha) in self._kept.items()}
        try:
            atomic_write_text(self.store, json.dumps(data, separators=(",", ":")))
        except OSError:
            return
        self._changed = False

    def _load(self) -> None:
        assert self.store is not None
        try:
            data = json.loads(self.store.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return
        if not isinstance(data, dict):
            return
        for key, value in data.items():
            try:
                ident, sha = value
                dev, ino, size, mtime, ctime = (int(v) for v in ident)
                self._kept[key] = ((dev, ino, size, mtime, ctime), str(sha))
            except (TypeError, ValueError):
                continue
