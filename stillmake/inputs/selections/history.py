"""Every version of selections.yaml, kept beside it: the art director's audit trail and
the way back from any mistake.

`.selections.yaml.history/` beside the file holds each version once (gzipped, named by
its SHA-256) and `log.jsonl`, one line per version in the order they were on disk:
when, by what (`cli`, `board`, `restore`, or `hand` for a save stillmake noticed), who,
and what was asked (`pick s3 2`). Every writer keeps the version it is about to replace
(and its own) before it renames anything, under the lock beside the file, so no version
a stillmake write or notice saw can be lost; `stillmake history [SHOT]` lists them with
what changed per shot, `--show N` prints one, `--restore N` writes it back.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import gzip
import hashlib
import json
import os
import pwd
from dataclasses import dataclass
from pathlib import Path

from stillmake.errors import InputError, StillmakeError, WriteFailed
from stillmake.files import atomic_write_bytes, decode_text
from stillmake.inputs.selections.read import WHAT, parse

LOG = "log.jsonl"
BY_HAND = "hand"


def history_dir(real: Path) -> Path:
    """Where the versions of the file `real` (symlinks followed) are kept."""
    return real.with_name(f".{real.name}.history")


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def user_name(uid: int | None = None) -> str:
    uid = os.getuid() if uid is None else uid
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _iso(seconds: float) -> str:
    stamp = _dt.datetime.fromtimestamp(seconds, _dt.UTC)
    return stamp.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _seconds(iso: str) -> float:
    return _dt.datetime.fromisoformat(iso.replace("Z", "+00:00")).timestamp()


@dataclass(frozen=True)
class Version:
    """One line of the log: a version of the file and how it came to be."""

    n: int
    at: str  # ISO 8601, UTC: when it was written (a hand save: the file's mtime)
    by: str  # cli, board, restore or hand
    who: str
    what: str
    sha: str
    size: int
    ino: int | None = None  # the file's inode when it was this version

    @property
    def seconds(self) -> float:
        return _seconds(self.at)

    @property
    def by_stillmake(self) -> bool:
        return self.by != BY_HAND


class History:
    """The versions of one selections file. Written only under the file's lock."""

    def __init__(self, real: Path, shown: str | os.PathLike[str] | None = None):
        self.real = real
        self.shown = str(shown or real)
        self.dir = history_dir(real)
        self.log = self.dir / LOG
        # as the user names it (runs/input/.selections.yaml.history), unless through a link
        beside = Path(self.shown).parent
        same = os.path.realpath(beside) == str(real.parent)
        self.shown_dir = beside / self.dir.name if same else self.dir
        self._versions: list[Version] | None = None  # read once: only this object writes
        self._decisions: dict[str, dict | None] = {}

    # -- reading -----------------------------------------------------------------------
    def versions(self) -> list[Version]:
        """Every version in the log, oldest first (a line torn by a crash is skipped)."""
        if self._versions is None:
            self._versions = self._read_log()
        return self._versions

    def _read_log(self) -> list[Version]:
        try:
            lines = self.log.read_bytes().splitlines()
        except FileNotFoundError:
            return []
        except OSError as exc:
            raise StillmakeError(f"cannot read {self.log}: {exc.strerror or exc}") from None
        out = []
        for line in lines:
            with contextlib.suppress(ValueError, TypeError, KeyError):
                d = json.loads(line)
                out.append(
                    Version(int(d["n"]), d["at"], d["by"], d["who"], d["what"], d["sha"], d["size"])
                )
        return out

    def last(self) -> Version | None:
        versions = self.versions()
        return versions[-1] if versions else None

    def version(self, n: int) -> Version:
        for v in self.versions():
            if v.n == n:
                return v
        raise StillmakeError(
            f"{self.shown} has no version {n} in its history: `stillmake history` lists them"
        )

    def data(self, sha: str) -> bytes:
        try:
            return gzip.decompress((self.dir / f"{sha}.gz").read_bytes())
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise StillmakeError(
                f"version {sha[:10]} of {self.shown} cannot be read from {self.dir}: {exc}"
            ) from None

    def decisions(self, sha: str) -> dict | None:
        """A version's decisions as plain data (None: it does not load)."""
        if sha not in self._decisions:
            try:
                data = self.data(sha)
            except StillmakeError:
                data = None
            self._decisions[sha] = _loads(data, self.real) if data is not None else None
        return self._decisions[sha]

    # -- writing (under the lock) --------------------------------------------------------
    def keep(self, data: bytes) -> str:
        """Keep the bytes of a version (once per content); its SHA-256."""
        sha = sha256(data)
        blob = self.dir / f"{sha}.gz"
        if not blob.is_file():
            try:
                atomic_write_bytes(blob, gzip.compress(data, mtime=0))
            except WriteFailed as exc:
                raise self._cannot(exc) from None
        return sha

    def record(
        self, data: bytes, *, by: str, what: str, at: float, who: str, ino: int | None = None
    ) -> Version:
        """Keep a version and append its line to the log."""
        sha = self.keep(data)
        last = self.last()
        n = (last.n if last else 0) + 1
        version = Version(n, _iso(at), by, who, what, sha, len(data), ino)
        line = json.dumps(version.__dict__, ensure_ascii=False) + "\n"
        try:
            fd = os.open(self.log, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                os.write(fd, line.encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)
        except OSError as exc:
            raise self._cannot(WriteFailed(self.log, exc)) from None
        self.versions().append(version)
        return version

    def notice(
        self, data: bytes, *, mtime: float, owner: int | None, ino: int | None = None
    ) -> Version | None:
        """Record the file as found, unless it is the last version kept: a save by hand
        (or a first sight of the file). None when it was already the last version."""
        last = self.last()
        if last is not None and last.sha == sha256(data):
            return None
        who = user_name(owner) if owner is not None else "-"
        what = "saved by hand" if last is not None else "first seen by stillmake"
        return self.record(data, by=BY_HAND, what=what, at=mtime, who=who, ino=ino)

    def _cannot(self, exc: WriteFailed) -> StillmakeError:
        return StillmakeError(
            f"{self.shown}: cannot keep the version it replaces in {self.shown_dir}/ "
            f"({exc.strerror}); nothing was written. Free the disk or fix the permissions, "
            "then run again"
        )


def _loads(data: bytes, path: Path) -> dict | None:
    try:
        return parse(decode_text(data, path, WHAT), path)
    except InputError:
        return None
