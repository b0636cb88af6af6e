"""The art director's decisions, made the one way for every front end.

`stillmake pick/lock/unlock/waive` and the review board (`stillmake review`) both call
these: the same checks, the same messages, the same write (`update_selections`: under the
lock beside selections.yaml, on the file as it is then, only if the result passes every
check the next build makes, every version kept in the history).

A front end that showed the person something before they decided passes what it
showed: `seen` (the shot's entry digest, `entry_digest`), `drafts_seen` (the drafts'
fingerprint, for a pick) and `candidate_seen` (the candidate's, for a lock). If one
changed on disk since, nothing is written (ChangedMeanwhile); changes to other shots or
to comments are kept, and only this decision is applied. A lock always names the
candidate it approves, by content (planner/approval.py judges it).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.artifacts.provenance import head_record
from stillmake.errors import ChangedMeanwhile, DecisionError, InputError
from stillmake.files import atomic_write_bytes, decode_text
from stillmake.inputs.checks import gate_checks
from stillmake.inputs.masks import check_markup
from stillmake.inputs.selections import entry_digest, load_selections
from stillmake.inputs.selections.read import parse
from stillmake.inputs.selections.write import (
    Author,
    approve_change,
    lock_change,
    pick_change,
    read_document,
    reject_change,
    reroll_change,
    step_change,
    update_selections,
    waive_change,
)
from stillmake.planner.approval import (
    GATE,
    Approval,
    candidate_rebuilt,
    decide,
    fingerprint,
    keep_note,
    lock_of,
    same_candidate,
)

if TYPE_CHECKING:
    from ruamel.yaml.comments import CommentedMap

    from stillmake.artifacts.digests import PixelDigests
    from stillmake.inputs.config import Config
    from stillmake.inputs.selections import Selection
    from stillmake.planner.build import Build
    from stillmake.planner.pending import Pending

REGION_DIGITS = 4  # a region's fractions as written: 1/10,000 of the frame


@dataclass(frozen=True)
class Written:
    """A decision on disk: the shot's entry digest as written (what its author has now
    seen), and the decision's value (a pick's drafts fingerprint, the new reroll, the
    new step's number)."""

    seen: str
    value: str | int | None = None


def current_drafts(build: Build, shot: str) -> str:
    """The fingerprint a pick binds to: the shot's drafts as they are on disk now."""
    drafts = paths.drafts(shot, build.draft_n)
    current = current_drafts_fingerprint(drafts)
    if current is None:
        missing = next(p for p in drafts if not Path(p).is_file())
        raise DecisionError(
            f"shot {shot} has no drafts yet ({missing} is missing): "
            f"run `snakemake review` and look at {paths.review_sheet(shot)}"
        )
    return current


def would_load(build: Build) -> Callable[[str], object]:
    """The check an edit must pass before it is written: the new text loads as the build
    would load it, every check of `load_build` included (shots known, picks in range,
    masks and references in place, prompts and images within the API's limits), so a
    click can never leave a file that blocks the next build."""

    def check(text: str) -> object:
        selections = load_selections(
            build.config.selections_path,
            shots=build.shots,
            draft_n=build.draft_n,
            root=build.config.root,
            text=text,
        )
        check_decisions(build, selections)
        return selections

    return check


def check_shots(build: Build, shots: Sequence[str]) -> None:
    unknown = [s for s in shots if s not in build.shots]
    if unknown:
        raise DecisionError(
            f"unknown shot(s) {', '.join(unknown)}; the prompts file has {', '.join(build.shots)}",
            param="SHOT",
        )


def check_draft(build: Build, k: int, what: str = "pick", param: str = "K") -> None:
    if not 1 <= k <= build.draft_n:
        raise DecisionError(f"{what} {k} is outside 1..{build.draft_n} (draft.n)", param=param)


def _entry_now(build: Build, shot: str) -> str:
    return entry_digest(read_document(build.config.selections_path), shot)


