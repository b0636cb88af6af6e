"""The art director's decisions as the build uses them: one Selection per shot, every
check the build makes (picks in range, rejects, locks, edit steps and the files they
name), in the file's own words (file, shot, key)."""

from __future__ import annotations

import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from stillmake.errors import InputError
from stillmake.images import input_problem
from stillmake.inputs.checks import gate_checks
from stillmake.inputs.masks import check_markup, check_mask, validate_region
from stillmake.inputs.schemas import validate, yaml_line
from stillmake.inputs.selections.read import parse, read_text


@dataclass(frozen=True)
class EditStep:
    change: str
    keep: str = ""
    region: tuple[float, float, float, float] | None = None
    mask: Path | None = None
    refs: tuple[Path, ...] = ()
    markup: Path | None = None  # strokes drawn over the source (models that take markup)

    def as_written(self) -> dict:
        """The step as the board shows it (paths as given, relative to the workflow)."""
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
    approved: str | None = None  # `lock: <fingerprint>`: the candidate the lock approves
    waive: dict[str, str] = field(default_factory=dict)  # gate check -> why its fail is accepted


# -- reading: one strict composer for both loaders ------------------------------


def plain(node: object) -> Any:
    """Containers -> fresh plain dict/list (aliased values are copied, not shared), so JSON
    Schema sees ordinary types and later changes touch one place."""
    if isinstance(node, dict):
        return {str(k) if not isinstance(k, int) else k: plain(v) for k, v in node.items()}
    if isinstance(node, list):
        return [plain(v) for v in node]
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
    text = read_text(path) if text is None else text
    data = plain(parse(text, path))
    # YAML reads `reject: {1: ...}` with int keys; the schema wants string keys.
    for entry in data.values():
        if isinstance(entry, dict) and isinstance(entry.get("reject"), dict):
            entry["reject"] = {str(k): v for k, v in entry["reject"].items()}
    validate(
        data,
        "selections.schema.yaml",
        file=path,
        shot_of=_locate,
        line_of=lambda where, value: yaml_line(text, where, value),
    )
    files = _Files(path, Path(os.path.realpath(root or ".")), check_files)
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
    root: Path  # the workflow directory, symlinks followed
    check: bool

    @property
    def base(self) -> Path:
        return self.selections.parent

    def inside(self, what: str, name: str, where: dict) -> Path:
        """base/name, refused when what it names (symlinks followed: a link inside the
        workflow to a file outside it is outside) is not in the workflow directory."""
        path = self.base / name
        real = Path(os.path.realpath(path))
        if not real.is_relative_to(self.root):
            folder = {"mask": "masks", "markup": "markup"}.get(what.split()[0], "refs")
            link = " through a symlink" if real != Path(os.path.normpath(path.absolute())) else ""
            raise InputError(
                f"{what} '{name}' ({real}) is outside the workflow directory {self.root}"
                f"{link}: copy it into the workflow (e.g. runs/input/{folder}/) and name it "
                "from there",
                **where,
            )
        return path


def _check_image(path: Path, where: dict) -> None:
    """A step reference the Images API will take: a whole PNG, JPEG or WebP image (the
    same check, in the same words, as the character references' in planner/preflight.py)."""
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
    lock, approved = _lock(path, shot, e.get("lock", False))
    if lock and pick is None:
        raise InputError(
            f"lock: {approved or 'true'} needs a pick first (stillmake pick SHOT K)",
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
        drafts=_fingerprint(path, shot, "drafts", e.get("drafts"), "as the review sheet shows it"),
        reject=reject,
        reroll=int(e.get("reroll", 0)),
        edits=edits,
        lock=lock,
        approved=approved,
        waive=_waivers(path, shot, e.get("waive") or {}),
    )


FINGERPRINT = re.compile(r"^[0-9a-f]{6,64}$")


def _fingerprint(path: Path, shot: str, key: str, value: object, hint: str) -> str | None:
    """A fingerprint as written (`drafts:`, `lock:`): 6 to 64 hex digits; one typed by
    hand that YAML read as a number is taken as its digits."""
    if value is None:
        return None
    text = str(value)
    if isinstance(value, bool) or not FINGERPRINT.match(text):
        raise InputError(
            f"'{text}' is not a fingerprint: write 6 to 64 hex digits (0-9, a-f), {hint}",
            file=path,
            shot=shot,
            key=key,
        )
    return text


def _lock(path: Path, shot: str, value: object) -> tuple[bool, str | None]:
    """`lock: true/false`, or the fingerprint of the candidate it approves."""
    if value is None or isinstance(value, bool):
        return bool(value), None
    return True, _fingerprint(path, shot, "lock", value, "as `stillmake lock` writes it, or true")


def _waivers(path: Path, shot: str, waive: dict) -> dict[str, str]:
    """`waive: {check: why}`: each a check the gate knows, each with a reason."""
    known = gate_checks()
    out = {}
    for check, reason in waive.items():
        key = f"waive.{check}"
        if check not in known:
            near = difflib.get_close_matches(str(check), known, n=1)
            hint = f"did you mean '{near[0]}'?" if near else f"known: {', '.join(known)}"
            raise InputError(
                f"'{check}' is not a gate check; {hint}", file=path, shot=shot, key=key
            )
        if not " ".join(str(reason).split()):
            raise InputError(f"say why the {check} fail is accepted", file=path, shot=shot, key=key)
        out[str(check)] = " ".join(str(reason).split())
    return out


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


def entry_digest(doc: dict, shot: str) -> str:
    """A digest of one shot's decisions as data (comments and layout aside): what a page
    showed, so a write can tell whether the shot changed on disk since."""
    entry = plain(doc.get(shot)) if isinstance(doc, dict) else None
    body = json.dumps(entry, sort_keys=True, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:16]
