"""One-line spend summaries for the end of a build and for `stillmake status`."""

from __future__ import annotations

from collections.abc import Iterable

from stillmake.api.ledger import PAID, Ledger


def build_summary(ledger: Ledger, since: str) -> str:
    """Spend of the requests ledgered since `since` (ISO time) and of the ledger so far."""
    entries = ledger.entries()
    run = [e for e in entries if e.get("time", "") >= since]
    paid = [e for e in run if e.get("outcome") == PAID]
    hits = sum(1 for e in run if e.get("outcome") == "cache_hit")
    failed = sum(1 for e in run if e.get("outcome") not in (PAID, "cache_hit"))
    budget = f" of budget ${ledger.budget_usd:.2f}" if ledger.budget_usd is not None else ""
    return (
        f"stillmake: this run {len(paid)} paid request(s) ${ledger.spent(run):.3f}, "
        f"{hits} cache hit(s) $0, {failed} failed; ledger total ${ledger.spent(entries):.3f}"
        f"{budget}"
    )


def plan_accuracy(entries: Iterable[dict]) -> dict | None:
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
        "error": round(error, 4),
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
