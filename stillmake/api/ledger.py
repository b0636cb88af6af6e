"""Append-only spend/latency log (runs/ledger.jsonl) and the budget ceiling.

Every request writes one line: paid, failed or cache hit. A line's `cost_usd` is all
its attempts were billed, answers refused by the check included (itemised in its
`retries`), and the spend total is the sum of every line's `cost_usd`. The budget is
checked under a file lock with the request's price *and* the budget held by requests
in flight (reservations, stillmake.api.reservations), so jobs racing under `-c 4` can
never sum past it; a request whose refused answers were billed is checked again before
each further attempt.

Torn state never crashes a reader nor loses a record: a line cut short by a crash or a
full disk is skipped and reported by its number (`read().damaged`), and a writer that
finds the file not ending in a newline starts on a fresh line, so nothing already
written is rewritten. A line whose money or tokens are not finite, non-negative
numbers is refused the same way (stillmake.api.records): never summed.

The ledger cannot be swapped from under a build (stillmake.api.anchor): a ledger
deleted, replaced or cut short since stillmake last wrote it stops the next paid
request with one line instead of restarting the count.
"""

from __future__ import annotations

import contextlib
import json
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.anchor import TAIL as ANCHOR_TAIL
from stillmake.api.anchor import Anchor
from stillmake.api.records import (
    BAD_FIGURE,
    DamagedLine,
    LedgerLine,
    glued_record,
    is_amount,
    parse_line,
    parses,
)
from stillmake.api.reservations import (
    PROC,
    Reservation,
    StoredReservation,
    age_text,
    boot_id,
    describe,
    inflight_note,
    judge,
    pid_namespace,
    process_start,
    refusal,
    settle_refusal,
)
from stillmake.errors import BudgetExceeded, LedgerError
from stillmake.files import atomic_write_json, locked, remove_stale_temps

if TYPE_CHECKING:
    from stillmake.api.cache import CacheRecord

__all__ = [  # what callers take from here (some live in records/reservations)
    "PAID",
    "PROC",
    "SETTLED",
    "DamagedLine",
    "Hold",
    "Ledger",
    "LedgerLine",
    "LedgerRead",
    "Reservation",
    "age_text",
    "describe",
    "now_iso",
    "pid_namespace",
    "process_start",
]

PAID = "paid"
SETTLED = "settled"  # written by `stillmake release` for a dead request: billed or not
LEASE_S = 60.0  # a reservation made elsewhere holds budget this long after its last renewal


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


@dataclass
class LedgerRead:
    entries: list[LedgerLine]
    damaged: list[DamagedLine]


