"""Writing selections.yaml: round-trip edits through ruamel.yaml (comments, order and
quoting survive), the one way every front end changes the file.

`update_selections` is read-modify-write under one lock beside the file: the file is
read once it is still (ondisk.py), the result checked (it must load as the build loads
it), every version kept in the history (history.py), and the new file swapped in over
exactly the one read; new strings are quoted wherever a YAML 1.1 or 1.2 reader would
retype them.
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

from stillmake.errors import InputError
from stillmake.inputs.selections.commit import Author, commit
from stillmake.inputs.selections.ondisk import PATIENCE_SECONDS
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


def _comments_only(text: str) -> bool:
    """A file of comments and blank lines (no decisions yet): kept above the first one."""
    return bool(text.strip()) and all(
        not line.strip() or line.lstrip().startswith("#") or line.strip() == "---"
        for line in text.splitlines()
    )


def update_selections(
    path: str | os.PathLike[str],
    change: Callable[[CommentedMap], object] | None,
    *,
    check: Callable[[str], object] | None = None,
    author: Author | None = None,
    patience: float = PATIENCE_SECONDS,
) -> str:
    """The one way to change selections.yaml (`stillmake pick/lock/unlock`, a review board):
    `change(doc)` the round-trip document in place, `check(text)` the result (raise
    InputError to refuse: nothing is written), committed over exactly the file read
    (commit.py). Comments, order, line endings and BOM survive; every version is kept
    in the history. `change` None: only keep the file as it is now in the history.
    Returns the text."""
    path = Path(path)

    def make(text: str) -> str:
        if change is None:
            return text
        doc = _round_trip(text, path)
        change(doc)
        out = _dump(doc)
        if _comments_only(text):
            out = text + ("" if text.endswith("\n") else "\n") + out
        return out

    return commit(path, make, check=check, author=author, patience=patience)


def _entry(doc: CommentedMap, shot: str, path: Path) -> CommentedMap:
    from ruamel.yaml.comments import CommentedMap

    entry = doc.get(shot)
    if entry is None:
        if shot not in doc:
            doc[_scalar(shot)] = CommentedMap()
        else:
            doc[shot] = CommentedMap()  # `s3:` with nothing after it
        entry = doc[shot]
    if not isinstance(entry, CommentedMap):
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
