"""pick / lock / unlock / waive: edit selections.yaml by round trip (comments survive).

Thin over `stillmake.decisions`, which the review board calls too: each change goes
through `update_selections` (under the selections lock, on the file as it is then,
only when the result still loads)."""

from __future__ import annotations

import click

from stillmake import decisions, paths
from stillmake.cli.common import config_options, load_build, user_errors
from stillmake.inputs.config import ConfigSources


def parse_reject(value: str) -> tuple[int, str]:
    k, sep, reason = value.partition(":")
    if not sep or not k.strip().isdigit() or not reason.strip():
        raise click.BadParameter(
            f"'{value}' is not K:reason (e.g. 3:clipped highlights)", param_hint="--reject"
        )
    return int(k), reason.strip()


@click.command("pick")
@click.argument("shot")
@click.argument("k", type=int)
@click.option(
    "--reject",
    "-r",
    multiple=True,
    metavar="K:REASON",
    help="Record why a draft was rejected (repeatable): -r '1:identity drift'.",
)
@config_options
@user_errors
def pick(shot: str, k: int, reject: tuple[str, ...], sources: ConfigSources) -> None:
    """Choose draft K of SHOT, bound to the drafts you are looking at.

    \b
    Look at runs/review/SHOT.png first. The pick records the fingerprint of
    the drafts' image content; if the drafts change later (prompt edit, reroll,
    another model or backend) the select step stops and asks you to re-pick.
    Example:  stillmake pick s3 2 -r '1:identity drift' -r '3:clipped highlights'
    """
    build = load_build(sources)
    rejects = dict(parse_reject(r) for r in reject)
    fp = decisions.pick(build, shot, k, rejects).value
    click.echo(
        f"{shot}: picked draft {k} of drafts {fp}"
        + (f"; rejected {', '.join(f'{kk} ({r})' for kk, r in rejects.items())}" if rejects else "")
    )
    click.echo(
        f"next: `snakemake selected edits` builds {paths.selected(shot)} and its edits; look "
        f"at the candidate, then `stillmake lock {shot}` approves it for the final"
    )


@click.command("lock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_options
@user_errors
def lock(shots: tuple[str, ...], sources: ConfigSources) -> None:
    """Approve each shot's candidate: the final (high quality, paid) may render it.

    
    The candidate is the image the final is rendered from: the last edit step
    (runs/edits/SHOT/step_N.png), else the selected draft (runs/selected/SHOT.png).
    Look at it first. The lock records its fingerprint (its content): a new pick,
    an edit step added, changed or removed, or a re-render makes the lock stale,
    and the final waits for a new lock. Refused when the candidate is not built,
    is out of date, or fails the gate without a waiver (stillmake waive).
    """
    for done in decisions.lock(load_build(sources), shots):
        waived = "".join(f"; {c} waived ({why})" for c, why in done.waived.items())
        if done.already:
            click.echo(
                f"{done.shot}: already locked on its candidate {done.candidate} "
                f"({done.fingerprint}); nothing to do{waived}"
            )
        else:
            click.echo(
                f"{done.shot}: locked on its candidate {done.candidate} ({done.fingerprint})"
                + waived
            )
    click.echo("`stillmake plan finals` shows what they cost; `snakemake finals` renders them")


@click.command("waive")
@click.argument("shot")
@click.argument("check")
@click.argument("reason")
@config_options
@user_errors
def waive(shot: str, check: str, reason: str, sources: ConfigSources) -> None:
    """Accept CHECK failing on SHOT's candidate, because REASON.

    
    The gate stops a final whose candidate fails a check (a lock is refused,
    the final is not paid) until each failing check is waived with a reason,
    kept in selections.yaml (`waive: {CHECK: REASON}`) and shown in `stillmake
    status`, on the board and in the manifest. `stillmake status` and
    `stillmake lock SHOT` name the failing checks.
    Example:  stillmake waive s4 highlight_detail 'the alarm light is meant to bloom'
    """
    done = decisions.waive(load_build(sources), shot, check, reason)
    unused = f"; unused for now: its candidate does not fail {check}"
    click.echo(
        f"{shot}: {check} waived ({' '.join(reason.split())})"
        + ("" if done.value == "failing" else unused)
    )


@click.command("unlock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_options
@user_errors
def unlock(shots: tuple[str, ...], sources: ConfigSources) -> None:
    """Take shots off the finalist list (their finals are no longer built)."""
    decisions.unlock(load_build(sources), shots)
    click.echo(f"unlocked {', '.join(shots)}")
