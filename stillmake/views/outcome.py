"""Where each shot stands at the end of a build, in one line each, and what waits on the
person: the lines a build ends with (and a build with nothing to do)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.artifacts.digests import PixelDigests
from stillmake.errors import StillmakeError
from stillmake.planner.approval import AWAITING, GATE, Approval, judge_all
from stillmake.views.status import pick_state

if TYPE_CHECKING:
    from stillmake.planner.build import Build

MOST_SHOTS = 12  # past this, one line per outcome with its shots instead of one per shot
REVIEW_HINT = "stillmake review shows them all in a browser"

# outcome kinds, in the order a summary lists them
MADE, REFUSED, PICK, APPROVE, STALE, WAITING = (
    "made",
    "refused",
    "awaiting a pick",
    "awaiting approval",
    "pick stale",
    "not built yet",
)


def _gate(shot: str) -> str | None:
    try:
        gate = json.loads(Path(paths.GATE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return ((gate.get("shots") or {}).get(shot) or {}).get("worst")


def candidate(build: Build, shot: str) -> str | None:
    """The image a lock approves (last edit step, else the selected draft), if built."""
    n = build.edit_count(shot)
    path = paths.edit_step(shot, n) if n else paths.selected(shot)
    return path if Path(path).is_file() else None


def _short(why: str, limit: int = 110) -> str:
    first = why.split("; ")[0].split(". ")[0]
    return first if len(first) <= limit else first[: limit - 1] + "…"


def shot_outcome(
    build: Build, shot: str, failed: str | None, digests: PixelDigests, approval: Approval
) -> tuple[str, str]:
    """(kind, the line's text after the shot id) for one shot; `approval`: the verdict on
    its final as the build left its candidate (planner/approval.py)."""
    if failed:
        return REFUSED, f"refused: {_short(failed)} (said above)"
    state = pick_state(build, shot, digests.fingerprint)
    review = paths.review_sheet(shot)
    if state.endswith("STALE"):
        return STALE, f"pick stale (the drafts changed): look at {review}, pick again"
    if build.locked(shot) and approval.state in (AWAITING, GATE):  # why, what, the command
        return APPROVE, approval.why.removeprefix(f"{shot}: ").removeprefix(f"{shot} ")
    final = paths.final(shot)
    if build.locked(shot) and Path(final).is_file():
        gate = _gate(shot)
        return MADE, f"made: {final}" + (f" (gate {gate})" if gate else "")
    if not build.picked(shot):
        if not Path(review).is_file():
            return WAITING, "not drafted yet (snakemake drafts it)"
        return PICK, f"awaiting a pick: look at {review}, then stillmake pick {shot} K"
    built = candidate(build, shot)
    if built is None:
        return WAITING, "picked; its candidate is not built yet (snakemake builds it)"
    if not build.locked(shot):
        return APPROVE, f"awaiting approval: look at {built}, then stillmake lock {shot}"
    return WAITING, "approved; its final is not built yet (snakemake builds it)"


def outcome_lines(build: Build, failures: Mapping[str, str]) -> list[str]:
    """Every shot's outcome and the next thing that waits on the person."""
    digests = PixelDigests(build.config.root / paths.PIXEL_DIGESTS)
    try:  # the candidates as this build left them
        approvals = judge_all(build, digests)
    except StillmakeError:  # an input the build could not read: as the build began
        approvals = build.approvals
    outcomes = {
        s: shot_outcome(build, s, failures.get(s), digests, approvals[s]) for s in build.shots
    }
    digests.save()
    width = max((len(s) for s in build.shots), default=0)
    if len(outcomes) <= MOST_SHOTS:
        lines = [f"  {s:<{width}}  {text}" for s, (_kind, text) in outcomes.items()]
    else:
        by_kind: dict[str, list[str]] = {}
        for s, (kind, _text) in outcomes.items():
            by_kind.setdefault(kind, []).append(s)
        lines = [f"  {kind}: {len(shots)}: {_listed(shots)}" for kind, shots in by_kind.items()]
    return ["stillmake: where each shot stands:", *lines, next_line(outcomes)]


def _listed(shots: list[str], most: int = 10) -> str:
    more = f" and {len(shots) - most} more" if len(shots) > most else ""
    return ", ".join(shots[:most]) + more


def next_line(outcomes: Mapping[str, tuple[str, str]]) -> str:
    waiting = {
        kind: [s for s, (k, _t) in outcomes.items() if k == kind]
        for kind in (REFUSED, STALE, PICK, APPROVE)
    }
    asks = [
        f"{verb} {_listed(waiting[kind])}"
        for kind, verb in (
            (REFUSED, "fix"),
            (STALE, "re-pick"),
            (PICK, "pick"),
            (APPROVE, "approve"),
        )
        if waiting[kind]
    ]
    if not asks and any(k == WAITING for k, _t in outcomes.values()):
        return "stillmake: next: `snakemake` builds the rest; nothing waits on you"
    if not asks:
        return (
            "stillmake: next: nothing waits on you (finals and runs/final/manifest.csv are built)"
        )
    return f"stillmake: next: {'; '.join(asks)} ({REVIEW_HINT})"
