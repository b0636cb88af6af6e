"""What the next build would do, shot by shot, worked out in the background.

The plan of jobs (planner/pending.py) and of spend (views/plan.py) read every draft's
pixels through the cache, so they never run on a page load: a write or a change on disk
asks for a new plan; one worker thread makes it (asks coming in meanwhile are folded
into one more run) and the page shows it when ready.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.errors import StillmakeError

if TYPE_CHECKING:
    from stillmake.planner.build import Build


@dataclass
class Plan:
    """The plan made for one state of the inputs (`basis`)."""

    basis: str = ""
    rebuild: dict[str, list[str]] = field(default_factory=dict)  # shot -> files
    requests: dict[str, list[dict]] = field(default_factory=dict)  # shot -> planned requests
    error: str | None = None
    seconds: float = 0.0


def shot_files(build: Build, shot: str) -> list[str]:
    """Every output file of one shot, in build order (what `snakemake -n` could rebuild)."""
    return [
        *paths.drafts(shot, build.draft_n),
        paths.review_sheet(shot),
        paths.review_json(shot),
        paths.selected(shot),
        *(paths.edit_step(shot, j) for j in range(1, build.edit_count(shot) + 1)),
        paths.final(shot),
    ]


def make_plan(build: Build, basis: str) -> Plan:
    """The plan of jobs and of spend for the default target, split by shot."""
    from stillmake.api.ledger import Ledger
    from stillmake.api.pricing import Estimator
    from stillmake.planner.pending import Pending
    from stillmake.views.plan import SpendPlanner

    started = time.monotonic()
    pending = Pending(build).outputs(["all"])
    entries = Ledger(build.config.ledger_path).entries()
    planned = SpendPlanner(build, Estimator(entries)).plan(pending)
    plan = Plan(basis=basis)
    for shot in build.shots:
        plan.rebuild[shot] = [f for f in shot_files(build, shot) if f in pending]
        plan.requests[shot] = [p.to_dict() for p in planned if p.shot == shot]
    plan.seconds = round(time.monotonic() - started, 2)
    return plan


class PlanWorker:
    """One background thread keeping `latest` up to date with the inputs on disk."""

    def __init__(self, load: Callable[[], tuple[Build, str]]):
        self._load = load  # -> (build, basis): the inputs as they are, and their digest
        self._wanted = threading.Event()
        self._lock = threading.Lock()
        self.latest: Plan | None = None
        self.generation = 0  # bumped when a plan is made: the page's cue to refetch
        self.busy = False
        self._thread = threading.Thread(target=self._run, name="stillmake-plan", daemon=True)
        self._stop = False

    def start(self) -> None:
        self._thread.start()
        self.ask()

    def stop(self) -> None:
        self._stop = True
        self._wanted.set()

    def ask(self) -> None:
        self._wanted.set()

    def _run(self) -> None:
        rested_until = 0.0
        while True:
            self._wanted.wait()
            # at most half of the time planning: a build writing file after file would
            # otherwise keep a `snakemake --summary` running beside it on every core
            time.sleep(max(0.0, rested_until - time.monotonic()))
            if self._stop:
                return
            self._wanted.clear()
            started = time.monotonic()
            self.busy = True
            basis = ""  # the inputs the plan (or its error) is for; "" if they did not load
            try:
                build, basis = self._load()
                plan = make_plan(build, basis)
            except StillmakeError as exc:
                plan = Plan(basis=basis, error=str(exc))
            except Exception as exc:  # noqa: BLE001  (a plan that fails must not end the board)
                plan = Plan(basis=basis, error=f"{type(exc).__name__}: {exc}")
            rested_until = time.monotonic() + (time.monotonic() - started)
            with self._lock:
                self.latest = plan
                self.generation += 1
                self.busy = self._wanted.is_set()
