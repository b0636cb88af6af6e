"""The ledger a build writes is the ledger it keeps writing.

Deleting runs/ledger.jsonl mid-build used to restart the count: the budget saw $0
spent. Beside the ledger an anchor records what stillmake last left there (the file's
size, a digest of its last bytes, its lines and the spend they record), kept with
every line written and taken afresh when a build starts. Before each paid request the
ledger is checked against it: missing, shorter, or other bytes where the last line
was, and the request stops with one line naming the file. A copy put back (with any
lines written since at its end) is the same ledger and is accepted.

Callers hold the ledger's lock.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import TypedDict

from stillmake.files import atomic_write_json, remove_stale_temps

TAIL = 4096  # the anchor knows the ledger by its size and a digest of its last bytes


class AnchorState(TypedDict):
    """What stillmake last left in the ledger: its size, a digest of its last bytes, its
    lines and the spend they record."""

    size: int
    tail: str
    lines: int
    spent: float


class Anchor:
    def __init__(self, ledger_path: Path):
        self.ledger_path = ledger_path
        self.path = ledger_path.with_name(f".{ledger_path.name}.anchor.json")

    def read(self) -> AnchorState | None:
        try:
            data = json.loads(self.path.read_text(encoding="utf-8"))
        except (FileNotFoundError, ValueError):
            return None
        # written atomically: only a hand edit breaks it, and it then says nothing
        if not isinstance(data, dict):
            return None
        size, tail, lines, spent = (data.get(k) for k in ("size", "tail", "lines", "spent"))
        if not (
            isinstance(size, int)
            and isinstance(tail, str)
            and isinstance(lines, int)
            and isinstance(spent, int | float)
        ):
            return None
        return AnchorState(size=size, tail=tail, lines=lines, spent=spent)

    def write(self, size: int, tail: bytes, lines: int, spent: float) -> None:
        """`tail`: the ledger's last bytes (up to TAIL) at `size`."""
        remove_stale_temps(self.path)
        state = AnchorState(
            size=size, tail=hashlib.sha256(tail[-TAIL:]).hexdigest(), lines=lines, spent=spent
        )
        atomic_write_json(self.path, state)

    def changed(self, anchor: AnchorState | None, shown: str) -> str | None:
        """What happened to the ledger since `anchor` was written, as one line naming it
        (`shown`); None if it is the same file, perhaps with more lines."""
        if anchor is None or not anchor["size"]:
            return None  # nothing to lose yet
        size = anchor["size"]
        try:
            with open(self.ledger_path, "rb") as fh:
                now = os.fstat(fh.fileno()).st_size
                start = max(0, size - TAIL)
                fh.seek(start)
                tail = fh.read(size - start)
        except FileNotFoundError:
            found, how = "is missing", "deleted"
        else:
            if now < size:
                found, how = f"holds {now} of its {size} bytes", "cut short or replaced"
            elif hashlib.sha256(tail).hexdigest() != anchor["tail"]:
                found, how = "holds other lines", "replaced"
            else:
                return None  # the same lines, and perhaps more after them
        return (
            f"{shown} was {how} while a build was writing it (it held {anchor['lines']} "
            f"line(s), ${anchor['spent']:.3f}, and now {found}): that spend would no longer "
            f"count against budget_usd, so no paid request goes out. Put the file back (from a "
            f"backup, keeping any lines written since at its end), or, to count from the "
            f"ledger as it is now, run the build again"
        )
