"""Reading selections.yaml strictly: the build's loader (libyaml, fast) behind one
composer that refuses what YAML would otherwise take silently.

A key written twice (YAML keeps the last, so a stray `s3: {reroll: 1}` would drop s3's
pick, edits and lock), aliases that expand past MAX_ALIAS_VALUES (a "billion laughs"),
nesting past MAX_DEPTH (libyaml's composer overflows the C stack), a second document,
a top level that is not a mapping: each is refused with its line. Shot ids are read as
written: `yes`, `040`, `1e3` and `null` are shot ids, not a boolean, 32, 1000.0 and None.

ruamel.yaml refuses duplicate keys too, but reads a 1000-shot file about 13 times
slower than libyaml; the writer (write.py) uses ruamel for the round trip and this
reader first, so both refuse the same files in the same words.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from stillmake.errors import InputError
from stillmake.files import read_text_input

MAX_DEPTH = 64  # the file needs 6 levels; ruamel's composer and YAML's builders recurse
MAX_ALIAS_VALUES = 100_000  # values aliases may add beyond those written out
WHAT = "selections file"

STR_TAG = "tag:yaml.org,2002:str"
_NULL = "tag:yaml.org,2002:null"
_MERGE = "tag:yaml.org,2002:merge"
_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
NodePath = tuple[Any, ...]  # where a node is: shot id, keys, 0-based list indices


@dataclass
class _Open:
    """A sequence or mapping being composed."""

    node: yaml.SequenceNode | yaml.MappingNode
    path: NodePath  # from the document root: shot id, keys, 0-based list indices
    anchor: str | None
    key: yaml.Node | None = None  # a mapping's key still waiting for its value
    # key (as it compares) -> line, to catch a key written twice
    seen: dict[object, int] = field(default_factory=dict)
    size: int = 1  # values inside, aliases expanded


@dataclass
class _Anchored:
    """A value with an &anchor: its node, its size once closed (None while open), its line."""

    node: yaml.Node
    size: int | None
    line: int


def _where(path: NodePath) -> tuple[str | None, str | None]:
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
    anchors: dict[str, _Anchored] = {}
    stack: list[_Open] = []
    added = 0  # values the aliases expand to
    node: yaml.Node
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
            # libyaml's marks are yaml._yaml.Mark: the stubs let nodes hold yaml.error.Mark
            # only, yet every node libyaml composes holds one of its own
            opened = kind(
                tag,
                [],
                event.start_mark,  # type: ignore[arg-type]
                None,
                flow_style=event.flow_style,
            )
            _anchor(anchors, event.anchor, opened, None, line, path)
            stack.append(_Open(opened, _child_path(stack), event.anchor))
            continue
        if isinstance(event, (yaml.SequenceEndEvent, yaml.MappingEndEvent)):
            done = stack.pop()
            done.node.end_mark = event.end_mark
            if done.anchor:
                anchors[done.anchor].size = done.size
            node, size = done.node, done.size
        elif isinstance(event, yaml.AliasEvent):
            assert event.anchor is not None  # an alias is its anchor's name
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


def _child_path(stack: list[_Open]) -> NodePath:
    if not stack:
        return ()
    parent = stack[-1]
    if isinstance(parent.node, yaml.SequenceNode):
        return (*parent.path, len(parent.node.value))
    key = parent.key
    return (*parent.path, key.value if isinstance(key, yaml.ScalarNode) else "?")


def _anchor(
    anchors: dict[str, _Anchored],
    name: str | None,
    node: yaml.Node,
    size: int | None,
    line: int,
    path: Path,
) -> None:
    if not name:
        return
    if name in anchors:
        raise InputError(
            f"anchor &{name} is defined twice ({_lines(anchors[name].line, line)}); rename one",
            file=path,
        )
    anchors[name] = _Anchored(node, size, line)


def _alias(
    anchors: dict[str, _Anchored], name: str, line: int, stack: list[_Open], path: Path
) -> tuple[yaml.Node, int]:
    if name not in anchors:
        raise InputError(f"alias *{name} on line {line} has no anchor &{name} before it", file=path)
    node, size = anchors[name].node, anchors[name].size
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
    elif key.tag == STR_TAG:
        same = (STR_TAG, key.value)  # most keys: no need to build them
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


def _construct(loader: Any, root: yaml.Node | None, path: Path) -> dict[str, Any]:
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


def yaml_error(exc: Exception, path: Path) -> InputError:
    """A parser's refusal in the user's terms. Newer libyaml (PyYAML >= 6.0.4) stops deep
    nesting itself, before the depth check above sees it: same limit, same words."""
    if "nesting depth" in str(exc):
        mark = getattr(exc, "problem_mark", None)
        line = f" (line {mark.line + 1})" if mark is not None else ""
        return InputError(f"nested more than {MAX_DEPTH} levels deep{line}", file=path)
    return InputError(f"broken YAML: {exc}".replace("\n", " "), file=path)


def parse(text: str, path: Path) -> dict[str, Any]:
    """selections.yaml text -> plain data, every check above applied (the build's loader)."""
    loader = _Loader(text)
    try:
        return _construct(loader, _compose(loader, path), path)
    except yaml.YAMLError as exc:
        raise yaml_error(exc, path) from None
    finally:
        loader.dispose()


def read_text(path: Path) -> str:
    """The file's text; an absent file is an empty one (no decisions yet)."""
    if not os.path.lexists(path):
        return ""
    return read_text_input(path, WHAT)
