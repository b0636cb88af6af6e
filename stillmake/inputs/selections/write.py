"""Writing selections.yaml: round-trip edits through ruamel.yaml (comments, order and
quoting survive), the one way every front end changes the file.

`update_selections` is read-modify-write under one lock beside the file: the file is
read once it is still (ondisk.py), the result checked (it must load as the build loads
it), every version kept in the history (history.py), and the new file swapped in over
exactly the one read; new strings are quoted wherever a YAML 1.1 or 1.2 reader would
retype them.
"""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stillmake.errors import InputError, StillmakeError
from stillmake.files import locked
from stillmake.inputs.selections.history import History, Version, user_name
from stillmake.inputs.selections.ondisk import (
    Snapshot,
    check_writable,
    read_still,
    real_path,
    swap_in,
)
from stillmake.inputs.selections.read import STR_TAG, parse, read_text, yaml_error

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

_YAML11 = yaml.resolver.Resolver()  # how PyYAML (the build) types a plain scalar


def _retyped(text: str) -> bool:
    """Would a YAML 1.1 reader (PyYAML: the build, most tools) take this plain scalar for
    something other than a string (`yes`, `on`, `040`, `0b11`, `1_000`, `null`)? ruamel's
    own YAML 1.2 rules already quote `1e3`, `10`, `true` when it writes them."""
    return _YAML11.resolve(yaml.ScalarNode, text, (True, False)) != STR_TAG


def _scalar(text: str) -> str:
    """A string to write: quoted when a YAML reader would otherwise retype it."""
    from ruamel.yaml.scalarstring import SingleQuotedScalarString

    return SingleQuotedScalarString(text) if _retyped(text) else text


def _yaml() -> YAML:
    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 100
    return y


def _round_trip(text: str, path: Path) -> CommentedMap:
    """The round-trip document (CommentedMap) of `text`, refused exactly where the build's
    loader refuses it; shot ids as written, quoted from now on if YAML 1.1 would retype them."""
    from ruamel.yaml.comments import CommentedMap
    from ruamel.yaml.nodes import MappingNode, ScalarNode

    parse(text, path)  # duplicates, alias bombs, depth, shape: before ruamel builds anything
    y = _yaml()
    try:
        node = y.compose(text)
        if isinstance(node, MappingNode):
            for key, _value in node.value:
                if isinstance(key, ScalarNode):
                    key.tag = STR_TAG
                    if not key.style and _retyped(key.value):
                        key.style = "'"
        doc = y.constructor.construct_document(node) if node is not None else None
    except YAMLError as exc:
        raise yaml_error(exc, path) from None
    return doc if doc is not None else CommentedMap()


def read_document(path: str | os.PathLike[str]) -> CommentedMap:
    """The round-trip document (CommentedMap); an absent file is an empty document."""
    path = Path(path)
    return _round_trip(read_text(path), path)


def parse_document(text: str, path: str | os.PathLike[str]) -> CommentedMap:
    """The round-trip document of `text` (what `update_selections` returned, say)."""
    return _round_trip(text, Path(path))


def _dump(doc: CommentedMap) -> str:
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


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


ATTEMPTS = 16  # saves slipping in, one after another, before stillmake gives up


@contextlib.contextmanager
def _locked_for(path: Path, shown: Path) -> Iterator[None]:
    lock = lock_path(path)
    try:
        with locked(lock):
            yield
    except OSError as exc:
        if exc.filename is not None and Path(exc.filename) != lock:
            raise
        raise StillmakeError(
            f"cannot lock {shown} for writing: {lock} cannot be made ({exc.strerror or exc}); "
            f"nothing was written: make {lock.parent} writable"
        ) from None


