"""What every command needs: the workflow's config and specs, and user-facing errors."""

from __future__ import annotations

import functools

import click

from stillmake.config import load_config
from stillmake.errors import StillmakeError

config_option = click.option(
    "--config", "-C", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config key as `snakemake --config` would (e.g. backend=openai). Repeatable.",
)


def user_errors(fn):
    """Report StillmakeError as a one-line message (exit 1), not a traceback."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except StillmakeError as exc:
            raise click.ClickException(str(exc)) from None

    return wrapper


def load_specs(overrides=()):
    from stillmake.specs import BuildSpecs

    return BuildSpecs(load_config("config.yaml", overrides))
