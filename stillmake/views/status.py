"""Where each shot stands: stage reached, pick, edits, lock, worst flag, spend."""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillmake import paths
from stillmake.api.ledger import Ledger, LedgerLine
from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.artifacts.quality import worst_level
from stillmake.artifacts.weak import weak_pick

if TYPE_CHECKING:
    from stillmake.planner.build import Build


def _read_json(path: Path) -> Any:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, ValueError):
        return None


def spend_by_shot(entries: Iterable[LedgerLine]) -> dict[str | None, float]:
    """What each shot's lines billed (refused answers on failed lines included)."""
    spend: defaultdict[str | None, float] = defaultdict(float)
    for e in entries:
        spend[e.get("shot")] += e.get("cost_usd") or 0.0
    return spend


DraftsFingerprint = Callable[[list[str]], "str | None"]


def pick_state(
    build: Build, shot: str, fingerprint: DraftsFingerprint = current_drafts_fingerprint
) -> str:
    sel = build.selections[shot]
    if sel.pick is None:
        return "-"
    bound = build.bound_drafts(shot)
    if not bound:
        return f"{sel.pick} (unbound)"  # typed by hand, not applied yet
    current = fingerprint(paths.drafts(shot, build.draft_n))
    if current is not None and current != bound:
        return f"{sel.pick} STALE"
    return str(sel.pick)


def stage_reached(build: Build, shot: str) -> tuple[str, int]:
    steps_done = sum(
        1 for j in range(1, build.edit_count(shot) + 1) if Path(paths.edit_step(shot, j)).is_file()
    )
    if Path(paths.final(shot)).is_file():
        return "final", steps_done
    if steps_done:
        return f"edit {steps_done}", steps_done
    for name, path in (
        ("selected", paths.selected(shot)),
        ("review", paths.review_sheet(shot)),
        ("drafts", paths.draft(shot, 1)),
    ):
        if Path(path).is_file():
            return name, steps_done
    return "-", steps_done


def worst_flag(shot: str, gate: dict | None) -> str:
    """Worst of the shot's review flag and, once it has a final, its gate flag."""
    review = _read_json(Path(paths.review_json(shot))) or {}
    final = (gate or {}).get("shots", {}).get(shot) or {}
    return worst_level((review.get("worst"), final.get("worst")), default="-")


def pick_weakness(build: Build, shot: str) -> str | None:
    """Why the shot's pick is a weak candidate, from its review's flags; None if it is not."""
    review = _read_json(Path(paths.review_json(shot)))
    return weak_pick(review, build.selections[shot].pick)


def weak_warnings(build: Build, shots: Iterable[str] | None = None) -> list[str]:
    """The seed's "avoid repeated high-fidelity edits on weak candidates": one line per
    shot whose pick fails the gate (from its review), before its edits are paid."""
    out = []
    for shot in build.shots if shots is None else shots:
        weak = pick_weakness(build, shot)
        if not weak:
            continue
        n = build.edit_count(shot)
        if not n:
            then = "fix or re-pick it before it is locked"
        elif build.config.edit.refuse_weak:
            then = f"edit.refuse_weak is on: its {n} edit step(s) will be refused"
        else:
            then = f"its {n} edit step(s) are paid on it (edit.refuse_weak: true refuses them)"
        out.append(f"{shot}: {weak}; {then}")
    return out


def status_rows(
    build: Build,
    entries: Iterable[LedgerLine] | None = None,
    fingerprint: DraftsFingerprint = current_drafts_fingerprint,
) -> list[dict]:
    """One row per shot. `entries`: the ledger's records, if already read; `fingerprint`:
    how the drafts' fingerprint is taken (the review board remembers it per file)."""
    if entries is None:
        entries = Ledger(build.config.ledger_path).entries()
    spend = spend_by_shot(entries)
    gate = _read_json(Path(paths.GATE))  # read once, not once per shot
    rows = []
    for shot in build.shots:
        stage, done = stage_reached(build, shot)
        rows.append(
            {
                "shot": shot,
                "title": build.production.shot(shot).title,
                "stage": stage,
                "pick": pick_state(build, shot, fingerprint),
                "edits": f"{done}/{build.edit_count(shot)}",
                "locked": "yes" if build.locked(shot) else "no",
                "approval": build.approvals[shot].shown,
                "flag": worst_flag(shot, gate),
                "weak_pick": pick_weakness(build, shot),
                "spend_usd": round(spend.get(shot, 0.0), 4),
            }
        )
    return rows


def approval_lines(build: Build) -> list[str]:
    """Under the table: what each locked shot waits for (with the command that approves
    it), and every waiver, used or not."""
    out = []
    for shot, a in build.approvals.items():
        if a.why and a.state != "not locked":
            out.append(a.why)
        out += [f"{shot}: {c} waived ({why})" for c, why in a.verdict.waived.items()]
        out += [
            f"{shot}: waiver of {c} unused: its candidate does not fail {c} ({why})"
            for c, why in a.verdict.unused.items()
        ]
    return out
