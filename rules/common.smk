# Loads prompts and selections once; input functions and shot lists for every rule.
# A shot's request reaches its jobs as params, never through a shared file's mtime,
# so editing one shot rebuilds that shot alone. Each job's params are also on disk as
# its request stamp (runs/.params/), an input of that job only: a changed request
# reruns its job by the mtime rule alone, with or without .snakemake/.

import os
import sys
import time

from snakemake.exceptions import WorkflowError
from stillmake.errors import StillmakeError
from stillmake.paths import PATTERNS
from stillmake.api.calls import BUILD_ENV, now_iso
from stillmake.bridge import end_scheduler_timers, run_stage, stop_on_signals
from stillmake.api.ledger import Ledger
from stillmake.views.spend import build_summary
from stillmake.specs import BuildSpecs, record_built

# Loaded as a module (`module stillmake: ... prefix: "stills"`), every path of the
# project is under the prefix: Snakemake prefixes the paths rules and input functions
# give it, and the library reads and writes the same files under ROOT.
ROOT = workflow.modifier.path_modifier.prefix or ""
IN_MODULE = not workflow.modifier.is_main_snakefile()

try:
    BUILD = BuildSpecs(config, root=ROOT or None)  # every input parsed and checked once
except StillmakeError as exc:
    raise WorkflowError(str(exc)) from None

# a dying model, a size mismatch: said on every run, `snakemake -n` too
for warning in BUILD.warnings:
    print(f"stillmake: warning: {warning}", file=sys.stderr)

SHOTS = BUILD.shots
RUN_STARTED = now_iso()
os.environ.setdefault(BUILD_ENV, RUN_STARTED)  # groups this build's ledger lines

# API requests in flight at once (every API rule declares api=1), unless --resources
# api=N says otherwise: here, not in a profile, so a module host gets the cap too
if "api" not in workflow.global_resources:
    workflow.register_resource("api", config["openai"]["in_flight"])


def finish_build():
    """At the end of a build: print what it spent, then let the process exit."""
    ledger = Ledger(BUILD.settings.ledger_path, BUILD.settings.budget_usd)
    print(build_summary(ledger, RUN_STARTED), file=sys.stderr)
    end_scheduler_timers()


def check_credentials():
    """At `onstart`: a real build without a key stops before any job; -n and --summary
    pay nothing and need none. The ledger as found is the one this build keeps
    (a ledger deleted or replaced while it runs stops its next paid request)."""
    try:
        BUILD.settings.require_credentials()
        Ledger(BUILD.settings.ledger_path).anchor()
    except StillmakeError as exc:
        raise WorkflowError(str(exc)) from None


def start_build():
    """`onstart`: the checks above, then SIGTERM/SIGINT end a job's wait at once."""
    check_credentials()
    stop_on_signals()


_STARTED = []


def before_jobs():
    """In a module, whose own onstart/onsuccess/onerror Snakemake drops: once, when the
    first job is planned (the host's hooks are all known by then), the key check, and
    the spend summary chained onto the host's hooks."""
    if not IN_MODULE or _STARTED or workflow.executor_plugin is None:
        return
    if workflow.dryrun or workflow.touch:
        return
    _STARTED.append(True)
    if workflow.is_main_process:
        check_credentials()
    for hook in ("_onsuccess", "_onerror"):
        host = getattr(workflow, hook)
        setattr(workflow, hook, lambda log, host=host: (host(log), finish_build()))
    host = workflow._onstart  # runs once the scheduler (and its SIGTERM handler) exists
    workflow._onstart = lambda log, host=host: (host(log), stop_on_signals())


DRAFT_K = list(range(1, BUILD.draft_n + 1))


wildcard_constraints:
    shot="|".join(SHOTS) if SHOTS else "NO_SHOTS",
    step=r"\d+",


# -- jobs ----------------------------------------------------------------------


class JobFailed(WorkflowError):
    """A job stopped by what the user gave it (a refusal, the budget, a stale pick ...).

    Snakemake prints an exception raised in a run: block with the frames it passed
    through; this one reads as having none, so the user sees the one line that says
    what to do. Any other exception (a bug) keeps its stack."""

    __traceback__ = property(lambda self: None, lambda self, value: None)


