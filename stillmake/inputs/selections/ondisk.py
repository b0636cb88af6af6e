"""selections.yaml as a file on disk: read only when it is still, written only over
what was read, and left the user's file (its link, mode, owner, line endings, BOM).

Editors save by renaming a temp file over the file, generators write it in place
(`gen > selections.yaml`). So a read is trusted once the file has been still for a
moment (longer when it holds fewer shots than the last version kept: a file being
written in place looks like that), and the write swaps the new file in with
RENAME_EXCHANGE, which hands back exactly the file it replaced: if that is not the one
read (a save slipped in), the writer knows, and works on that save instead.
"""

from __future__ import annotations

import contextlib
import os
import stat
import time
from collections.abc import Callable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

from stillmake.errors import InputError, StillmakeError, WriteFailed
from stillmake.files import decode_text, exchange, fsync_dir, write_temp
from stillmake.inputs.selections.history import Version, sha256
from stillmake.inputs.selections.read import WHAT

QUIET_SECONDS = 0.02  # a changed file is read once it has not been written for this long
SHRUNK_QUIET_SECONDS = 1.0  # ... this long when shots the last version had are missing
PATIENCE_SECONDS = 10.0  # a file still being written after this: refuse, write nothing
BOM = b"\xef\xbb\xbf"


def real_path(path: str | os.PathLike[str]) -> Path:
    """The file itself, symlinks followed: written through a link, never over it."""
    return Path(os.path.realpath(path))


@dataclass(frozen=True)
class Snapshot:
    """The file as read once: its bytes and what identifies that write of it."""

    data: bytes
    ino: int | None = None  # None: there was no file
    dev: int | None = None
    size: int = 0
    mtime_ns: int = 0
    mode: int | None = None
    uid: int | None = None
    gid: int | None = None
    read_at: float = 0.0
    torn: bool = False  # written while it was read: read it again

    @property
    def exists(self) -> bool:
        return self.ino is not None

    @cached_property
    def sha(self) -> str:
        return sha256(self.data)

    @property
    def mtime(self) -> float:
        return self.mtime_ns / 1e9

    def same(self, other: Snapshot) -> bool:
        """The same write of the same file (inode, size, mtime and bytes)."""
        return (self.ino, self.dev, self.size, self.mtime_ns, self.data) == (
            other.ino,
            other.dev,
            other.size,
            other.mtime_ns,
            other.data,
        )

    @property
    def newline(self) -> str:
        """The file's line ending: CRLF when most of its lines end so."""
        crlf = self.data.count(b"\r\n")
        return "\r\n" if crlf and crlf * 2 >= self.data.count(b"\n") else "\n"

    @property
    def bom(self) -> bool:
        return self.data.startswith(BOM)

    def text(self, shown: str | os.PathLike[str]) -> str:
        """The decoded text, lines ending in \\n whatever the file uses."""
        return decode_text(self.data, shown, WHAT).replace("\r\n", "\n")

    def encode(self, text: str) -> bytes:
        """`text` (\\n line ends) as this file writes it: its line ending, its BOM."""
        if self.newline != "\n":
            text = text.replace("\n", self.newline)
        return (BOM if self.bom else b"") + text.encode("utf-8")


