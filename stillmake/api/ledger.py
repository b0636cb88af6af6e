"""Append-only spend/latency log (runs/ledger.jsonl) and the budget ceiling.

Every request writes one line, paid or cache hit. The budget is checked under
a file lock with the request's price *and* the prices of requests still in
flight (reservations), so jobs racing under `-c 4` can never sum past it.

Torn state never crashes a reader nor loses a record: a line cut short by a
crash or a full disk is skipped and reported by its number (`read().damaged`),
and a writer that finds the file not ending in a newline starts on a fresh line,
so nothing already written is rewritten.

A reservation records who made it (pid, the process's start time, host, boot, pid
namespace) and a lease, renewed while its request runs. Where its pid can be checked
(this host, this boot, this pid namespace) one whose process is gone, or whose pid
now belongs to another process, no longer holds budget. Made anywhere else (another
host of a cluster, a job in its own container) its pid means nothing here: it holds
budget until its lease runs out, so a live request elsewhere is never dropped and a
dead one is reclaimed a lease later. Hosts' clocks must agree to well within a lease.
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
from dataclasses import asdict, dataclass
from pathlib import Path

from stillmake.errors import BudgetExceeded, LedgerError
from stillmake.files import atomic_write_json, locked, remove_stale_temps

PAID = "paid"
PROC = Path("/proc")  # Linux: process start times and the boot id; absent elsewhere
RID_SHOWN = 8  # reservation ids are shown (and may be given) by this many characters
LEASE_S = 60.0  # a reservation made elsewhere holds budget this long after its last renewal

# reservation states: the first three hold budget
RUNNING = "running"
LEASED = "leased"  # made elsewhere (another host or pid namespace), lease not run out
OTHER_HOST = "other host"  # made elsewhere by a version that wrote no lease: until released
GONE = "process gone"
REUSED = "pid reused"
REBOOTED = "host rebooted"
EXPIRED = "lease expired"
COUNTED = (RUNNING, LEASED, OTHER_HOST)

# the fields totals, summaries and estimates compute with: a line whose field has another
# type is not a record (a hand edit), and is skipped rather than trusted
FIELD_TYPES = {
    "time": str,
    "cost_usd": int | float,
    "estimate_usd": int | float,
    "usage": dict,
    "output_megapixels": int | float,
    "input_megapixels": int | float,
    "prompt_chars": int,
}


@dataclass(frozen=True)
class DamagedLine:
    """A line of the ledger that is not a whole record. `salvaged`: a whole record
    written onto the torn one (by an older writer) was recovered from it."""

    line: int
    kind: str  # "torn tail" (last line, cut short), "torn" (further up), "not a record"
    salvaged: bool = False

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class LedgerRead:
    entries: list[dict]
    damaged: list[DamagedLine]


@dataclass(frozen=True)
class Reservation:
    """Budget held by a paid request in flight, as `stillmake status` shows it."""

    rid: str
    cost_usd: float
    what: str
    pid: int | None
    host: str | None
    time: float | None
    state: str
    lease_until: float | None = None
    backend: str | None = None  # where the request went: what `stillmake status` shows

    @property
    def counted(self) -> bool:
        return self.state in COUNTED

    @property
    def short(self) -> str:
        return self.rid[:RID_SHOWN]

    def age_s(self, now: float | None = None) -> float | None:
        if self.time is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.time)

    def to_dict(self) -> dict:
        return {**asdict(self), "counted": self.counted, "age_s": self.age_s()}


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

    def entries(self) -> list[dict]:
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
        entries: list[dict] = []
        damaged: list[DamagedLine] = []
        lines = data.split(b"\n")
        last = len(lines) - 1  # the text after the last newline ("" when the file ends in one)
        for number, raw in enumerate(lines, start=1):
            if not raw.strip():
                continue
            entry = _record(raw)
            if entry is not None:
                entries.append(entry)
                continue
            glued = _glued_record(raw)
            if glued is not None:
                entries.append(glued)
            if _parses(raw):
                kind = "not a record"
            elif number - 1 == last and glued is None:
                kind = "torn tail"
            else:
                kind = "torn"
            damaged.append(DamagedLine(number, kind, salvaged=glued is not None))
        return LedgerRead(entries, damaged)

    def spent(self, entries: Iterable[dict] | None = None) -> float:
        entries = self.entries() if entries is None else entries
        return round(sum(e.get("cost_usd") or 0.0 for e in entries if e.get("outcome") == PAID), 6)

    # -- writing -------------------------------------------------------------
    def append(self, entry: dict) -> None:
        with locked(self.lock_path):
            self._append_unlocked(entry)

    def _append_unlocked(self, entry: dict) -> None:
        line = (json.dumps(entry, ensure_ascii=False, sort_keys=True) + "\n").encode("utf-8")
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
            finally:
                os.close(fd)
        except OSError as exc:
            what = " ".join(str(entry[k]) for k in ("shot", "pass") if entry.get(k)) or "a"
            cost = entry.get("cost_usd") if entry.get("outcome") == PAID else None
            unbilled = f" (its ${cost:.3f} is missing from the ledger's total)" if cost else ""
            raise LedgerError(
                f"could not record {what} request ({entry.get('outcome')}) in {self.shown}: "
                f"{exc.strerror or exc}. Free the disk or fix the permissions, then run again: "
                f"a response already received is in runs/cache/ and is not paid for twice"
                f"{unbilled}"
            ) from None

    @contextlib.contextmanager
    def reserve(
        self, cost_usd: float, what: str, backend: str | None = None
    ) -> Iterator[Callable[[dict], None]]:
        """Hold `cost_usd` of budget while a paid request is in flight.

        Yields a `settle(entry)` callable that writes the ledger line and
        releases the reservation in one locked step.
        """
        rid = uuid.uuid4().hex
        with locked(self.lock_path):
            stored = self._stored_reservations()
            judged = [_judge(r, s) for r, s in stored.items()]
            holding = [r for r in judged if r.counted]
            if self.budget_usd is not None:
                spent = self.spent(self._read_unlocked().entries)
                inflight = sum(r.cost_usd for r in holding)
                if spent + inflight + cost_usd > self.budget_usd + 1e-9:
                    raise BudgetExceeded(
                        f"{what} would cost ${cost_usd:.3f}; spent ${spent:.3f}"
                        f" + ${inflight:.3f} in flight of budget_usd"
                        f" ${self.budget_usd:.2f}.{_inflight_note(holding)} Raise budget_usd in"
                        " config.yaml (or --config budget_usd=...) to go on; `stillmake plan`"
                        " shows what is left to pay."
                    )
            live = {r.rid: stored[r.rid] for r in holding}
            live[rid] = {
                "cost_usd": cost_usd,
                "what": what,
                "backend": backend,
                "pid": os.getpid(),
                "started": process_start(os.getpid()),
                "host": socket.gethostname(),
                "boot": boot_id(),
                "pidns": pid_namespace(),
                "time": time.time(),
                "lease_until": time.time() + self.lease_s,
            }
            self._write_reservations(live)
        settled = False
        renewing = threading.Event()
        renewer = threading.Thread(
            target=self._renew, args=(rid, renewing), name=f"lease-{rid[:RID_SHOWN]}", daemon=True
        )
        renewer.start()

        def settle(entry: dict) -> None:
            nonlocal settled
            with locked(self.lock_path):
                self._append_unlocked(entry)
                self._drop(rid)
            settled = True

        try:
            yield settle
        finally:
            renewing.set()
            renewer.join()
            if not settled:
                with locked(self.lock_path):
                    self._drop(rid)

    def _renew(self, rid: str, done: threading.Event) -> None:
        """Push the reservation's lease forward while its request runs (a third of a
        lease at a time), so hosts that cannot see this process still count it."""
        while not done.wait(self.lease_s / 3):
            try:
                with locked(self.lock_path):
                    stored = self._stored_reservations()
                    if rid not in stored:
                        return
                    stored[rid]["lease_until"] = time.time() + self.lease_s
                    self._write_reservations(stored)
            except OSError:
                continue  # a busy or full disk: the next renewal tries again

    # -- reservations ----------------------------------------------------------
    def reservations(self) -> list[Reservation]:
        """Every stored reservation, oldest first, with its state: `running`, `leased`
        and `other host` hold budget; `process gone`, `pid reused`, `host rebooted` and
        `lease expired` do not."""
        stored = self._stored_reservations()
        found = [_judge(rid, r) for rid, r in stored.items()]
        return sorted(found, key=lambda r: (r.time or 0.0, r.rid))

    def release(
        self,
        rids: Iterable[str] = (),
        *,
        stale: bool = False,
        every: bool = False,
        force: bool = False,
    ) -> tuple[list[Reservation], list[str]]:
        """Clear reservations: the ones named by id (or a prefix of one), every dead one
        (`stale`), or all (`every`). A running one on this host, or one made on another
        host, is cleared only with `force`. Returns (released, refusals)."""
        with locked(self.lock_path):
            stored = self._stored_reservations()
            judged = {rid: _judge(rid, r) for rid, r in stored.items()}
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
                if every or (stale and not r.counted):
                    chosen[rid] = r
            released = []
            for rid, r in chosen.items():
                if r.counted and not force:
                    refusals.append(_refusal(r))
                    continue
                stored.pop(rid)
                released.append(r)
            if released:
                self._write_reservations(stored)
        return sorted(released, key=lambda r: (r.time or 0.0, r.rid)), refusals

    def _drop(self, rid: str) -> None:
        stored = self._stored_reservations()
        live = {
            key: r for key, r in stored.items() if key != rid and _judge(key, r).state in COUNTED
        }
        if live != stored:
            self._write_reservations(live)

    def _stored_reservations(self) -> dict[str, dict]:
        try:
            data = json.loads(self.reservations_path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            return {}
        except (OSError, ValueError):
            return {}  # written atomically, so only a hand edit breaks it: it holds nothing
        if not isinstance(data, dict):
            return {}
        return {rid: r for rid, r in data.items() if isinstance(r, dict)}

    def _write_reservations(self, data: dict) -> None:
        remove_stale_temps(self.reservations_path)  # a writer killed mid-write (under the lock)
        atomic_write_json(self.reservations_path, data)


# -- reading helpers -------------------------------------------------------------


def _record(raw: bytes) -> dict | None:
    """A whole ledger record, or None: JSON, an object, and its spend fields of the
    right type (so totals and estimates can trust it)."""
    try:
        entry = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return None
    if not isinstance(entry, dict) or not isinstance(entry.get("outcome"), str):
        return None
    for key, kind in FIELD_TYPES.items():
        value = entry.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, kind)):
            return None
    return entry


def _glued_record(raw: bytes) -> dict | None:
    """A whole record written onto the end of a torn one (an older writer did not start
    on a fresh line): the longest tail of the line, starting at a `{`, that is a record."""
    start = raw.find(b"{", 1)
    while start != -1:
        entry = _record(raw[start:])
        if entry is not None:
            return entry
        start = raw.find(b"{", start + 1)
    return None


def _parses(raw: bytes) -> bool:
    try:
        json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        return False
    return True


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


# -- who holds a reservation -------------------------------------------------------


def process_start(pid: int) -> int | None:
    """When process `pid` started, in clock ticks since boot (field 22 of
    /proc/<pid>/stat); None where /proc is absent or the process is gone."""
    try:
        stat = (PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return None
    # field 2 (the command name) may hold spaces and parentheses: count after the last ')'
    fields = stat.rpartition(")")[2].split()
    try:
        return int(fields[22 - 3])
    except (IndexError, ValueError):
        return None


def pid_namespace() -> str | None:
    """The pid namespace this process sees pids in (`pid:[4026531836]`): a pid recorded
    in another one (a container, `unshare --pid`) names a different process here."""
    try:
        return os.readlink(PROC / "self/ns/pid")
    except OSError:
        return None


def boot_id() -> str | None:
    try:
        return (PROC / "sys/kernel/random/boot_id").read_text(encoding="utf-8").strip() or None
    except OSError:
        return None


def _boot_time() -> float | None:
    try:
        for row in (PROC / "stat").read_text(encoding="utf-8").splitlines():
            if row.startswith("btime "):
                return float(row.split()[1])
    except (OSError, ValueError):
        return None
    return None


def _judge(rid: str, r: dict) -> Reservation:
    pid = r.get("pid") if isinstance(r.get("pid"), int) else None
    host = r.get("host") if isinstance(r.get("host"), str) else None
    made = r.get("time") if isinstance(r.get("time"), int | float) else None
    cost = r.get("cost_usd") if isinstance(r.get("cost_usd"), int | float) else 0.0
    what = str(r.get("what") or "a paid request")
    lease = r.get("lease_until") if isinstance(r.get("lease_until"), int | float) else None
    state = _state(r, pid, host, made, lease)
    backend = r.get("backend") if isinstance(r.get("backend"), str) else None
    return Reservation(rid, float(cost), what, pid, host, made, state, lease, backend)


def _state(
    r: dict, pid: int | None, host: str | None, made: float | None, lease: float | None
) -> str:
    elsewhere = host is not None and host != socket.gethostname()
    if not elsewhere and r.get("boot") and boot_id() and r["boot"] != boot_id():
        return REBOOTED
    ns = pid_namespace()
    if elsewhere or (r.get("pidns") and ns and r["pidns"] != ns):
        # its pid means nothing here: its lease says whether it is alive
        if lease is None:
            return OTHER_HOST  # written without a lease: kept until released
        return LEASED if lease > time.time() else EXPIRED
    if pid is None or pid <= 0:
        return GONE
    if PROC.is_dir():
        now_started = process_start(pid)
        if now_started is None:
            return GONE
        recorded = r.get("started")
        if isinstance(recorded, int):
            return RUNNING if recorded == now_started else REUSED
        # an older reservation without a start time: a process that started after the
        # reservation was made cannot be the one that made it
        boot, ticks = _boot_time(), os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100
        if made is not None and boot is not None and boot + now_started / ticks > made + 1:
            return REUSED
        return RUNNING
    try:  # no /proc: all that can be asked is whether the pid exists
        os.kill(pid, 0)
    except ProcessLookupError:
        return GONE
    except PermissionError:
        return RUNNING
    except OSError:
        return GONE
    return RUNNING


def _refusal(r: Reservation) -> str:
    force = f"`stillmake release {r.short} --force`"
    if r.state == LEASED:
        left = age_text((r.lease_until or 0.0) - time.time())
        return (
            f"reservation {r.short} (${r.cost_usd:.3f} {r.what}) was made by pid {r.pid} on "
            f"{r.host or 'another host'} in another process space; its lease is renewed while "
            f"its request runs and runs out in {left} if it stops. To clear it now, {force}"
        )
    if r.state == OTHER_HOST:
        return (
            f"reservation {r.short} (${r.cost_usd:.3f} {r.what}) was made on {r.host} by pid "
            f"{r.pid}, which cannot be checked from here; if that request is not running there "
            f"any more, clear it with {force}"
        )
    return (
        f"reservation {r.short} (${r.cost_usd:.3f} {r.what}) is held by pid {r.pid}, which is "
        f"still running (a build in progress?); let it finish, or if that process is stuck, "
        f"clear it with {force}"
    )


def describe(r: Reservation, now: float | None = None) -> str:
    """`1a2b3c4d $0.300 s1 final (...): pid 4242 on render-node-7, 5m ago, other host`."""
    where = f"pid {r.pid}" + (f" on {r.host}" if r.host else "")
    return f"{r.short} ${r.cost_usd:.3f} {r.what}: {where}, {age_text(r.age_s(now))} ago, {r.state}"


def age_text(seconds: float | None) -> str:
    if seconds is None:
        return "?"
    if seconds < 120:
        return f"{seconds:.0f}s"
    if seconds < 7200:
        return f"{seconds / 60:.0f}m"
    if seconds < 172800:
        return f"{seconds / 3600:.0f}h"
    return f"{seconds / 86400:.0f}d"


def _inflight_note(holding: list[Reservation]) -> str:
    if not holding:
        return ""
    shown = "; ".join(describe(r) for r in holding[:5])
    more = f"; and {len(holding) - 5} more" if len(holding) > 5 else ""
    return (
        f" [in flight: {shown}{more}]. If a request in flight is not running any more (a"
        f" killed build), `stillmake release {holding[0].short} --force` clears it"
        " (`stillmake status` lists every reservation)."
    )
