"""Writing selections.yaml: round-trip edits through ruamel.yaml (comments, order and
quoting survive), the one way every front end changes the file.

`update_selections` is read-modify-write under one lock beside the file: the file is
re-read inside the lock, the result checked (it must load as the build loads it) before
an atomic rename, and new strings quoted wherever a YAML 1.1 or 1.2 reader would retype
them.
"""

from __future__ import annotations

import io
import os
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stillmake.errors import InputError, StillmakeError
from stillmake.files import atomic_write_text, locked
from stillmake.inputs.selections.read import STR_TAG, parse, read_text, yaml_error

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

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


def _write(path: Path, text: str) -> None:
    mode = path.stat().st_mode & 0o7777 if path.is_file() else None
    atomic_write_text(path, text)
    if mode is not None:
        os.chmod(path, mode)  # the temp file was 0600


def lock_path(path: str | os.PathLike[str]) -> Path:
    """The lock every writer of `path` holds from its read to its write."""
    path = Path(path)
    return path.with_name(f".{path.name}.lock")


def update_selections(
    path: str | os.PathLike[str],
    change: Callable[[CommentedMap], object],
    *,
    check: Callable[[str], object] | None = None,
    attempts: int = 5,
) -> str:
    """The one way to change selections.yaml (`stillmake pick/lock/unlock`, a review board):
    under the lock beside the file, read it, `change(doc)` in place, `check(text)` the
    result (raise InputError to refuse: nothing is written), write it atomically.

    Concurrent writers queue on the lock, so none loses another's decision. A save by an
    editor (which takes no lock) between the read and the write is noticed and the
    change is made again on what was saved. Returns the text written."""
    path = Path(path)
    with locked(lock_path(path)):
        for _attempt in range(attempts):
            before = read_text(path)
            doc = _round_trip(before, path)
            change(doc)
            text = _dump(doc)
            if check is not None:
                try:
                    check(text)
                except InputError as exc:
                    raise InputError(
                        f"{exc.detail}; nothing was written",
                        file=exc.file,
                        shot=exc.shot,
                        key=exc.key,
                    ) from None
            if read_text(path) == before:
                _write(path, text)
                return text
    raise StillmakeError(f"{path} kept changing while stillmake was updating it; try again")


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


def approve_change(approved: dict[str, str], path: str | os.PathLike[str]) -> Callable:
    """The change of a lock that approves one candidate per shot: `lock: <fingerprint>`
    (quoted where a YAML reader would take the digits for a number)."""

    def change(doc: CommentedMap) -> None:
        for shot, fp in approved.items():
            entry = _entry(doc, shot, Path(path))
            if "lock" in entry:
                entry["lock"] = _scalar(fp)
            else:
                _append(entry, "lock", _scalar(fp))

    return change


def _append(entry: CommentedMap, key: str, value: object) -> None:
    """Add `key` after the entry's last key, moving the blank lines that end the entry
    (ruamel keeps them as the last key's comment) below the new key, so the entry stays
    one block and the line before the next shot stays blank."""
    from ruamel.yaml.error import CommentMark
    from ruamel.yaml.tokens import CommentToken

    last = next(reversed(entry), None) if len(entry) else None
    entry[key] = value
    tokens = entry.ca.items.get(last) if last is not None else None
    if not tokens or len(tokens) < 3 or tokens[2] is None:
        return
    text = tokens[2].value
    newlines = len(text) - len(text.rstrip("\n"))
    comment = text[: len(text) - newlines]
    tokens[2] = CommentToken(comment + "\n", tokens[2].start_mark) if comment.strip() else None
    entry.ca.items[key] = [None, None, CommentToken("\n" * newlines, CommentMark(0)), None]


def waive_change(shot: str, check: str, reason: str, path: str | os.PathLike[str]) -> Callable:
    """The change of a waiver: the gate's `check` may fail on `shot`'s candidate, because
    `reason` (kept in a `waive:` mapping, made before `lock` if absent)."""

    def change(doc: CommentedMap) -> None:
        from ruamel.yaml.comments import CommentedMap

        entry = _entry(doc, shot, Path(path))
        waive = entry.get("waive")
        if waive is None:
            waive = CommentedMap()
            keys = [k for k in entry if k != "lock"]
            _put(entry, "waive", waive, keys[-1] if keys else None)
        waive[_scalar(check)] = _scalar(reason)

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
