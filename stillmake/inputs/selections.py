"""selections.yaml: the art director's decisions, loaded strictly, edited by round trip.

Two readers, one set of rules. The build reads with libyaml (fast); `stillmake pick`,
`lock` and `unlock` edit through ruamel.yaml so comments and key order survive. Both
first pass `_compose`, which refuses what YAML would otherwise take silently: a key
written twice (YAML keeps the last, so a stray `s3: {reroll: 1}` would drop s3's pick,
edits and lock), aliases that expand past MAX_ALIAS_VALUES (a "billion laughs"),
nesting past MAX_DEPTH (libyaml's composer overflows the C stack), a second document,
a top level that is not a mapping. Shot ids are read as written: `yes`, `040`, `1e3`
and `null` are shot ids, not a boolean, 32, 1000.0 and None.

Every writer goes through `update_selections`: read-modify-write under one lock beside
the file, re-read inside the lock, the result checked before an atomic rename, and new
strings quoted wherever a YAML 1.1 or 1.2 reader would retype them.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stillmake.errors import InputError, StillmakeError
from stillmake.files import atomic_write_text, locked, read_text_input
from stillmake.images import input_problem
from stillmake.inputs.masks import check_markup, check_mask, validate_region
from stillmake.inputs.schemas import validate

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

MAX_DEPTH = 64  # the file needs 6 levels; ruamel's composer and YAML's builders recurse
MAX_ALIAS_VALUES = 100_000  # values aliases may add beyond those written out
WHAT = "selections file"

_STR = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_YAML11 = yaml.resolver.Resolver()  # how PyYAML (the build) types a plain scalar
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


@dataclass(frozen=True)
class EditStep:
    change: str
    keep: str = ""
    region: tuple[float, float, float, float] | None = None
    mask: Path | None = None
    refs: tuple[Path, ...] = ()
    markup: Path | None = None  # strokes drawn over the source (models that take markup)

    def spec(self) -> dict:
        """What reaches the step's job as params (paths as given, relative to the workflow)."""
        spec = {
            "change": self.change,
            "keep": self.keep,
            "region": list(self.region) if self.region else None,
            "mask": str(self.mask) if self.mask else None,
            "refs": [str(r) for r in self.refs],
        }
        if self.markup:  # only when set: the params of every step written before stay as they were
            spec["markup"] = str(self.markup)
        return spec


@dataclass(frozen=True)
class Selection:
    shot: str
    pick: int | None = None
    drafts: str | None = None
    reject: dict = field(default_factory=dict)
    reroll: int = 0
    edits: tuple[EditStep, ...] = ()
    lock: bool = False


# -- reading: one strict composer for both loaders ------------------------------


@dataclass
class _Open:
    """A sequence or mapping being composed."""

    node: yaml.Node
    path: tuple  # from the document root: shot id, keys, 0-based list indices
    anchor: str | None
    key: yaml.Node | None = None  # a mapping's key still waiting for its value
    seen: dict = field(default_factory=dict)  # key -> line, to catch a key written twice
    size: int = 1  # values inside, aliases expanded


def _where(path: tuple) -> tuple[str | None, str | None]:
    """('s3', 'edits', 0, 'change') -> ('s3', 'edits[1].change'), as messages name keys."""
    if not path:
        return None, None
    key = ""
    for part in path[1:]:
        key += f"[{part + 1}]" if isinstance(part, int) else f".{part}" if key else str(part)
    return str(path[0]), key or None


def _lines(first: int, again: int) -> str:
    return f"lines {first} and {again}" if first != again else f"line {again}"


