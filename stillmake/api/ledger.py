"""Append-only spend/latency log (runs/ledger.jsonl) and the budget ceiling.

Every request writes one line, paid or cache hit. The budget is checked under
a file lock with the request's price *and* the prices of requests still in
flight (reservations), so jobs racing under `-c 4` can never sum past it.
"""

from __future__ import annotations

import contextlib
import json
import os
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

from stillmake.errors import BudgetExceeded
from stillmake.files import locked

PAID = "paid"


class Ledger:
    def __init__(self, path: str | os.PathLike[str], budget_usd: float | None = None):
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self.reservations_path = self.path.with_name(f".{self.path.name}.inflight.json")
        self.budget_usd = budget_usd

    # -- reading -------------------------------------------------------------
    def entries(self) -> list[dict]:
        if not self.path.exists():
            return []
        out = []
        with open(self.path, encoding="utf-8") as fh:
            for line in fh:
                line = line.strip()
                if line:
                    out.append(json.loads(line))
        return out

    def spent(self, entries: Iterable[dict] | None = None) -> float:
        entries = self.entries() if entries is None else entries
        return round(sum(e.get("cost_usd") or 0.0 for e in entries if e.get("outcome") == PAID), 6)

    # -- writing -------------------------------------------------------------
    def append(self, entry: dict) -> None:
        with locked(self.lock_path):
            self._append_unlocked(entry)

    def _append_unlocked(self, entry: dict) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)

    @contextlib.contextmanager
    def reserve(self, cost_usd: float, what: str) -> Iterator[Callable[[dict], None]]:
        """Hold `cost_usd` of budget while a paid request is in flight.

        Yields a `settle(entry)` callable that writes the ledger line and
        releases the reservation in one locked step.
        """
        rid = uuid.uuid4().hex
        with locked(self.lock_path):
            inflight = self._live_reservations()
            if self.budget_usd is not None:
                committed = self.spent() + sum(r["cost_usd"] for r in inflight.values())
                if committed + cost_usd > self.budget_usd + 1e-9:
                    raise BudgetExceeded(
                        f"{what} would cost ${cost_usd:.3f}; spent ${self.spent():.3f}"
                        f" + ${committed - self.spent():.3f} in flight of budget_usd"
                        f" ${self.budget_usd:.2f}. Raise budget_usd in config.yaml"
                        " (or --config budget_usd=...) to go on; `stillmake plan` shows what is"
                        " left to pay."
                    )
            inflight[rid] = {"cost_usd": cost_usd, "pid": os.getpid(), "time": time.time()}
            self._write_reservations(inflight)
        settled = False

        def settle(entry: dict) -> None:
            nonlocal settled
            with locked(self.lock_path):
                self._append_unlocked(entry)
                self._drop(rid)
            settled = True

        try:
            yield settle
        finally:
            if not settled:
                with locked(self.lock_path):
                    self._drop(rid)

    def _drop(self, rid: str) -> None:
        inflight = self._live_reservations()
        inflight.pop(rid, None)
        self._write_reservations(inflight)

    def _live_reservations(self) -> dict:
        try:
            data = json.loads(self.reservations_path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return {}
        return {rid: r for rid, r in data.items() if _alive(r.get("pid"))}

    def _write_reservations(self, data: dict) -> None:
        tmp = self.reservations_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        os.replace(tmp, self.reservations_path)


def _alive(pid: object) -> bool:
    if not isinstance(pid, int):
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
