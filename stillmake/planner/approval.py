"""Whether a locked shot's final may be paid: one judge for every door.

The playbook's selection pass is a person looking at images, so money follows a
decision about one image. A lock approves one candidate (the image the final is
rendered from: the last edit step, else the selected draft) by its content; the gate
can stop it (a check at `fail` blocks unless the art director waived it with a reason);
a bare `lock: true` approves no image on a paying backend (the preview, $0 stand-ins,
trusts it), unless the config opts out for unattended pipelines (`final.approval: any`).

`decide` is the judge. The final job calls it on the candidate it is about to render
(stages/final.py, from its own params); the DAG's targets, `stillmake plan`, `status`,
`lock` and the review board call it on the candidate as it stands (`judge_all`), so
none of them re-derives the verdict.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.artifacts.picks import FINGERPRINT_LEN
from stillmake.files import atomic_write_json

if TYPE_CHECKING:
    from stillmake.artifacts.digests import PixelDigests
    from stillmake.planner.build import Build
    from stillmake.planner.pending import Pending

APPROVED = "approved"  # locked on this candidate, by content; the gate passes or is waived
LET_THROUGH = "let through"  # a bare lock the backend or the config trusts
TO_CHECK = "to check"  # locked on a candidate not built yet: its final job checks it
AWAITING = "awaiting approval"
GATE = "stopped by the gate"
UNLOCKED = "not locked"
WANTED = (APPROVED, LET_THROUGH, TO_CHECK)  # the final job is built (and checks again)

TRUST_ANY = "final.approval: any"  # opts out: every locked shot's final, unchecked
TRUST_PREVIEW = "preview backend"  # a bare `lock: true` stands in for an approval ($0)
PREVIEW_LOCK = "lock: true (preview)"  # how a final the preview trusts is marked


def fingerprint(sha: str) -> str:
    """A candidate's fingerprint as a lock writes it: its content digest, shortened."""
    return sha[:FINGERPRINT_LEN]


def locked_on(approved: str | None, sha: str | None) -> bool:
    """Whether a lock's fingerprint names this content (a prefix of its digest)."""
    return bool(approved and sha and sha.startswith(approved))


def same_candidate(approved: str | None, fp: str | None) -> bool:
    """Whether a lock's fingerprint and a candidate's (both prefixes of a digest) agree."""
    return bool(approved and fp and (fp.startswith(approved) or approved.startswith(fp)))


@dataclass(frozen=True)
class Verdict:
    """The gate on a candidate, with the art director's waivers."""

    failing: dict[str, str] = field(default_factory=dict)  # check -> what it found
    waived: dict[str, str] = field(default_factory=dict)  # failing and waived: check -> why
    unused: dict[str, str] = field(default_factory=dict)  # waivers of checks that pass

    @property
    def unwaived(self) -> dict[str, str]:
        """The failing checks nobody waived: these stop the final."""
        return {c: m for c, m in self.failing.items() if c not in self.waived}

    def stops(self) -> str:
        """The unwaived failures in one phrase: `check (what it found); ...`."""
        return "; ".join(f"{c} ({m})" for c, m in self.unwaived.items())


def verdict(flags: list[dict] | None, waive: Mapping[str, str]) -> Verdict:
    """The candidate's failing checks (a check's flags joined: one per face, say), the
    waivers that excuse them, and the waivers left unused. `warn` never blocks."""
    failing: dict[str, str] = {}
    for f in flags or ():
        if f.get("level") == "fail":
            check = str(f.get("metric") or "gate")
            failing[check] = "; ".join(filter(None, (failing.get(check), f.get("message"))))
    return Verdict(
        failing=failing,
        waived={c: r for c, r in waive.items() if c in failing},
        unused={c: r for c, r in waive.items() if c not in failing},
    )


@dataclass(frozen=True)
class Lock:
    """What the art director decided about a shot's final (selections.yaml, as the
    planner reads it into the final job's params)."""

    shot: str
    locked: bool
    approved: str | None  # the candidate's fingerprint the lock names; None: `lock: true`
    trust: str | None  # why a bare lock may stand in (TRUST_ANY, TRUST_PREVIEW), or None
    waive: Mapping[str, str]
    selections: str  # the file, as messages name it


