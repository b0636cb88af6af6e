"""Every place stillmake leans on Snakemake beyond its documented workflow language, in one
module: each hook says why it is needed and what it touches, and
tests/test_snakemake_internals.py fails, naming the hook, when a Snakemake release
changes what it relies on.

What stays outside, on purpose: request stamps (planner/stamps.py) are written from input
functions at DAG time. Snakemake's own params trigger reruns a job whose params changed,
but only while its metadata in .snakemake/ exists; the stamps keep rebuilds exact after a
fresh clone, a lost CI cache or on a cluster node, through the public mtime rule alone.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from snakemake.exceptions import WorkflowError

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
        host = getattr(workflow, hook)
        setattr(workflow, hook, lambda log, host=host: (host(log), finish()))


def chain_build_start(workflow: Any, start: Callable[[], None]) -> None:
    """Run `start` after the host's onstart (by then the scheduler exists)."""
    host = workflow._onstart
    workflow._onstart = lambda log, host=host: (host(log), start())


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


# -- one line for a job the user's input stopped -----------------------------------------
# Snakemake prints an exception raised in a run: block with the frames it came through
# (executors/local.py: run_wrapper -> get_exception_origin/format_error, which read the
# exception's __traceback__). An exception whose __traceback__ reads as None has no origin
# in the Snakefile, so Snakemake re-raises it as it is and prints its message alone.


class JobFailed(WorkflowError):
    """A job stopped by what the user gave it (a refusal, the budget, a stale pick ...):
    the one line that says what to do, no frames. Any other exception (a bug) keeps its
    stack."""

    __traceback__ = property(lambda self: None, lambda self, value: None)


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
