"""Load and validate a production's prompts file (the text sent is composed in compose.py)."""

from __future__ import annotations

import json
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillmake.errors import InputError
from stillmake.inputs.schemas import validate


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
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError("prompts file not found", file=path) from None
    except UnicodeDecodeError as exc:
        raise InputError(f"not UTF-8 text (byte {exc.start})", file=path) from None
    try:
        data = json.loads(text, object_pairs_hook=_no_duplicate_keys)
    except json.JSONDecodeError as exc:
        raise InputError(
            f"broken JSON at line {exc.lineno}, column {exc.colno}: {exc.msg}", file=path
        ) from None
    except _DuplicateKey as exc:
        raise InputError(
            f"key '{exc.key}' appears twice in one object",
            file=path,
            shot=exc.key if _looks_like_shot_map(text) else None,
        ) from None
    validate(data, "prompts.schema.json", file=path, shot_of=_locate)
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


def _looks_like_shot_map(text: str) -> bool:
    return '"shots": {' in text.replace("\n", " ").replace("  ", " ")


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
    for sid, s in items:
        if sid in production.shots:
            raise InputError("shot id appears twice", file=path, shot=sid, key="id")
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
        )
    return production
