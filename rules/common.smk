# Loads config, prompts and selections once; input functions and shot lists for every rule.
# A shot's request reaches its jobs as params (the planner's typed job requests,
# stillmake/planner/jobs.py), never through a shared file's mtime, so editing one shot
# rebuilds that shot alone. Each job's params are also on disk as its request stamp
# (runs/.params/), an input of that job only: a changed request reruns its job by the
# mtime rule alone, with or without .snakemake/.

import os
import sys
import time

from stillmake.errors import StillmakeError
from stillmake.paths import PATTERNS
from stillmake import snakemake_internals as internals
from stillmake.api.calls import BUILD_ENV, now_iso
from stillmake.inputs.config import workflow_config
from stillmake.planner.approval import awaiting_lines
from stillmake.planner.load import load_build
from stillmake.planner.jobs import JOB_TYPES
from stillmake.planner.stamps import record_built
from stillmake.views.console import BuildConsole, job_key

# Loaded as a module (`module stillmake: ... prefix: "stills"`), every path of the
# project is under the prefix: Snakemake prefixes the paths rules and input functions
# give it, and the library reads and writes the same files under ROOT.
ROOT = internals.module_prefix(workflow)
IN_MODULE = internals.in_module(workflow)

# The console: a refusal in one line from here on; once the config is read, a real build
# prints stillmake's lines instead of Snakemake's per-job blocks (config `console`)
CONSOLE = BuildConsole()
if not IN_MODULE:
    internals.attach_console(CONSOLE)

try:
    # config.yaml (+ --configfile, --config) checked against the schema, defaults filled in
    CONFIG = workflow_config(config, ROOT)
    BUILD = load_build(CONFIG)  # every input parsed and checked once; every job planned
except StillmakeError as exc:
    raise internals.Refusal(str(exc))

# a dying model, a size mismatch: said on every run, `snakemake -n` too
for warning in BUILD.warnings:
    print(f"stillmake: warning: {warning}", file=sys.stderr)

SHOTS = BUILD.shots
RUN_STARTED = now_iso()
os.environ.setdefault(BUILD_ENV, RUN_STARTED)  # groups this build's ledger lines

# API requests in flight at once (every API rule declares api=1), unless --resources
# api=N says otherwise: here, not in a profile, so a module host gets the cap too
internals.cap_resource(workflow, "api", CONFIG.openai.in_flight)


def finish_build():
    """At the end of a build: print what it spent, then let the process exit."""
    from stillmake.api.ledger import Ledger
    from stillmake.views.spend import build_summary

    ledger = Ledger(CONFIG.ledger_path, CONFIG.budget_usd)
    print(build_summary(ledger, RUN_STARTED), file=sys.stderr)
    if not IN_MODULE:
        print("\n".join(where_shots_stand()), file=sys.stderr)
    internals.end_scheduler_timers()


def where_shots_stand():
    """Every shot's outcome and what waits on the person (after a build, or none)."""
    from stillmake.views.outcome import outcome_lines

    return outcome_lines(BUILD, CONSOLE.failures())


def build_header():
    from stillmake.api.ledger import Ledger
    from stillmake.views.spend import header_line

    return [header_line(Ledger(CONFIG.ledger_path, CONFIG.budget_usd), CONFIG.backend)]


if CONFIG.console == "brief" and not IN_MODULE and not internals.dry_run(workflow):
    CONSOLE.brief = True
    CONSOLE.stages = {rule: job.PASS for rule, job in JOB_TYPES.items()}
    CONSOLE.header = build_header
    CONSOLE.idle = where_shots_stand


def check_credentials():
    """At `onstart`: a real build without a key stops before any job; -n and --summary
    pay nothing and need none. The ledger as found is the one this build keeps
    (a ledger deleted or replaced while it runs stops its next paid request)."""
    from stillmake.api.endpoint import require_credentials
    from stillmake.api.ledger import Ledger

    try:
        require_credentials(CONFIG)
        Ledger(CONFIG.ledger_path).anchor()
    except StillmakeError as exc:
        raise internals.Refusal(str(exc))


def start_build():
    """`onstart`: the checks above, then SIGTERM/SIGINT end a job's wait at once."""
    check_credentials()
    internals.stop_on_signals()


_STARTED = []


def before_jobs():
    """In a module, whose own onstart/onsuccess/onerror Snakemake drops: once, when the
    first job is planned (the host's hooks are all known by then), the key check, and
    the spend summary chained onto the host's hooks."""
    if not IN_MODULE or _STARTED or not internals.runs_jobs(workflow):
        return
    _STARTED.append(True)
    if internals.is_main_process(workflow):
        check_credentials()
    internals.chain_build_end(workflow, finish_build)
    internals.chain_build_start(workflow, internals.stop_on_signals)


