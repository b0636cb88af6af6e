"""plan: the spend a build would make, before any call."""

from __future__ import annotations

import json

import click

from stillmake import paths
from stillmake.api.ledger import Ledger
from stillmake.api.pricing import Estimator
from stillmake.artifacts.digests import PixelDigests
from stillmake.cli.common import (
    config_options,
    echo_ledger_state,
    echo_warnings,
    load_build,
    models_line,
    table,
    user_errors,
)
from stillmake.inputs.config import ConfigSources
from stillmake.planner.approval import awaiting_lines
from stillmake.planner.build import Build
from stillmake.planner.pending import Pending
from stillmake.views.plan import SpendPlanner, api_total, total
from stillmake.views.spend import (
    accuracy_line,
    damage_warnings,
    inflight_usd,
    plan_accuracy,
    unsettled_usd,
)
from stillmake.views.status import weak_warnings

COLUMNS = (
    "shot",
    "pass",
    "endpoint",
    "model",
    "n",
    "size",
    "quality",
    "est_usd",
    "basis",
    "status",
)


API_COLUMNS = (*COLUMNS[:-1], "api_usd", COLUMNS[-1])


def api_line(build: Build, usd: float, trusted: float) -> str:
    """Beside the preview's $0: what the same requests cost on the API."""
    line = (
        f"on the openai backend this plan would cost ${usd:.3f} (the same requests: "
        f"{models_line(build)}; `-C backend=openai` plans that build)"
    )
    if trusted:
        line += (
            f"; ${trusted:.3f} of it is finals the preview renders on `lock: true`, which on "
            "the API wait for `stillmake lock SHOT`"
        )
    return line


@click.command("plan")
@click.argument("targets", nargs=-1, metavar="[TARGET]...")
@click.option("--json", "as_json", is_flag=True, help="Print the plan as JSON.")
@config_options
@user_errors
def plan(targets: tuple[str, ...], as_json: bool, sources: ConfigSources) -> None:
    """List the requests `snakemake [TARGET]` would pay for, with a USD estimate.

    \b
    Snakemake decides which jobs would run; stillmake follows each one's
    request through the cache: `cached` requests cost $0, `pay` ones are
    estimated from the tokens the ledger observed for the same model and
    quality, per megapixel (basis `ledger`), else from the model table's
    prior (basis `prior`); edits count their input images. The last line
    says how far the last paid build's plan was from its bill. Requests in
    flight (budget reserved by a running build) are listed and count
    against the budget, and so do `unsettled` ones (a dead process's requests
    that may have been billed); `stillmake release` clears or settles them.
    A shot whose pick fails the gate (a weak candidate) is warned about before
    its edits are paid. Exit status 2 when spent + in flight + plan would pass
    budget_usd. A locked shot whose candidate is not approved (or is stopped by the
    gate) is listed with its final priced but not counted, and a final let through by
    a bare `lock: true` on the preview or by `final.approval: any` is marked so. On
    the preview backend (all $0), `api_usd` is what each request costs on the API.
    Examples:
      stillmake plan                     # the default target
      stillmake plan finals              # finals of every shot (all must be locked)
      stillmake plan critical -C backend=openai
      stillmake plan -C draft.size=1536x640 -C final.model=gpt-image-2
    """
    build = load_build(sources)
    echo_warnings(build)
    ledger = Ledger(build.config.ledger_path, build.config.budget_usd)
    read = ledger.read()
    entries = read.entries
    reservations = ledger.reservations()
    pending = Pending(build).outputs(targets)
    digests = PixelDigests(build.config.root / paths.PIXEL_DIGESTS)
    finals = not targets or "all" in targets  # the default target renders approved finals
    planned = SpendPlanner(build, Estimator(entries), digests).plan(pending, finals)
    digests.save()
    edited = dict.fromkeys(p.shot for p in planned if p.paid and p.pass_ != "draft")
    for warning in weak_warnings(build, edited):
        click.echo(f"warning: {warning}", err=True)
    spent, cost, budget = ledger.spent(entries), total(planned), build.config.budget_usd
    held, dead = inflight_usd(reservations), unsettled_usd(reservations)
    accuracy = plan_accuracy(entries)
    over = budget is not None and spent + held + cost > budget + 1e-9
    if as_json:
        for warning in damage_warnings(ledger, read):
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            json.dumps(
                {
                    "requests": [p.to_dict() for p in planned],
                    "total_usd": cost,
                    "api_usd": api_total(planned),
                    "spent_usd": spent,
                    "inflight_usd": held,
                    "unsettled_usd": dead,
                    "budget_usd": budget,
                    "over_budget": over,
                    "last_build": accuracy,
                    "inflight": [r.to_dict() for r in reservations],
                    "ledger_damaged": [d.to_dict() for d in read.damaged],
                },
                indent=2,
            )
        )
    else:
        api = api_total(planned)
        rows = [
            {
                **p.to_dict(),
                "est_usd": f"{p.price_usd:.3f}",
                "api_usd": f"{p.api_usd:.3f}" if p.api_usd is not None else "",
                "status": p.status,
            }
            for p in planned
        ]
        if rows:
            click.echo(table(rows, API_COLUMNS if api else COLUMNS))
        paid = sum(1 for p in planned if p.paid)
        click.echo(
            f"\n{paid} paid request(s), {len(planned) - paid} cached, blocked or awaiting "
            f"approval; total ${cost:.3f} · spent so far ${spent:.3f}"
            + (f" · in flight ${held:.3f}" if held else "")
            + (f" (${dead:.3f} of it unsettled)" if dead else "")
            + (f" · budget ${budget:.2f}" if budget is not None else "")
        )
        if api:
            click.echo(api_line(build, *api))
        for line in awaiting_lines(build.approvals):
            click.echo(line)
        click.echo(accuracy_line(accuracy))
        echo_ledger_state(ledger, read, reservations)
    if over:
        inflight = f" + ${held:.3f} in flight" if held else ""
        click.echo(
            f"over budget: ${spent:.3f} spent{inflight} + ${cost:.3f} planned > budget_usd"
            f" ${budget:.2f}" + ("; see `stillmake status` for what is in flight" if held else ""),
            err=True,
        )
        raise SystemExit(2)
