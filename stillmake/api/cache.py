"""Content-addressed store of every paid response: fingerprint -> images + record.

An entry is a directory renamed into place only when complete, so a response
that arrived before a crash is either wholly in the cache or not at all.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path

from stillmake.files import sha256_bytes


class Cache:
    def __init__(self, root: str | os.PathLike[str]):
        self.root = Path(root)

    def entry(self, fingerprint: str) -> Path:
        return self.root / fingerprint[:2] / fingerprint

    def has(self, fingerprint: str) -> bool:
        return (self.entry(fingerprint) / "response.json").is_file()

    def load(self, fingerprint: str) -> tuple[list[bytes], dict]:
        entry = self.entry(fingerprint)
        record = json.loads((entry / "response.json").read_text(encoding="utf-8"))
        images = [(entry / name).read_bytes() for name in record["files"]]
        for data, digest in zip(images, record["sha256"], strict=True):
            if sha256_bytes(data) != digest:
                raise OSError(f"cache entry {entry} is corrupt; delete it to refetch")
        return images, record

    def store(self, fingerprint: str, images: list[bytes], record: dict) -> None:
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
            full = {**record, "files": files, "sha256": [sha256_bytes(d) for d in images]}
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
