"""status and validate: read-only views of the workflow directory."""

from __future__ import annotations

import json

import click

from stillmake.commands.common import config_option, load_specs, user_errors
from stillmake.ledger import Ledger
from stillmake.status import status_rows

COLUMNS = ("shot", "title", "stage", "pick", "edits", "locked", "flag", "spend_usd")


def table(rows: list[dict], columns=COLUMNS) -> str:
    cells = [[str(c) for c in columns]] + [[str(r[c]) for c in columns] for r in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(columns))]
    return "\n".join("  ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() for row in cells)


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@config_option
@user_errors
def status(as_json, overrides):
    """Per shot: stage reached, pick, edits done/declared, lock, worst flag, spend.

    \b
    pick shows STALE when the drafts changed since the pick, (unbound) when the
    pick was typed by hand without `stillmake pick`. Spend comes from
    runs/ledger.jsonl (paid requests only; cache hits cost $0).
    """
    specs = load_specs(overrides)
    rows = status_rows(specs)
    ledger = Ledger(specs.settings.ledger_path, specs.settings.budget_usd)
    if as_json:
        click.echo(json.dumps({"shots": rows, "spent_usd": ledger.spent(),
                               "budget_usd": specs.settings.budget_usd}, indent=2))
        return
    click.echo(table(rows))
    budget = specs.settings.budget_usd
    click.echo(f"\nspent ${ledger.spent():.2f}"
               + (f" of budget ${budget:.2f}" if budget is not None else "")
               + f" · backend {specs.settings.backend} · model {specs.config['model']}")


@click.command("validate")
@config_option
@user_errors
def validate(overrides):
    """Check config.yaml, the prompts file and selections.yaml without building.

    Exit status 0 when everything loads; otherwise the first problem, naming
    the file, the shot and the key.
    """
    specs = load_specs(overrides)
    click.echo(f"ok: {len(specs.shots)} shots, {len(specs.picked_shots)} picked, "
               f"{len(specs.locked_shots)} locked; model {specs.config['model']}, "
               f"backend {specs.settings.backend}")
