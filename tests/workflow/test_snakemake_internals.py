"""Every hook of stillmake/snakemake_internals.py against the Snakemake installed: each
test fails, naming the hook, when a release changes what the hook relies on.

`stop_on_signals` chains stillmake's stop flag onto Snakemake's SIGTERM/SIGINT handling
(JobScheduler's SIGTERM handler is in place by `onstart`), so jobs are never deaf to a
stop. `end_scheduler_timers` cancels Snakemake's scheduler re-check timers, and only those
(JobScheduler re-evaluates with a `threading.Timer` whose callback is defined in
snakemake/scheduling): an upgrade that changes it fails here, loudly, instead of
silently making exits slow.
"""

from __future__ import annotations

import inspect
import threading
import types

import pytest
import snakemake.api  # noqa: F401  (imports snakemake.workflow in the order it needs)
from snakemake.exceptions import WorkflowError, format_error, get_exception_origin
from snakemake.modules import PathModifier, WorkflowModifier
from snakemake.workflow import Workflow

from stillmake import snakemake_internals as internals
from stillmake.snakemake_internals import SCHEDULER_TIMER_SOURCE, end_scheduler_timers

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
        "re-check stillmake.snakemake_internals.end_scheduler_timers"
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


# -- the other hooks ---------------------------------------------------------------------


def test_module_prefix_and_main_snakefile_are_where_the_hooks_read_them():
    """module_prefix, in_module: WorkflowModifier.path_modifier.prefix and
    WorkflowModifier.is_main_snakefile()."""
    assert "self.prefix" in inspect.getsource(PathModifier.__init__)
    assert "self.path_modifier" in inspect.getsource(WorkflowModifier.__init__)
    assert callable(getattr(WorkflowModifier, "is_main_snakefile", None))
    stand_in = types.SimpleNamespace(
        modifier=types.SimpleNamespace(
            path_modifier=types.SimpleNamespace(prefix="stills"),
            is_main_snakefile=lambda: False,
        )
    )
    assert internals.module_prefix(stand_in) == "stills" and internals.in_module(stand_in)


def test_workflow_keeps_the_build_end_hooks_it_calls_with_the_log():
    """chain_build_end: Workflow._onsuccess/_onerror, each called with the log file."""
    source = inspect.getsource(Workflow)
    for hook in ("_onsuccess", "_onerror"):
        assert f"self.{hook} = lambda log: None" in source, hook
        assert f"self.{hook}(self.logger_manager.get_logfile())" in source, hook
    calls = []
    stand_in = types.SimpleNamespace(
        _onsuccess=lambda log: calls.append(("host ok", log)),
        _onerror=lambda log: calls.append(("host error", log)),
    )
    internals.chain_build_end(stand_in, lambda: calls.append("summary"))
    stand_in._onsuccess("log")
    stand_in._onerror("log")
    assert calls == [("host ok", "log"), "summary", ("host error", "log"), "summary"]


def test_workflow_properties_the_hooks_read():
    """runs_jobs, is_main_process: Workflow.executor_plugin, dryrun, touch,
    is_main_process are properties; cap_resource: global_resources, register_resource."""
    for name in ("executor_plugin", "dryrun", "touch", "is_main_process"):
        assert isinstance(inspect.getattr_static(Workflow, name), property), name
    assert "self.global_resources[name] = value" in inspect.getsource(Workflow.register_resource)
    stand_in = types.SimpleNamespace(global_resources={"_cores": 2})
    stand_in.register_resource = lambda name, value: stand_in.global_resources.update({name: value})
    internals.cap_resource(stand_in, "api", 2)
    stand_in.global_resources["api"] = 7  # --resources api=7 given
    internals.cap_resource(stand_in, "api", 2)
    assert stand_in.global_resources["api"] == 7


