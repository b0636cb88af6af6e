"""Committing a new selections.yaml: under the lock beside the file, over exactly the
file read, every version kept (history.py), and the write watched for a moment after.

The file is read once it is still (ondisk.py); the new text is checked; the versions it
replaces and its own are kept before anything is renamed; the new file is swapped in
only over the file it was made from (a save meanwhile is found, kept, and the change
made again on it). For VERIFY_SECONDS after the swap, still under the lock, the file is
watched: an editor's save begun before the write (its buffer without the change) that
lands then would undo it unseen, so the change is made again on that save. A save that
comes after the write has returned is the person's own: it stands.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from stillmake.errors import InputError, StillmakeError
from stillmake.files import locked
from stillmake.inputs.selections.history import History, Version, user_name
from stillmake.inputs.selections.ondisk import (
    PATIENCE_SECONDS,
    Snapshot,
    check_writable,
    read_once,
    read_still,
    real_path,
    swap_in,
)
from stillmake.inputs.selections.read import parse

ATTEMPTS = 16  # saves slipping in, one after another, before stillmake gives up
VERIFY_SECONDS = 0.05  # how long a write watches the file it wrote, still under the lock


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock every writer of `path` holds from its read to its write (beside the file
    itself: two links to one file share it)."""
    real = real_path(path)
    return real.with_name(f".{real.name}.lock")


@dataclass(frozen=True)
class Author:
    """Who writes a version, for the history: `via` cli, board or restore, `what` was
    asked (`pick s3 2`), `who` the account."""

    via: str = "cli"
    what: str = ""
    who: str = field(default_factory=user_name)


@contextlib.contextmanager
def _locked_for(path: Path, shown: Path) -> Iterator[None]:
    lock = lock_path(path)
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(locked(lock))
        except OSError as exc:
            raise StillmakeError(
                f"cannot lock {shown} for writing: {lock} cannot be made "
                f"({exc.strerror or exc}); nothing was written: make {lock.parent} writable"
            ) from None
        yield


def _shrunk(history: History, last: Version | None, shown: Path) -> Callable[[Snapshot], bool]:
    """Whether a read lacks shots the last version kept had (or does not load): what a
    file being written in place looks like halfway."""
    if last is None:
        return lambda snap: False
    expected: list[set] = []

    def shrunk(snap: Snapshot) -> bool:
        if not expected:
            expected.append(set(history.decisions(last.sha) or {}))
        try:
            now = parse(snap.text(shown), shown)
        except InputError:
            return True
        return bool(expected[0] - set(now))

    return shrunk


def commit(
    path: str | os.PathLike[str],
    make: Callable[[str], str],
    *,
    check: Callable[[str], object] | None = None,
    author: Author | None = None,
    patience: float = PATIENCE_SECONDS,
) -> str:
    """Write `make(text)` (the file's text with LF line ends -> the new text) over the file
    (see the module docstring). `check(new)` raises InputError to refuse: nothing is
    written. Returns the new text (the text found when nothing changed)."""
    author = author or Author()
    shown = Path(path)
    real = real_path(path)
    with _locked_for(real, shown):
        history = History(real, shown)
        last = history.last()
        shrunk = _shrunk(history, last, shown)
        base = read_still(real, shown, known=last, shrunk=shrunk, patience=patience)
        for _attempt in range(ATTEMPTS):
            if base.exists:
                _notice(history, base)
            text = base.text(shown)
            new = make(text)
            if new == text and base.exists:
                return text  # nothing to change: no new version
            if check is not None:
                _checked(check, new)
            check_writable(real, shown, base)
            data = base.encode(new)
            history.keep(data)
            swap = swap_in(real, data, like=base, expected=base)
            for save in swap.displaced:
                _notice(history, save)
            if swap.written is None:  # saved meanwhile, nothing written: work on that save
                base = read_still(
                    real, shown, known=history.last(), shrunk=shrunk, patience=patience
                )
                continue
            history.record(
                data,
                by=author.via,
                what=author.what,
                at=swap.written.mtime,
                who=author.who,
                ino=swap.written.ino,
            )
            overwritten = _overwritten(real, shown, swap.written)
            if overwritten is None:
                return new
            _notice(history, overwritten)
            if not _undid(overwritten, text, new, shown):
                return new  # a save made on ours, or that changed those shots itself
            base = overwritten  # a save begun before ours undid it: the change again, on it
        _notice(history, base)
    raise StillmakeError(
        f"{shown} kept changing while stillmake was updating it; try again (nothing of this "
        "change was written; every save is kept: `stillmake history` lists them)"
    )


def _overwritten(real: Path, shown: Path, ours: Snapshot) -> Snapshot | None:
    """A save that replaced the file just written within VERIFY_SECONDS (once still), or
    None: the file stayed ours."""
    deadline = time.monotonic() + VERIFY_SECONDS
    while time.monotonic() < deadline:
        time.sleep(VERIFY_SECONDS / 5)
        now = read_once(real, shown)
        if not now.torn and now.sha == ours.sha and now.exists:
            continue
        try:
            return read_still(real, shown, known=None, shrunk=lambda s: False, patience=1.0)
        except StillmakeError:  # another program keeps rewriting it: its file, then
            return None
    return None


def _undid(save: Snapshot, before: str, after: str, shown: Path) -> bool:
    """Whether `save` holds, for every shot the write changed, the entry from before it:
    a buffer read before the write, saved over it. (A save that kept the write, or
    changed those shots its own way, stands.)"""
    try:
        old, new, saved = (parse(t, shown) for t in (before, after, save.text(shown)))
    except InputError:
        return False
    gone = object()
    changed = [s for s in dict.fromkeys([*old, *new]) if old.get(s, gone) != new.get(s, gone)]
    return bool(changed) and all(saved.get(s, gone) == old.get(s, gone) for s in changed)


def _notice(history: History, snap: Snapshot) -> None:
    history.notice(snap.data, mtime=snap.mtime, owner=snap.uid, ino=snap.ino)


def _checked(check: Callable[[str], object], text: str) -> None:
    try:
        check(text)
    except InputError as exc:
        raise InputError(
            f"{exc.detail}; nothing was written", file=exc.file, shot=exc.shot, key=exc.key
        ) from None
