"""pick / lock / unlock: edit selections.yaml by round trip (comments survive).

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
        f"next: `snakemake` builds {paths.selected(shot)} and its edits; "
        f"`stillmake lock {shot}` makes it a finalist"
    )


@click.command("lock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_options
@user_errors
def lock(shots: tuple[str, ...], sources: ConfigSources) -> None:
    """Mark picked shots as finalists: the final pass (high quality, paid) may run."""
    decisions.set_locked(load_build(sources), shots, True)
    click.echo(f"locked {', '.join(shots)}; `stillmake plan finals` shows what the finals cost")


@click.command("unlock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_options
@user_errors
def unlock(shots: tuple[str, ...], sources: ConfigSources) -> None:
    """Take shots off the finalist list (their finals are no longer built)."""
    decisions.set_locked(load_build(sources), shots, False)
    click.echo(f"unlocked {', '.join(shots)}")
