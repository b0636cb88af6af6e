"""status and validate: read-only views of the workflow directory."""

from __future__ import annotations

import json

import click

from stillmake import paths
from stillmake.api.ledger import Ledger
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
from stillmake.views.spend import (
    damage_warnings,
    inflight_usd,
    unsettled_usd,
)
from stillmake.views.status import approval_lines, status_rows, weak_warnings

COLUMNS = ("shot", "title", "stage", "pick", "edits", "locked", "approval", "flag", "spend_usd")


@click.command("status")
@click.option("--json", "as_json", is_flag=True, help="Print the rows as JSON.")
@config_options
@user_errors
def status(as_json: bool, sources: ConfigSources) -> None:
    """Per shot: stage reached, pick, edits done/declared, lock, worst flag, spend.

    \b
    pick shows STALE when the drafts changed since the pick, (unbound) when a
    pick typed by hand was not applied yet (the build binds it to the drafts it
    first applies it to). approval: `approved` (locked on the candidate the
    final renders), AWAITING (look at the candidate named below, then
    `stillmake lock SHOT`), `gate: CHECK` (the candidate fails a check nobody
    waived), `lock: true (preview)` or `final.approval: any` (let through).
    Waivers are listed, used or not. A pick that fails the gate
    (pixels or identity, from its review) is warned about as a weak candidate. Spend comes from
    runs/ledger.jsonl (paid requests only; cache hits cost $0); a line of it
    that a crash or a full disk cut short is named in a warning and skipped.
    Requests in flight (budget reserved, not yet billed) are listed with
    their pid, host and age; `stillmake release` clears one that is not
    running any more. One whose process died with its request sent is
    `unsettled`: it counts as spent until `stillmake release RID --billed`
    (or --not-billed) settles it.
    """
    build = load_build(sources)
    echo_warnings(build)
    for warning in weak_warnings(build):
        click.echo(f"warning: {warning}", err=True)
    ledger = Ledger(build.config.ledger_path, build.config.budget_usd)
    read = ledger.read()
    reservations = ledger.reservations()
    digests = PixelDigests(build.config.root / paths.PIXEL_DIGESTS)
    rows = status_rows(build, read.entries, digests.fingerprint)
    digests.save()
    approvals = {shot: a.to_dict() for shot, a in build.approvals.items()}
    spent = ledger.spent(read.entries)
    if as_json:
        for warning in damage_warnings(ledger, read):
            click.echo(f"warning: {warning}", err=True)
        click.echo(
            json.dumps(
                {
                    "shots": rows,
                    "approvals": approvals,
                    "spent_usd": spent,
                    "budget_usd": build.config.budget_usd,
                    "inflight_usd": inflight_usd(reservations),
                    "unsettled_usd": unsettled_usd(reservations),
                    "inflight": [r.to_dict() for r in reservations],
                    "ledger_damaged": [d.to_dict() for d in read.damaged],
                },
                indent=2,
            )
        )
        return
    click.echo(table(rows, COLUMNS))
    lines = approval_lines(build)
    if lines:
        click.echo("\n" + "\n".join(lines))
    budget = build.config.budget_usd
    echo_ledger_state(ledger, read, reservations)
    click.echo(
        f"\nspent ${spent:.2f}"
        + (f" of budget ${budget:.2f}" if budget is not None else "")
        + f" · backend {build.config.backend} · "
        + models_line(build)
    )


@click.command("validate")
@config_options
@user_errors
def validate(sources: ConfigSources) -> None:
    """Check config.yaml, the prompts file and selections.yaml without building.

    Exit status 0 when everything loads; otherwise the first problem, naming
    the file, the shot and the key.
    """
    build = load_build(sources)
    echo_warnings(build)
    click.echo(
        f"ok: {len(build.shots)} shots, {len(build.picked_shots)} picked, "
        f"{len(build.locked_shots)} locked; {models_line(build)}, "
        f"backend {build.config.backend}"
    )
