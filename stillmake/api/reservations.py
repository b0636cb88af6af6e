"""Budget held by paid requests in flight: who made each reservation, whether that
process is still alive, and what a dead one leaves unsettled.

A reservation records who made it (pid, the process's start time, host, boot, pid
namespace) and a lease, renewed while its request runs. Where its pid can be checked
(this host, this boot, this pid namespace) one whose process is gone, or whose pid
now belongs to another process, is dead. Made anywhere else (another host of a
cluster, a job in its own container) its pid means nothing here: it is alive until its
lease runs out, so a live request elsewhere is never dropped and a dead one is known
dead a lease later. Hosts' clocks must agree to well within a lease.

A dead reservation whose request had been sent may have been billed: it stays
counted as `unsettled` (its estimate, plus what refused answers already billed) until
its answer is found in the cache or `stillmake release` is told whether it was billed.
One that never sent its request holds nothing and is dropped.
"""

from __future__ import annotations

import math
import os
import socket
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

PROC = Path("/proc")  # Linux: process start times and the boot id; absent elsewhere
RID_SHOWN = 8  # reservation ids are shown (and may be given) by this many characters
FP_SHOWN = 12  # request fingerprints are shown by this many characters

# reservation states: the first three are alive
RUNNING = "running"
LEASED = "leased"  # made elsewhere (another host or pid namespace), lease not run out
OTHER_HOST = "other host"  # made elsewhere by a version that wrote no lease: until released
GONE = "process gone"
REUSED = "pid reused"
REBOOTED = "host rebooted"
EXPIRED = "lease expired"
ALIVE = (RUNNING, LEASED, OTHER_HOST)

# a reservation as stored (runs/.ledger.jsonl.inflight.json): cost_usd, estimate_usd,
# billed_usd, sent, what, backend, fingerprint, line (the request's ledger fields), pid,
# started, host, boot, pidns, time, lease_until. Read back as a hand may have left it:
# `judge` checks every value it uses.
StoredReservation = dict[str, Any]


@dataclass(frozen=True)
class Reservation:
    """Budget held by a paid request in flight, as `stillmake status` shows it."""

    rid: str
    cost_usd: float  # what it holds: its estimate plus what refused answers billed
    what: str
    pid: int | None
    host: str | None
    time: float | None
    state: str
    lease_until: float | None = None
    backend: str | None = None  # where the request went: what `stillmake status` shows
    fingerprint: str | None = None  # the request's: how its answer is found in the cache
    sent: bool = True  # its request had left (or may have); False: it never did
    billed_usd: float = 0.0  # part of cost_usd that refused answers are known to have billed

    @property
    def alive(self) -> bool:
        return self.state in ALIVE

    @property
    def unsettled(self) -> bool:
        """Its process died with the request sent: the API may have billed it."""
        return not self.alive and self.sent and self.cost_usd > 0

    @property
    def counted(self) -> bool:
        """Held against the budget: alive, or dead and unsettled."""
        return self.alive or self.unsettled

    @property
    def needs_settling(self) -> bool:
        """Clearing it must say whether it was billed: its request was sent and nobody
        will write its line (a dead process's, or one alive elsewhere cleared by hand; one
        running on this host writes its own line when it ends)."""
        return self.sent and self.cost_usd > 0 and (self.unsettled or self.state != RUNNING)

    @property
    def shown_state(self) -> str:
        return f"{self.state}, unsettled" if self.unsettled else self.state

    @property
    def short(self) -> str:
        return self.rid[:RID_SHOWN]

    @property
    def short_fingerprint(self) -> str:
        return (self.fingerprint or "?")[:FP_SHOWN]

    def age_s(self, now: float | None = None) -> float | None:
        if self.time is None:
            return None
        return max(0.0, (time.time() if now is None else now) - self.time)

    def to_dict(self) -> dict[str, Any]:
        return {
            **asdict(self),
            "counted": self.counted,
            "unsettled": self.unsettled,
            "age_s": self.age_s(),
        }


def judge(rid: str, r: StoredReservation) -> Reservation:
    """A stored reservation as it stands now. Figures that are not finite and non-negative
    (a hand edit) hold nothing rather than poison a sum."""
    pid = r.get("pid") if isinstance(r.get("pid"), int) else None
    host = r.get("host") if isinstance(r.get("host"), str) else None
    made = _number(r.get("time"))
    lease = _number(r.get("lease_until"))
    state = _state(r, pid, host, made, lease)
    backend = r.get("backend") if isinstance(r.get("backend"), str) else None
    fingerprint = r.get("fingerprint") if isinstance(r.get("fingerprint"), str) else None
    return Reservation(
        rid,
        _amount(r.get("cost_usd")),
        str(r.get("what") or "a paid request"),
        pid,
        host,
        made,
        state,
        lease,
        backend,
        fingerprint,
        r.get("sent") is not False,  # written before `sent` existed: it may have been
        _amount(r.get("billed_usd")),
    )


def _number(value: object) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return float(value) if math.isfinite(value) else None


def _amount(value: object) -> float:
    number = _number(value)
    return number if number is not None and number > 0 else 0.0


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


def _state(
    r: StoredReservation, pid: int | None, host: str | None, made: float | None, lease: float | None
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


def describe(r: Reservation, now: float | None = None) -> str:
    """`1a2b3c4d $0.300 s1 final (...): pid 4242 on render-node-7, 5m ago, other host`."""
    where = f"pid {r.pid}" + (f" on {r.host}" if r.host else "")
    return (
        f"{r.short} ${r.cost_usd:.3f} {r.what}: {where}, {age_text(r.age_s(now))} ago, "
        f"{r.shown_state}" + (f" (request {r.short_fingerprint})" if r.unsettled else "")
    )


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


# -- what a user is told ---------------------------------------------------------------


def refusal(r: Reservation) -> str:
    """Why `stillmake release RID` (without --force) leaves an alive reservation alone."""
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


def settle_refusal(r: Reservation, force: bool = False) -> str:
    """Why a reservation whose request may have been billed is not cleared without being
    told whether it was."""
    flag = " --force" if force else ""
    why = (
        "its process died with the request sent"
        if r.unsettled
        else "its request may have been sent from there"
    )
    return (
        f"reservation {r.short} (${r.cost_usd:.3f} {r.what}, request {r.short_fingerprint}) "
        f"is unsettled: {why}, so the API may have billed it. Say which: `stillmake release "
        f"{r.short}{flag} --billed` writes ${r.cost_usd:.3f} into the ledger, `--not-billed` "
        f"lowers the spend total by ${r.cost_usd - r.billed_usd:.3f}"
    )


def inflight_note(holding: list[Reservation]) -> str:
    """The part of a budget refusal that names the reservations holding budget."""
    if not holding:
        return ""
    shown = "; ".join(describe(r) for r in holding[:5])
    more = f"; and {len(holding) - 5} more" if len(holding) > 5 else ""
    alive = [r for r in holding if r.alive]
    unsettled = [r for r in holding if r.unsettled]
    hints = []
    if alive:
        hints.append(
            "If a request in flight is not running any more (a killed build), "
            f"`stillmake release {alive[0].short} --force` clears it"
        )
    if unsettled:
        hints.append(
            "an unsettled one was sent by a process that died: `stillmake release "
            f"{unsettled[0].short} --billed` (or --not-billed) settles it"
        )
    said = "; ".join(hints)
    return (
        f" [in flight: {shown}{more}]. {said[:1].upper()}{said[1:]} (`stillmake status` lists"
        " every reservation)."
    )