def _shrunk(history: History, last: Version | None, shown: Path) -> Callable[[Snapshot], bool]:
    """Whether a read lacks shots the last version kept had (or does not load): what a
    file being written in place looks like halfway. Shots stillmake added since the last
    hand-saved version do not count: an editor's buffer read before them lacks them."""
    if last is None:
        return lambda snap: False
    expected: list[set] = []

    def shrunk(snap: Snapshot) -> bool:
        if not expected:
            hand = history.last_by_hand()
            kept = history.decisions(last.sha) or {}
            by_hand = history.decisions(hand.sha) or {} if hand is not None else kept
            expected.append(set(kept) & set(by_hand))
        try:
            now = parse(snap.text(shown), shown)
        except InputError:
            return True
        return bool(expected[0] - set(now))

    return shrunk


def commit(
    path: str | os.PathLike[str],
    make: Callable[[str, list[str], Version | None], str],
    *,
    check: Callable[[str], object] | None = None,
    author: Author | None = None,
) -> str:
    """Write `make(text, put_back, source)` over the file, under its lock, over exactly
    the file it read; every version it replaces (and its own) kept in the history first.

    `make` gets the file's text (\n line ends) and returns the new text; `put_back`
    names shots whose stillmake decisions a hand save undid unseen (take them from
    version `source`). A save made meanwhile is found before the swap, or handed back by
    it: it stays on disk, is kept, and `make` runs again on it. Returns the text."""
    author = author or Author()
    shown = Path(path)
    real = real_path(path)
    with _locked_for(real, shown):
        history = History(real, shown)
        last = history.last()
        shrunk = _shrunk(history, last, shown)
        snap = read_still(real, shown, known=last, shrunk=shrunk)
        base = snap
        for _attempt in range(ATTEMPTS):
            put_back, source = [], None
            if base.exists:
                if last is None or base.sha != last.sha:
                    put_back, source = history.undone(base.data, base.mtime)
                _notice(history, base)
            text = base.text(shown)
            new = make(text, put_back, source)
            if new == text and base.exists:
                return text  # nothing to change: no new version
            if check is not None:
                _checked(check, new)
            check_writable(real, shown, snap)
            data = base.encode(new)
            history.keep(data)
            swap = swap_in(real, data, like=snap, expected=base)
            for save in swap.displaced:
                _notice(history, save)
            if swap.written is not None:
                said = _putting_back(author, put_back, source) if put_back else author
                history.record(
                    data,
                    by=said.via,
                    what=said.what,
                    at=swap.written.mtime,
                    who=said.who,
                )
                return new
            last = history.last()  # saved meanwhile, nothing written: work on that save
            base = read_still(real, shown, known=last, shrunk=shrunk)
    raise StillmakeError(
        f"{shown} kept changing while stillmake was updating it; try again (nothing of this "
        "change was written; every save is kept: `stillmake history` lists them)"
    )


def _notice(history: History, snap: Snapshot) -> None:
    history.notice(snap.data, mtime=snap.mtime, owner=snap.uid)


def _putting_back(author: Author, shots: list[str], source: Version | None) -> Author:
    assert source is not None
    said = (
        f"put back {', '.join(shots)} as version {source.n} ({source.by}: {source.what}) had "
        "them: a save begun before it undid them"
    )
    return Author(author.via, f"{author.what}; {said}" if author.what else said, author.who)


def _checked(check: Callable[[str], object], text: str) -> None:
    try:
        check(text)
    except InputError as exc:
        raise InputError(
            f"{exc.detail}; nothing was written", file=exc.file, shot=exc.shot, key=exc.key
        ) from None


def _comments_only(text: str) -> bool:
    """A file of comments and blank lines (no decisions yet): kept above the first one."""
    return bool(text.strip()) and all(
        not line.strip() or line.lstrip().startswith("#") or line.strip() == "---"
        for line in text.splitlines()
    )


