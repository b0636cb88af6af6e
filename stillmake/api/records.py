"""What a ledger line must be for its figures to be counted.

Totals, the budget and estimates add up the ledger's money and tokens, so a line whose
figure is not a finite, non-negative number (NaN, infinity, -100, "lots": a hand edit or
a broken tool) is refused when read, named by its line number like a torn line, and
never summed: one bad figure can neither switch the ceiling off nor buy headroom.
"""

from __future__ import annotations

import json
import math
from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any, TypedDict, TypeGuard, cast

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage
    from stillmake.api.retry import Attempt

# One line of runs/ledger.jsonl: the request (time .. input_megapixels: what the call path
# knows before it asks, kept with its reservation), then how it ended (`outcome` on every
# line written; `parse_line` refuses a line without one). A line is read back as it was
# written, so a key may be missing (a hand edit, an older writer): readers use .get, and
# `figure_problem` has checked the figures before anything sums them.
LedgerLine = TypedDict(
    "LedgerLine",
    {
        "time": str,
        "build": str | None,  # the snakemake run (STILLMAKE_BUILD) that wrote it
        "shot": str,
        "pass": str,
        "endpoint": str,
        "model": str,
        "size": str,
        "quality": str,
        "n": int,
        "backend": str | None,
        "fingerprint": str | None,
        "prompt_chars": int,
        "input_images": int,
        "input_megapixels": float,
        "outcome": str,  # paid | cache_hit | failed | over_budget | stopped | ...
        "cost_usd": float,  # everything the line billed, refused answers included
        "estimate_usd": float,
        "rejected_usd": float,  # the part of cost_usd refused answers billed
        "cost_source": str,  # "usage", or how it was estimated
        "usage": "Usage | None",
        "output_megapixels": float,
        "latency_s": float | None,
        "attempts": int | None,
        "retries": "list[Attempt]",
        "rate_wait_s": float,
        "error": str,
        "reservation": str | None,  # settled or recovered: the reservation it was held by
        "settled_as": str,  # `stillmake release`: "billed" | "not billed"
        "what": str,
        "recovered": str,
    },
    total=False,
)

# the fields totals, summaries and estimates compute with, and the type each must have
FIELD_TYPES = {
    "time": str,
    "cost_usd": int | float,
    "estimate_usd": int | float,
    "rejected_usd": int | float,
    "usage": dict,
    "output_megapixels": int | float,
    "input_megapixels": int | float,
    "prompt_chars": int,
}
NUMBERS = tuple(k for k, kind in FIELD_TYPES.items() if kind is not str and kind is not dict)
BAD_FIGURE = "bad figure"


@dataclass(frozen=True)
class DamagedLine:
    """A line of the ledger that is not a whole record. `salvaged`: a whole record
    written onto the torn one (by an older writer) was recovered from it. `detail`: for
    a bad figure, which one and what it was."""

    line: int
    kind: str  # "torn tail" (last line, cut short), "torn" (further up), "not a record",
    # "bad figure" (money or tokens that are not a finite, non-negative number)
    salvaged: bool = False
    detail: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def parse_line(raw: bytes) -> tuple[LedgerLine | None, str | None]:
    """(the record, None), or (None, what is wrong with its figures) for a record whose
    money or tokens cannot be counted, or (None, None) for a line that is not a record."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(entry, dict) or not isinstance(entry.get("outcome"), str):
        return None, None
    problem = figure_problem(entry)
    # JSON has no types: an object with a string outcome and its figures checked is a line
    return (None, problem) if problem else (cast(LedgerLine, entry), None)


def figure_problem(entry: dict[str, Any]) -> str | None:
    """What is wrong with a record's figures (`cost_usd is NaN`), or None."""
    for key, kind in FIELD_TYPES.items():
        value = entry.get(key)
        if value is None:
            continue
        if key in NUMBERS:
            problem = _amount_problem(key, value)
        elif key == "usage":
            problem = _usage_problem(value)
        else:
            problem = None if isinstance(value, kind) else f"{key} is {_shown(value)}"
        if problem:
            return problem
    return None


def is_amount(value: object) -> TypeGuard[int | float]:
    """A figure that may be summed: a finite, non-negative number (not a bool)."""
    return _amount_problem("", value) is None


def _amount_problem(key: str, value: object) -> str | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return f"{key} is {_shown(value)}, not a number"
    if not math.isfinite(value) or value < 0:
        return f"{key} is {_shown(value)}"
    return None


def _usage_problem(usage: object, where: str = "usage") -> str | None:
    """Token counts (`*_tokens`, at any depth: input_tokens_details ...) are finite and
    non-negative numbers; other keys a response may carry are left alone."""
    if not isinstance(usage, dict):
        return f"{where} is {_shown(usage)}, not a mapping of token counts"
    for key, value in usage.items():
        if value is None:
            continue
        if isinstance(value, dict):
            problem = _usage_problem(value, f"{where}.{key}")
        elif str(key).endswith("tokens"):
            problem = _amount_problem(f"{where}.{key}", value)
        else:
            problem = None
        if problem:
            return problem
    return None


def _shown(value: object) -> str:
    if isinstance(value, float) and math.isnan(value):
        return "NaN"
    return json.dumps(value) if isinstance(value, str) else repr(value)


def parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def glued_record(raw: bytes) -> LedgerLine | None:
    """A whole record written onto the end of a torn one (an older writer did not start
    on a fresh line): the longest tail of the line, starting at a `{`, that is a record."""
    start = raw.find(b"{", 1)
    while start != -1:
        entry, _ = parse_line(raw[start:])
        if entry is not None:
            return entry
        start = raw.find(b"{", start + 1)
    return None
