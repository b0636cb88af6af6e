"""The playbook's guardrail, in one place: no high quality before a shortlist.

The seed: explore at medium, shortlist by eye, and only then pay for high quality.
The build checks it when a request is planned (planner/build.py), again on the one call path
(api/calls.obtain) before any cache, ledger or backend is touched, and refuses
drafts configured at high quality before any job runs.
"""

from __future__ import annotations

from stillmake.errors import GuardrailError

# `auto` may pick high, so it counts as high too.
HIGH_QUALITIES = ("high", "xhigh", "max", "auto")


def is_high(quality: str) -> bool:
    return quality in HIGH_QUALITIES


def require_shortlist(quality: str, *, shortlisted: bool, shot: str, pass_: str) -> None:
    """Refuse a high-quality request for a shot that has no pick yet."""
    if is_high(quality) and not shortlisted:
        raise GuardrailError(
            f"shot {shot}: no {pass_} at quality '{quality}' before a pick — the playbook "
            f"allows high quality only after a shortlist; run `stillmake pick {shot} K` first"
        )


def draft_quality_problem(quality: str) -> str | None:
    """Drafts explore compositions: a high quality there is against the playbook."""
    if is_high(quality):
        return (
            f"quality '{quality}' for drafts is against the playbook "
            "(no high quality before a shortlist); use low or medium"
        )
    return None