def run_job(stage, input, output, params, log, config, wildcards):
    """Every rule's run: block: the stage, then the record of the request its outputs
    were built from; a StillmakeError becomes one line in snakemake's output."""
    started = time.time()
    try:
        run_stage(
            stage, input, output, params, log, config, wildcards, root=ROOT or None
        )
    except StillmakeError as exc:
        shot = getattr(wildcards, "shot", None)
        where = f"{shot} " if shot else ""
        raise JobFailed(f"{where}{stage} failed: {exc}") from None
    try:  # if this fails, the outputs stand; at worst an undone edit reruns the job
        record_built(input.stamp, dict(params.items()), started)
    except OSError as exc:
        print(f"stillmake: warning: {exc}", file=sys.stderr)


# -- per-job input and params functions ------------------------------------------


def _job(rule, wildcards):
    """(rule, shot, step) of one job; an edit step checked against selections.yaml."""
    step = _step(wildcards) if rule == "edit_step" else None
    return rule, getattr(wildcards, "shot", None), step


def job_param(rule, name):
    """One of a job's params, as its request stamp digests them."""
    return lambda wildcards: BUILD.job_params(*_job(rule, wildcards))[name]


def request_stamp(rule):
    """The job's request stamp: rewritten only when the job's params change. Local to
    the machine that plans the build (never in remote storage) and already under ROOT.
    """

    def stamp(wildcards):
        before_jobs()
        return local(os.path.join(ROOT, BUILD.request_stamp(*_job(rule, wildcards))))

    return stamp


def _step(wildcards):
    step = int(wildcards.step)
    if not 1 <= step <= BUILD.edit_count(wildcards.shot):
        raise WorkflowError(
            f"shot {wildcards.shot} declares {BUILD.edit_count(wildcards.shot)} edit step(s) "
            f"in {config['selections']}; there is no step {step}"
        )
    return step


def edit_inputs(wildcards):
    step = _step(wildcards)
    return {
        **BUILD.edit_inputs(wildcards.shot, step),
        "stamp": request_stamp("edit_step")(wildcards),
    }


def review_refs(wildcards):
    """The shot's character references: a changed one re-measures its identity (and
    re-asks the critique, which sends them)."""
    return BUILD.existing_refs(wildcards.shot)


def final_inputs(wildcards):
    return {
        **BUILD.final_inputs(wildcards.shot),
        "stamp": request_stamp("final")(wildcards),
    }


# -- targets -------------------------------------------------------------------
# A target is a rule's output pattern (stillmake.paths, pinned to the rules by
# tests/test_paths.py) filled in per shot: plain paths, so Snakemake applies a module's
# `prefix:` and a default storage provider to them once, as to every other path.


def review_targets(shots=None):
    return expand(PATTERNS["review_sheet"], shot=shots or SHOTS) + expand(
        PATTERNS["review_json"], shot=shots or SHOTS
    )


def selected_targets(shots=None):
    shots = BUILD.picked_shots if shots is None else shots
    return expand(PATTERNS["selected"], shot=shots)


def edit_targets(shots=None):
    shots = BUILD.picked_shots if shots is None else shots
    return [
        target
        for shot in shots
        for target in expand(
            PATTERNS["edit_step"],
            shot=shot,
            step=range(1, BUILD.edit_count(shot) + 1),
        )
    ]


def final_targets(shots):
    return expand(PATTERNS["final"], shot=shots)


def require_locked(shots, target):
    """Fail at DAG time, before any paid call, naming every shot that is not locked."""
    unknown = [s for s in shots if s not in SHOTS]
    if unknown:
        raise WorkflowError(
            f"target '{target}' names shots not in the prompts file: {', '.join(unknown)}"
        )
    unlocked = BUILD.unlocked(shots)
    if unlocked:
        raise WorkflowError(
            f"target '{target}' needs locked shots; not locked: {', '.join(unlocked)}. "
            f"Pick and lock them (stillmake pick SHOT K; stillmake lock SHOT) "
            f"or build `critical` / the default target."
        )
    return final_targets(shots) + [PATTERNS["manifest_csv"]]


def default_targets(wildcards):
    """Everything buildable now: each shot as far as its selection allows."""
    targets = review_targets() + selected_targets() + edit_targets()
    if BUILD.locked_shots:
        targets += final_targets(BUILD.locked_shots) + [PATTERNS["manifest_csv"]]
    return targets