def _put_back(doc: CommentedMap, shots: list[str], source: dict) -> None:
    """Shots' decisions as `source` (plain data) has them, changing only what differs:
    the comments on and after what stays (hand-written lines too) stay where they are."""
    order = list(source)
    for shot in shots:
        if shot not in source:
            doc.pop(shot, None)
        elif shot in doc and isinstance(doc[shot], dict) and isinstance(source[shot], dict):
            _assign(doc[shot], source[shot])
        elif shot in doc:
            doc[shot] = _fresh(source[shot])
        else:
            before = [k for k in order[: order.index(shot)] if k in doc]
            pos = list(doc.keys()).index(before[-1]) + 1 if before else 0
            doc.insert(pos, _scalar(shot), _fresh(source[shot]))


def _assign(node: CommentedMap | CommentedSeq, want: dict | list) -> None:
    """Make a round-trip mapping or list equal to plain `want` in place, keeping every
    node (and the comments on it) that already agrees."""
    from stillmake.inputs.selections.model import plain

    if isinstance(node, dict) and isinstance(want, dict):
        for key in [k for k in node if k not in want]:
            del node[key]
        for key, value in want.items():
            if key in node and plain(node[key]) == value:
                continue
            if key in node and _same_kind(node[key], value):
                _assign(node[key], value)
            else:
                node[key] = _fresh(value)
        return
    for i, value in enumerate(want[: len(node)]):
        if plain(node[i]) != value:
            if _same_kind(node[i], value):
                _assign(node[i], value)
            else:
                node[i] = _fresh(value)
    del node[len(want) :]
    node.extend(_fresh(v) for v in want[len(node) :])


def _same_kind(node: object, value: object) -> bool:
    return (isinstance(node, dict) and isinstance(value, dict)) or (
        isinstance(node, list) and isinstance(value, list)
    )


def _fresh(value: object) -> object:
    """Plain data as round-trip nodes, written as stillmake writes new decisions: lists
    of plain values and mappings of them on one line, strings quoted where YAML would
    retype them."""
    from ruamel.yaml.comments import CommentedMap, CommentedSeq

    if isinstance(value, dict):
        node = CommentedMap((k, _fresh(v)) for k, v in value.items())
        if value and not any(isinstance(v, (dict, list)) for v in value.values()):
            node.fa.set_flow_style()
        return node
    if isinstance(value, list):
        seq = CommentedSeq(_fresh(v) for v in value)
        if not any(isinstance(v, (dict, list)) for v in value):
            seq.fa.set_flow_style()
        return seq
    return _scalar(value) if isinstance(value, str) else value


def update_selections(
    path: str | os.PathLike[str],
    change: Callable[[CommentedMap], object] | None,
    *,
    check: Callable[[str], object] | None = None,
    author: Author | None = None,
) -> str:
    """The one way to change selections.yaml (`stillmake pick/lock/unlock`, a review board):
    under the lock beside the file, read it once it is still, `change(doc)` in place,
    `check(text)` the result (raise InputError to refuse: nothing is written), and swap
    it in over exactly the file read (see `commit`). Comments, order, line endings and
    BOM survive; every version is kept in the history. `change` None: only notice the
    file as it is (and put back decisions a stale editor save undid). Returns the text."""
    path = Path(path)
    history = History(real_path(path), path)

    def make(text: str, put_back: list[str], source: Version | None) -> str:
        if change is None and not put_back:
            return text
        doc = _round_trip(text, path)
        if put_back and source is not None:
            _put_back(
                doc, put_back, _round_trip(history.data(source.sha).decode("utf-8-sig"), path)
            )
        if change is not None:
            change(doc)
        out = _dump(doc)
        if _comments_only(text):
            out = text.rstrip("\n") + "\n" + out
        return out

    return commit(path, make, check=check, author=author)


def _entry(doc: CommentedMap, shot: str, path: Path) -> CommentedMap:
    from ruamel.yaml.comments import CommentedMap

    entry = doc.get(shot)
    if entry is None:
        if shot not in doc:
            doc[_scalar(shot)] = CommentedMap()
        else:
            doc[shot] = CommentedMap()  # `s3:` with nothing after it
        entry = doc[shot]
    if not isinstance(entry, dict):
        raise InputError("is not a mapping of decisions (pick, lock, ...)", file=path, shot=shot)
    return entry