def _changed_meanwhile(build: Build, shot: str) -> str:
    return (
        f"shot {shot} changed in {build.config.selections_path} since this page read it "
        "(by hand, by a stillmake command or from another tab); nothing was written: "
        "look at it again and redo the change"
    )


def _apply(
    build: Build,
    shot: str,
    change: Callable[[CommentedMap], None],
    seen: str | None,
    author: Author,
    value: str | int | None = None,
) -> Written:
    """Write `change` through update_selections, first checking (inside the lock, on the
    file as it is) that the shot's entry is still the one its author saw."""

    def guarded(doc: CommentedMap) -> None:
        if seen is not None and entry_digest(doc, shot) != seen:
            raise ChangedMeanwhile(_changed_meanwhile(build, shot))
        change(doc)

    text = update_selections(
        build.config.selections_path, guarded, check=would_load(build), author=author
    )
    written = parse(text, Path(build.config.selections_path))  # fast: libyaml
    return Written(entry_digest(written, shot), value)


def _drafts_as_seen(build: Build, shot: str, drafts_seen: str | None) -> str:
    current = current_drafts(build, shot)
    if drafts_seen is not None and drafts_seen != current:
        raise ChangedMeanwhile(
            f"the drafts of {shot} changed since they were shown (shown {drafts_seen}, now "
            f"{current}); nothing was written: look at them again and pick"
        )
    return current


def pick(
    build: Build,
    shot: str,
    k: int,
    rejects: dict[int, str] | None = None,
    *,
    seen: str | None = None,
    drafts_seen: str | None = None,
    via: str = "cli",
) -> Written:
    """Pick draft k of `shot`, bound to the drafts on disk (their fingerprint: `value`).
    `via` (cli, board) is what the history says made the change, as every decision's."""
    check_shots(build, [shot])
    check_draft(build, k)
    rejects = rejects or {}
    for kk in rejects:
        if kk == k:
            raise DecisionError(
                f"cannot reject draft {kk}: it is the draft being picked", param="--reject"
            )
        if not 1 <= kk <= build.draft_n:
            raise DecisionError(
                f"cannot reject draft {kk}: the drafts are 1..{build.draft_n} (draft.n)",
                param="--reject",
            )
    fp = _drafts_as_seen(build, shot, drafts_seen)
    what = f"pick {shot} {k}" + "".join(f" -r '{kk}:{r}'" for kk, r in rejects.items())
    change = pick_change(shot, k, fp, rejects, build.config.selections_path)
    return _apply(build, shot, change, seen, Author(via, what), fp)


def reject(
    build: Build,
    shot: str,
    k: int,
    reason: str,
    *,
    seen: str | None = None,
    via: str = "cli",
) -> Written:
    """Record why draft k of `shot` lost."""
    check_shots(build, [shot])
    check_draft(build, k, "rejected draft")
    reason = " ".join(reason.split())
    if not reason:
        raise DecisionError(
            f"say why draft {k} of {shot} is rejected (e.g. identity drift)", param="--reject"
        )
    if build.selections[shot].pick == k:
        raise DecisionError(f"draft {k} of {shot} is the pick: pick another draft first")
    change = reject_change(shot, k, reason, build.config.selections_path)
    return _apply(build, shot, change, seen, Author(via, f"reject {shot} {k}: {reason}"))


def unlock(
    build: Build, shots: Sequence[str], *, seen: str | None = None, via: str = "cli"
) -> Written | None:
    """Take shots off the finalist list (`lock: false`). A lock is only ever written on a
    candidate (`lock`). `seen` (and what is returned) is for one shot; several are
    written at once, unguarded, and return None."""
    check_shots(build, shots)
    change = lock_change(list(shots), False, build.config.selections_path)
    author = Author(via, f"unlock {' '.join(shots)}")
    if len(shots) == 1:
        return _apply(build, shots[0], change, seen, author)
    if seen is not None:
        raise ValueError("seen guards one shot's entry; give one shot")
    update_selections(build.config.selections_path, change, check=would_load(build), author=author)
    return None


