"""Atomic writes, content hashes and inter-process locks.

A killed build must never leave a half-written file under runs/: everything is
written to a temp file in the same directory, fsynced, then renamed into place. A write
that fails (a full disk, a read-only directory) is a WriteFailed: one line naming the
file, and the file as it was.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import fcntl
import functools
import hashlib
import json
import os
import sys
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TextIO

from stillmake import stop
from stillmake.errors import InputError, WriteFailed


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> None:
    path = Path(path)
    try:
        tmp = write_temp(path, data)
    except OSError as exc:
        raise WriteFailed(path, exc) from None
    try:
        os.replace(tmp, path)
    except BaseException as exc:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        if isinstance(exc, OSError):
            raise WriteFailed(path, exc) from None
        raise


def write_temp(path: Path, data: bytes, mode: int | None = None) -> Path:
    """`data` in a new temp file beside `path` (whole, fsynced), with `mode` (default: the
    mode any new file gets under the umask). Nothing is left behind if it fails."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        # mkstemp makes 0600; a written file gets the mode any new file would (umask)
        os.fchmod(fd, 0o666 & ~_UMASK if mode is None else mode)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return Path(tmp)


_RENAME_EXCHANGE = 2
_AT_FDCWD = -100
_NO_EXCHANGE = {errno.EINVAL, errno.ENOSYS, errno.ENOTSUP, errno.EOPNOTSUPP}


@functools.cache
def _renameat2() -> Callable[..., int] | None:
    if sys.platform != "linux":
        return None
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return libc.renameat2  # glibc 2.28 and later, musl 1.2.4 and later
    except (OSError, AttributeError):
        return None


def exchange(a: str | os.PathLike[str], b: str | os.PathLike[str]) -> bool:
    """Swap two existing paths in one step (Linux renameat2 RENAME_EXCHANGE): after it,
    `a` names what `b` named and `b` what `a` named, with no moment in between. So a
    writer learns exactly which file it replaced. False where the system or the file
    system cannot (NFS, macOS): the caller falls back to a rename."""
    call = _renameat2()
    if call is None:
        return False
    if call(_AT_FDCWD, os.fsencode(a), _AT_FDCWD, os.fsencode(b), _RENAME_EXCHANGE) == 0:
        return True
    err = ctypes.get_errno()
    if err in _NO_EXCHANGE:
        return False
    raise OSError(err, os.strerror(err), str(b))


def fsync_dir(path: str | os.PathLike[str]) -> None:
    """Make a rename in this directory durable (best effort: not every system can)."""
    with contextlib.suppress(OSError):
        fd = os.open(path, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def _read_umask() -> int:
    """Read once at import: os.umask can only be read by setting it, and jobs run as
    threads, so it is never touched again while files are being created."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


_UMASK = _read_umask()


def atomic_write_text(path: str | os.PathLike[str], text: str) -> None:
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_json(path: str | os.PathLike[str], obj: object) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, sort_keys=False) + "\n")


LOCK_POLL_S = (0.01, 0.2)  # an interruptible wait for a lock polls, backing off to 0.2 s


@contextlib.contextmanager
def locked(lock_path: str | os.PathLike[str], *, waiting: str | None = None) -> Iterator[TextIO]:
    """Exclusive advisory lock held across processes (fcntl.flock). With `waiting` (what
    the wait is for, as a message says it), a wait that may be long (another job's
    request) ends with `Stopped` the moment the build is told to stop."""
    lock_path = Path(lock_path)
    lock_path.parent.mkdir(parents=True, exist_ok=True)
    with open(lock_path, "a+") as fh:
        if waiting is None:
            fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
        else:
            _flock_interruptibly(fh.fileno(), waiting)
        try:
            yield fh
        finally:
            fcntl.flock(fh.fileno(), fcntl.LOCK_UN)


def _flock_interruptibly(fd: int, waiting: str) -> None:
    pause = LOCK_POLL_S[0]
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            stop.wait(pause, waiting)
            pause = min(LOCK_POLL_S[1], pause * 2)


def remove_stale_temps(path: str | os.PathLike[str]) -> None:
    """Drop temp files a killed job left beside `path` (atomic_write_bytes' names)."""
    path = Path(path)
    for stale in path.parent.glob(f".{path.name}.*.tmp"):
        with contextlib.suppress(FileNotFoundError):
            stale.unlink()


def read_text_input(path: str | os.PathLike[str], what: str) -> str:
    """A file a person edits, as UTF-8 text (a byte-order mark is allowed). Every way it
    cannot be read is an InputError naming it: missing, a directory, unreadable, not UTF-8."""
    path = Path(path)
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise InputError(f"{what} not found", file=path) from None
    except IsADirectoryError:
        message = f"is a directory, not a file (the {what} should be here)"
        raise InputError(message, file=path) from None
    except OSError as exc:
        raise InputError(f"{what} cannot be read: {exc.strerror or exc}", file=path) from None
    return decode_text(data, path, what)


def decode_text(data: bytes, path: str | os.PathLike[str], what: str) -> str:
    """A file's bytes as UTF-8 text (a byte-order mark dropped), or an InputError naming
    the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        raise InputError(
            f"not UTF-8 text (line {line}, byte {exc.start}); save the {what} as UTF-8", file=path
        ) from None
