"""What a build prints on the terminal: a header, one line per job as it finishes (jobs
done of total, of its stage, what it made and spent), a refusal as the one line that says
what to do, and at the end where every shot stands. Snakemake's per-job blocks stay in
the full log under .snakemake/log/ (`console: snakemake` prints them here too).

This module sees Snakemake's log events as plain data: the event's name and its fields
as the logger plugin interface names them (snakemake_interface_logger_plugins:
LogEvent, `jobid`, `rule_name`, `wildcards`, `job_id`, `stats`). Hooking it onto
Snakemake's console is stillmake/snakemake_internals.py's job.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any

# Snakemake's events (LogEvent values) this console reads or drops
WORKFLOW_STARTED = "workflow_started"
RESOURCES_INFO = "resources_info"
RUN_INFO = "run_info"
JOB_INFO = "job_info"
JOB_STARTED = "job_started"
JOB_FINISHED = "job_finished"
JOB_ERROR = "job_error"
GROUP_INFO = "group_info"
PROGRESS = "progress"
SHELLCMD = "shellcmd"
SILENT = {WORKFLOW_STARTED, RESOURCES_INFO, JOB_STARTED, GROUP_INFO, PROGRESS, SHELLCMD}

# Snakemake's plain chatter between jobs; everything else it says is kept
CHATTER = ("Building DAG of jobs...", "Select jobs to execute...", "Using shell: ")
NOTHING_TO_DO = "Nothing to be done"
FULL_LOG = "Complete log(s): "
# what Snakemake says when jobs failed: each failure was said in its own line already
JOBS_FAILED = (
    "Exiting because a job execution failed",
    "At least one job did not complete successfully",
)

JobKey = tuple[str, tuple[tuple[str, str], ...]]
Lines = Callable[[], list[str]]


def job_key(rule: str, wildcards: Mapping[str, Any] | None) -> JobKey:
    """One job, as both Snakemake's events and the job itself can name it."""
    return rule, tuple(sorted((str(k), str(v)) for k, v in (wildcards or {}).items()))


def _shot(key: JobKey) -> str | None:
    return dict(key[1]).get("shot")


class BuildConsole:
    """The build's terminal output. `brief` (config `console: brief`, a real build):
    stillmake's lines; otherwise Snakemake's own, refusals still one line each.
    `stages` maps a rule to the pass it runs (rules not in it are targets: not counted).
    `header` and `idle` give the lines after the job count and after "Nothing to be done".
    """

    def __init__(
        self,
        *,
        brief: bool = False,
        stages: Mapping[str, str] | None = None,
        header: Lines | None = None,
        idle: Lines | None = None,
    ) -> None:
        self.brief = brief
        self.stages = dict(stages or {})
        self.header = header or (lambda: [])
        self.idle = idle or (lambda: [])
        self.jobs: dict[Any, JobKey] = {}  # Snakemake's jobid -> the job
        self.held: dict[JobKey, list[str]] = {}  # a running job's lines, shown when it ends
        self.failed: dict[JobKey, str] = {}  # jobs that failed: why
        self.total: Counter[str] = Counter()  # jobs to run, per pass
        self.done: Counter[str] = Counter()
        self._said_failed = False
        self._lock = threading.Lock()

    # -- Snakemake's events ----------------------------------------------------------
    def keep(self, event: str | None, fields: Mapping[str, Any]) -> bool:
        """Whether Snakemake's console handler should see the record at all (a job's
        block is dropped here: the handler writes a blank line before it is formatted)."""
        if event == JOB_INFO:
            self.jobs[fields.get("jobid")] = job_key(
                str(fields.get("rule_name")), fields.get("wildcards")
            )
            return not self.brief
        return True

    def render(self, event: str | None, fields: Mapping[str, Any], text: str) -> str | None:
        """The console's text for one record: None for Snakemake's own, "" for nothing."""
        with self._lock:
            job = fields.get("stillmake_job")
            if job is not None:
                return self._job_line(job, fields) if self.brief else None
            if not self.brief:
                return None
            if event in SILENT:
                return ""
            if event == RUN_INFO:
                return self._plan(fields.get("stats") or {})
            if event == JOB_FINISHED:
                return self._finished(self.jobs.get(fields.get("job_id")))
            if event == JOB_ERROR:
                return self._failed(self.jobs.get(fields.get("jobid")), fields)
            if event is None and text.startswith(CHATTER):
                return ""
            if event is None and text.startswith(NOTHING_TO_DO):
                return "\n".join([text, *self.idle()])
            if event not in (JOB_ERROR, JOB_FINISHED) and any(w in text for w in JOBS_FAILED):
                return self._jobs_failed()
            if event is None and text.startswith(FULL_LOG):
                return (
                    f"stillmake: every job in full (Snakemake's own output): "
                    f"{text.removeprefix(FULL_LOG)}"
                )
            return None

    def refusal(self, message: str, job: JobKey | None) -> str:
        """A refusal (bad input, a job the user's input stopped): its one line."""
        with self._lock:
            if job is not None:
                self.failed[job] = message
        return f"stillmake: error: {message}"

    def failures(self) -> dict[str, str]:
        """shot -> why its job failed in this build (the first failure of the shot)."""
        out: dict[str, str] = {}
        for key, why in self.failed.items():
            shot = _shot(key)
            if shot is not None:
                out.setdefault(shot, why)
        return out

    # -- the lines -------------------------------------------------------------------
    def _job_line(self, job: JobKey, fields: Mapping[str, Any]) -> str:
        text = str(fields.get("stillmake_text", ""))
        if fields.get("stillmake_result"):
            self.held.setdefault(job, []).append(text)
            return ""
        return f"stillmake: warning: {text}"

    def _plan(self, stats: Mapping[str, int]) -> str:
        self.total = Counter()
        for rule, count in stats.items():
            if rule in self.stages:
                self.total[self.stages[rule]] += int(count)
        jobs = ", ".join(f"{stage} {n}" for stage, n in self.total.items())
        first = f"stillmake: {sum(self.total.values())} job(s) to run: {jobs}"
        return "\n".join([first, *self.header()])

    def _progress(self, stage: str) -> str:
        done, total = sum(self.done.values()), sum(self.total.values())
        width = len(str(total))
        return f"[{done:>{width}}/{total} · {stage} {self.done[stage]}/{self.total[stage]}]"

    def _finished(self, job: JobKey | None) -> str:
        stage = self.stages.get(job[0]) if job else None
        if job is None or stage is None:
            return ""  # a target rule, or a job Snakemake did not announce
        self.done[stage] += 1
        said = self.held.pop(job, None) or [f"{_shot(job) or ''} {stage}: done".strip()]
        prefix = self._progress(stage)
        return "\n".join([f"{prefix} {said[0]}", *(f"{' ' * len(prefix)} {s}" for s in said[1:])])

    def _jobs_failed(self) -> str:
        if self._said_failed:
            return ""
        self._said_failed = True
        return f"stillmake: error: {len(self.failed) or 'some'} job(s) failed (said above)"

    def _failed(self, job: JobKey | None, fields: Mapping[str, Any]) -> str:
        if job is not None:
            self.held.pop(job, None)
        if job is not None and job in self.failed:
            return ""  # its refusal was said in one line already
        stage = self.stages.get(job[0], job[0]) if job else str(fields.get("rule_name"))
        shot = _shot(job) if job else None
        logs = ", ".join(fields.get("log") or []) or "none"
        why = f"{' '.join(filter(None, [shot, stage]))} failed; its log: {logs}"
        if job is not None:
            self.failed[job] = why
        return f"stillmake: error: {why}"