@dataclass(frozen=True)
class Locked:
    """One shot's lock as written: the candidate it approves, or that it already did."""

    shot: str
    candidate: str  # the image the final is rendered from
    fingerprint: str  # its content, as `lock:` names it
    already: bool  # the lock named this candidate before: nothing was written
    waived: dict[str, str]  # failing checks let through by a waiver
    seen: str | None = None  # one shot locked: its entry digest as written


def _approvable(build: Build, shot: str, pending: Pending, digests: PixelDigests) -> Approval:
    """The shot's candidate, if a person can approve it now: built, current (nothing the
    next build would redo upstream of it) and not stopped by the gate; else DecisionError
    saying what to build or look at."""
    final = build.final(shot)
    path = final.candidate
    root = build.config.root
    if not (root / path).is_file():
        raise DecisionError(
            f"cannot lock {shot}: its candidate {path} is not built yet: run `snakemake {path}`, "
            f"look at it, then `stillmake lock {shot}`"
        )
    key = ("edit_step", shot, final.steps) if final.steps else ("select", shot, None)
    if pending.runs(key):
        rebuilt = candidate_rebuilt(build, pending, shot) or "its inputs changed since it was built"
        raise DecisionError(
            f"cannot lock {shot}: its candidate {path} is out of date ({rebuilt}): run "
            f"`snakemake {path}`, look at it again, then `stillmake lock {shot}`"
        )
    sha = digests.sha256(root / path)
    lock = replace(lock_of(build, shot), locked=True, approved=fingerprint(sha), trust=None)
    judged = decide(lock, path, sha, head_record(root / path))
    if judged.state == GATE:
        raise DecisionError(f"cannot lock {judged.why}")
    return judged


def lock(
    build: Build,
    shots: Sequence[str],
    *,
    seen: str | None = None,
    candidate_seen: str | None = None,
    via: str = "cli",
) -> list[Locked]:
    """Lock shots on their candidates: each lock names its candidate by content, so the
    final renders the image the art director looked at, and only that. Refused (nothing
    written) when a candidate is not built, out of date or fails the gate unwaived. `seen`
    and `candidate_seen` (the candidate's fingerprint a page showed) are for one shot."""
    from stillmake.artifacts.digests import PixelDigests
    from stillmake.planner.pending import Pending

    check_shots(build, shots)
    if seen is not None and (len(shots) != 1 or _entry_now(build, shots[0]) != seen):
        if len(shots) != 1:
            raise ValueError("seen guards one shot's entry; give one shot")
        raise ChangedMeanwhile(_changed_meanwhile(build, shots[0]))  # the page is behind
    unpicked = [s for s in shots if not build.picked(s)]
    if unpicked:
        raise DecisionError(
            f"cannot lock {', '.join(unpicked)}: no pick yet (stillmake pick SHOT K)"
        )
    digests = PixelDigests(build.config.root / paths.PIXEL_DIGESTS)
    pending = Pending(build)
    judged = {shot: _approvable(build, shot, pending, digests) for shot in shots}
    digests.save()
    for shot, a in judged.items():
        if candidate_seen is not None and a.fingerprint != candidate_seen:
            raise ChangedMeanwhile(
                f"the candidate of {shot} changed since it was shown (shown {candidate_seen}, "
                f"now {a.fingerprint}); nothing was written: look at it again and lock"
            )
    done = [
        Locked(
            shot,
            a.candidate,
            str(a.fingerprint),
            same_candidate(build.selections[shot].approved, a.fingerprint),
            a.verdict.waived,
        )
        for shot, a in judged.items()
    ]
    fresh = {d.shot: d.fingerprint for d in done if not d.already}
    change = approve_change(fresh, build.config.selections_path)
    author = Author(via, "lock " + " ".join(f"{s} {fp}" for s, fp in fresh.items()))
    if len(shots) == 1 and fresh:
        done = [replace(done[0], seen=_apply(build, shots[0], change, seen, author).seen)]
    elif len(shots) == 1:  # nothing to write: what the page has seen is the file
        done = [replace(done[0], seen=_entry_now(build, shots[0]))]
    elif fresh:
        update_selections(
            build.config.selections_path, change, check=would_load(build), author=author
        )
    root = build.config.root
    for d in done:  # what the lock saw, so a later refusal can say what changed since
        keep_note(root, d.shot, d.fingerprint, d.candidate, head_record(root / d.candidate))
    return done


