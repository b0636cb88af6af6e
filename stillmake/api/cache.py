"""Content-addressed store of every paid response: fingerprint -> images + record.

An entry is a directory renamed into place only when complete, so a response
that arrived before a crash is either wholly in the cache or not at all. Each entry
names the fingerprint of the request it answers, checked when it is read, so an entry
moved, swapped or edited on disk never answers another request. An entry found corrupt
later (a disk, a copy, a hand) is moved aside to `.corrupt/`, never deleted, and the
request counts as not cached.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from stillmake.errors import CorruptFile
from stillmake.files import sha256_bytes

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage

CORRUPT_DIR = ".corrupt"
LOCKS_DIR = ".locks"


class CacheRecord(TypedDict, total=False):
    """What the cache keeps beside a paid answer's images (response.json): what it cost
    and how it came, the request it answers, and (a critique) its text. An entry kept by
    an older version may lack any key but `files` and `sha256` (checked on load):
    readers use .get for the rest."""

    created: str
    usage: Usage | None
    cost_usd: float
    estimate_usd: float
    cost_source: str
    rejected_usd: float  # what refused answers of the same request billed
    latency_s: float
    attempts: int
    backend: str
    meta: dict[str, Any]
    request: dict[str, Any]  # ImageRequest/CritiqueRequest.to_dict()
    reservation: str  # the reservation it was paid under: how a lost line is recovered
    text: str  # a critique's answer
    fingerprint: str  # written by `store`: the request it answers
    files: list[str]
    sha256: list[str]


class Cache:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def entry(self, fingerprint: str) -> Path:
        return self.root / fingerprint[:2] / fingerprint

    def lock_path(self, fingerprint: str) -> Path:
        """The lock a job holds from asking the cache to storing the answer, so that one
        request is paid once however many jobs, processes or hosts ask for it at once."""
        return self.root / LOCKS_DIR / fingerprint[:2] / f"{fingerprint}.lock"

    def has(self, fingerprint: str) -> bool:
        return (self.entry(fingerprint) / "response.json").is_file()

    def load(self, fingerprint: str) -> tuple[list[bytes], CacheRecord]:
        """The entry's images and record; CorruptFile (naming the entry and what is wrong
        with it) when response.json does not parse or an image is not what was stored."""
        entry = self.entry(fingerprint)
        why = None
        try:
            record = json.loads((entry / "response.json").read_text(encoding="utf-8"))
            files, digests = record["files"], record["sha256"]
            if len(files) != len(digests):
                why = "response.json lists files and hashes that do not pair up"
        except (ValueError, KeyError, TypeError) as exc:
            why = f"response.json is not a whole record: {type(exc).__name__}: {exc}"
        if why is None and record.get("fingerprint", fingerprint) != fingerprint:
            why = (
                f"it holds the answer to request {record['fingerprint']}, not {fingerprint} "
                "(moved, swapped or edited on disk)"
            )
        if why is None:
            images = []
            for name, digest in zip(files, digests, strict=True):
                try:
                    data = (entry / name).read_bytes()
                except OSError as exc:
                    why = f"{name} cannot be read: {exc.strerror or exc}"
                    break
                if sha256_bytes(data) != digest:
                    why = f"{name} is not the image stored ({len(data)} bytes, another hash)"
                    break
                images.append(data)
        if why is not None:
            raise CorruptFile(
                f"cache entry {entry} is corrupt ({why}); the next build moves it aside to "
                f"{self.root / CORRUPT_DIR}/ and asks for it again",
                why=why,
            )
        return images, record

    def quarantine(self, fingerprint: str) -> Path | None:
        """Move a corrupt entry to `.corrupt/<fingerprint>.<time>` (kept for a look, never
        deleted); returns where it went, None if another job moved it first."""
        entry = self.entry(fingerprint)
        aside = self.root / CORRUPT_DIR / f"{fingerprint}.{time.strftime('%Y%m%dT%H%M%S')}"
        aside.parent.mkdir(parents=True, exist_ok=True)
        for k in range(1, 100):
            if not aside.exists():
                break
            aside = aside.with_name(f"{aside.name.split('-')[0]}-{k}")
        with contextlib.suppress(FileNotFoundError):
            os.rename(entry, aside)
            return aside
        return None

    def store(self, fingerprint: str, images: list[bytes], record: CacheRecord) -> None:
        entry = self.entry(fingerprint)
        if self.has(fingerprint):
            return
        entry.parent.mkdir(parents=True, exist_ok=True)
        for stale in entry.parent.glob(f".{fingerprint}.*"):  # left by a killed build
            shutil.rmtree(stale, ignore_errors=True)
        tmp = Path(tempfile.mkdtemp(prefix=f".{fingerprint}.", dir=entry.parent))
        try:
            files = []
            for k, data in enumerate(images, start=1):
                name = f"image_{k}.png"
                with open(tmp / name, "wb") as fh:
                    fh.write(data)
                    fh.flush()
                    os.fsync(fh.fileno())
                files.append(name)
            full: CacheRecord = {
                **record,
                "fingerprint": fingerprint,  # checked on load: an entry answers its own request
                "files": files,
                "sha256": [sha256_bytes(d) for d in images],
            }
            with open(tmp / "response.json", "w", encoding="utf-8") as fh:
                json.dump(full, fh, indent=2, ensure_ascii=False)
                fh.flush()
                os.fsync(fh.fileno())
            try:
                os.rename(tmp, entry)
            except OSError:
                if not self.has(fingerprint):  # lost a race to an identical request: fine
                    raise
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