def read_once(path: Path, shown: str | os.PathLike[str]) -> Snapshot:
    """The file now (no file: an empty snapshot). Stat before and after the read: a file
    written meanwhile reads as changed (no inode) so the caller reads it again."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return Snapshot(b"", read_at=time.time())
    except IsADirectoryError:
        raise InputError(
            "is a directory, not a file (the selections file should be here)", file=shown
        ) from None
    except OSError as exc:
        raise InputError(f"{WHAT} cannot be read: {exc.strerror or exc}", file=shown) from None
    try:
        before = os.fstat(fd)
        if stat.S_ISDIR(before.st_mode):
            raise InputError(
                "is a directory, not a file (the selections file should be here)", file=shown
            )
        chunks = []
        while chunk := os.read(fd, 1 << 20):
            chunks.append(chunk)
        after = os.fstat(fd)
    except OSError as exc:
        raise InputError(f"{WHAT} cannot be read: {exc.strerror or exc}", file=shown) from None
    finally:
        os.close(fd)
    data = b"".join(chunks)
    if (before.st_size, before.st_mtime_ns) != (after.st_size, after.st_mtime_ns) or len(
        data
    ) != after.st_size:
        return Snapshot(data, read_at=time.time(), torn=True)
    return Snapshot(
        data,
        after.st_ino,
        after.st_dev,
        after.st_size,
        after.st_mtime_ns,
        stat.S_IMODE(after.st_mode),
        after.st_uid,
        after.st_gid,
        time.time(),
    )


def read_still(
    path: Path,
    shown: str | os.PathLike[str],
    *,
    known: Version | None,
    shrunk: Callable[[Snapshot], bool],
    patience: float = PATIENCE_SECONDS,
) -> Snapshot:
    """The file once nobody is writing it. The last version kept (`known`) is trusted at
    once; anything else once two reads agree (bytes, inode, size, mtime), and, if it may
    be a file being written in place (its inode is the last version's, or not known) or
    lacks shots the last version had (`shrunk`: what the first part of such a file looks
    like), once it has not been written for QUIET_SECONDS (SHRUNK_QUIET_SECONDS). A new
    inode is a file renamed into place, whole, as editors save."""
    started = time.monotonic()
    previous: Snapshot | None = None
    while True:
        snap = read_once(path, shown)
        if snap.exists and known is not None and snap.sha == known.sha:
            return snap
        quiet = 0.0
        if snap.exists and shrunk(snap):
            quiet = SHRUNK_QUIET_SECONDS
        elif snap.exists and (known is None or known.ino in (None, snap.ino)):
            quiet = QUIET_SECONDS
        age = time.time() - snap.mtime
        if previous is not None and not snap.torn and previous.same(snap):
            if not snap.exists or age >= quiet or snap.read_at - previous.read_at >= quiet:
                return snap
        if time.monotonic() - started > patience:
            raise StillmakeError(
                f"{shown} is being written by another program (it kept changing for "
                f"{patience:g} s); nothing was written: run again once it is saved"
            )
        previous = None if snap.torn else snap
        time.sleep(0.002 if snap.torn or age >= quiet else min(quiet, quiet - age))


def check_writable(path: Path, shown: str | os.PathLike[str], snap: Snapshot) -> None:
    """A file its owner made read-only is not rewritten (root could: it would not ask)."""
    link = f" (a link to {path})" if Path(shown).absolute() != path else ""
    if snap.exists and snap.mode is not None and not snap.mode & 0o222:
        raise StillmakeError(
            f"{shown}{link} is read-only (mode {snap.mode:04o}); nothing was written: make it "
            f"writable (chmod u+w {path}) to record decisions in it"
        )
    if snap.exists and not os.access(path, os.W_OK):
        raise StillmakeError(
            f"{shown}{link} is not writable by {_me()}; nothing was written: fix its "
            "permissions to record decisions in it"
        )


def _me() -> str:
    from stillmake.inputs.selections.history import user_name

    return user_name()


@dataclass(frozen=True)
class Swap:
    """What `swap_in` did: `written` is the new file, now at the path (None: nothing was
    written: a save is there instead); `displaced`: saves overtaken by a newer one in the
    microseconds of a swap, no longer on disk: keep them."""

    written: Snapshot | None
    displaced: tuple[Snapshot, ...] = ()


def swap_in(path: Path, data: bytes, like: Snapshot, expected: Snapshot) -> Swap:
    """Put `data` at `path` in one step, as a file like `like` (mode, owner), only over
    the file `expected`.

    The new file is made first; then the file at `path` is read once more and, if it is
    no longer the one expected (a save meanwhile), nothing is written. Otherwise the two
    are swapped (RENAME_EXCHANGE), which hands back exactly the file replaced: if a save
    slipped in between the read and the swap, it is swapped straight back."""
    try:
        tmp = write_temp(path, data, like.mode)
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    try:
        if like.uid is not None:
            with contextlib.suppress(OSError):  # only root may give a file to another user
                os.chown(tmp, like.uid, like.gid if like.gid is not None else -1)
        st = os.stat(tmp)
        ours = Snapshot(
            data, st.st_ino, st.st_dev, st.st_size, st.st_mtime_ns, stat.S_IMODE(st.st_mode)
        )
        now = read_once(path, path)
        if now.torn or now.sha != expected.sha or now.exists != expected.exists:
            return Swap(None)
        if not expected.exists:
            return _create(path, tmp, ours)
        if not exchange(tmp, path):
            os.replace(tmp, path)  # no swap here (NFS, macOS): the check above must do
            fsync_dir(path.parent)
            return Swap(ours)
        replaced = read_once(tmp, path)  # at once: ours is on disk in its place till known
        if not replaced.torn and replaced.sha == expected.sha:
            fsync_dir(path.parent)
            return Swap(ours)
        return _swap_back(path, tmp, ours)
    except FileNotFoundError as exc:
        if exc.filename is None or Path(exc.filename) == path:  # deleted meanwhile
            return Swap(None)
        raise WriteFailed(path, exc) from None
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)


def _swap_back(path: Path, tmp: Path, ours: Snapshot) -> Swap:
    """A save slipped in between the last read and the swap: put it straight back (the
    same file, its inode and date), so nobody reads ours in its place for longer than
    one read. If yet another save replaced ours meanwhile, that one is the newest: it
    stays on disk, and the first is handed back to be kept."""
    exchange(tmp, path)
    back = read_once(tmp, path)
    if back.sha == ours.sha:
        return Swap(None)
    exchange(tmp, path)
    first = read_still(tmp, path, known=None, shrunk=_never)
    return Swap(None, displaced=(first,))


def _create(path: Path, tmp: Path, ours: Snapshot) -> Swap:
    """A file that did not exist: made with link(), which never replaces one made
    meanwhile (that one is found instead, and nothing written)."""
    try:
        os.link(tmp, path)
    except FileExistsError:
        return Swap(None)
    fsync_dir(path.parent)
    return Swap(ours)


def _never(snap: Snapshot) -> bool:
    return False
