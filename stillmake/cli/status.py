"""status and validate: read-only views of the workflow directory."""

from __future__ import annotations

import json

import click

from stillmake.api.ledger import Ledger
from stillmake.cli.common import (
    config_option,
    echo_warnings,
    load_specs,
    models_line,
    table,
    user_errors,
)
from stillmake.views.status import status_rows

COLUMNS = ("shot", "title", "stage", "pick", "edits", "locked", "flag", "spend_usd")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@config_option
@user_errors
def status(as_json: bool, overrides: tuple[str, ...]) -> None:
    """Per shot: stage reached, pick, edits done/declared, lock, worst flag, spend.

    \b
    pick shows STALE when the drafts changed since the pick, (unbound) when the
    pick was typed by hand without `stillmake pick`. Spend comes from
    runs/ledger.jsonl (paid requests only; cache hits cost $0).
    """
    specs = load_specs(overrides)
    echo_warnings(specs)
    rows = status_rows(specs)
    ledger = Ledger(specs.settings.ledger_path, specs.settings.budget_usd)
    if as_json:
        click.echo(
            json.dumps(
                {
                    "shots": rows,
                    "spent_usd": ledger.spent(),
                    "budget_usd": specs.settings.budget_usd,
                },
                indent=2,
            )
        )
        return
    click.echo(table(rows, COLUMNS))
    budget = specs.settings.budget_usd
    click.echo(
        f"\nspent ${ledger.spent():.2f}"
        + (f" of budget ${budget:.2f}" if budget is not None else "")
        + f" · backend {specs.settings.backend} · "
        + models_line(specs)
    )


@click.command("validate")
@config_option
@user_errors
def validate(overrides: tuple[str, ...]) -> None:
    """Check config.yaml, the prompts file and selections.yaml without building.

    Exit status 0 when everything loads; otherwise the first problem, naming
    the file, the shot and the key.
    """
    specs = load_specs(overrides)
    echo_warnings(specs)
    click.echo(
        f"ok: {len(specs.shots)} shots, {len(specs.picked_shots)} picked, "
        f"{len(specs.locked_shots)} locked; {models_line(specs)}, "
        f"backend {specs.settings.backend}"
    )
