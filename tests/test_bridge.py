"""`end_scheduler_timers`: cancels Snakemake's scheduler re-check timers, and only those.
`stop_on_signals`: chains stillmake's stop flag onto Snakemake's SIGTERM/SIGINT handling.

Also pins the Snakemake internals they rely on (JobScheduler re-evaluates with a
`threading.Timer` whose callback is defined in snakemake/scheduling; JobScheduler's
SIGTERM handler is in place by `onstart`), so an upgrade that changes them fails here,
loudly, instead of silently making exits slow or jobs deaf to a stop.
"""

from __future__ import annotations

import inspect
import threading
import types

import pytest

from stillmake.bridge import SCHEDULER_TIMER_SOURCE, end_scheduler_timers

LONG = 600  # seconds: no timer here ever fires during a test


def _scheduler_timers() -> list[threading.Timer]:
    """Live Timers whose callback comes from Snakemake's scheduling code (independent of bridge)."""
    return [
        t
        for t in threading.enumerate()
        if isinstance(t, threading.Timer)
        and SCHEDULER_TIMER_SOURCE
        in getattr(getattr(t.function, "__code__", None), "co_filename", "").replace("\\", "/")
    ]


def _start(fn) -> threading.Timer:
    timer = threading.Timer(LONG, fn)
    timer.daemon = True  # a failing test never holds up interpreter exit
    timer.start()
    return timer


@pytest.fixture
def timers():
    started: list[threading.Timer] = []
    yield started
    for t in started:
        t.cancel()
    for t in started:
        t.join(timeout=5)


def _own_callback():
    raise AssertionError("our own timer must not fire during the test")


@pytest.mark.parametrize(
    "filename",
    [
        "/usr/lib/python3.11/site-packages/snakemake/scheduling/job_scheduler.py",
        r"C:\Python311\Lib\site-packages\snakemake\scheduling\job_scheduler.py",
    ],
)
def test_only_scheduler_timers_are_cancelled(timers, filename):
    scheduler_fn = eval(compile("lambda: None", filename, "eval"))
    before = len(_scheduler_timers())  # any left over in this process count too
    ours = _start(_own_callback)
    builtin = _start(print)  # a callback without __code__ is left alone, without error
    theirs = _start(scheduler_fn)
    timers.extend([ours, builtin, theirs])

    assert end_scheduler_timers() == before + 1

    theirs.join(timeout=5)
    assert theirs.finished.is_set() and not theirs.is_alive()
    for kept in (ours, builtin):
        assert kept.is_alive() and not kept.finished.is_set()
    assert end_scheduler_timers() == 0  # nothing left to cancel; ours still untouched
    assert ours.is_alive()


def test_snakemake_still_schedules_reevaluation_with_a_timer(timers):
    import snakemake.scheduling.job_scheduler as job_scheduler

    assert SCHEDULER_TIMER_SOURCE in job_scheduler.__file__.replace("\\", "/"), (
        job_scheduler.__file__
    )
    method = getattr(job_scheduler.JobScheduler, "_schedule_reevalutation", None)  # (sic)
    assert method is not None, (
        "Snakemake renamed JobScheduler._schedule_reevalutation: "
        "re-check stillmake.bridge.end_scheduler_timers"
    )
    assert "threading.Timer" in inspect.getsource(method)

    # The real method, on a stand-in scheduler: the Timer it starts is one we cancel,
    # and its callback (which would release the scheduler's semaphore) never runs.
    open_jobs = threading.Semaphore(0)
    existing = set(threading.enumerate())
    method(types.SimpleNamespace(_open_jobs=open_jobs), LONG)
    made = [t for t in threading.enumerate() if t not in existing]
    timers.extend(made)
    assert len(made) == 1 and isinstance(made[0], threading.Timer), made
    assert made[0] in _scheduler_timers()

    assert end_scheduler_timers() >= 1
    made[0].join(timeout=5)
    assert not made[0].is_alive()
    assert not open_jobs.acquire(blocking=False)  # the callback did not run


def test_review_build_prints_the_spend_summary(workflow):
    proc = workflow.snakemake("review")
    summary = [line for line in proc.stderr.splitlines() if line.startswith("stillmake: this run")]
    assert len(summary) == 1, proc.stderr[-4000:]
    sheets = sorted(p.name for p in workflow.path("runs/review").glob("*.png"))
    assert sheets and "s1.png" in sheets, sheets
    assert not workflow.path("runs/final/manifest.csv").exists()  # review only, no finals


PIN_SNAKEFILE = """
import json, signal
from stillmake import stop
from stillmake.bridge import stop_on_signals

onstart:
    before = signal.getsignal(signal.SIGTERM)
    chained = stop_on_signals()
    after = signal.getsignal(signal.SIGTERM)
    with open("handlers.json", "w") as fh:
        json.dump({
            "before": getattr(before, "__qualname__", repr(before)),
            "before_module": getattr(before, "__module__", None),
            "chained": [int(s) for s in chained],
            "ours": bool(getattr(after, "_stillmake_stop", False)),
            "chains_to_it": stop._installed.get(signal.SIGTERM) == before,
        }, fh)

rule a:
    output: "a.txt"
    run:
        open(output[0], "w").write("x")
"""


def test_at_onstart_snakemake_has_its_sigterm_handler_and_ours_chains_to_it(tmp_path):
    """Pins what stop_on_signals relies on: by `onstart`, Snakemake's JobScheduler has
    installed its SIGTERM handler (exit_gracefully), so chaining there keeps it; a
    Snakemake that installs it later (or not at all) fails here."""
    import json
    import signal
    import subprocess
    import sys

    (tmp_path / "Snakefile").write_text(PIN_SNAKEFILE)
    proc = subprocess.run(
        [sys.executable, "-m", "snakemake", "-c1", "--force-use-threads"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    seen = json.loads((tmp_path / "handlers.json").read_text())
    assert seen["before"] == "JobScheduler.exit_gracefully", seen
    assert seen["before_module"].startswith("snakemake.scheduling"), seen
    assert seen["chained"] == [signal.SIGTERM, signal.SIGINT]
    assert seen["ours"] and seen["chains_to_it"], seen
