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
from typing import TypeGuard

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

    def to_dict(self) -> dict:
        return asdict(self)


def parse_line(raw: bytes) -> tuple[dict | None, str | None]:
    """(the record, None), or (None, what is wrong with its figures) for a record whose
    money or tokens cannot be counted, or (None, None) for a line that is not a record."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None, None
    if not isinstance(entry, dict) or not isinstance(entry.get("outcome"), str):
        return None, None
    problem = figure_problem(entry)
    return (None, problem) if problem else (entry, None)


def figure_problem(entry: dict) -> str | None:
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


def glued_record(raw: bytes) -> dict | None:
    """A whole record written onto the end of a torn one (an older writer did not start
    on a fresh line): the longest tail of the line, starting at a `{`, that is a record."""
    start = raw.find(b"{", 1)
    while start != -1:
        entry, _ = parse_line(raw[start:])
        if entry is not None:
            return entry
        start = raw.find(b"{", start + 1)
    return None
