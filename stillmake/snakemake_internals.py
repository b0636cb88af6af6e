"""Every place stillmake leans on Snakemake beyond its documented workflow language, in one
module: each hook says why it is needed and what it touches, and
tests/workflow/test_snakemake_internals.py fails, naming the hook, when a Snakemake release
changes what it relies on.

What stays outside, on purpose: request stamps (planner/stamps.py) are written from input
functions at DAG time. Snakemake's own params trigger reruns a job whose params changed,
but only while its metadata in .snakemake/ exists; the stamps keep rebuilds exact after a
fresh clone, a lost CI cache or on a cluster node, through the public mtime rule alone.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import Any

from snakemake.exceptions import WorkflowError

from stillmake.views.console import BuildConsole, JobKey

# -- a module's prefix --------------------------------------------------------------
# Loaded as a module (`module stillmake: ... prefix: "stills"`), Snakemake prefixes the
# paths rules and input functions give it; the library must read and write the same
# files under it, and the module API offers no accessor for the prefix.


def module_prefix(workflow: Any) -> str:
    return workflow.modifier.path_modifier.prefix or ""


def in_module(workflow: Any) -> bool:
    return not workflow.modifier.is_main_snakefile()


# -- hooks a module loses ------------------------------------------------------------
# Snakemake drops a module's onstart/onsuccess/onerror; the module chains its end-of-build
# summary onto the host's (kept in Workflow._onsuccess/_onerror, called with the log file).


def runs_jobs(workflow: Any) -> bool:
    """A real build: an executor was chosen, and not -n, --touch or --summary."""
    return workflow.executor_plugin is not None and not (workflow.dryrun or workflow.touch)


def is_main_process(workflow: Any) -> bool:
    """The process that plans the build (not a cluster job's own snakemake)."""
    return bool(workflow.is_main_process)


def chain_build_end(workflow: Any, finish: Callable[[], None]) -> None:
    """Run `finish` after the host's onsuccess and onerror."""
    for hook in ("_onsuccess", "_onerror"):
        setattr(workflow, hook, _then(getattr(workflow, hook), finish))


def chain_build_start(workflow: Any, start: Callable[[], None]) -> None:
    """Run `start` after the host's onstart (by then the scheduler exists)."""
    workflow._onstart = _then(workflow._onstart, start)


def _then(host: Callable[[Any], object], after: Callable[[], None]) -> Callable[[Any], None]:
    """A hook that runs Snakemake's `host(log)`, then `after()`."""

    def hook(log: Any) -> None:
        host(log)
        after()

    return hook


# -- a stop that reaches the jobs --------------------------------------------------------
# Snakemake runs jobs as threads and, on SIGTERM, lets running jobs finish
# (JobScheduler.exit_gracefully); on SIGINT, the main thread's KeyboardInterrupt shuts
# the pool down and waits for them too. A job waiting an hour on the rate limiter would
# keep the build an hour. So stillmake raises its stop flag (stillmake.stop) from a
# handler chained to the one in place, then calls it. The JobScheduler installs its
# SIGTERM handler when it is made: after the Snakefile is read, before `onstart` runs.
# Chained any earlier, ours would be replaced.


def stop_on_signals() -> list[int]:
    """At `onstart`: SIGTERM and SIGINT end every job's wait at once, Snakemake's own
    handling of them kept. Returns the signals chained."""
    from stillmake import stop

    return stop.on_signals()


# -- input and params functions Snakemake need not inspect ---------------------------
# Snakemake inspects the signature of every input and params function at every call (to
# see which of wildcards, input, output, threads ... it takes): for thousands of jobs with
# a few functions each, that is a large part of planning the DAG. Its own ioutils declare
# a function's parameters once instead (snakemake.common.overwrite_function_params); the
# workflow's per-job functions take the wildcards only, and say so the same way.


def _wildcards_only(wildcards: Any) -> None:
    """The signature every per-job function of the workflow has."""


_WILDCARDS_ONLY = None


def per_job(fn: Callable[[Any], Any]) -> Callable[[Any], Any]:
    """`fn` (of the wildcards alone), declared so: Snakemake skips inspecting it."""
    from snakemake.common import get_function_params, overwrite_function_params

    global _WILDCARDS_ONLY
    if _WILDCARDS_ONLY is None:
        _WILDCARDS_ONLY = get_function_params(_wildcards_only)
    overwrite_function_params(fn, _WILDCARDS_ONLY)
    return fn


# -- a resource cap a module host keeps ------------------------------------------------
# `--resources api=N` in a profile does not reach a host that uses the workflow as a
# module; registering the resource from the workflow does, unless the command line set it.


def cap_resource(workflow: Any, name: str, value: int) -> None:
    if name not in workflow.global_resources:
        workflow.register_resource(name, value)


# -- one line for a refusal ----------------------------------------------------------------
# Snakemake prints an exception with the frames it came through (exceptions.py:
# format_exception_to_string/format_error, reading the exception's __traceback__; for a
# run: block, executors/local.py run_wrapper -> get_exception_origin), and wraps one
# raised in an input function into InputFunctionException, with a "Traceback:" of its
# own. A refusal has no traceback to show (its __traceback__ reads as None), and its
# message is remembered, so the console (below) prints the message alone, in one line,
# however Snakemake wrapped it. The full text stays in the log under .snakemake/log/.

REFUSED: dict[str, JobKey | None] = {}  # message -> the job it stopped, if one did


class Refusal(WorkflowError):
    """The user's input (a file, a target, a decision) stopped the build: the one line that
    says what to do, no frames. Any other exception (a bug) keeps its stack."""

    __traceback__ = property(lambda self: None, lambda self, value: None)

    def __init__(self, message: str, job: JobKey | None = None) -> None:
        super().__init__(message)
        REFUSED[message] = job


class JobFailed(Refusal):
    """A job stopped by what the user gave it (a refusal, the budget, a stale pick ...)."""


def refused_in(text: str) -> tuple[str, JobKey | None] | None:
    """The refusal a record of Snakemake's error output says, if it says one."""
    for message, job in list(REFUSED.items()):
        if message in text:
            return message, job
    return None


# -- the build's console ----------------------------------------------------------------
# Snakemake's console is one logging handler, named DefaultStreamHandler, on the
# `snakemake.logging` logger (logging.py: LoggerManager._default_streamhandler), present
# when no logger plugin writes the console. stillmake puts its BuildConsole
# (views/console.py) in front of it: a filter placed first (it sees every record, and
# drops a job's block before the handler writes the blank line that precedes it) and a
# formatter around Snakemake's own. Records are not changed, so the log file under
# .snakemake/log/ keeps everything. Jobs hand their lines (result, warnings) to the same
# logger, tagged with the job, so the console shows them with the job's progress.

SNAKEMAKE_LOGGER = "snakemake.logging"
STREAM_HANDLER = "DefaultStreamHandler"


def _stream_handler() -> logging.Handler | None:
    handlers = logging.getLogger(SNAKEMAKE_LOGGER).handlers
    return next((h for h in handlers if h.name == STREAM_HANDLER), None)


def _event(record: logging.LogRecord) -> str | None:
    event = getattr(record, "event", None)
    return None if event is None else str(event)


def _text(record: logging.LogRecord) -> str:
    return "" if record.msg is None else record.getMessage()


class _ConsoleFilter(logging.Filter):
    def __init__(self, console: BuildConsole) -> None:
        super().__init__()
        self.console = console

    def filter(self, record: logging.LogRecord) -> bool:
        return self.console.keep(_event(record), record.__dict__)


class _ConsoleFormatter(logging.Formatter):
    def __init__(self, console: BuildConsole, snakemakes: logging.Formatter | None) -> None:
        super().__init__()
        self.console = console
        self.snakemakes = snakemakes or logging.Formatter()

    def format(self, record: logging.LogRecord) -> str:
        text = _text(record)
        if record.levelno >= logging.ERROR:
            said = refused_in(text)
            if said is not None:
                return self.console.refusal(*said)
        line = self.console.render(_event(record), record.__dict__, text)
        return self.snakemakes.format(record) if line is None else line


def attach_console(console: BuildConsole) -> bool:
    """Put `console` in front of Snakemake's console handler (False: a logger plugin
    writes the console, and it is left alone)."""
    handler = _stream_handler()
    if handler is None:
        return False
    for f in [f for f in handler.filters if isinstance(f, _ConsoleFilter)]:
        handler.removeFilter(f)  # the Snakefile read again in the same process
    handler.filters.insert(0, _ConsoleFilter(console))
    snakemakes = handler.formatter
    if isinstance(snakemakes, _ConsoleFormatter):
        snakemakes = snakemakes.snakemakes
    handler.setFormatter(_ConsoleFormatter(console, snakemakes))
    return True


def dry_run(workflow: Any) -> bool:
    """-n, known while the Snakefile is read (Workflow.dryrun needs the executor)."""
    settings = getattr(workflow, "output_settings", None)
    return bool(getattr(settings, "dryrun", False))


class JobLines(logging.Handler):
    """A job's console lines (its result, every warning) handed to Snakemake's logger,
    tagged with the job: `[stillmake] ...` as Snakemake prints them, or the console's
    line with the job's progress."""

    def __init__(self, job: JobKey) -> None:
        super().__init__(logging.INFO)
        self.job = job
        self.addFilter(_job_line)

    def emit(self, record: logging.LogRecord) -> None:
        text = record.getMessage()
        logging.getLogger(SNAKEMAKE_LOGGER).log(
            max(record.levelno, logging.INFO),
            f"[stillmake] {text}",
            extra={
                "stillmake_job": self.job,
                "stillmake_result": bool(getattr(record, "result", False)),
                "stillmake_text": text,
            },
        )


def _job_line(record: logging.LogRecord) -> bool:
    """A job's result line and its warnings reach the console; its failure is said once,
    by the refusal Snakemake reports; the rest (prompts ...) stays in the job's log."""
    if getattr(record, "console", True) is False:
        return False
    return record.levelno >= logging.WARNING or bool(getattr(record, "result", False))


# -- exit without waiting on the scheduler ------------------------------------------------
# Snakemake's JobScheduler re-evaluates after a resource timespan with a non-daemon
# threading.Timer (scheduling/job_scheduler.py: _schedule_reevalutation); at the end of a
# build it only delays the exit by up to a second.

SCHEDULER_TIMER_SOURCE = "snakemake/scheduling"


def end_scheduler_timers() -> int:
    """Cancel the scheduler's pending re-check timers once the build is over (only those
    whose callback was defined in Snakemake's scheduling code); returns how many."""
    cancelled = 0
    for thread in threading.enumerate():
        if isinstance(thread, threading.Timer) and _defined_in(
            thread.function, SCHEDULER_TIMER_SOURCE
        ):
            thread.cancel()
            cancelled += 1
    return cancelled


def _defined_in(fn: Callable[..., object], source: str) -> bool:
    code = getattr(fn, "__code__", None)
    return code is not None and source in code.co_filename.replace("\\", "/")
