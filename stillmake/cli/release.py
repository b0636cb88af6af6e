"""release: clear budget reservations left by requests that are not in flight any more,
settling the ones whose request may have been billed."""

from __future__ import annotations

from collections.abc import Callable

import click

from stillmake.api.cache import Cache, CacheRecord
from stillmake.api.ledger import Ledger, describe
from stillmake.cli.common import config_options, user_errors
from stillmake.errors import CorruptFile, LedgerError
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
@click.option(
    "--billed/--not-billed",
    "billed",
    default=None,
    help="For an unsettled reservation (its request was sent, then its process died): "
    "--billed writes its estimate into the ledger as spent, --not-billed drops it (the "
    "spend total goes down by that much). Without either, such a reservation is kept.",
)
@config_options
@user_errors
def release(
    rids: tuple[str, ...],
    stale: bool,
    every: bool,
    force: bool,
    billed: bool | None,
    sources: ConfigSources,
) -> None:
    """Clear budget reserved by paid requests that are not in flight any more.

    \b
    Before each paid request a build reserves its estimate, so racing jobs
    never sum past budget_usd; the reservation is settled with the bill. A
    build killed before its request was sent leaves a reservation that holds
    nothing: stillmake drops it by itself. One killed with its request sent
    leaves it `unsettled`: the API may have billed it, so it counts as spent
    until its answer turns up in the cache (this command and the next build
    that asks for it look there) or you say which with --billed/--not-billed.
    One made on another host sharing runs/ is kept while its lease runs,
    because its pid cannot be checked from here. `stillmake status` lists
    them all (RID, amount, request, pid, host, age, state); RID may be
    shortened.
    Examples:
      stillmake release                      # list them, clear nothing
      stillmake release --stale              # clear every dead one that holds nothing
      stillmake release --stale --billed     # ... and count the unsettled ones as spent
      stillmake release 1a2b3c4d --not-billed  # settle one: it was not billed
      stillmake release 1a2b3c4d --force     # clear one running here or on another host
      stillmake release --all --force        # clear every one: no build may be running
    Exit status 1 when a reservation is refused or not found.
    """
    config = sources.load()
    ledger = Ledger(config.ledger_path)
    for r in ledger.recover(_cached(Cache(config.cache_dir))):
        click.echo(
            f"settled {describe(r)}: its answer is in the cache, its bill now in {ledger.shown}"
        )
    if not (rids or stale or every):
        found = ledger.reservations()
        if not found:
            click.echo("no reservations: no paid request is in flight")
            return
        for r in found:
            click.echo(describe(r))
        click.echo("name the RIDs to clear, or --stale for every dead one (see --help)")
        return
    released, refusals = ledger.release(rids, stale=stale, every=every, force=force, billed=billed)
    for r in released:
        if not r.needs_settling:
            click.echo(f"released {describe(r)}")
        elif billed:
            click.echo(
                f"released {describe(r)}: settled as billed, ${r.cost_usd:.3f} written to "
                f"{ledger.shown}"
            )
        else:
            click.echo(
                f"released {describe(r)}: settled as not billed, the spend total goes down by "
                f"${r.cost_usd - r.billed_usd:.3f}"
            )
    if not released and not refusals:
        click.echo("nothing to release: no reservation is dead")
    if refusals:
        raise LedgerError("; ".join(refusals))


def _cached(cache: Cache) -> Callable[[str], CacheRecord | None]:
    """Ledger.recover's lookup: the cache record for a fingerprint, or None."""

    def record(fingerprint: str) -> CacheRecord | None:
        if not cache.has(fingerprint):
            return None
        try:
            return cache.load(fingerprint)[1]
        except (CorruptFile, OSError):
            return None

    return record
