"""Bridge from a Snakemake rule's `run:` block to a stage function of the library.

Jobs run as threads inside the snakemake process (the workflow profile sets
`force-use-threads`), so a job costs no interpreter start-up and no re-import
of openai/numpy/Pillow; each job gets its own logger writing to its `log:` file.
"""

from __future__ import annotations

import logging
import os
import sys
import threading
from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import Any

from stillmake import stop
from stillmake.errors import StillmakeError
from stillmake.files import remove_stale_temps
from stillmake.inputs.settings import Settings
from stillmake.stages import STAGES
from stillmake.stages.job import Job

_console_lock = threading.Lock()


def _named(io: Iterable[str]) -> dict:
    """Snakemake's Namedlist -> {name: path or [paths]} (plus positional list as '_')."""
    named = {name: getattr(io, name) for name in io.keys()} if hasattr(io, "keys") else {}
    out = {k: (list(v) if not isinstance(v, str) else v) for k, v in named.items()}
    out["_"] = list(io)
    return out


def _job_logger(stage: str, shot: str | None, log_path: Path | None) -> logging.Logger:
    name = f"stillmake.job.{stage}.{shot}.{threading.get_ident()}"
    logger = logging.getLogger(name)
    logger.propagate = False
    logger.setLevel(logging.INFO)
    for h in list(logger.handlers):
        logger.removeHandler(h)
    fmt = logging.Formatter("%(asctime)s %(levelname)s %(message)s")
    if log_path is not None:
        log_path.parent.mkdir(parents=True, exist_ok=True)
        fh = logging.FileHandler(log_path, mode="w", encoding="utf-8")
        fh.setFormatter(fmt)
        logger.addHandler(fh)
    # the console gets one line per job (its RESULT) and every warning; prompts and the
    # rest stay in the job's log file
    console = logging.StreamHandler(sys.stderr)
    console.addFilter(lambda r: r.levelno >= logging.WARNING or getattr(r, "result", False))
    console.setFormatter(logging.Formatter("[stillmake] %(message)s"))
    logger.addHandler(console)
    return logger


def run_stage(
    stage: str,
    input: Iterable[str],
    output: Iterable[str],
    params: Any,
    log: Sequence[str],
    config: dict,
    wildcards: Any = None,
    *,
    root: str | os.PathLike[str] | None = None,
) -> None:
    """Entry point of every rule's one-line `run:` block:
    `run_stage("draft", input, output, params, log, config, wildcards)`."""
    if stage not in STAGES:
        raise ValueError(f"unknown stage {stage}")
    shot = getattr(wildcards, "shot", None) if wildcards is not None else None
    log_path = Path(log[0]) if log else None
    logger = _job_logger(stage, shot, log_path)
    job = Job(
        stage=stage,
        shot=shot,
        settings=Settings.from_config(config, root),
        params=dict(params.items()) if hasattr(params, "items") else dict(params),
        input=_named(input),
        output=_named(output),
        log_path=log_path,
        logger=logger,
    )
    for path in job.output["_"]:
        remove_stale_temps(path)
    try:
        STAGES[stage](job)
    except StillmakeError as exc:
        logger.error("%s failed: %s", f"{shot} {stage}" if shot else stage, exc)
        raise
    finally:
        for h in list(logger.handlers):
            h.close()
            logger.removeHandler(h)


SCHEDULER_TIMER_SOURCE = "snakemake/scheduling"


def end_scheduler_timers() -> int:
    """Cancel Snakemake's pending scheduler re-check timers once the build is over.

    Snakemake's JobScheduler re-evaluates after a resource timespan with a
    non-daemon `threading.Timer`; at the end of a build it only delays exit by
    up to a second. Only timers whose callback was defined in Snakemake's
    scheduling code are cancelled (tests pin that Snakemake still makes them);
    returns how many.
    """
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


def stop_on_signals() -> list[int]:
    """Make SIGTERM and SIGINT end every job's wait at once, keeping Snakemake's own
    handling of them; call at `onstart`. Returns the signals chained.

    Snakemake runs jobs as threads and, on SIGTERM, lets running jobs finish
    (JobScheduler.exit_gracefully); on SIGINT, the main thread's KeyboardInterrupt
    shuts the pool down and waits for them too. A job waiting an hour on the rate
    limiter would keep the build an hour. So stillmake raises its stop flag
    (stillmake.stop) from a handler chained to the one in place, and then calls it.
    The JobScheduler installs its SIGTERM handler when it is made, which is after
    the Snakefile is read and before `onstart` runs: chained any earlier, ours
    would be replaced. tests/test_bridge.py pins both (the handler in place at
    onstart is JobScheduler.exit_gracefully, and ours calls it).
    """
    return stop.on_signals()
