"""Images-per-minute limiter shared by every job that sees its file (file + lock).

Its state is the window itself: (time, images) entries that leave it after a minute,
so an entry from a job that died, here or on another host, frees itself; nothing
holds a slot by pid. The file lives beside the ledger (`storage.ledger`), so jobs on
several hosts sharing a budget share the cap too."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

from stillmake.files import atomic_write_json, locked

WINDOW_S = 60.0


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
        sleep: Callable[[float], object] = time.sleep,
    ) -> float:
        """Block until `images` more fit in the last minute; returns seconds waited."""
        if not self.limit:
            return 0.0
        waited = 0.0
        while True:
            with locked(self.lock_path):
                now = clock()
                window = [e for e in self._read() if now - e[0] < WINDOW_S]
                used = sum(n for _, n in window)
                if not window or used + images <= self.limit:
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
            pause = max(0.05, wake - now)
            sleep(pause)
            waited += pause

    def _read(self) -> list:
        try:
            return [tuple(e) for e in json.loads(self.path.read_text(encoding="utf-8"))]
        except (FileNotFoundError, ValueError):
            return []
