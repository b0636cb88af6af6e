"""The images-per-minute limiter and the retry policy, with a fake clock (no sleeping);
the wall clock stepping or skewed; and SIGTERM/SIGINT ending every wait at once."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from stillmake import stop
from stillmake.api.ratelimit import WINDOW_S, RateLimiter
from stillmake.api.retry import RetryPolicy, call_with_retries
from stillmake.errors import BackendError, ModerationBlocked
from stillmake.files import locked
from stillmake.stop import Stopped


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


# -- a wall clock that lies: the wait is bounded by the window ---------------------------


def test_a_window_written_by_a_host_an_hour_ahead_holds_a_minute_at_most(tmp_path):
    clock = Clock()
    path = tmp_path / "rate.json"
    path.write_text(json.dumps([[clock.now + 3600, 3]]))  # stamped an hour in the future
    waited = RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep)
    assert waited == pytest.approx(WINDOW_S) and sum(clock.slept) <= WINDOW_S
    print(f"\nwindow stamped +3600 s: waited {waited:.1f} s (bound {WINDOW_S:.0f} s)")


def test_a_clock_stepped_back_during_the_wait_cannot_stretch_it(tmp_path):
    class SteppingBack(Clock):
        def sleep(self, s):
            self.slept.append(s)
            self.now -= 100  # every pause, the wall clock jumps back

    clock = SteppingBack()
    path = tmp_path / "rate.json"
    RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep)
    waited = RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep)
    assert waited <= WINDOW_S + 1e-9 and sum(clock.slept) <= WINDOW_S + 1e-9
    # stepped forwards, every entry looks old: no wait at all
    clock.now += 7200
    assert RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep) == 0


def test_a_window_file_with_junk_holds_nothing(tmp_path):
    clock = Clock()
    path = tmp_path / "rate.json"
    path.write_text('[[NaN, 3], ["soon", 3], [1000, -5], [1000, true], {"a": 1}, 7]')
    assert RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep) == 0
    path.write_text('{"not": "a window"}')
    assert RateLimiter(path, 3).acquire(1, clock=clock.time, sleep=clock.sleep) == 0


# -- stop means stop: SIGTERM/SIGINT end every wait at once ------------------------------


@pytest.fixture
def stopper():
    """Raise stillmake's stop flag from another thread after `after` seconds; lowered
    again after the test (the flag is process-wide)."""
    timers = []

    def later(after=0.3):
        timer = threading.Timer(after, stop.STOP.set)
        timer.start()
        timers.append(timer)
        return time.monotonic() + after

    yield later
    for t in timers:
        t.cancel()
    stop.reset()


def test_a_stop_ends_the_rate_limiter_wait_at_once(tmp_path, stopper):
    path = tmp_path / "rate.json"
    path.write_text(json.dumps([[time.time(), 3]]))  # the window is full for a minute
    raised_at = stopper()
    with pytest.raises(Stopped, match="while waiting on the rate limiter"):
        RateLimiter(path, 3).acquire(3)
    assert time.monotonic() - raised_at < 0.5


def test_a_stop_ends_a_retry_back_off_before_the_next_attempt(stopper):
    sent = []

    def busy():
        sent.append(time.monotonic())
        raise BackendError("busy", retryable=True, status=429, retry_after=30)

    history = []
    raised_at = stopper()
    with pytest.raises(Stopped, match="while waiting to retry"):
        call_with_retries(busy, RetryPolicy(max_retries=4), history=history)
    assert time.monotonic() - raised_at < 0.5
    assert len(sent) == 1 and [h["status"] for h in history] == [429]  # nothing after


def test_a_stop_ends_the_wait_for_a_lock_another_process_holds(tmp_path, stopper):
    lock = tmp_path / "fp.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLD_LOCK, str(lock)], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        raised_at = stopper()
        with pytest.raises(Stopped, match="while waiting on another job"):
            with locked(lock, waiting="on another job's request"):
                pass
        assert time.monotonic() - raised_at < 0.5
    finally:
        holder.kill()
        holder.wait()
    with locked(lock, waiting="on another job's request"):  # a free lock is taken, stop or not
        pass


HOLD_LOCK = """
import fcntl, sys, time
fh = open(sys.argv[1], "a+")
fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
print("held", flush=True)
time.sleep(60)
"""


def test_a_signal_raises_the_flag_and_reaches_the_handler_it_replaced():
    """Chained, not replaced: Snakemake's own handler still runs (its shutdown, its exit
    status); installing twice chains once."""
    seen = []
    previous = signal.signal(signal.SIGUSR1, lambda n, f: seen.append(n))
    try:
        assert stop.on_signals((signal.SIGUSR1,)) == [signal.SIGUSR1]
        assert stop.on_signals((signal.SIGUSR1,)) == [signal.SIGUSR1]
        os.kill(os.getpid(), signal.SIGUSR1)
        deadline = time.monotonic() + 5
        while not seen and time.monotonic() < deadline:
            time.sleep(0.01)
        assert seen == [signal.SIGUSR1] and stop.stopping()
        with pytest.raises(
            Stopped,
            match="stopped by SIGUSR1 before sending the request; nothing is sent after a stop",
        ):
            stop.check("sending the request")
    finally:
        signal.signal(signal.SIGUSR1, previous)
        stop.reset()
