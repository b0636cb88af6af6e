"""budget_usd, read as a number or refused.

The budget is the ceiling on money, so nothing may switch it off by accident: an
empty value (`--config budget_usd=$UNSET`), text, NaN, infinity or a negative
number is refused with one line, wherever it was set (config.yaml, `snakemake
--config`, `stillmake -C`). No ceiling is only ever the explicit word `unlimited`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

from stillmake.errors import InputError

KEY = "budget_usd"
UNLIMITED = "unlimited"  # the one way to have no ceiling (the schema documents it)
HOW = (
    "give the ceiling in US dollars (budget_usd: 5, or --config budget_usd=5), or "
    "budget_usd=unlimited for none"
)


def read_budget(value: object) -> float | None:
    """The ceiling in USD, or None for `unlimited`; InputError otherwise."""
    if value == UNLIMITED:
        return None
    if value is None or value == "":
        problem = "empty (an unset shell variable in --config budget_usd=$VAR?)"
    elif isinstance(value, bool) or not isinstance(value, int | float):
        problem = f"{value!r} is not a number"
    elif not math.isfinite(value):
        problem = f"{value} is not a finite number"
    elif value < 0:
        problem = f"{value} is less than the minimum of 0"
    else:
        return float(value)
    raise InputError(f"{problem}; {HOW}", file="config.yaml", key=KEY)


def check_budget(config: Mapping[str, object]) -> None:
    """Refuse a config whose budget_usd is set and is not a budget (before the schema,
    whose message would be several lines); an absent one takes the schema's default."""
    if KEY in config:
        read_budget(config[KEY])