def waive(
    build: Build,
    shot: str,
    check: str,
    reason: str,
    *,
    seen: str | None = None,
    via: str = "cli",
) -> Written:
    """Record why the gate's `check` may fail on `shot`'s candidate. `value`: whether the
    check fails on the candidate as it stands (a waiver of one that passes is kept, and
    shown as unused)."""
    check_shots(build, [shot])
    reason = " ".join(reason.split())
    if check not in gate_checks():
        raise DecisionError(
            f"'{check}' is not a gate check; the candidate's failing checks are named by "
            f"`stillmake status` and `stillmake lock {shot}`",
            param="CHECK",
        )
    if not reason:
        raise DecisionError(f"say why the {check} fail of {shot} is accepted", param="REASON")
    change = waive_change(shot, check, reason, build.config.selections_path)
    failing = check in build.approvals[shot].verdict.failing
    author = Author(via, f"waive {shot} {check}: {reason}")
    return _apply(build, shot, change, seen, author, "failing" if failing else "unused")


def reroll(build: Build, shot: str, *, seen: str | None = None, via: str = "cli") -> Written:
    """Ask for fresh drafts of `shot` (its `reroll` one up: the new one is `value`).
    A locked shot is refused: unlock it first. A pick stays, and goes stale when the
    new drafts are built (the select job and the board say so): re-pick then."""
    check_shots(build, [shot])
    if build.locked(shot):
        raise DecisionError(
            f"{shot} is locked (a finalist): unlock it before asking for fresh drafts"
        )
    change = reroll_change(shot, build.config.selections_path)
    return _apply(build, shot, change, seen, Author(via, f"reroll {shot}"), build.reroll(shot) + 1)


def normal_region(box: Sequence[float]) -> list[float]:
    """A box dragged in any direction as [x0, y0, x1, y1], x0 <= x1 and y0 <= y1, rounded
    to REGION_DIGITS. Values are not clamped: one outside [0, 1] is refused by the loader."""
    try:
        x0, y0, x1, y1 = (float(v) for v in box)
    except (TypeError, ValueError):
        raise DecisionError(f"a region is four numbers [x0, y0, x1, y1], not {box!r}") from None
    return [round(v, REGION_DIGITS) for v in (min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1))]


MARKUP_DIR = "markup"  # beside selections.yaml: the strokes the board saves for edit steps


def save_markup(build: Build, shot: str, png: bytes) -> Path:
    """Keep a markup drawn on the board as markup/{shot}_{digest}.png beside the selections
    (named by its content: the same strokes are one file). Checked as the loader checks
    it, and the size of the image it was drawn on (the drafts' size)."""
    import io

    from PIL import Image

    from stillmake.inputs.models import parse_size

    want = parse_size(build.draft_size(shot))
    try:
        with Image.open(io.BytesIO(png)) as im:
            fmt, size = im.format, im.size
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        raise DecisionError("the markup sent is not an image") from None
    if fmt != "PNG" or tuple(size) != tuple(want):
        raise DecisionError(
            f"the markup must be a PNG of {want[0]}x{want[1]} (the image it is drawn on), "
            f"not a {fmt} of {size[0]}x{size[1]}"
        )
    folder = Path(build.config.selections_path).parent / MARKUP_DIR
    path = folder / f"{shot}_{hashlib.sha256(png).hexdigest()[:12]}.png"
    made = not path.is_file()
    if made:
        atomic_write_bytes(path, png)
    try:
        check_markup(path, file=build.config.selections_path, shot=shot)
    except InputError:
        if made:
            path.unlink(missing_ok=True)
        raise
    return path


