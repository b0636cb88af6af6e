"""selections.yaml: the art director's decisions, loaded strictly, edited by round trip.

Round-trip edits go through ruamel.yaml so hand-written comments and key order
survive `stillmake pick/lock/unlock`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from stillmake.errors import InputError
from stillmake.files import atomic_write_text
from stillmake.inputs.masks import check_mask, validate_region
from stillmake.inputs.schemas import validate

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap


@dataclass(frozen=True)
class EditStep:
    change: str
    keep: str = ""
    region: tuple[float, float, float, float] | None = None
    mask: Path | None = None
    refs: tuple[Path, ...] = ()

    def spec(self) -> dict:
        """What reaches the step's job as params (paths as given, relative to the workflow)."""
        return {
            "change": self.change,
            "keep": self.keep,
            "region": list(self.region) if self.region else None,
            "mask": str(self.mask) if self.mask else None,
            "refs": [str(r) for r in self.refs],
        }


@dataclass(frozen=True)
class Selection:
    shot: str
    pick: int | None = None
    drafts: str | None = None
    reject: dict = field(default_factory=dict)
    reroll: int = 0
    edits: tuple[EditStep, ...] = ()
    lock: bool = False


def _yaml() -> YAML:
    y = YAML()  # round-trip mode
    y.preserve_quotes = True
    y.indent(mapping=2, sequence=4, offset=2)
    y.width = 100
    return y


def read_document(path: str | os.PathLike[str]) -> Any:
    """The round-trip document (CommentedMap); an absent file is an empty document."""
    path = Path(path)
    if not path.exists():
        return _yaml().load("{}\n")
    try:
        doc = _yaml().load(path.read_text(encoding="utf-8"))
    except YAMLError as exc:
        raise InputError(f"broken YAML: {exc}".replace("\n", " "), file=path) from None
    return doc if doc is not None else _yaml().load("{}\n")


def _read_plain(path: Path) -> Any:
    """Fast read for the build (libyaml when available): round trip is only for editing,
    and ruamel's comment-keeping loader is ~15x slower on a 1000-shot file."""
    if not path.exists():
        return {}
    loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    try:
        return yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
    except yaml.YAMLError as exc:
        raise InputError(f"broken YAML: {exc}".replace("\n", " "), file=path) from None


def write_document(path: str | os.PathLike[str], doc: Any) -> None:
    import io

    buf = io.StringIO()
    _yaml().dump(doc, buf)
    atomic_write_text(path, buf.getvalue())


def _plain(node: object) -> Any:
    """ruamel containers -> plain dict/list, so JSON Schema sees ordinary types."""
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
    path: str | os.PathLike[str], *, shots: list[str], draft_n: int, check_files: bool = True
) -> dict[str, Selection]:
    """Every shot of the production gets a Selection (empty when not mentioned)."""
    path = Path(path)
    data = _plain(_read_plain(path)) or {}
    # YAML reads `reject: {1: ...}` with int keys; the schema wants string keys.
    for entry in data.values():
        if isinstance(entry, dict) and isinstance(entry.get("reject"), dict):
            entry["reject"] = {str(k): v for k, v in entry["reject"].items()}
    validate(data, "selections.schema.yaml", file=path, shot_of=_locate)
    base = path.parent
    out = {s: Selection(shot=s) for s in shots}
    for shot, entry in data.items():
        if shot not in out:
            raise InputError(
                f"unknown shot id (the prompts file has {', '.join(shots)})", file=path, shot=shot
            )
        out[shot] = _selection(path, base, shot, entry or {}, draft_n, check_files)
    return out


def _selection(
    path: Path, base: Path, shot: str, e: dict, draft_n: int, check_files: bool
) -> Selection:
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
        _step(path, base, shot, j, step, check_files)
        for j, step in enumerate(e.get("edits") or [], start=1)
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


def _step(path: Path, base: Path, shot: str, j: int, step: dict, check_files: bool) -> EditStep:
    key = f"edits[{j}]"
    if "region" in step and "mask" in step:
        raise InputError("give either region or mask, not both", file=path, shot=shot, key=key)
    region = None
    if "region" in step:
        region = validate_region(step["region"], file=path, shot=shot, key=f"{key}.region")
    mask = None
    if step.get("mask"):
        mask = base / step["mask"]
        if check_files:
            check_mask(mask, file=path, shot=shot, key=f"{key}.mask")
    refs = tuple(base / r for r in step.get("refs") or [])
    if check_files:
        for r in refs:
            if not r.is_file():
                raise InputError(
                    f"reference image {r} not found", file=path, shot=shot, key=f"{key}.refs"
                )
    return EditStep(
        change=step["change"].strip(),
        keep=(step.get("keep") or "").strip(),
        region=region,
        mask=mask,
        refs=refs,
    )


# -- round-trip edits (stillmake pick / lock / unlock) -----------------------


def _entry(doc: CommentedMap, shot: str) -> CommentedMap:
    from ruamel.yaml.comments import CommentedMap

    if doc.get(shot) is None:
        doc[shot] = CommentedMap()
    return doc[shot]


def _put(entry: CommentedMap, key: str, value: object, after: str | None) -> None:
    """Set key, placing a new key right after `after` (not after trailing comments)."""
    if key in entry:
        entry[key] = value
        return
    keys = list(entry.keys())
    pos = keys.index(after) + 1 if after in keys else 0
    entry.insert(pos, key, value)


def set_pick(
    path: str | os.PathLike[str], shot: str, k: int, drafts_fp: str, rejects: dict[int, str]
) -> None:
    from ruamel.yaml.comments import CommentedMap

    doc = read_document(path)
    entry = _entry(doc, shot)
    _put(entry, "pick", k, None)
    _put(entry, "drafts", drafts_fp, "pick")
    reject = entry.get("reject")
    if rejects:
        if reject is None:
            reject = CommentedMap()
            reject.fa.set_flow_style()
        for kk, reason in rejects.items():
            reject[kk] = reason
        _put(entry, "reject", reject, "drafts")
    if reject and k in reject:
        del reject[k]
    write_document(path, doc)


def set_lock(path: str | os.PathLike[str], shots: list[str], locked: bool) -> None:
    doc = read_document(path)
    for shot in shots:
        _entry(doc, shot)["lock"] = locked
    write_document(path, doc)
