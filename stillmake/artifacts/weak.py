"""The seed's guardrail "avoid repeated high-fidelity edits on weak candidates", measured.

A candidate is weak when the gate fails it: a pixel metric or identity. The review sheet,
`stillmake plan` and `stillmake status` warn about a weak pick before its edits are
paid; with `edit.refuse_weak: true` the edit stage refuses to edit one.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from stillmake.artifacts.gate import Gated
    from stillmake.artifacts.quality import FlagJson


def failures(flags: Iterable[FlagJson]) -> list[str]:
    """The failing flags' messages, worst first as the gate listed them."""
    return [f["message"] for f in flags if f.get("level") == "fail"]


def weak_pick(review: Mapping[str, Any] | None, pick: int | None) -> str | None:
    """What makes the picked draft weak, from its review JSON (stages.review.ReviewReport,
    as written or read back); None when it passes the gate (or nothing is known yet)."""
    if not review or pick is None:
        return None
    draft = next((d for d in review.get("drafts", []) if d.get("k") == pick), None)
    failed = failures(draft.get("flags", [])) if draft else []
    if not failed:
        return None
    return f"picked draft {pick} fails the gate ({'; '.join(failed)}): a weak candidate"


def weak_source(shot: str, step: int, source: str, gated: Gated) -> str | None:
    """Why an edit step's source is a weak candidate (it fails the gate); None if not."""
    failed = failures(gated["flags"])
    if not failed:
        return None
    return (
        f"shot {shot} edit step {step}: its source {source} fails the gate "
        f"({'; '.join(failed)}): a weak candidate"
    )
