"""What every command needs: the workflow's config and build, and user-facing errors."""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ParamSpec, TypeVar

import click

from stillmake.api.ledger import Ledger, LedgerRead, Reservation
from stillmake.errors import DecisionError, StillmakeError
from stillmake.inputs.config import ONLY_CONFIG_YAML, PASSES, ConfigSources
from stillmake.views.spend import (
    INFLIGHT_COLUMNS,
    RELEASE_HINT,
    UNSETTLED_HINT,
    damage_warnings,
    inflight_rows,
    inflight_usd,
    unsettled_line,
)

if TYPE_CHECKING:
    from stillmake.planner.build import Build

_P = ParamSpec("_P")
_R = TypeVar("_R")


def config_options(fn: Callable[..., _R]) -> Callable[..., _R]:
    """`--configfile FILE` and `--config/-C KEY=VALUE`, read as `snakemake` reads them
    (config.yaml first, then each file, then each override): the command gets them as
    `sources` and reads, and hands on to any `snakemake` it runs, the same config."""

    @functools.wraps(fn)
    def wrapper(
        *args: Any, configfiles: tuple[str, ...], overrides: tuple[str, ...], **kw: Any
    ) -> _R:
        return fn(*args, sources=ConfigSources(tuple(configfiles), tuple(overrides)), **kw)

    wrapper = click.option(
        "--config",
        "-C",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config key as `snakemake --config` does, dotted keys too "
        "(e.g. -C backend=openai -C draft.size=1536x640). Repeatable.",
    )(wrapper)
    return click.option(
        "--configfile",
        "configfiles",
        multiple=True,
        type=click.Path(dir_okay=False, exists=True),
        metavar="FILE",
        help="A config file merged over config.yaml, as `snakemake --configfile` does. Repeatable.",
    )(wrapper)


def user_errors(fn: Callable[_P, _R]) -> Callable[_P, _R]:
    """Report StillmakeError as a one-line message (exit 1), not a traceback; a decision
    refused for an argument (SHOT, K, --reject) as click's usage error (exit 2)."""

    @functools.wraps(fn)
    def wrapper(*args: _P.args, **kwargs: _P.kwargs) -> _R:
        try:
            return fn(*args, **kwargs)
        except DecisionError as exc:
            if exc.param:
                raise click.BadParameter(exc.detail, param_hint=exc.param) from None
            raise click.ClickException(str(exc)) from None
        except StillmakeError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def load_build(sources: ConfigSources = ONLY_CONFIG_YAML) -> Build:
    """The project in the current directory, planned as `snakemake` would plan it."""
    from stillmake.planner.load import load_build as plan

    return plan(sources.load())


def table(rows: list[dict], columns: Sequence[str]) -> str:
    cells = [[str(c) for c in columns]] + [[str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join(
        "  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip() for row in cells
    )


def models_line(build: Build) -> str:
    """`models draft gpt-image-2.6-flare, edit ..., final ...`: which model each pass uses."""
    return "models " + ", ".join(f"{p} {build.model_for(p)}" for p in PASSES)


def echo_warnings(build: Build) -> None:
    for warning in build.warnings:
        click.echo(f"warning: {warning}", err=True)


def echo_ledger_state(ledger: Ledger, read: LedgerRead, reservations: list[Reservation]) -> None:
    """Warnings for damaged ledger lines (stderr) and the requests in flight (stdout)."""
    for warning in damage_warnings(ledger, read):
        click.echo(f"warning: {warning}", err=True)
    if reservations:
        click.echo(f"\nin flight (budget held: ${inflight_usd(reservations):.3f}):")
        click.echo(table(inflight_rows(reservations), INFLIGHT_COLUMNS))
        click.echo(RELEASE_HINT)
        unsettled = unsettled_line(reservations)
        if unsettled:
            click.echo(UNSETTLED_HINT)
            click.echo(f"warning: {unsettled}", err=True)
