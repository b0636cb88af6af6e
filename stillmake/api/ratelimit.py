"""Images-per-minute limiter shared by every job that sees its file (file + lock).

Its state is the window itself: (time, images) entries that leave it after a minute,
so an entry from a job that died, here or on another host, frees itself; nothing
holds a slot by pid. The file lives beside the ledger (`storage.ledger`), so jobs on
several hosts sharing a budget share the cap too.

Entries are wall-clock times (hosts share them), so the wall clock may lie: an entry
stamped in the future (this clock stepped back, or a host ahead of this one wrote it)
counts as made now, and a wait is measured by what was slept, never by the clock.
No wait is longer than the window: after a minute's wait a job goes, whatever the
file says. SIGTERM/SIGINT end the wait at once (stillmake.stop)."""

from __future__ import annotations

import json
import math
import os
import time
from collections.abc import Callable
from pathlib import Path

from stillmake import stop
from stillmake.files import atomic_write_json, locked

WINDOW_S = 60.0
MIN_PAUSE_S = 0.05
_WAIT = stop.sleeper("on the rate limiter")  # ends at once on SIGTERM/SIGINT


class RateLimiter:
    def __init__(self, path: str | os.PathLike[str], images_per_minute: int | None):
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.limit = images_per_minute

    def acquire(
        self,
        images: int,
        *,
        clock: Callable[[], float] = time.time,
        sleep: Callable[[float], object] = _WAIT,
    ) -> float:
        """Block until `images` more fit in the last minute (a minute at most); returns
        seconds waited."""
        if not self.limit:
            return 0.0
        waited = 0.0
        while True:
            with locked(self.lock_path):
                now = clock()
                window = [(min(t, now), n) for t, n in self._read()]
                window = [(t, n) for t, n in window if now - t < WINDOW_S]
                used = sum(n for _, n in window)
                if not window or used + images <= self.limit or waited >= WINDOW_S - 1e-6:
                    window.append((now, images))
                    atomic_write_json(self.path, window)
                    return waited
                # wait until enough of the oldest entries leave the window
                need = used + images - self.limit
                freed, wake = 0, now
                for t, n in sorted(window):
                    freed += n
                    wake = t + WINDOW_S
                    if freed >= need:
                        break
            pause = min(max(MIN_PAUSE_S, wake - now), WINDOW_S - waited)
            sleep(pause)
            waited += pause

    def _read(self) -> list[tuple[float, int]]:
        """The window's entries; anything else in the file (a hand edit, another
        program) is not an entry and holds nothing."""
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return []
        if not isinstance(data, list):
            return []
        return [
            (float(e[0]), e[1])
            for e in data
            if isinstance(e, list)
            and len(e) == 2
            and isinstance(e[0], int | float)
            and not isinstance(e[0], bool)
            and math.isfinite(e[0])
            and isinstance(e[1], int)
            and not isinstance(e[1], bool)
            and e[1] > 0
        ]