DRAFT_K = list(range(1, BUILD.draft_n + 1))


wildcard_constraints:
    shot="|".join(SHOTS) if SHOTS else "NO_SHOTS",
    step=r"\d+",


# -- jobs ----------------------------------------------------------------------


def run_job(rule, input, output, params, log, wildcards):
    """Every rule's run: block: the rule's stage, then the record of the request its
    outputs were built from; a StillmakeError becomes one line in snakemake's output."""
    from stillmake.bridge import run_stage  # the stages: imported by the first job only

    started = time.time()
    try:
        run_stage(rule, input, output, params, log, CONFIG, wildcards)
    except StillmakeError as exc:
        shot = getattr(wildcards, "shot", None)
        where = f"{shot} " if shot else ""
        raise internals.JobFailed(
            f"{where}{BUILD.job_type(rule).PASS} failed: {exc}",
            job_key(rule, dict(wildcards.items())),
        )
    try:  # if this fails, the outputs stand; at worst an undone edit reruns the job
        record_built(input.stamp, params.job, started)
    except OSError as exc:
        print(f"stillmake: warning: {exc}", file=sys.stderr)


# -- per-job input and params functions ------------------------------------------


def _job(rule, wildcards):
    """(rule, shot, step) of one job; an edit step checked against selections.yaml."""
    step = _step(wildcards) if rule == "edit_step" else None
    return rule, getattr(wildcards, "shot", None), step


def planned(rule):
    """The job's typed request (stillmake/planner/jobs.py) in its plain form: the rule's
    one param, so a change to any of its fields reruns that job. (One param, not one per
    field: Snakemake calls every params function of every job while it plans the DAG.)
    """
    return internals.per_job(lambda wildcards: BUILD.params(*_job(rule, wildcards)))


def request_stamp(rule):
    """The job's request stamp: rewritten only when the job's params change. Local to
    the machine that plans the build (never in remote storage) and already under ROOT.
    """

    def stamp(wildcards):
        before_jobs()
        return local(os.path.join(ROOT, BUILD.request_stamp(*_job(rule, wildcards))))

    return internals.per_job(stamp)


def _step(wildcards):
    step = int(wildcards.step)
    if not 1 <= step <= BUILD.edit_count(wildcards.shot):
        count = BUILD.edit_count(wildcards.shot)
        have = (
            f"steps 1..{count} (runs/edits/{wildcards.shot}/step_1.png ..)"
            if count
            else "none"
        )
        raise internals.Refusal(
            f"shot {wildcards.shot} has no edit step {step}: {CONFIG.selections} declares "
            f"{have}; add the step under the shot's `edits:` to build it"
        )
    return step


@internals.per_job
def edit_inputs(wildcards):
    """The step's source, references, mask or markup; its stamp."""
    return {
        **BUILD.edit(wildcards.shot, _step(wildcards)).inputs(),
        "stamp": request_stamp("edit_step")(wildcards),
    }


@internals.per_job
def review_refs(wildcards):
    """The character references the critique sends with each draft (none when it is off:
    identity reads them too, and a changed one reruns the review through its params)."""
    return BUILD.review_refs(wildcards.shot)


@internals.per_job
def final_inputs(wildcards):
    """The candidate (its record travels inside it), the character references; its stamp."""
    return {
        **BUILD.final(wildcards.shot).inputs(),
        "stamp": request_stamp("final")(wildcards),
    }


# -- targets -------------------------------------------------------------------
# A target is a rule's output pattern (stillmake.paths, pinned to the rules by
# tests/inputs/test_paths.py) filled in per shot: plain paths, so Snakemake applies a module's
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
    try:
        BUILD.require_locked(shots, target)
    except StillmakeError as exc:
        raise internals.Refusal(str(exc))
    return final_targets(shots) + [PATTERNS["manifest_csv"]]


def say_awaiting():
    """Once per planning: each locked shot whose final is not built, and why (awaiting
    approval of its candidate, or stopped by the gate), with the command that approves.
    """
    if not _SAID:
        _SAID.append(True)
        for line in awaiting_lines(BUILD.approvals):
            print(f"stillmake: {line}", file=sys.stderr)


_SAID = []


def default_targets(wildcards):
    """Everything buildable now: each shot as far as its selection allows; finals of
    the locked shots whose candidates are approved."""
    targets = review_targets() + selected_targets() + edit_targets()
    say_awaiting()
    if BUILD.final_shots:
        targets += final_targets(BUILD.final_shots) + [PATTERNS["manifest_csv"]]
    return targets
