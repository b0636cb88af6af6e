"""pick / lock / unlock: edit selections.yaml by round trip (comments survive).

Each goes through `update_selections`: under the selections lock, on the file as it is
then, and only when the result still loads (`would_load`)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import click

from stillmake import paths
from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.cli.common import config_option, load_specs, user_errors
from stillmake.errors import StillmakeError
from stillmake.inputs.selections import load_selections, set_lock, set_pick

if TYPE_CHECKING:
    from stillmake.specs import BuildSpecs


def current_drafts(specs: BuildSpecs, shot: str) -> str:
    drafts = paths.drafts(shot, specs.draft_n)
    current = current_drafts_fingerprint(drafts)
    if current is None:
        missing = next(p for p in drafts if not Path(p).is_file())
        raise StillmakeError(
            f"shot {shot} has no drafts yet ({missing} is missing): "
            f"run `snakemake review` and look at {paths.review_sheet(shot)}"
        )
    return current


def would_load(specs: BuildSpecs) -> Callable[[str], object]:
    """The check an edit must pass before it is written: the new text loads as the build
    would load it (every shot known, picks in range, masks and references in place)."""

    def check(text: str) -> object:
        return load_selections(
            specs.selections_path,
            shots=specs.shots,
            draft_n=specs.draft_n,
            root=specs.root,
            text=text,
        )

    return check


def parse_reject(value: str) -> tuple[int, str]:
    k, sep, reason = value.partition(":")
    if not sep or not k.strip().isdigit() or not reason.strip():
        raise click.BadParameter(
            f"'{value}' is not K:reason (e.g. 3:clipped highlights)", param_hint="--reject"
        )
    return int(k), reason.strip()


def check_shots(specs: BuildSpecs, shots: Iterable[str]) -> None:
    unknown = [s for s in shots if s not in specs.shots]
    if unknown:
        raise click.BadParameter(
            f"unknown shot(s) {', '.join(unknown)}; the prompts file has {', '.join(specs.shots)}",
            param_hint="SHOT",
        )


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
@config_option
@user_errors
def pick(shot: str, k: int, reject: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Choose draft K of SHOT, bound to the drafts you are looking at.

    \b
    Look at runs/review/SHOT.png first. The pick records the fingerprint of
    the drafts' image content; if the drafts change later (prompt edit, reroll,
    another model or backend) the select step stops and asks you to re-pick.
    Example:  stillmake pick s3 2 -r '1:identity drift' -r '3:clipped highlights'
    """
    specs = load_specs(overrides)
    check_shots(specs, [shot])
    if not 1 <= k <= specs.draft_n:
        raise click.BadParameter(f"{k} is outside 1..{specs.draft_n} (draft.n)", param_hint="K")
    rejects = dict(parse_reject(r) for r in reject)
    bad = [kk for kk in rejects if not 1 <= kk <= specs.draft_n or kk == k]
    if bad:
        raise click.BadParameter(
            f"cannot reject draft {bad[0]} (outside 1..{specs.draft_n} or the pick itself)",
            param_hint="--reject",
        )
    fp = current_drafts(specs, shot)
    set_pick(specs.selections_path, shot, k, fp, rejects, check=would_load(specs))
    click.echo(
        f"{shot}: picked draft {k} of drafts {fp}"
        + (f"; rejected {', '.join(f'{kk} ({r})' for kk, r in rejects.items())}" if rejects else "")
    )
    click.echo(
        f"next: `snakemake` builds {paths.selected(shot)} and its edits; "
        f"`stillmake lock {shot}` makes it a finalist"
    )


def _set_lock(shots: Sequence[str], overrides: Iterable[str], locked: bool) -> None:
    specs = load_specs(overrides)
    check_shots(specs, shots)
    unpicked = [s for s in shots if not specs.picked(s)]
    if locked and unpicked:
        raise StillmakeError(
            f"cannot lock {', '.join(unpicked)}: no pick yet (stillmake pick SHOT K)"
        )
    set_lock(specs.selections_path, list(shots), locked, check=would_load(specs))


@click.command("lock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_option
@user_errors
def lock(shots: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Mark picked shots as finalists: the final pass (high quality, paid) may run."""
    _set_lock(shots, overrides, True)
    click.echo(f"locked {', '.join(shots)}; `stillmake plan finals` shows what the finals cost")


@click.command("unlock")
@click.argument("shots", nargs=-1, required=True, metavar="SHOT...")
@config_option
@user_errors
def unlock(shots: tuple[str, ...], overrides: tuple[str, ...]) -> None:
    """Take shots off the finalist list (their finals are no longer built)."""
    _set_lock(shots, overrides, False)
    click.echo(f"unlocked {', '.join(shots)}")
