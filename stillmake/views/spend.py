"""One-line spend summaries for the end of a build and for `stillmake status`, the
ledger's damaged lines and the budget held by requests in flight."""

from __future__ import annotations

from collections.abc import Iterable

from stillmake.api.ledger import (
    PAID,
    DamagedLine,
    Ledger,
    LedgerLine,
    LedgerRead,
    Reservation,
    age_text,
)
from stillmake.api.pricing import PREVIEW
from stillmake.api.records import BAD_FIGURE
from stillmake.errors import StillmakeError

INFLIGHT_COLUMNS = (
    "reservation",
    "usd",
    "what",
    "pid",
    "host",
    "age",
    "state",
    "backend",
    "request",
)
RELEASE_HINT = (
    "a reservation holds budget until its request settles; `running`, `leased` and `other host` "
    "ones count. To clear one whose request is not running any more: stillmake release --stale "
    "(every dead one), stillmake release RID --force (a running one, or one from another host)"
)
UNSETTLED_HINT = (
    "`unsettled`: its process died with the request sent, so the API may have billed it; it "
    "counts as spent until its answer turns up in the cache (the next build that asks for it "
    "settles it) or you say which: stillmake release RID --billed, or --not-billed"
)


def damage_warning(shown: str, d: DamagedLine) -> str:
    """One line for a ledger line that is not a whole record: which, what it means, what to do."""
    silence = f"to silence this, delete line {d.line} of {shown} while no build runs"
    if d.salvaged:
        return (
            f"{shown} line {d.line}: torn, with a whole record written onto it; the record is "
            f"kept and the torn part skipped (spend totals leave the torn part's request out). "
            f"Nothing else is lost; {silence} and put the record back on a line of its own"
        )
    if d.kind == BAD_FIGURE:
        return (
            f"{shown} line {d.line}: {d.detail}, which is not a bill (edited by hand?): refused, "
            f"spend totals and the budget leave the line out. Put the figure right (or delete "
            f"line {d.line}) while no build runs"
        )
    what = {
        "torn tail": "torn tail (a write cut short by a crash or a full disk)",
        "torn": "torn (a write cut short by a crash or a full disk)",
    }.get(d.kind, "not a ledger record (edited by hand?)")
    return (
        f"{shown} line {d.line}: {what}, skipped: spend totals leave its request out (if it "
        f"was paid, its response is in runs/cache/ and is not paid for again). Nothing else is "
        f"lost and new records start on a fresh line; {silence}"
    )


def damage_warnings(ledger: Ledger, read: LedgerRead | None = None) -> list[str]:
    read = ledger.read() if read is None else read
    return [damage_warning(ledger.shown, d) for d in read.damaged]


def inflight_rows(reservations: Iterable[Reservation]) -> list[dict]:
    return [
        {
            "reservation": r.short,
            "usd": f"${r.cost_usd:.3f}",
            "what": r.what,
            "backend": r.backend or "?",
            "pid": r.pid if r.pid is not None else "?",
            "host": r.host or "?",
            "age": age_text(r.age_s()),
            "state": r.shown_state,
            "request": r.short_fingerprint,
        }
        for r in reservations
    ]


def inflight_usd(reservations: Iterable[Reservation]) -> float:
    """Budget held by reservations: requests in flight and unsettled ones."""
    return round(sum(r.cost_usd for r in reservations if r.counted), 6)


def unsettled_usd(reservations: Iterable[Reservation]) -> float:
    return round(sum(r.cost_usd for r in reservations if r.unsettled), 6)


def unsettled_line(reservations: Iterable[Reservation]) -> str | None:
    """One line for the requests a dead process had in flight, naming their fingerprints."""
    dead = [r for r in reservations if r.unsettled]
    if not dead:
        return None
    named = ", ".join(
        f"{r.short} {r.what.split(' (')[0]} request {r.short_fingerprint}" for r in dead
    )
    return (
        f"unsettled ${unsettled_usd(dead):.3f}: {len(dead)} request(s) a dead process had in "
        f"flight ({named}) count as spent until settled: `stillmake release RID --billed` "
        "(or --not-billed), or the next build that asks for them finds their answers"
    )