def _compose(loader: Any, path: Path) -> yaml.Node | None:
    """The document's node graph from libyaml's events, built without recursion and
    checked on the way (see the module docstring); None for an empty file."""
    loader.get_event()  # stream start
    if loader.check_event(yaml.StreamEndEvent):
        return None
    loader.get_event()  # document start
    anchors: dict[str, list] = {}  # anchor -> [node, size (None while open), line]
    stack: list[_Open] = []
    added = 0  # values the aliases expand to
    while True:
        event = loader.get_event()
        line = event.start_mark.line + 1
        if isinstance(event, (yaml.SequenceStartEvent, yaml.MappingStartEvent)):
            kind = (
                yaml.SequenceNode
                if isinstance(event, yaml.SequenceStartEvent)
                else yaml.MappingNode
            )
            if len(stack) >= MAX_DEPTH:
                shot, _key = _where(stack[-1].path)
                raise InputError(
                    f"nested more than {MAX_DEPTH} levels deep (line {line})", file=path, shot=shot
                )
            tag = (
                event.tag
                if event.tag not in (None, "!")
                else loader.resolve(kind, None, event.implicit)
            )
            node = kind(tag, [], event.start_mark, None, flow_style=event.flow_style)
            _anchor(anchors, event.anchor, node, None, line, path)
            stack.append(_Open(node, _child_path(stack), event.anchor))
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            done = stack.pop()
            done.node.end_mark = event.end_mark
            if done.anchor:
                anchors[done.anchor][1] = done.size
            node, size = done.node, done.size
        elif isinstance(event, yaml.AliasEvent):
            node, size = _alias(anchors, event.anchor, line, stack, path)
            added += size
            if added > MAX_ALIAS_VALUES:
                raise InputError(
                    f"aliases expand to more than {MAX_ALIAS_VALUES:,} values (line {line}): "
                    "write the values out, or use fewer aliases",
                    file=path,
                )
        else:  # a scalar
            tag = event.tag
            if tag in (None, "!"):
                tag = loader.resolve(yaml.ScalarNode, event.value, event.implicit)
            node = yaml.ScalarNode(tag, event.value, event.start_mark, event.end_mark, event.style)
            size = 1
            _anchor(anchors, event.anchor, node, 1, line, path)
        if not stack:
            break
        _add(loader, stack, node, size, path)
    loader.get_event()  # document end
    if not loader.check_event(yaml.StreamEndEvent):
        second = loader.peek_event().start_mark.line + 1
        raise InputError(
            f"holds more than one YAML document (another starts at line {second}); keep one",
            file=path,
        )
    return node


def _child_path(stack: list[_Open]) -> tuple:
    if not stack:
        return ()
    parent = stack[-1]
    if isinstance(parent.node, yaml.SequenceNode):
        return (*parent.path, len(parent.node.value))
    key = parent.key
    return (*parent.path, key.value if isinstance(key, yaml.ScalarNode) else "?")


def _anchor(
    anchors: dict, name: str | None, node: yaml.Node, size: int | None, line: int, path: Path
) -> None:
    if not name:
        return
    if name in anchors:
        raise InputError(
            f"anchor &{name} is defined twice ({_lines(anchors[name][2], line)}); rename one",
            file=path,
        )
    anchors[name] = [node, size, line]


def _alias(anchors: dict, name: str, line: int, stack: list[_Open], path: Path) -> tuple:
    if name not in anchors:
        raise InputError(f"alias *{name} on line {line} has no anchor &{name} before it", file=path)
    node, size, _line = anchors[name]
    if size is None:  # the anchored value is still open: the alias is inside it
        raise InputError(
            f"alias *{name} on line {line} refers to a value that contains it",
            file=path,
            shot=_where(_child_path(stack))[0],
        )
    return node, size


def _add(loader: Any, stack: list[_Open], node: yaml.Node, size: int, path: Path) -> None:
    parent = stack[-1]
    parent.size += size
    if isinstance(parent.node, yaml.SequenceNode):
        parent.node.value.append(node)
        return
    if parent.key is None:  # a key: check it now, its value comes next
        parent.key = node
        _check_key(loader, parent, node, top=len(stack) == 1, path=path)
        return
    parent.node.value.append((parent.key, node))
    parent.key = None


