"""Bridge from a Snakemake rule's `run:` block to a stage function of the library.

Jobs run as threads inside the snakemake process (the workflow profile sets
`force-use-threads`), so a job costs no interpreter start-up and no re-import
of openai/numpy/Pillow; each job gets its own logger writing to its `log:` file.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from stillmake.errors import StillmakeError
from stillmake.files import remove_stale_temps
from stillmake.inputs.config import Config
from stillmake.planner.jobs import JOB_TYPES
from stillmake.snakemake_internals import JobLines
from stillmake.stages import STAGES
from stillmake.stages.job import Job
from stillmake.views.console import job_key

_console_lock = threading.Lock()


def _named(io: Iterable[str]) -> dict:
    """Snakemake's Namedlist -> {name: path or [paths]} (plus positional list as '_')."""
    named = {name: getattr(io, name) for name in io.keys()} if hasattr(io, "keys") else {}
    out = {k: (list(v) if not isinstance(v, str) else v) for k, v in named.items()}
    out["_"] = list(io)
    return out


def _job_logger(
    stage: str, shot: str | None, log_path: Path | None, console: logging.Handler
) -> logging.Logger:
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
    # the console gets the job's result line and every warning (snakemake_internals.JobLines);
    # prompts and the rest stay in the job's log file
    logger.addHandler(console)
    return logger


def run_stage(
    rule: str,
    input: Iterable[str],
    output: Iterable[str],
    params: Any,
    log: Sequence[str],
    config: Config,
    wildcards: Any = None,
) -> None:
    """Entry point of every rule's one-line `run:` block: the rule's stage, handed the
    job's typed request (rebuilt from its params: what Snakemake recorded is what runs)."""
    if rule not in STAGES:
        raise ValueError(f"unknown rule {rule}; known: {', '.join(STAGES)}")
    shot = getattr(wildcards, "shot", None) if wildcards is not None else None
    step = int(wildcards.step) if hasattr(wildcards, "step") else None
    kind = JOB_TYPES[rule]
    log_path = Path(log[0]) if log else None
    named = dict(wildcards.items()) if hasattr(wildcards, "items") else {}
    console = JobLines(job_key(rule, named))
    logger = _job_logger(kind.PASS, shot, log_path, console)
    job = Job(
        stage=kind.PASS,
        shot=shot,
        config=config,
        planned=kind.from_params(params.job, shot=shot, step=step),
        input=_named(input),
        output=_named(output),
        log_path=log_path,
        logger=logger,
    )
    for path in job.output["_"]:
        remove_stale_temps(path)
    try:
        STAGES[rule](job)
    except StillmakeError as exc:
        where = f"{shot} {kind.PASS}" if shot else kind.PASS
        # in the job's log; the console says it once, as the job's refusal
        logger.error("%s failed: %s", where, exc, extra={"console": False})
        raise
    finally:
        for h in list(logger.handlers):
            h.close()
            logger.removeHandler(h)
