"""The images-per-minute limiter and the retry policy, with a fake clock (no sleeping)."""

from __future__ import annotations

import pytest

from stillmake.api.ratelimit import RateLimiter
from stillmake.api.retry import RetryPolicy, call_with_retries
from stillmake.errors import BackendError, ModerationBlocked


class Clock:
    def __init__(self):
        self.now = 1000.0
        self.slept = []

    def time(self):
        return self.now

    def sleep(self, s):
        self.slept.append(s)
        self.now += s


def test_limiter_holds_images_per_minute_across_instances(tmp_path):
    clock = Clock()
    # two limiters on one file stand for two jobs/processes
    a = RateLimiter(tmp_path / "rate.json", 5)
    b = RateLimiter(tmp_path / "rate.json", 5)
    assert a.acquire(3, clock=clock.time, sleep=clock.sleep) == 0
    clock.now += 10
    assert b.acquire(2, clock=clock.time, sleep=clock.sleep) == 0
    clock.now += 5
    waited = a.acquire(
        3, clock=clock.time, sleep=clock.sleep
    )  # must wait for the first 3 to age out
    assert waited == pytest.approx(45.0)
    assert clock.now == pytest.approx(1060.0)


def test_limiter_off_and_oversized_requests(tmp_path):
    clock = Clock()
    assert (
        RateLimiter(tmp_path / "r.json", None).acquire(50, clock=clock.time, sleep=clock.sleep) == 0
    )
    big = RateLimiter(tmp_path / "r2.json", 2)
    assert big.acquire(3, clock=clock.time, sleep=clock.sleep) == 0  # alone in the window: allowed


def test_retry_policy_backoff_jitter_and_retry_after():
    policy = RetryPolicy(max_retries=5, base_s=0.5, cap_s=8.0)
    for attempt, cap in ((1, 0.5), (2, 1.0), (3, 2.0), (6, 8.0), (9, 8.0)):
        d = policy.delay(attempt, None)
        assert cap / 2 <= d <= cap
    assert policy.delay(1, 3.0) == 3.0
    assert policy.delay(1, 1000.0) == 60.0  # a silly retry-after is capped


def test_call_with_retries_counts_and_stops():
    clock = Clock()
    calls = []

    def flaky():
        calls.append(1)
        if len(calls) < 3:
            raise BackendError("busy", retryable=True, status=503)
        return "ok"

    result, attempts, history = call_with_retries(
        flaky, RetryPolicy(max_retries=4), sleep=clock.sleep
    )
    assert (result, attempts, len(history), len(clock.slept)) == ("ok", 3, 2, 2)

    def always_busy():
        raise BackendError("busy", retryable=True, status=429, retry_after=0.25)

    with pytest.raises(BackendError) as e:
        call_with_retries(always_busy, RetryPolicy(max_retries=2), sleep=clock.sleep)
    assert e.value.attempts == 3 and [h["status"] for h in e.value.history] == [429, 429, 429]

    def refused():
        raise ModerationBlocked("no", code="moderation_blocked", status=400)

    with pytest.raises(ModerationBlocked) as e:
        call_with_retries(refused, RetryPolicy(max_retries=4), sleep=clock.sleep)
    assert e.value.attempts == 1