def _check_key(loader: Any, parent: _Open, key: yaml.Node, *, top: bool, path: Path) -> None:
    line = key.start_mark.line + 1
    if not isinstance(key, yaml.ScalarNode):
        if top:
            raise InputError(
                f"shot ids must be plain names (line {line} has a "
                f"{'list' if isinstance(key, yaml.SequenceNode) else 'mapping'} as a key)",
                file=path,
            )
        return  # YAML itself refuses an unhashable key when the value is built
    if top:
        same = key.value  # shot ids are read as written, never typed
    elif key.tag == _MERGE:
        same = "<<"
    elif key.tag == _STR:
        same = (_STR, key.value)  # most keys: no need to build them
    else:
        try:
            same = (key.tag, loader.construct_object(key))  # `1` and `01` are one key
            hash(same)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError):
            same = (key.tag, key.value)
    if same not in parent.seen:
        parent.seen[same] = line
        return
    lines = _lines(parent.seen[same], line)
    if top:
        raise InputError(
            f"key '{key.value}' appears twice ({lines}): YAML would keep only the last and "
            "drop the other's decisions; merge them into one entry",
            file=path,
            shot=key.value,
        )
    shot, where = _where((*parent.path, key.value))
    raise InputError(
        f"appears twice ({lines}): YAML would keep only the last; keep one",
        file=path,
        shot=shot,
        key=where,
    )


def _construct(loader: Any, root: yaml.Node | None, path: Path) -> dict:
    """Plain data; the top level by hand, so shot ids stay the text they were written as."""
    if root is None or (isinstance(root, yaml.ScalarNode) and root.tag == _NULL):
        return {}
    if not isinstance(root, yaml.MappingNode):
        what = (
            "a list" if isinstance(root, yaml.SequenceNode) else f"the text '{_short(root.value)}'"
        )
        raise InputError(
            f"must be a mapping of shot ids to decisions (like `s3: {{pick: 2}}`), not {what}",
            file=path,
        )
    data = {}
    for key, value in root.value:
        try:
            data[key.value] = loader.construct_object(value, deep=True)
        except (yaml.YAMLError, ValueError, TypeError, OverflowError) as exc:
            line, where = _unreadable(loader, value)
            why = getattr(exc, "problem", None) or str(exc) or type(exc).__name__
            raise InputError(
                f"cannot read a value on line {line} ({_short(why, 120)}); quote it if it is text",
                file=path,
                shot=key.value,
                key=where,
            ) from None
    return data


def _short(text: str, limit: int = 60) -> str:
    """One line of at most `limit` characters, for quoting a value in a message."""
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def _unreadable(loader: Any, node: yaml.Node) -> tuple[int, str | None]:
    """Line and key of the value in a shot's entry that YAML could not build."""
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            loader.constructed_objects, loader.recursive_objects = {}, {}
            try:
                loader.construct_object(value, deep=True)
            except (yaml.YAMLError, ValueError, TypeError, OverflowError):
                return value.start_mark.line + 1, getattr(key, "value", None)
    return node.start_mark.line + 1, None


def _yaml_error(exc: Exception, path: Path) -> InputError:
    """A parser's refusal in the user's terms. Newer libyaml (PyYAML >= 6.0.4) stops deep
    nesting itself, before the depth check above sees it: same limit, same words."""
    if "nesting depth" in str(exc):
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        return InputError(f"nested more than {MAX_DEPTH} levels deep{line}", file=path)
    return InputError(f"broken YAML: {exc}".replace("\n", " "), file=path)


def _parse(text: str, path: Path) -> dict:
    """selections.yaml text -> plain data, every check above applied (the build's loader)."""
    loader = _Loader(text)
    try:
        return _construct(loader, _compose(loader, path), path)
    except yaml.YAMLError as exc:
        raise _yaml_error(exc, path) from None
    finally:
        loader.dispose()


def _read(path: Path) -> str:
    """The file's text; an absent file is an empty one (no decisions yet)."""
    if not os.path.lexists(path):
        return ""
    return read_text_input(path, WHAT)


def _retyped(text: str) -> bool:
    """Would a YAML 1.1 reader (PyYAML: the build, most tools) take this plain scalar for
    something other than a string (`yes`, `on`, `040`, `0b11`, `1_000`, `null`)? ruamel's
    own YAML 1.2 rules already quote `1e3`, `10`, `true` when it writes them."""
    return _YAML11.resolve(yaml.ScalarNode, text, (True, False)) != _STR


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

    _parse(text, path)  # duplicates, alias bombs, depth, shape: before ruamel builds anything
    y = _yaml()
    try:
        node = y.compose(text)
        if isinstance(node, MappingNode):
            for key, _value in node.value:
                if isinstance(key, ScalarNode):
                    key.tag = _STR
                    if not key.style and _retyped(key.value):
                        key.style = "'"
        doc = y.constructor.construct_document(node) if node is not None else None
    except YAMLError as exc:
        raise _yaml_error(exc, path) from None
    return doc if doc is not None else CommentedMap()