class Ledger:
    def __init__(
        self,
        path: str | os.PathLike[str],
        budget_usd: float | None = None,
        *,
        lease_s: float = LEASE_S,
    ):
        self.path = Path(path)
        self.lock_path = self.path.with_name(f".{self.path.name}.lock")
        self.reservations_path = self.path.with_name(f".{self.path.name}.inflight.json")
        self._anchor = Anchor(self.path)
        self.budget_usd = budget_usd
        self.lease_s = lease_s

    @property
    def shown(self) -> str:
        """The ledger's path as a user would type it (relative to the working directory)."""
        return _shown(self.path)

    # -- reading -------------------------------------------------------------
    def read(self) -> LedgerRead:
        """Every whole record, and every line that is not one (by line number).

        Read under the ledger lock, so a line being written right now is never
        mistaken for a torn one."""
        if not self.path.exists():
            return LedgerRead([], [])
        try:
            with locked(self.lock_path):
                return self._read_unlocked()
        except OSError:  # a read-only runs/ (no lock file): read without it
            return self._read_unlocked()

    def entries(self) -> list[LedgerLine]:
        return self.read().entries

    def _read_unlocked(self) -> LedgerRead:
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return LedgerRead([], [])
        except OSError as exc:
            raise LedgerError(
                f"{self.shown}: cannot be read ({exc.strerror or exc}); check its permissions"
            ) from None
        entries: list[LedgerLine] = []
        damaged: list[DamagedLine] = []
        lines = data.split(b"\n")
        last = len(lines) - 1  # the text after the last newline ("" when the file ends in one)
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            entry, bad_figure = parse_line(raw)
            if entry is not None:
                entries.append(entry)
                continue
            if bad_figure:
                damaged.append(DamagedLine(number, BAD_FIGURE, detail=bad_figure))
                continue
            glued = glued_record(raw)
            if glued is not None:
                entries.append(glued)
            if parses(raw):
                kind = "not a record"
            elif number - 1 == last and glued is None:
                kind = "torn tail"
            else:
                kind = "torn"
            damaged.append(DamagedLine(number, kind, salvaged=glued is not None))
        return LedgerRead(entries, damaged)

    def spent(self, entries: Iterable[LedgerLine] | None = None) -> float:
        """Everything the lines bill: paid answers, and answers refused by the check
        (on failed lines too); a cache hit costs $0."""
        entries = self.entries() if entries is None else entries
        return round(sum(e.get("cost_usd") or 0.0 for e in entries), 6)

    # -- writing -------------------------------------------------------------
    def append(self, entry: LedgerLine) -> None:
        with locked(self.lock_path):
            self._append_unlocked(entry)

    def _append_unlocked(self, entry: LedgerLine) -> None:
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
        anchor = self._anchor.read()
        swapped = self._anchor.changed(anchor, self.shown)
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o644)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":
                    line = b"\n" + line  # a torn last line: start this record on a fresh one
                while line:
                    line = line[os.write(fd, line) :]
                os.fsync(fd)
                end = os.fstat(fd).st_size
                tail = os.pread(fd, min(end, ANCHOR_TAIL), max(0, end - ANCHOR_TAIL))
            finally:
                os.close(fd)
        except OSError as exc:
            what = " ".join(str(entry[k]) for k in ("shot", "pass") if entry.get(k)) or "a"
            cost = entry.get("cost_usd")
            unbilled = f" (its ${cost:.3f} is missing from the ledger's total)" if cost else ""
            raise LedgerError(
                f"could not record {what} request ({entry.get('outcome')}) in {self.shown}: "
                f"{exc.strerror or exc}. Free the disk or fix the permissions, then run again: "
                f"a response already received is in runs/cache/ and is not paid for twice"
                f"{unbilled}"
            ) from None
        if swapped:  # left as found: the next paid request is refused until it is put back
            return
        if anchor is None or size != anchor["size"]:  # lines written by others meanwhile
            read = self._read_unlocked()
            lines, spent = len(read.entries), self.spent(read.entries)
        else:
            lines = anchor["lines"] + 1
            spent = round(anchor["spent"] + (entry.get("cost_usd") or 0.0), 6)
        self._anchor.write(end, tail, lines, spent)

    # -- the anchor: the ledger is the one stillmake has been writing ------------------
    def anchor(self) -> None:
        """Take the ledger as it is now as the one to keep writing (a build starts). A
        runs/ that cannot be written is left alone: no build pays into it anyway."""
        try:
            with locked(self.lock_path):
                try:
                    data = self.path.read_bytes()
                except FileNotFoundError:
                    data = b""
                read = self._read_unlocked()
                spent = self.spent(read.entries)
                self._anchor.write(len(data), data, len(read.entries), spent)
        except PermissionError:
            return

    def changed(self) -> str | None:
        """What happened to the ledger since stillmake last wrote it (deleted, replaced,
        cut short), as one line; None if it is the file it was (or a copy of it, longer)."""
        with locked(self.lock_path):
            return self._anchor.changed(self._anchor.read(), self.shown)

    # -- reservations: budget held while a paid request runs --------------------------
    @contextlib.contextmanager
    def reserve(
        self,
        cost_usd: float,
        what: str,
        backend: str | None = None,
        *,
        line: LedgerLine | None = None,
    ) -> Iterator[Hold]:
        """Hold `cost_usd` of budget while a paid request is in flight.

        Yields a Hold: called with the ledger line, it writes it and releases the
        reservation in one locked step. `line` (the request's ledger fields) is kept
        with the reservation, so a process that dies with the request in flight leaves
        enough behind to settle it. Raises LedgerError if the ledger was swapped since
        stillmake last wrote it."""
        rid = uuid.uuid4().hex
        with locked(self.lock_path):
            problem = self._anchor.changed(self._anchor.read(), self.shown)
            if problem:
                raise LedgerError(problem)
            stored = self._stored_reservations()
            judged = [judge(r, s) for r, s in stored.items()]
            self._check_budget(judged, cost_usd, f"{what} would cost ${cost_usd:.3f}")
            live = {r.rid: stored[r.rid] for r in judged if r.counted}
            live[rid] = {
                "cost_usd": cost_usd,
                "estimate_usd": cost_usd,
                "billed_usd": 0.0,
                "sent": False,
                "what": what,
                "backend": backend,
                "fingerprint": (line or {}).get("fingerprint"),
                "line": line or {},
                "pid": os.getpid(),
                "started": process_start(os.getpid()),
                "host": socket.gethostname(),
                "boot": boot_id(),
                "pidns": pid_namespace(),
                "time": time.time(),
                "lease_until": time.time() + self.lease_s,
            }
            self._write_reservations(live)
        hold = Hold(self, rid, cost_usd, what, line or {})
        renewing = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(rid, renewing), name=f"lease-{rid[:8]}", daemon=True
        )
        renewer.start()
        try:
            yield hold
        finally:
            renewing.set()
            renewer.join()
            if not hold.settled:
                hold.abandon()

    def _check_budget(self, judged: list[Reservation], adding: float, asked: str) -> None:
        """BudgetExceeded (one line, `asked` first) if spent + what reservations hold +
        `adding` would pass budget_usd."""
        if self.budget_usd is None:
            return
        holding = [r for r in judged if r.counted]
        spent = self.spent(self._read_unlocked().entries)
        inflight = sum(r.cost_usd for r in holding if r.alive)
        unsettled = sum(r.cost_usd for r in holding if r.unsettled)
        if spent + inflight + unsettled + adding > self.budget_usd + 1e-9:
            dead = f" + ${unsettled:.3f} unsettled" if unsettled else ""
            raise BudgetExceeded(
                f"{asked}; spent ${spent:.3f} + ${inflight:.3f} in flight{dead} of budget_usd"
                f" ${self.budget_usd:.2f}.{inflight_note(holding)} Raise budget_usd in"
                " config.yaml (or --config budget_usd=...) to go on; `stillmake plan`"
                " shows what is left to pay."
            )

    def _renew(self, rid: str, done: threading.Event) -> None:
        """Push the reservation's lease forward while its request runs (a third of a
        lease at a time), so hosts that cannot see this process still count it."""
        while not done.wait(self.lease_s / 3):
            try:
                self._update(rid, lambda r: r.update(lease_until=time.time() + self.lease_s))
            except OSError:
                continue  # a busy or full disk: the next renewal tries again

    def _update(self, rid: str, change: Callable[[StoredReservation], object]) -> bool:
        """Change one stored reservation under the lock; False if it is not there."""
        with locked(self.lock_path):
            stored = self._stored_reservations()
            if rid not in stored:
                return False
            change(stored[rid])
            self._write_reservations(stored)
            return True

    def reservations(self) -> list[Reservation]:
        """Every stored reservation, oldest first, with its state: `running`, `leased`
        and `other host` are alive and hold budget; a dead one holds budget while it is
        unsettled (its request was sent)."""
        stored = self._stored_reservations()
        found = [judge(rid, r) for rid, r in stored.items()]
        return sorted(found, key=lambda r: (r.time or 0.0, r.rid))

    def release(
        self,
        rids: Iterable[str] = (),
        *,
        stale: bool = False,
        every: bool = False,
        force: bool = False,
        billed: bool | None = None,
    ) -> tuple[list[Reservation], list[str]]:
        """Clear reservations: the ones named by id (or a prefix of one), every dead one
        (`stale`), or all (`every`). An alive one is cleared only with `force`. One whose
        request may have been billed (a dead process's, or one alive elsewhere) is cleared
        only when `billed` says whether it was: True writes its amount into the ledger as
        a `settled` line, False writes what its refused answers billed (often $0), so the
        spend total never goes down unasked. Returns (released, refusals)."""
        with locked(self.lock_path):
            stored = self._stored_reservations()
            judged = {rid: judge(rid, r) for rid, r in stored.items()}
            chosen: dict[str, Reservation] = {}
            refusals: list[str] = []
            for given in rids:
                matches = [r for rid, r in judged.items() if rid.startswith(given.lower())]
                if not matches:
                    refusals.append(f"no reservation {given}; `stillmake status` lists them")
                    continue
                if len(matches) > 1:
                    refusals.append(
                        f"{given} names {len(matches)} reservations; give more of its id "
                        "(`stillmake status` lists them)"
                    )
                    continue
                chosen[matches[0].rid] = matches[0]
            for rid, r in judged.items():
                if every or (stale and not r.alive):
                    chosen[rid] = r
            released = []
            for rid, r in chosen.items():
                if r.alive and not force:
                    refusals.append(refusal(r))
                    continue
                if r.needs_settling:
                    if billed is None:
                        refusals.append(settle_refusal(r, force=r.alive))
                        continue
                    self._append_unlocked(_settlement(stored[rid], r, billed))
                stored.pop(rid)
                released.append(r)
            if released:
                self._write_reservations(stored)
        return sorted(released, key=lambda r: (r.time or 0.0, r.rid)), refusals

    def recover(self, cached: Callable[[str], CacheRecord | None]) -> list[Reservation]:
        """Settle each unsettled reservation whose answer is in the cache, kept there by
        the very process that reserved it (the cache record names the reservation) before
        it died: its bill goes into the ledger as the paid line that process never wrote.
        `cached(fingerprint)` is the cache record or None. Returns those settled."""
        with locked(self.lock_path):
            stored = self._stored_reservations()
            settled = []
            for rid, raw in stored.items():
                r = judge(rid, raw)
                if not (r.unsettled and r.fingerprint):
                    continue
                record = cached(r.fingerprint)
                if not isinstance(record, dict) or record.get("reservation") != rid:
                    continue
                self._append_unlocked(_recovered(raw, r, record))
                settled.append(r)
            if settled:
                for r in settled:
                    stored.pop(r.rid)
                self._write_reservations(stored)
        return settled

    def _reprice_unsettled(self, fingerprint: str | None, usd: float) -> None:
        """The same request was just paid again: its bill is a better figure for an
        unsettled one (the answer a dead process lost) than the estimate it was held at
        (the API bills a request by its tokens, and the same request takes the same)."""
        stored = self._stored_reservations()
        changed = False
        for rid, raw in stored.items():
            r = judge(rid, raw)
            if r.unsettled and fingerprint and r.fingerprint == fingerprint:
                raw.update(
                    estimate_usd=usd,
                    cost_usd=round(r.billed_usd + usd, 6),
                    repriced=f"the bill of the same request, paid again at {now_iso()}",
                )
                changed = True
        if changed:
            self._write_reservations(stored)

    def _drop(self, rid: str) -> None:
        """Remove `rid`, and every dead reservation that holds nothing."""
        stored = self._stored_reservations()
        live = {key: r for key, r in stored.items() if key != rid and judge(key, r).counted}
        if live != stored:
            self._write_reservations(live)

    def _stored_reservations(self) -> dict[str, StoredReservation]:
        try:
            data = json.loads(self.reservations_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # written atomically, so only a hand edit breaks it: it holds nothing
        if not isinstance(data, dict):
            return {}
        return {rid: r for rid, r in data.items() if isinstance(r, dict)}

    def _write_reservations(self, data: dict[str, StoredReservation]) -> None:
        remove_stale_temps(self.reservations_path)  # a writer killed mid-write (under the lock)
        atomic_write_json(self.reservations_path, data)


class Hold:
    """A paid request's reservation while it runs. Called with its ledger line, it writes
    the line and releases the reservation in one locked step (`settle`).

    `sending()` marks the request as sent (a process that dies after this leaves the
    reservation unsettled, not dropped); `charge(usd)` adds what a refused answer billed,
    so the reservation holds it until the line is written; `check_next(what)` refuses a
    further attempt that would take the spend past budget_usd."""

    def __init__(self, ledger: Ledger, rid: str, estimate: float, what: str, line: LedgerLine):
        self.ledger = ledger
        self.rid = rid
        self.estimate = estimate  # what one attempt is held at
        self.what = what
        self.line = line  # the request's ledger fields
        self.billed = 0.0  # what refused answers of this request billed so far
        self.sent = False
        self.settled = False

    def __call__(self, entry: LedgerLine) -> None:
        self.settle(entry)

    def settle(self, entry: LedgerLine) -> None:
        with locked(self.ledger.lock_path):
            self.ledger._append_unlocked(entry)
            self.ledger._drop(self.rid)
            if entry.get("outcome") == PAID and entry.get("cost_source") == "usage":
                answer = (entry.get("cost_usd") or 0.0) - (entry.get("rejected_usd") or 0.0)
                self.ledger._reprice_unsettled(entry.get("fingerprint"), round(answer, 6))
        self.settled = True

    def sending(self) -> None:
        if not self.sent and self.estimate > 0:  # a $0 request (preview) has nothing to settle
            self.ledger._update(self.rid, lambda r: r.update(sent=True))
            self.sent = True

    def charge(self, usd: float) -> None:
        if usd <= 0:
            return
        self.billed = round(self.billed + usd, 6)
        self.ledger._update(
            self.rid,
            lambda r: r.update(
                billed_usd=self.billed, cost_usd=round(self.billed + self.estimate, 6)
            ),
        )

    def check_next(self, what: str) -> None:
        """Before another attempt after billed refusals: this reservation already holds
        what they billed plus the attempt's estimate; BudgetExceeded if that passes."""
        if not self.billed:
            return
        ledger = self.ledger
        with locked(ledger.lock_path):
            judged = [judge(r, s) for r, s in ledger._stored_reservations().items()]
            if not any(r.rid == self.rid for r in judged):  # released under it: count it here
                extra = self.billed + self.estimate
            else:
                extra = 0.0
            ledger._check_budget(
                judged,
                extra,
                f"{what}: another attempt would cost ${self.estimate:.3f} after ${self.billed:.3f}"
                f" billed for refused answers",
            )

    def abandon(self) -> None:
        """The request ends without its line (an unexpected error): what refused answers
        billed is written down all the same; a request that was sent keeps its reservation
        (unsettled once this process is gone), one that was not is dropped."""
        if self.billed:
            self.settle(
                {
                    **self.line,
                    "time": now_iso(),
                    "outcome": "failed",
                    "cost_usd": self.billed,
                    "rejected_usd": self.billed,
                    "error": "ended after refused answers the API billed",
                }
            )
            return
        if self.sent:
            return
        with locked(self.ledger.lock_path):
            self.ledger._drop(self.rid)


def _settlement(raw: StoredReservation, r: Reservation, billed: bool) -> LedgerLine:
    """The ledger line `stillmake release --billed|--not-billed` writes for a request
    whose answer was lost."""
    line = _line(raw)
    basis = "the same request's later bill" if raw.get("repriced") else "estimate"
    return {
        **line,
        "time": now_iso(),
        "outcome": SETTLED,
        "settled_as": "billed" if billed else "not billed",
        "cost_usd": round(r.cost_usd if billed else r.billed_usd, 6),
        "rejected_usd": r.billed_usd,
        "cost_source": (
            f"{basis}: settled as billed by stillmake release (the answer was lost)"
            if billed
            else "settled as not billed by stillmake release"
        ),
        "usage": None,
        "reservation": r.rid,
        "fingerprint": r.fingerprint,
        "what": r.what,
    }


def _recovered(raw: StoredReservation, r: Reservation, record: CacheRecord) -> LedgerLine:
    """The paid line of a request whose answer reached the cache before its process died."""
    line = _line(raw)
    billed = record.get("cost_usd")
    cost = float(billed) if is_amount(billed) else r.cost_usd - r.billed_usd  # or its estimate
    return {
        **line,
        "time": now_iso(),
        "outcome": PAID,
        "cost_usd": round(cost + r.billed_usd, 6),
        "rejected_usd": r.billed_usd,
        "cost_source": record.get("cost_source") or "usage",
        "usage": record.get("usage"),
        "latency_s": record.get("latency_s"),
        "attempts": record.get("attempts"),
        "reservation": r.rid,
        "recovered": "from the cache: its process died after the answer was kept",
    }


def _line(raw: StoredReservation) -> LedgerLine:
    """The ledger fields a reservation keeps of its request (empty if a hand broke them)."""
    return raw["line"] if isinstance(raw.get("line"), dict) else {}


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