def test_job_failed_has_no_origin_so_snakemake_prints_its_message_alone():
    """JobFailed: Snakemake's run_wrapper looks for the exception's origin in the Snakefile
    through __traceback__; none, and it re-raises the exception as it is."""
    assert "get_exception_origin(ex, linemaps)" in inspect.getsource(
        __import__("snakemake.executors.local", fromlist=["run_wrapper"]).run_wrapper
    )
    try:
        raise internals.JobFailed("s4 draft failed: moderation refused the request")
    except WorkflowError as exc:
        failed = exc
    assert failed.__traceback__ is None
    assert get_exception_origin(failed, {}) is None
    shown = format_error(failed, None, show_traceback=True)
    assert shown == "JobFailed:\ns4 draft failed: moderation refused the request", shown


PIN_SNAKEFILE = """
import json, signal
from stillmake import stop
from stillmake.snakemake_internals import stop_on_signals

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


# -- the console ---------------------------------------------------------------------------

CONSOLE_SNAKEFILE = """
import logging
from stillmake import snakemake_internals as internals
from stillmake.views.console import BuildConsole

CONSOLE = BuildConsole(brief=True, stages={"made": "make"}, header=lambda: ["HEADER"])
assert internals.attach_console(CONSOLE)

def refuse(wildcards):
    raise internals.Refusal("shot x: refused, do this instead")

rule all:
    input: expand("{n}.txt", n=[1, 2])

rule made:
    output: "{n}.txt"
    run:
        handler = internals.JobLines(("made", (("n", wildcards.n),)))
        log = logging.getLogger(f"job{wildcards.n}")
        log.setLevel(logging.INFO)
        log.propagate = False
        log.addHandler(handler)
        log.info("made %s", wildcards.n, extra={"result": True})
        log.info("a line for the job's log only")
        open(output[0], "w").write("x")

rule refused:
    input: refuse
    output: "never.out"
"""


def test_the_console_sits_in_front_of_snakemakes_stream_handler(tmp_path):
    """attach_console, JobLines, Refusal: Snakemake's console handler is the logging
    handler named DefaultStreamHandler on `snakemake.logging`; its events carry jobid,
    rule_name, wildcards (job_info), job_id (job_finished), stats (run_info); a record it
    formats as "" writes nothing; a refusal raised in an input function reaches it inside
    InputFunctionException's text. A release that changes any of it fails here."""
    import subprocess
    import sys

    from snakemake.logging import LoggerManager

    assert 'stream_handler.name = "DefaultStreamHandler"' in inspect.getsource(
        LoggerManager._default_streamhandler
    )
    # the words Snakemake ends a build with failed jobs in (the console says it once)
    import snakemake.scheduling.job_scheduler as job_scheduler

    from stillmake.views.console import JOBS_FAILED

    assert JOBS_FAILED[0] in job_scheduler._ERROR_MSG_FINAL
    assert JOBS_FAILED[1] in inspect.getsource(Workflow)
    (tmp_path / "Snakefile").write_text(CONSOLE_SNAKEFILE)
    run = [sys.executable, "-m", "snakemake", "-c1", "--force-use-threads"]
    made = subprocess.run(run, cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert made.returncode == 0, made.stderr[-3000:]
    lines = made.stderr.splitlines()
    assert "stillmake: 2 job(s) to run: make 2" in lines and "HEADER" in lines, made.stderr
    done = [line for line in lines if line.startswith("[")]
    assert sorted(done) == ["[1/2 · make 1/2] made 1", "[2/2 · make 2/2] made 2"] or sorted(
        done
    ) == ["[1/2 · make 1/2] made 2", "[2/2 · make 2/2] made 1"], made.stderr
    for snakemakes in ("rule made:", "Finished jobid", "steps (", "SNAKEMAKE", "", "job's log"):
        assert not any(line == snakemakes or snakemakes and snakemakes in line for line in lines)
    log = next((tmp_path / ".snakemake" / "log").glob("*.log")).read_text()
    assert "rule made:" in log and "[stillmake] made 1" in log  # the full log keeps it all

    refused = subprocess.run(
        [*run, "never.out"], cwd=tmp_path, capture_output=True, text=True, timeout=120
    )
    assert refused.returncode != 0
    said = [line for line in refused.stderr.splitlines() if line.strip()]
    assert said[-1] == "stillmake: error: shot x: refused, do this instead", refused.stderr
    assert "Traceback" not in refused.stderr and 'File "' not in refused.stderr
    assert "InputFunctionException" not in refused.stderr