def read_document(path: str | os.PathLike[str]) -> CommentedMap:
    """The round-trip document (CommentedMap); an absent file is an empty document."""
    path = Path(path)
    return _round_trip(_read(path), path)


def parse_document(text: str, path: str | os.PathLike[str]) -> CommentedMap:
    """The round-trip document of `text` (what `update_selections` returned, say)."""
    return _round_trip(text, Path(path))


def _dump(doc: CommentedMap) -> str:
    buf = io.StringIO()
    _yaml().dump(doc, buf)
    return buf.getvalue()


def write_document(path: str | os.PathLike[str], doc: CommentedMap) -> None:
    """Write a document read with `read_document` (atomically, keeping the file's mode).
    Use `update_selections` for an edit: it holds the lock from the read to the write."""
    _write(Path(path), _dump(doc))


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
            before = _read(path)
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
            if _read(path) == before:
                _write(path, text)
                return text
    raise StillmakeError(f"{path} kept changing while stillmake was updating it; try again")


def _plain(node: object) -> Any:
    """Containers -> fresh plain dict/list (aliased values are copied, not shared), so JSON
    Schema sees ordinary types and later changes touch one place."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, int) else k: _plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [_plain(v) for v in node]
    return node


def _locate(path: tuple, data: object) -> tuple[str | None, str | None]:
    if not path:
        return None, None
    return str(path[0]), ".".join(map(str, path[1:])) or None


def load_selections(
    path: str | os.PathLike[str],
    *,
    shots: list[str],
    draft_n: int,
    check_files: bool = True,
    root: str | os.PathLike[str] | None = None,
    text: str | None = None,
) -> dict[str, Selection]:
    """Every shot of the production gets a Selection (empty when not mentioned).

    `root` is the workflow directory (default: the current one); masks and reference
    images must lie inside it. `text` checks a would-be content of `path` instead of
    what is on disk (what `update_selections` is about to write)."""
    path = Path(path)
    data = _plain(_parse(_read(path) if text is None else text, path))
    # YAML reads `reject: {1: ...}` with int keys; the schema wants string keys.
    for entry in data.values():
        if isinstance(entry, dict) and isinstance(entry.get("reject"), dict):
            entry["reject"] = {str(k): v for k, v in entry["reject"].items()}
    validate(data, "selections.schema.yaml", file=path, shot_of=_locate)
    files = _Files(path, Path(os.path.normpath(Path(root or ".").absolute())), check_files)
    out = {s: Selection(shot=s) for s in shots}
    for shot, entry in data.items():
        if shot not in out:
            raise InputError(
                f"unknown shot id (the prompts file has {', '.join(shots)})", file=path, shot=shot
            )
        out[shot] = _selection(path, files, shot, entry or {}, draft_n)
    return out


@dataclass(frozen=True)
class _Files:
    """Where the files a step names are looked for, and whether to look at them."""

    selections: Path
    root: Path  # absolute, normalised: the workflow directory
    check: bool

    @property
    def base(self) -> Path:
        return self.selections.parent

    def inside(self, what: str, name: str, where: dict) -> Path:
        """base/name, refused when it leads out of the workflow directory."""
        path = self.base / name
        absolute = Path(os.path.normpath(path.absolute()))
        if not absolute.is_relative_to(self.root):
            folder = {"mask": "masks", "markup": "markup"}.get(what.split()[0], "refs")
            raise InputError(
                f"{what} '{name}' ({absolute}) is outside the workflow directory {self.root}: "
                f"copy it into the workflow (e.g. runs/input/{folder}/) and name it from there",
                **where,
            )
        return path


def _check_image(path: Path, where: dict) -> None:
    """A step reference the Images API will take: a whole PNG, JPEG or WebP image (the
    same check, in the same words, as the character references' in specs)."""
    if path.is_dir():
        raise InputError(f"reference image {path} is a directory, not an image", **where)
    if not path.is_file():
        raise InputError(f"reference image {path} not found", **where)
    problem = input_problem(path)
    if problem:
        raise InputError(f"reference image {path} {problem}", **where)


def _selection(path: Path, files: _Files, shot: str, e: dict, draft_n: int) -> Selection:
    pick = e.get("pick")
    if pick is not None and not 1 <= pick <= draft_n:
        raise InputError(
            f"pick {pick} is outside 1..{draft_n} (draft.n)", file=path, shot=shot, key="pick"
        )
    reject = {}
    for k, reason in (e.get("reject") or {}).items():
        try:
            kk = int(k)
        except ValueError:
            kk = 0
        if not 1 <= kk <= draft_n:
            raise InputError(
                f"rejected draft '{k}' is outside 1..{draft_n}", file=path, shot=shot, key="reject"
            )
        if kk == pick:
            raise InputError(
                f"draft {kk} is both picked and rejected", file=path, shot=shot, key="reject"
            )
        reject[kk] = reason
    edits = tuple(
        _step(files, shot, j, step) for j, step in enumerate(e.get("edits") or [], start=1)
    )
    lock = bool(e.get("lock", False))
    if lock and pick is None:
        raise InputError(
            "lock: true needs a pick first (stillmake pick SHOT K)",
            file=path,
            shot=shot,
            key="lock",
        )
    if edits and pick is None:
        raise InputError(
            "edits need a pick to start from (stillmake pick SHOT K)",
            file=path,
            shot=shot,
            key="edits",
        )
    return Selection(
        shot=shot,
        pick=pick,
        drafts=e.get("drafts"),
        reject=reject,
        reroll=int(e.get("reroll", 0)),
        edits=edits,
        lock=lock,
    )


def _step_file(
    files: _Files, step: dict, name: str, check: Callable[..., None], shot: str, key: str
) -> Path | None:
    """The mask or markup file a step names (inside the workflow, checked), or None."""
    if not step.get(name):
        return None
    where = dict(file=files.selections, shot=shot, key=f"{key}.{name}")
    found = files.inside(f"{name} file", step[name], where)
    if files.check:
        check(found, **where)
    return found


def _step(files: _Files, shot: str, j: int, step: dict) -> EditStep:
    key = f"edits[{j}]"
    path = files.selections
    if "region" in step and "mask" in step:
        raise InputError("give either region or mask, not both", file=path, shot=shot, key=key)
    if "markup" in step and ("region" in step or "mask" in step):
        raise InputError(
            "give markup, or a region or mask, not both (the API takes a markup without a mask)",
            file=path,
            shot=shot,
            key=key,
        )
    region = None
    if "region" in step:
        region = validate_region(step["region"], file=path, shot=shot, key=f"{key}.region")
    mask = _step_file(files, step, "mask", check_mask, shot, key)
    markup = _step_file(files, step, "markup", check_markup, shot, key)
    refs = []
    for name in step.get("refs") or []:
        where = dict(file=path, shot=shot, key=f"{key}.refs")
        ref = files.inside("reference image", name, where)
        if files.check:
            _check_image(ref, where)
        refs.append(ref)
    return EditStep(
        change=step["change"].strip(),
        keep=(step.get("keep") or "").strip(),
        region=region,
        mask=mask,
        refs=tuple(refs),
        markup=markup,
    )


# -- round-trip edits (stillmake pick / lock / unlock, the review board) ------


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


def entry_digest(doc: dict, shot: str) -> str:
    """A digest of one shot's decisions as data (comments and layout aside): what a page
    showed, so a write can tell whether the shot changed on disk since."""
    entry = _plain(doc.get(shot)) if isinstance(doc, dict) else None
    body = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]


def set_pick(
    path: str | os.PathLike[str],
    shot: str,
    k: int,
    drafts_fp: str,
    rejects: dict[int, str],
    *,
    check: Callable[[str], object] | None = None,
) -> None:
    """Pick draft k of `shot`, bound to the drafts' fingerprint (see update_selections)."""
    update_selections(path, pick_change(shot, k, drafts_fp, rejects, path), check=check)


def set_lock(
    path: str | os.PathLike[str],
    shots: list[str],
    locked: bool,
    *,
    check: Callable[[str], object] | None = None,
) -> None:
    """Lock or unlock shots (see update_selections)."""
    update_selections(path, lock_change(shots, locked, path), check=check)
