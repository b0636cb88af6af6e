"""history: every version of selections.yaml, who made it and what changed; print one,
or write one back."""

from __future__ import annotations

import click

from stillmake import decisions
from stillmake.cli.common import config_options, table, user_errors
from stillmake.errors import StillmakeError
from stillmake.inputs.config import ConfigSources
from stillmake.inputs.selections.history import History
from stillmake.inputs.selections.ondisk import real_path
from stillmake.inputs.selections.write import update_selections
from stillmake.views.history import COLUMNS, history_rows


@click.command("history")
@click.argument("shot", required=False)
@click.option("--all", "show_all", is_flag=True, help="List every version, not the last 20.")
@click.option("--show", type=int, metavar="N", help="Print version N of the selections file.")
@click.option(
    "--restore",
    type=int,
    metavar="N",
    help="Write version N back (checked as any decision is; the version replaced is kept).",
)
@config_options
@user_errors
def history(
    shot: str | None,
    show_all: bool,
    show: int | None,
    restore: int | None,
    sources: ConfigSources,
) -> None:
    """Every version of selections.yaml: when, by what (cli, board, a hand save, a
    restore), who, what was asked, and what changed per shot. With SHOT, only the
    versions that changed that shot: why did s3's pick change?

    \b
    Each `stillmake pick/lock/unlock` and board click keeps the version it replaces and
    its own; a hand save is kept when stillmake next sees the file.
    Examples:
      stillmake history s3          what happened to s3, and who did it
      stillmake history --show 12   version 12, as it was
      stillmake history --restore 12
    """
    config = sources.load()
    path = config.selections_path
    if restore is not None:
        if decisions.restore(config, restore):
            click.echo(f"{path}: version {restore} restored (the version it replaced is kept)")
        else:
            click.echo(f"{path} already is version {restore}; nothing written")
        return
    kept = History(real_path(path), path)
    if show is not None:
        click.echo(kept.data(kept.version(show).sha).decode("utf-8-sig"), nl=False)
        return
    try:  # a hand save since the last version kept is kept now
        update_selections(path, None)
    except StillmakeError as exc:
        click.echo(f"warning: {exc}", err=True)
    kept = History(real_path(path), path)
    rows = history_rows(kept, shot, None if show_all else 20)
    if not rows:
        click.echo(f"no version of {path} changed {shot}" if shot else f"{path} has no history yet")
        return
    click.echo(table(rows, COLUMNS))
    click.echo(
        f"\n`stillmake history --show N` prints version N; `--restore N` writes it back "
        f"(history kept in {kept.shown_dir}/)"
    )
