"""plan: the spend a build would make, before any call."""

from __future__ import annotations

import json

import click

from stillmake.commands.common import config_option, load_specs, user_errors
from stillmake.commands.status import table
from stillmake.ledger import Ledger
from stillmake.plan import Planner, pending_outputs, total

COLUMNS = ("shot", "pass", "endpoint", "model", "n", "size", "quality", "price_usd", "status")


@click.command("plan")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@config_option
@user_errors
def plan(targets, as_json, overrides):
    """List the requests `snakemake [TARGET]` would pay for, with a USD total.

    \b
    Snakemake decides which jobs would run; stillmake follows each one's
    request through the cache: `cached` requests cost $0, `pay` ones cost the
    model table's price. Exit status 2 when spent + plan would pass budget_usd.
    Examples:
      stillmake plan                 # the default target
      stillmake plan finals          # what the finals of locked shots cost
      stillmake plan -C backend=openai
    """
    specs = load_specs(overrides)
    planned = Planner(specs).plan(pending_outputs(targets, overrides))
    ledger = Ledger(specs.settings.ledger_path, specs.settings.budget_usd)
    spent, cost, budget = ledger.spent(), total(planned), specs.settings.budget_usd
    over = budget is not None and spent + cost > budget + 1e-9
    if as_json:
        click.echo(json.dumps({"requests": [p.to_dict() for p in planned], "total_usd": cost,
                               "spent_usd": spent, "budget_usd": budget, "over_budget": over},
                              indent=2))
    else:
        rows = [{**p.to_dict(), "price_usd": f"{p.price_usd:.3f}",
                 "status": "cached" if p.cached else (p.note if p.note == "blocked" else "pay")}
                for p in planned]
        if rows:
            click.echo(table(rows, COLUMNS))
        paid = sum(1 for p in planned if p.paid)
        click.echo(f"\n{paid} paid request(s), {len(planned) - paid} cached or blocked; "
                   f"total ${cost:.3f} · spent so far ${spent:.3f}"
                   + (f" · budget ${budget:.2f}" if budget is not None else ""))
    if over:
        click.echo(f"over budget: ${spent:.3f} spent + ${cost:.3f} planned > budget_usd "
                   f"${budget:.2f}", err=True)
        raise SystemExit(2)
