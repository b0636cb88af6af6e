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
from stillmake.api.calls import BUILD_ENV, now_iso
from stillmake.bridge import end_scheduler_timers, run_stage
from stillmake.api.ledger import Ledger
from stillmake.views.spend import build_summary
from stillmake.specs import BuildSpecs, record_built

try:
    BUILD = BuildSpecs(config)  # every input parsed and checked once, before any job
except StillmakeError as exc:
    raise WorkflowError(str(exc)) from None

# a dying model, a size mismatch: said on every run, `snakemake -n` too
for warning in BUILD.warnings:
    print(f"stillmake: warning: {warning}", file=sys.stderr)

SHOTS = BUILD.shots
RUN_STARTED = now_iso()
os.environ.setdefault(BUILD_ENV, RUN_STARTED)  # groups this build's ledger lines


def finish_build():
    """Runs at onsuccess/onerror: print what this build spent, then let the process exit."""
    ledger = Ledger(BUILD.settings.ledger_path, BUILD.settings.budget_usd)
    print(build_summary(ledger, RUN_STARTED), file=sys.stderr)
    end_scheduler_timers()


def check_credentials():
    """Runs at `onstart`: a real build without a key stops before any job; -n and --summary pay nothing and need none."""
    try:
        BUILD.settings.require_credentials()
    except StillmakeError as exc:
        raise WorkflowError(str(exc)) from None


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
        run_stage(stage, input, output, params, log, config, wildcards)
    except StillmakeError as exc:
        shot = getattr(wildcards, "shot", None)
        raise JobFailed(f"{shot + ' ' if shot else ''}{stage} failed: {exc}") from None
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
    """The job's request stamp: rewritten only when the job's params change."""
    return lambda wildcards: BUILD.request_stamp(*_job(rule, wildcards))


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
        "stamp": BUILD.request_stamp("edit_step", wildcards.shot, step),
    }


def review_refs(wildcards):
    """The shot's character references: a changed one re-measures its identity."""
    return BUILD.existing_refs(wildcards.shot)


def final_inputs(wildcards):
    return {
        **BUILD.final_inputs(wildcards.shot),
        "stamp": BUILD.request_stamp("final", wildcards.shot),
    }


# -- targets -------------------------------------------------------------------
# A target is a rule's own output (rules.X.output) filled in per shot: these run
# only once the rules below are defined.


def review_targets(shots=None):
    return expand(rules.review_sheet.output, shot=shots or SHOTS)


def selected_targets(shots=None):
    shots = BUILD.picked_shots if shots is None else shots
    return expand(rules.select.output.image, shot=shots)


def edit_targets(shots=None):
    shots = BUILD.picked_shots if shots is None else shots
    return [
        target
        for shot in shots
        for target in expand(
            rules.edit_step.output.image,
            shot=shot,
            step=range(1, BUILD.edit_count(shot) + 1),
        )
    ]


def final_targets(shots):
    return expand(rules.final.output.image, shot=shots)


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
    return final_targets(shots) + [rules.manifest.output.csv]


def default_targets(wildcards):
    """Everything buildable now: each shot as far as its selection allows."""
    targets = review_targets() + selected_targets() + edit_targets()
    if BUILD.locked_shots:
        targets += final_targets(BUILD.locked_shots) + [rules.manifest.output.csv]
    return targets