def _put(entry: CommentedMap, key: str, value: object, after: str | None) -> None:
    """Set key, placing a new key right after `after` (not after trailing comments)."""
    if key in entry:
        entry[key] = value
        return
    keys = list(entry.keys())
    pos = keys.index(after) + 1 if after in keys else 0
    entry.insert(pos, key, value)


def _draft_number(key: object) -> int | None:
    try:
        return int(str(key))
    except ValueError:
        return None


def pick_change(
    shot: str, k: int, drafts_fp: str, rejects: dict[int, str], path: str | os.PathLike[str]
) -> Callable[[CommentedMap], None]:
    """The change of a pick: draft k of `shot`, bound to the drafts' fingerprint, with the
    reasons other drafts lost (a reject of the picked draft itself is dropped)."""

    def change(doc: CommentedMap) -> None:
        entry = _entry(doc, shot, Path(path))
        _put(entry, "pick", k, None)
        _put(entry, "drafts", _scalar(drafts_fp), "pick")
        reject = entry.get("reject")
        if rejects:
            reject = _rejects(entry)
            for kk, reason in rejects.items():
                _set_reject(reject, kk, reason)
        if reject:
            for old in [o for o in reject if _draft_number(o) == k]:
                del reject[old]

    return change


def _rejects(entry: CommentedMap) -> CommentedMap:
    """The shot's `reject:` mapping, made (in flow style, after `drafts`) if absent."""
    from ruamel.yaml.comments import CommentedMap

    reject = entry.get("reject")
    if reject is None:
        reject = CommentedMap()
        reject.fa.set_flow_style()
        _put(entry, "reject", reject, "drafts" if "drafts" in entry else "pick")
    return reject


def _set_reject(reject: CommentedMap, k: int, reason: str) -> None:
    for old in [o for o in reject if _draft_number(o) == k]:
        del reject[old]  # `'2': ...` written by hand is draft 2 too
    reject[k] = _scalar(reason)


def reject_change(shot: str, k: int, reason: str, path: str | os.PathLike[str]) -> Callable:
    """The change of a reject: draft k of `shot` lost, for `reason`."""

    def change(doc: CommentedMap) -> None:
        _set_reject(_rejects(_entry(doc, shot, Path(path))), k, reason)

    return change


def lock_change(shots: list[str], locked: bool, path: str | os.PathLike[str]) -> Callable:
    """The change of a lock or unlock of shots."""

    def change(doc: CommentedMap) -> None:
        for shot in shots:
            _entry(doc, shot, Path(path))["lock"] = locked

    return change


def reroll_change(shot: str, path: str | os.PathLike[str]) -> Callable:
    """The change of a reroll: `reroll` one up, so the shot's draft request (and with it
    its drafts) is new while every other shot keeps its own."""

    def change(doc: CommentedMap) -> None:
        entry = _entry(doc, shot, Path(path))
        reroll = entry.get("reroll")
        after = next((k for k in ("reject", "drafts", "pick") if k in entry), None)
        _put(entry, "reroll", (reroll if isinstance(reroll, int) else 0) + 1, after)

    return change


def step_change(shot: str, step: dict, path: str | os.PathLike[str]) -> Callable:
    """The change of a new edit step appended to the shot's `edits` (one change per step)."""

    def change(doc: CommentedMap) -> None:
        from ruamel.yaml.comments import CommentedMap, CommentedSeq

        entry = _entry(doc, shot, Path(path))
        edits = entry.get("edits")
        if edits is None:
            edits = CommentedSeq()
            after = next((k for k in ("reroll", "reject", "drafts", "pick") if k in entry), None)
            _put(entry, "edits", edits, after)
        new = CommentedMap()
        for key, value in step.items():
            if isinstance(value, list):
                seq = CommentedSeq(value)
                seq.fa.set_flow_style()
                value = seq
            elif isinstance(value, str):
                value = _scalar(value)
            new[key] = value
        edits.append(new)

    return change
