"""Load and validate a production's prompts file (the text sent is composed in compose.py)."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillmake.errors import InputError
from stillmake.files import read_text_input
from stillmake.inputs.schemas import validate, yaml_line
from stillmake.paths import clashing_shot_ids


@dataclass(frozen=True)
class Character:
    id: str
    description: str
    refs: tuple[Path, ...] = ()


@dataclass(frozen=True)
class Shot:
    id: str
    prompt: str
    negative: str = ""
    lighting: str | None = None
    size: str | None = None
    characters: tuple[str, ...] = ()
    title: str = ""
    beat: str = ""
    # the preview backend's drafts drawn to fail on purpose, as a request carries them:
    # "1:identity,3:highlights" (the shot's `preview` key; other backends ignore it)
    preview: str | None = None


@dataclass
class Production:
    path: Path
    project: str
    style: str
    constraints: tuple[str, ...]
    negative: str
    characters: dict[str, Character]
    shots: dict[str, Shot] = field(default_factory=dict)

    @property
    def shot_ids(self) -> list[str]:
        return list(self.shots)

    def shot(self, shot_id: str) -> Shot:
        try:
            return self.shots[shot_id]
        except KeyError:
            raise InputError(f"no shot '{shot_id}' in the prompts file", file=self.path) from None

    def refs_for(self, shot: Shot) -> list[Path]:
        return [ref for cid in shot.characters for ref in self.characters[cid].refs]


def load_prompts(path: str | os.PathLike[str]) -> Production:
    path = Path(path)
    text = read_text_input(path, "prompts file")
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path
        ) from None
    except _DuplicateKey as exc:
        raise _duplicate_error(path, text, exc.key) from None
    except RecursionError:
        raise InputError(
            "nested too deeply for a prompts file (brackets opened thousands of levels deep)",
            file=path,
        ) from None
    except ValueError as exc:  # e.g. a number longer than Python converts (4300 digits)
        raise InputError(f"cannot be read as JSON: {exc}", file=path) from None
    validate(
        data,
        "prompts.schema.json",
        file=path,
        shot_of=_locate,
        line_of=lambda where, value: yaml_line(text, where, value),  # JSON reads as YAML
    )
    return _build(path, data)


class _DuplicateKey(ValueError):
    def __init__(self, key: str):
        self.key = key


def _no_duplicate_keys(pairs: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    seen = {}
    for key, value in pairs:
        if key in seen:
            raise _DuplicateKey(key)
        seen[key] = value
    return seen


@dataclass
class _Open:
    """An object (keys seen, with their lines) or an array (its index) being read."""

    path: tuple
    keys: dict[str, int] | None  # None: an array
    key: str | None = None
    index: int = 0


_TOKEN = re.compile(r'"(?:[^"\\]|\\.)*"|[{}\[\],:]')


def _first_duplicate(text: str) -> tuple[tuple, str, int, int] | None:
    """Where the first repeated key is: (path of its object, key, first line, second line).
    Only called once json.loads has found one, so the text is well formed; a token walk
    with an explicit stack (no recursion), as JSON readers would otherwise keep the last."""
    stack: list[_Open] = []  # per open object/array: path, keys seen, next key or index
    line, at, key_next = 1, 0, False
    for token in _TOKEN.finditer(text):
        line += text.count("\n", at, token.start())
        at = token.start()
        t = token.group()
        top = stack[-1] if stack else None
        if t in "{[":
            if top is None:
                path: tuple = ()
            elif top.keys is None:
                path = (*top.path, top.index)
            else:
                path = (*top.path, top.key)
            stack.append(_Open(path, {} if t == "{" else None))
            key_next = t == "{"
        elif t in "}]":
            stack.pop()
            key_next = False
        elif t == "," and top is not None:
            if top.keys is None:
                top.index += 1
            key_next = top.keys is not None
        elif t == ":":
            key_next = False
        elif key_next and top is not None and top.keys is not None:
            name = json.loads(t)
            if name in top.keys:
                return top.path, name, top.keys[name], line
            top.keys[name] = line
            top.key = name
            key_next = False
    return None


def _duplicate_error(path: Path, text: str, name: str) -> InputError:
    found = _first_duplicate(text)
    if found is None:  # not expected: say what json.loads said
        return InputError(f"key '{name}' appears twice in one object", file=path)
    where, name, first, again = found
    lines = f"lines {first} and {again}" if first != again else f"line {again}"
    if where == ("shots",):  # the shots mapping names one shot twice
        return InputError(
            f"key '{name}' appears twice ({lines}): JSON readers keep only the last; "
            "merge the two shots or rename one",
            file=path,
            shot=name,
        )
    shot, key = None, ".".join(map(str, (*where, name)))
    if len(where) >= 2 and where[0] == "shots":
        shot, key = where[1], ".".join(map(str, (*where[2:], name)))
        if isinstance(shot, int):  # list form: name the shot by its id (last one wins here)
            item = json.loads(text)["shots"][shot]
            sid = item.get("id") if isinstance(item, dict) else None
            shot = sid if isinstance(sid, str) else f"#{shot + 1}"
    return InputError(
        f"appears twice ({lines}): JSON readers keep only the last; keep one",
        file=path,
        shot=shot,
        key=key,
    )


def _locate(path: tuple, data: Any) -> tuple[str | None, str | None]:
    """JSON path -> (shot id, key) for error messages."""
    if len(path) >= 2 and path[0] == "shots":
        shots = data.get("shots")
        index = path[1]
        if isinstance(shots, list):
            item = shots[index] if isinstance(index, int) and index < len(shots) else {}
            shot = item.get("id") if isinstance(item, dict) else None
            shot = shot if isinstance(shot, str) else f"#{index + 1}"
        else:
            shot = index
        key = ".".join(map(str, path[2:])) or None
        return shot, key
    return None, ".".join(map(str, path)) or None


def _build(path: Path, data: dict) -> Production:
    glob = data.get("global") or {}
    characters = {
        cid: Character(
            id=cid,
            description=c["description"].strip(),
            refs=tuple((path.parent / ref) for ref in c.get("refs", [])),
        )
        for cid, c in (data.get("characters") or {}).items()
    }
    production = Production(
        path=path,
        project=str(data.get("project", "")),
        style=str(glob.get("style", "")).strip(),
        constraints=tuple(c.strip() for c in glob.get("constraints", []) if c.strip()),
        negative=str(glob.get("negative", "")).strip(),
        characters=characters,
    )
    raw = data["shots"]
    items = [(s["id"], s) for s in raw] if isinstance(raw, list) else list(raw.items())
    clashes = clashing_shot_ids()
    for sid, s in items:
        if sid in production.shots:
            raise InputError("shot id appears twice", file=path, shot=sid, key="id")
        if sid in clashes:
            raise InputError(
                f"shot id '{sid}' would write {clashes[sid]}, which is the build's own "
                "file: rename the shot",
                file=path,
                shot=sid,
                key="id",
            )
        if "negative" in s and "negative_prompt" in s and s["negative"] != s["negative_prompt"]:
            raise InputError(
                "both 'negative' and 'negative_prompt' given with different text; keep one",
                file=path,
                shot=sid,
                key="negative",
            )
        for cid in s.get("characters", []):
            if cid not in characters:
                raise InputError(
                    f"character '{cid}' is not defined under top-level 'characters'",
                    file=path,
                    shot=sid,
                    key="characters",
                )
        production.shots[sid] = Shot(
            id=sid,
            prompt=s["prompt"],
            negative=s.get("negative", s.get("negative_prompt", "")),
            lighting=s.get("lighting"),
            size=s.get("size"),
            characters=tuple(s.get("characters", [])),
            title=s.get("title", ""),
            beat=s.get("beat", ""),
            preview=",".join(f"{k}:{v}" for k, v in sorted(s.get("preview", {}).items())) or None,
        )
    return production