def add_step(
    build: Build,
    shot: str,
    change: str,
    keep: str = "",
    region: Sequence[float] | None = None,
    *,
    markup: bytes | None = None,
    seen: str | None = None,
    via: str = "cli",
) -> Written:
    """Append an edit step (one change) to `shot` (its number: `value`): the whole frame,
    a region box, or a markup (strokes; edit models that take one)."""
    check_shots(build, [shot])
    change = change.strip()
    if not change:
        raise DecisionError(f"say what step {build.edit_count(shot) + 1} of {shot} changes")
    if not build.picked(shot):
        raise DecisionError(f"{shot} has no pick yet: edits start from the picked draft")
    step: dict = {"change": change}
    if keep.strip():
        step["keep"] = keep.strip()
    if region is not None and markup is not None:
        raise DecisionError("mark the step with a box or with strokes, not both")
    if region is not None:
        step["region"] = normal_region(region)
    saved = None
    if markup is not None:
        if not build.takes_markup:
            raise DecisionError(
                f"edit model '{build.model_for('edit')}' does not take a markup "
                "(gpt-image-2.5 and later do): draw a box instead"
            )
        saved = save_markup(build, shot, markup)
        step["markup"] = saved.relative_to(Path(build.config.selections_path).parent).as_posix()
    change_ = step_change(shot, step, build.config.selections_path)
    n = build.edit_count(shot) + 1
    author = Author(via, f"edit step {n} of {shot}: {_short(change)}")
    try:
        return _apply(build, shot, change_, seen, author, n)
    except BaseException:
        if saved is not None and not _named_in(build, saved):
            saved.unlink(missing_ok=True)  # refused: leave no stray file
        raise


def _short(text: str, limit: int = 60) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


def check_decisions(build: Build, selections: dict[str, Selection]) -> None:
    """Every check `load_build` makes once the selections are read (edit prompts and
    images within the API's limits, masks as sent, markups the edit model takes), on
    these selections: the same refusal, in the same words, as the next build's."""
    from stillmake.planner import preflight
    from stillmake.planner.build import Build

    preflight.check_build(
        Build(
            config=build.config,
            production=build.production,
            selections=selections,
            warnings=[],
        )
    )


def _named_in(build: Build, path: Path) -> bool:
    """Whether selections.yaml (as on disk) names this markup file in some step."""
    text = Path(build.config.selections_path).read_text(encoding="utf-8")
    return path.name in text


def restore(config: Config, n: int, via: str = "cli") -> bool:
    """Write version `n` of selections.yaml (from its history) back, checked as any
    decision is (it must load as the next build would load it); the version it replaces
    is kept. Works when the file on disk does not load (that is when it is needed).
    False when the file already is that version."""
    from stillmake.inputs.prompts import load_prompts
    from stillmake.inputs.selections import Selection
    from stillmake.inputs.selections.commit import commit
    from stillmake.inputs.selections.history import History
    from stillmake.inputs.selections.ondisk import real_path
    from stillmake.planner.build import Build

    path = config.selections_path
    history = History(real_path(path), path)
    version = history.version(n)
    text = decode_text(history.data(version.sha), path, "selections file").replace("\r\n", "\n")
    production = load_prompts(config.prompts_path)
    empty = {s: Selection(shot=s) for s in production.shot_ids}
    build = Build(config=config, production=production, selections=empty, warnings=[])
    changed = []

    def make(current: str) -> str:
        changed.append(current != text)
        return text

    commit(path, make, check=would_load(build), author=Author(via, f"restore version {n}"))
    return changed[-1]
