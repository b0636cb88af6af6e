"""One-line spend summaries for the end of a build and for `stillmake status`."""

from __future__ import annotations

from stillmake.ledger import PAID, Ledger


def build_summary(ledger: Ledger, since: str) -> str:
    """Spend of the requests ledgered since `since` (ISO time) and of the ledger so far."""
    entries = ledger.entries()
    run = [e for e in entries if e.get("time", "") >= since]
    paid = [e for e in run if e.get("outcome") == PAID]
    hits = sum(1 for e in run if e.get("outcome") == "cache_hit")
    failed = sum(1 for e in run if e.get("outcome") not in (PAID, "cache_hit"))
    budget = f" of budget ${ledger.budget_usd:.2f}" if ledger.budget_usd is not None else ""
    return (f"stillmake: this run {len(paid)} paid request(s) ${ledger.spent(run):.3f}, "
            f"{hits} cache hit(s) $0, {failed} failed; ledger total ${ledger.spent(entries):.3f}"
            f"{budget}")