@dataclass(frozen=True)
class Approval:
    """One shot's verdict: may its final be paid, and if not, what to do."""

    shot: str
    state: str
    candidate: str  # the image the final is rendered from
    fingerprint: str | None  # its content now (None: not built)
    approved: str | None  # the fingerprint the lock names
    trust: str | None
    verdict: Verdict
    why: str = ""  # one line: what to look at and the command that approves

    @property
    def wanted(self) -> bool:
        """Whether the build renders the final (its job checks again on the candidate)."""
        return self.state in WANTED

    @property
    def shown(self) -> str:
        """The state in a word or two, as `stillmake status` and the board show it."""
        if self.state == GATE:
            return "gate: " + ", ".join(self.verdict.unwaived)
        if self.state == LET_THROUGH:
            return PREVIEW_LOCK if self.trust == TRUST_PREVIEW else str(self.trust)
        return {UNLOCKED: "-", AWAITING: "AWAITING"}.get(self.state, self.state)

    def to_dict(self) -> dict:
        return {
            "state": self.state,
            "shown": self.shown,
            "candidate": self.candidate,
            "fingerprint": self.fingerprint,
            "approved": self.approved,
            "trust": self.trust,
            "failing": self.verdict.failing,
            "waived": self.verdict.waived,
            "unused_waivers": self.verdict.unused,
            "why": self.why,
        }


def chain_of(record: Mapping | None) -> list[str]:
    """How a candidate was made (`draft 2`, `step 1`, ...), from its provenance record."""
    if not record:
        return []
    return list(record.get("chain") or [f"draft {record.get('pick') or record.get('k')}"])


def what_changed(note: Mapping | None, approved: str, record: Mapping | None) -> str:
    """Why the candidate is not the image the lock approved, as far as the note kept by
    `stillmake lock` (the approved candidate's chain) and the candidate's record tell."""
    was = list(note.get("chain") or []) if note and note.get("candidate") == approved else []
    now = chain_of(record)
    if not was or not now:
        return "it is not the image the lock approved"
    if was[0] != now[0]:
        return f"a new pick: {was[0]}, now {now[0]}"
    if len(now) != len(was):
        how = "added" if len(now) > len(was) else "removed"
        return f"edit steps {how}: {len(was) - 1}, now {len(now) - 1}"
    return "re-rendered: an edit step, its source or the drafts changed"


def decide(
    lock: Lock,
    candidate: str,
    sha: str | None,
    record: Mapping | None,
    *,
    rebuilt: str | None = None,
    note: Mapping | None = None,
    backend: str = "",
) -> Approval:
    """The verdict on a shot's final. `sha`/`record`: the candidate's content digest and
    provenance (None: not built); `rebuilt`: why the next build re-renders the candidate
    (then what the lock saw is not what the final would render)."""
    shot = lock.shot
    now = sha[:FINGERPRINT_LEN] if sha else None
    flags = (record or {}).get("flags") if sha else None
    judged = verdict(flags, lock.waive)

    def said(state: str, why: str = "") -> Approval:
        return Approval(shot, state, candidate, now, lock.approved, lock.trust, judged, why)

    approve = f"`stillmake lock {shot}`"
    if not lock.locked:
        return said(UNLOCKED, f"{shot} is not locked: look at {candidate}, then {approve}")
    if lock.trust == TRUST_ANY:
        return said(LET_THROUGH)
    if rebuilt:
        if lock.trust and not lock.approved:
            return said(LET_THROUGH)  # the final job judges the new candidate's gate
        return said(
            AWAITING,
            f"{shot} awaits approval: its candidate {candidate} will be re-rendered ({rebuilt}); "
            f"build it (`snakemake {candidate}`), look at it, then {approve}",
        )
    if sha is None:
        if lock.approved:
            return said(TO_CHECK)
        if lock.trust:
            return said(LET_THROUGH)
        return said(
            AWAITING,
            f"{shot} awaits approval: its candidate {candidate} is not built yet; once it is "
            f"(`snakemake {candidate}`), look at it, then {approve}",
        )
    gate = ""
    if judged.unwaived:
        gate = f"; first waive what fails the gate ({', '.join(judged.unwaived)})"
    if lock.approved and not locked_on(lock.approved, sha):
        changed = what_changed(note, lock.approved, record)
        return said(
            AWAITING,
            f"{shot} awaits approval: the lock approved candidate {lock.approved}, but "
            f"{candidate} is now {now} ({changed}); look at it, then {approve}{gate}",
        )
    if not lock.approved and not lock.trust:
        return said(
            AWAITING,
            f"{shot} awaits approval: `lock: true` approves no particular image on the "
            f"{backend or 'API'} backend; look at {candidate}, then {approve} "
            f"(or write `lock: {now}` in {lock.selections}){gate}",
        )
    if judged.unwaived:
        return said(GATE, gate_refusal(shot, candidate, judged))
    return said(APPROVED if lock.approved else LET_THROUGH)


