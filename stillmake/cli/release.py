"""release: clear budget reservations left by requests that are not in flight any more."""

from __future__ import annotations

import click

from stillmake.api.ledger import Ledger, describe
from stillmake.cli.common import config_options, user_errors
from stillmake.errors import LedgerError
from stillmake.inputs.config import ConfigSources


@click.command("release")
@click.argument("rids", nargs=-1, metavar="[RID]...")
@click.option(
    "--stale",
    is_flag=True,
    help="Clear every dead reservation: its process is gone, its pid now belongs to "
    "another process, or the host rebooted since.",
)
@click.option(
    "--all",
    "every",
    is_flag=True,
    help="Clear every reservation (running ones and other hosts' ones only with --force).",
)
@click.option(
    "--force",
    is_flag=True,
    help="Also clear a reservation that is running on this host or was made on another host.",
)
@config_options
@user_errors
def release(
    rids: tuple[str, ...], stale: bool, every: bool, force: bool, sources: ConfigSources
) -> None:
    """Clear budget reserved by paid requests that are not in flight any more.

    \b
    Before each paid request a build reserves its estimate, so racing jobs
    never sum past budget_usd; the reservation is settled with the bill. A
    build killed mid-request leaves its reservation behind. stillmake drops
    it by itself once its process is gone or its pid belongs to another
    process; one made on another host sharing runs/ is kept, because its pid
    cannot be checked from here. `stillmake status` lists them all (RID,
    amount, request, pid, host, age, state); RID may be shortened.
    Examples:
      stillmake release                    # list them, clear nothing
      stillmake release --stale            # clear every dead one
      stillmake release 1a2b3c4d           # clear one (refused if it is running)
      stillmake release 1a2b3c4d --force   # clear one running here or on another host
      stillmake release --all --force      # clear every one: no build may be running
    Exit status 1 when a reservation is refused or not found.
    """
    ledger = Ledger(sources.load().ledger_path)
    if not (rids or stale or every):
        found = ledger.reservations()
        if not found:
            click.echo("no reservations: no paid request is in flight")
            return
        for r in found:
            click.echo(describe(r))
        click.echo("name the RIDs to clear, or --stale for every dead one (see --help)")
        return
    released, refusals = ledger.release(rids, stale=stale, every=every, force=force)
    for r in released:
        click.echo(f"released {describe(r)}")
    if not released and not refusals:
        click.echo("nothing to release: no reservation is dead")
    if refusals:
        raise LedgerError("; ".join(refusals))