def build_summary(ledger: Ledger, since: str) -> str:
    """Spend of the requests ledgered since `since` (ISO time) and of the ledger so far,
    then a warning line for each damaged ledger line."""
    try:
        read = ledger.read()
    except StillmakeError as exc:  # an unreadable ledger: say so, never a traceback at the end
        return f"stillmake: warning: {exc}"
    entries = read.entries
    run = [e for e in entries if e.get("time", "") >= since]
    answered = [e for e in run if e.get("outcome") == PAID]
    # the preview renders at $0: "paid" would be a word for money never spent
    previews = [e for e in answered if str(e.get("backend", "")).startswith(PREVIEW)]
    paid = [e for e in answered if e not in previews]
    hits = sum(1 for e in run if e.get("outcome") == "cache_hit")
    failed = [e for e in run if e.get("outcome") not in (PAID, "cache_hit")]
    refused = ledger.spent(failed) + sum(e.get("rejected_usd") or 0.0 for e in paid)
    rendered = f"{len(previews)} preview render(s) $0 (stand-ins), " if previews else ""
    summary = (
        f"stillmake: this run {len(paid)} paid request(s) ${ledger.spent(paid):.3f}, "
        f"{rendered}{hits} cache hit(s) $0, {len(failed)} failed; ledger total "
        f"${ledger.spent(entries):.3f}{_budget_left(ledger, entries)}"
    )
    if refused:
        summary += (
            f" (this run ${ledger.spent(run):.3f} in all, ${refused:.3f} of it for answers the"
            " API billed and the check refused)"
        )
    lines = [summary]
    try:
        unsettled = unsettled_line(ledger.reservations())
        swapped = ledger.changed()
    except OSError:
        unsettled = swapped = None
    lines += [f"stillmake: warning: {w}" for w in (unsettled, swapped) if w]
    return "\n".join(lines + [f"stillmake: warning: {w}" for w in damage_warnings(ledger, read)])


def _budget_left(ledger: Ledger, entries: list[LedgerLine]) -> str:
    if ledger.budget_usd is None:
        return " (budget unlimited)"
    left = max(ledger.budget_usd - ledger.spent(entries), 0.0)
    return f" of budget ${ledger.budget_usd:.2f} (${left:.3f} left)"


def header_line(ledger: Ledger, backend: str) -> str:
    """What a build starts with: the backend, the budget and what is spent already."""
    try:
        entries = ledger.read().entries
    except StillmakeError as exc:
        return f"stillmake: warning: {exc}"
    what = "offline stand-in images, $0" if backend == "preview" else "paid per request"
    spent = ledger.spent(entries)
    if ledger.budget_usd is None:
        budget = f"${spent:.3f} spent so far, budget unlimited"
    else:
        left = max(ledger.budget_usd - spent, 0.0)
        budget = f"budget ${ledger.budget_usd:.2f}: ${spent:.3f} spent so far, ${left:.3f} left"
    return f"stillmake: backend {backend} ({what}); {budget}"


def plan_accuracy(entries: Iterable[LedgerLine]) -> dict | None:
    """The last build that paid the API: what its requests were estimated at before
    each call, and what their usage billed."""
    paid = [
        e
        for e in entries
        if e.get("outcome") == PAID
        and e.get("estimate_usd") is not None
        and not str(e.get("backend", "")).startswith("preview")
    ]
    if not paid:
        return None
    build = paid[-1].get("build")
    lines = [e for e in paid if e.get("build") == build]
    planned = round(sum(e["estimate_usd"] for e in lines), 6)
    billed = round(sum(e.get("cost_usd") or 0.0 for e in lines), 6)
    error = (planned - billed) / billed if billed else 0.0
    return {
        "build": build,
        "requests": len(lines),
        "planned_usd": planned,
        "billed_usd": billed,
        "error": round(error, 6),  # not 4: the line rounds it once more, to 0.1%
    }


def accuracy_line(acc: dict | None) -> str:
    if acc is None:
        return "no paid build in the ledger yet: estimates use the model table's prior"
    side = "over" if acc["error"] > 0 else "under"
    return (
        f"last paid build ({acc['build']}): planned ${acc['planned_usd']:.3f}, billed "
        f"${acc['billed_usd']:.3f} over {acc['requests']} request(s): the plan was "
        f"{abs(acc['error']) * 100:.1f}% {side} the bill"
    )
