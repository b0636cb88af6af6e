"""Capped exponential backoff with jitter, honouring the server's retry-after."""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, NotRequired, TypedDict, TypeVar

from stillmake import stop
from stillmake.errors import BackendError

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage

_T = TypeVar("_T")
_BACK_OFF = stop.sleeper("to retry")  # ends at once on SIGTERM/SIGINT


class Attempt(TypedDict):
    """A failed attempt, as a ledger line's `retries` lists it."""

    attempt: int  # from 1
    status: int | None  # HTTP status, if one came back
    code: str | None
    error: str  # the first 300 characters
    usage: NotRequired[Usage]  # an answer the API sent, and billed, that was refused ...
    cost_usd: NotRequired[float]  # ... and what it billed
    cost_source: NotRequired[str]
    wait_s: NotRequired[float]  # the back-off before the next attempt


@dataclass
class RetryPolicy:
    max_retries: int = 4
    base_s: float = 0.5
    cap_s: float = 8.0

    def delay(self, attempt: int, retry_after: float | None) -> float:
        """Seconds to wait before attempt `attempt + 1` (attempt counts from 1)."""
        backoff = min(self.cap_s, self.base_s * (2 ** (attempt - 1)))
        wait = random.uniform(backoff / 2, backoff)  # "equal jitter"
        if retry_after is not None:
            wait = max(wait, min(retry_after, 60.0))
        return wait


def call_with_retries(
    fn: Callable[[], _T],
    policy: RetryPolicy,
    *,
    on_retry: Callable[[int, float, BackendError], object] | None = None,
    sleep: Callable[[float], object] = _BACK_OFF,
    history: list[Attempt] | None = None,
) -> tuple[_T, int, list[Attempt]]:
    """Run fn(); retry retryable BackendErrors (a BadAnswer is one). Returns
    (result, attempts, history).

    On final failure the BackendError is re-raised with `.attempts` and
    `.history` set, so the caller can ledger every attempt, and its message ends
    with how many attempts were made. `history` (given by the caller) is filled as
    attempts fail, so it is whole even when `on_retry` or the back-off raises
    (a budget refusal, a stop). An attempt the API billed (an answer it sent that
    was refused) carries its `usage` and `cost_usd`. The back-off ends at once on
    SIGTERM/SIGINT (stillmake.stop)."""
    history = [] if history is None else history
    attempt = 1
    while True:
        try:
            return fn(), attempt, history
        except BackendError as exc:
            history.append(
                Attempt(attempt=attempt, status=exc.status, code=exc.code, error=str(exc)[:300])
            )
            if exc.usage:  # an answer the API sent, and billed, that was refused
                history[-1]["usage"] = exc.usage
            if exc.cost_usd is not None:
                history[-1]["cost_usd"] = exc.cost_usd
                if exc.cost_source:
                    history[-1]["cost_source"] = exc.cost_source
            if not exc.retryable or attempt > policy.max_retries:
                exc.attempts = attempt
                exc.history = history
                if attempt > 1:  # the one line a user sees says how hard it was tried
                    exc.args = (
                        f"{exc}; gave up after {attempt} attempts "
                        f"(openai.max_retries: {policy.max_retries})",
                    )
                raise
            wait = policy.delay(attempt, exc.retry_after)
            history[-1]["wait_s"] = round(wait, 3)
            if on_retry:
                on_retry(attempt, wait, exc)
            sleep(wait)
            attempt += 1
