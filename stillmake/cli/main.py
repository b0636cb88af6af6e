"""`stillmake`: the art director's and pipeline engineer's commands.

Thin by design: each command parses arguments and calls the library.
"""

from __future__ import annotations

import os

import click

from stillmake.cli import check as _check
from stillmake.cli import history as _history
from stillmake.cli import models as _models
from stillmake.cli import plan as _plan
from stillmake.cli import release as _release
from stillmake.cli import review as _review
from stillmake.cli import selection as _selection
from stillmake.cli import show as _show
from stillmake.cli import status as _status


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option(
    "--directory",
    "-d",
    type=click.Path(file_okay=False, exists=True),
    default=".",
    show_default=True,
    help="Workflow directory (where config.yaml and runs/ live).",
)
@click.pass_context
def cli(ctx: click.Context, directory: str) -> None:
    """Reproducible builds of AI film stills.

    \b
    The build itself is `snakemake` (run it in the workflow directory):
      snakemake            build everything buildable now
      snakemake -n         the plan of jobs (what would run, and why)
      snakemake review     drafts + contact sheets for every shot
    These commands inspect and steer it:
      stillmake plan       the plan of spend: paid requests and USD, before any call
      stillmake status     per shot: stage reached, pick, edits, lock, flags, spend
      stillmake pick s3 2  choose draft 2 of shot s3 (writes selections.yaml)
      stillmake lock s3    approve s3's candidate for its final (by content)
      stillmake waive s3 CHECK WHY   accept a failing gate check on s3's candidate
      stillmake review     the review board: pick, reject, lock, edits in a browser
      stillmake show s3    open s3's review sheet in the system's image viewer
      stillmake check F..  quality metrics and flags for any image
      stillmake models     the models: sizes, qualities, token rates, shutdown dates
      stillmake release    clear budget held by a request that is not in flight any more
      stillmake history    every version of selections.yaml: who changed what, and when
    """
    ctx.ensure_object(dict)
    os.chdir(directory)


for command in (
    _plan.plan,
    _models.models_command,
    _status.status,
    _status.validate,
    _selection.pick,
    _selection.lock,
    _selection.unlock,
    _selection.waive,
    _review.review,
    _show.show,
    _check.check,
    _release.release,
    _history.history,
):
    cli.add_command(command)