def gate_refusal(shot: str, candidate: str, judged: Verdict) -> str:
    """One line: the candidate fails the gate, which checks, and how to go on."""
    first = next(iter(judged.unwaived))
    return (
        f"{shot}: its candidate {candidate} fails the gate: {judged.stops()}; waive each "
        f"failing check with a reason (`stillmake waive {shot} {first} 'why'`), or re-pick or "
        "edit it"
    )


# -- the candidate as it stands (views, the DAG's targets, `stillmake lock`) ------------


def note_path(shot: str) -> str:
    """What `stillmake lock` kept about the candidate it approved (for saying, later, what
    changed since): beside the shot's request stamps."""
    return f"{paths.REQUEST_STAMPS}/{shot}/lock.note"


def read_note(root: Path, shot: str) -> dict | None:
    try:
        note = json.loads((root / note_path(shot)).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return note if isinstance(note, dict) else None


def keep_note(root: Path, shot: str, fp: str, candidate: str, record: Mapping | None) -> None:
    """Best effort: a note that cannot be written only makes a later message vaguer."""
    note = {"candidate": fp, "path": candidate, "chain": chain_of(record)}
    try:
        atomic_write_json(root / note_path(shot), note)
    except OSError:
        pass


def lock_of(build: Build, shot: str) -> Lock:
    final = build.final(shot)
    return Lock(
        shot=shot,
        locked=final.locked,
        approved=final.approved,
        trust=final.trust,
        waive=final.waive,
        selections=str(build.config.selections),
    )


def candidate_rebuilt(build: Build, pending: Pending, shot: str) -> str | None:
    """Why the next build re-renders the shot's candidate from another request (so it
    is not the image anyone saw), or None: its drafts' request, its pick or an edit step
    changed since they were built, or the lock named another candidate file."""
    if pending.request_changed(("draft", shot, None)):
        return "its drafts' request changed: prompt, reroll, model or backend"
    if pending.request_changed(("select", shot, None)):
        return "a new pick"
    for j in range(1, build.edit_count(shot) + 1):
        if pending.request_changed(("edit_step", shot, j)):
            return f"edit step {j} changed"
    note = read_note(build.config.root, shot)
    candidate = build.final(shot).candidate
    approved = build.selections[shot].approved
    if note and approved and note.get("candidate") == approved and note.get("path") != candidate:
        return f"edit steps changed since the lock (it approved {note.get('path')})"
    return None


def judge(build: Build, shot: str, pending: Pending, digests: PixelDigests) -> Approval:
    """The verdict on a shot's final as things stand on disk (and as the next build would
    change them)."""
    from stillmake.artifacts.provenance import head_record

    if not build.picked(shot):
        return Approval(shot, UNLOCKED, paths.selected(shot), None, None, None, Verdict())
    lock = lock_of(build, shot)
    candidate = build.final(shot).candidate
    root = build.config.root
    built = (root / candidate).is_file()
    return decide(
        lock,
        candidate,
        digests.sha256(root / candidate) if built else None,
        head_record(root / candidate) if built else None,
        rebuilt=candidate_rebuilt(build, pending, shot) if lock.locked else None,
        note=read_note(root, shot),
        backend=build.config.backend,
    )


def judge_all(build: Build, digests: PixelDigests | None = None) -> dict[str, Approval]:
    """Every shot's verdict (digests: a command's own; else the project's, kept)."""
    from stillmake.artifacts.digests import PixelDigests
    from stillmake.planner.pending import Pending

    store = digests or PixelDigests(build.config.root / paths.PIXEL_DIGESTS)
    pending = Pending(build)
    out = {shot: judge(build, shot, pending, store) for shot in build.shots}
    if digests is None:
        store.save()
    return out


def awaiting_lines(approvals: Mapping[str, Approval]) -> list[str]:
    """One line per locked shot whose final is not rendered, saying what to do."""
    return [a.why for a in approvals.values() if a.state in (AWAITING, GATE)]
