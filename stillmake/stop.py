"""Stop means stop: one process-wide flag that SIGTERM or SIGINT raises, and waits that
end the moment it is raised.

Snakemake runs jobs as threads of its own process; a signal reaches the main thread
only, and Snakemake's own handler lets running jobs finish. A job waiting (on the
rate limiter, a retry back-off, a fingerprint lock) waits here instead of in
`time.sleep`, so the signal ends the wait at once: the job raises `Stopped` before
another request leaves the process, and its reservation is released on the way out.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType
from typing import ClassVar

from stillmake.errors import StillmakeError

STOP = threading.Event()
_installed: dict[int, object] = {}  # signal number -> the handler ours chains to
_received: list[str] = []  # the signal's name, for the message


class Stopped(StillmakeError):
    """The build was told to stop (SIGTERM, SIGINT) while this job waited: nothing more is
    sent; what was already paid for is in the ledger."""


def stopping() -> bool:
    return STOP.is_set()


def check(what: str) -> None:
    """Raise Stopped if a stop was asked for: called before anything is sent."""
    if STOP.is_set():
        raise Stopped(f"stopped by {_signal_name()} before {what}; nothing is sent after a stop")


def wait(seconds: float, what: str) -> None:
    """Sleep `seconds`, or raise Stopped the moment a stop is asked for."""
    if (seconds > 0 and STOP.wait(seconds)) or STOP.is_set():
        raise Stopped(
            f"stopped by {_signal_name()} while waiting {what}; nothing is sent after a stop"
        )


def sleeper(what: str) -> Callable[[float], None]:
    """A `sleep(seconds)` for code that takes one (the limiter, the retry loop)."""
    return lambda seconds: wait(seconds, what)


def _signal_name() -> str:
    return _received[-1] if _received else "a stop request"


def on_signals(signums: tuple[int, ...] = (signal.SIGTERM, signal.SIGINT)) -> list[int]:
    """Raise the flag on each signal, then hand the signal to the handler that was there
    (Snakemake's), so its own shutdown and exit status are unchanged. Main thread only;
    installing twice chains once. Returns the signals now handled."""
    done = []
    for signum in signums:
        current = signal.getsignal(signum)
        if isinstance(current, _Chained):
            done.append(signum)
            continue
        handler = _Chained(current)
        try:
            signal.signal(signum, handler)
        except ValueError:  # not the main thread: nothing to chain to from here
            continue
        _installed[signum] = current
        done.append(signum)
    return done


@dataclass(frozen=True)
class _Chained:
    """Our handler: raise the flag, then hand the signal to the one that was there."""

    previous: object  # a handler, SIG_DFL, SIG_IGN or None
    _stillmake_stop: ClassVar[bool] = True  # how a handler is known as ours (tests too)

    def __call__(self, number: int, frame: FrameType | None) -> object:
        _received.append(signal.Signals(number).name)
        STOP.set()
        if callable(self.previous):
            return self.previous(number, frame)
        if self.previous == signal.SIG_DFL:  # what would have happened without us
            signal.signal(number, signal.SIG_DFL)
            signal.raise_signal(number)
        return None


def reset() -> None:
    """Lower the flag (a long-lived process that starts another build)."""
    STOP.clear()
    _received.clear()
