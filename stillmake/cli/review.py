"""review: the review board, a local page for picking, rejecting, locking and edits."""

from __future__ import annotations

import click

from stillmake.cli.common import config_options, user_errors
from stillmake.inputs.config import ConfigSources


@click.command("review")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8765,
    show_default=True,
    help="Port on 127.0.0.1 (0: any free port).",
)
@click.option("--no-open", is_flag=True, help="Do not open a browser; print the URL only.")
@config_options
@user_errors
def review(port: int, no_open: bool, sources: ConfigSources) -> None:
    """Serve the review board on 127.0.0.1: every shot's drafts with their flags,
    stage, spend and plan; pick, reject, lock, reroll and mark edit steps by clicking.

    \b
    Every decision is written to selections.yaml exactly as `stillmake pick` and
    `lock` write it (comments kept, under the same lock, only if it still loads).
    The page follows the build live: leave it open during `snakemake`.

    \b
    The board is this account's alone: other local accounts are refused, and a
    browser gets in only through the URL printed here (it carries a token, made at
    each start): keep it to yourself.
    """
    from stillmake.board.app import create_app
    from stillmake.board.server import serve
    from stillmake.board.view import load_build

    load_build(sources)  # a project that does not load says so here, not in the page
    # a port already taken: werkzeug says so and exits 1 (`--port 0` takes any free port)
    serve(create_app(sources=sources), port, open_browser=not no_open, say=click.echo)
