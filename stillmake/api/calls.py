"""The one path every paid request takes: cache -> budget -> rate limit -> backend.

Images (ImageRequest) and vision critiques (CritiqueRequest, a text answer) alike.

One request is paid once: a lock per fingerprint is held from the cache lookup to
the cache store, so jobs asking for the same request at once (threads, processes,
hosts sharing the cache) queue, and all but the first are answered by the cache.

A request already paid for is answered from the cache; a paid response is in
the cache before anything else is written, so a crash after it loses nothing.
Every answer is checked before it is kept (it decodes, it is the format and size
asked for, as many images as asked for): a bad answer is a failed attempt, retried
and ledgered like a 5xx, never a cache entry. A cache entry that no longer passes
is moved aside and the request is made again.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import stop
from stillmake.api.backends.factory import make_backend
from stillmake.api.cache import Cache, CacheRecord
from stillmake.api.ledger import PAID, Ledger, now_iso
from stillmake.api.pricing import Estimator, bill, image_sizes, megapixels
from stillmake.api.ratelimit import RateLimiter
from stillmake.api.records import LedgerLine
from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.api.retry import Attempt, RetryPolicy, call_with_retries
from stillmake.errors import BackendError, BudgetExceeded, CorruptFile, StillmakeError
from stillmake.files import locked
from stillmake.images import check_answer
from stillmake.inputs.guardrail import require_shortlist
from stillmake.rubric import check_verdicts
from stillmake.stop import Stopped

if TYPE_CHECKING:
    from stillmake.api.backends.base import BackendResponse, Label, Usage
    from stillmake.inputs.config import Config

log = logging.getLogger("stillmake")
BUILD_ENV = "STILLMAKE_BUILD"  # set once per snakemake run: groups its ledger lines
RESULT = {"result": True}  # marks a log record as the job's one line on the console


@dataclass
class Obtained:
    images: list[bytes]
    record: CacheRecord  # usage, cost_usd, latency_s, attempts, created, a critique's text
    cached: bool


def obtain(
    request: ImageRequest | CritiqueRequest,
    config: Config,
    *,
    shot: str,
    pass_: str,
    label: Label,
    images: list[bytes] | None = None,
    mask: bytes | None = None,
    markup: bytes | None = None,
    shortlisted: bool = False,
    logger: logging.Logger = log,
) -> Obtained:
    if isinstance(request, ImageRequest):  # a critique's "quality" is its reasoning effort
        require_shortlist(request.quality, shortlisted=shortlisted, shot=shot, pass_=pass_)
    cache = Cache(config.cache_dir)
    # held from the cache lookup to the cache store: a second asker waits, then hits
    # ... and left at once on SIGTERM/SIGINT (stillmake.stop)
    with locked(cache.lock_path(request.fingerprint()), waiting="on another job's request"):
        return _obtain(
            request,
            config,
            cache,
            shot=shot,
            pass_=pass_,
            label=label,
            images=images,
            mask=mask,
            markup=markup,
            logger=logger,
        )


def _obtain(
    request: ImageRequest | CritiqueRequest,
    config: Config,
    cache: Cache,
    *,
    shot: str,
    pass_: str,
    label: Label,
    images: list[bytes] | None,
    mask: bytes | None,
    markup: bytes | None,
    logger: logging.Logger,
) -> Obtained:
    fingerprint = request.fingerprint()
    ledger = Ledger(config.ledger_path, config.budget_usd, lease_s=config.storage.lease_s)
    input_sizes = image_sizes(images)
    line: LedgerLine = {
        "time": now_iso(),
        "build": os.environ.get(BUILD_ENV),
        "shot": shot,
        "pass": pass_,
        "endpoint": request.endpoint,
        "model": request.model,
        "size": request.size,
        "quality": request.quality,
        "n": request.n,
        "backend": request.backend,
        "fingerprint": fingerprint,
        "prompt_chars": len(request.prompt),
        "input_images": len(input_sizes),
        "input_megapixels": round(sum(megapixels(s) for s in input_sizes), 6),
    }
    cached = _from_cache(cache, request, config, shot=shot, pass_=pass_, logger=logger)
    if cached is not None:
        cached_images, kept = cached
        # kept by a process that died before writing its paid line: written now
        ledger.recover(lambda fp: kept if fp == fingerprint else None)
        ledger.append(
            {
                **line,
                "outcome": "cache_hit",
                "cost_usd": 0.0,
                "usage": kept.get("usage"),
                "latency_s": 0.0,
                "attempts": 0,
            }
        )
        logger.info(
            "%s %s: cache hit %s (paid %s, $0.00 now)",
            shot,
            pass_,
            fingerprint,
            kept.get("created"),
            extra=RESULT,
        )
        return Obtained(cached_images, kept, cached=True)

    estimate = Estimator(ledger.entries()).estimate(request, input_sizes)
    line["estimate_usd"] = estimate.usd
    backend = make_backend(config)
    policy = RetryPolicy(max_retries=config.openai.max_retries)
    limiter = _limiter(request, config)
    what = f"{shot} {pass_} ({request.n}× {request.model} {request.quality} {request.size})"

    with ledger.reserve(estimate.usd, what, request.backend, line=line) as hold:

        def refused(exc: BackendError) -> None:
            """An answer the API sent and billed, refused: priced and held at once."""
            exc.cost_usd, exc.cost_source = _refused_bill(request, exc.usage, estimate.usd)
            hold.charge(exc.cost_usd)

        def call() -> BackendResponse:
            stop.check("sending the request")
            hold.sending()
            try:
                if isinstance(request, CritiqueRequest):  # endpoint "responses"
                    response = backend.critique(request, images or [])
                elif request.endpoint == "generate":
                    response = backend.generate(request, label)
                else:
                    response = backend.edit(request, images or [], mask, label, markup=markup)
            except BackendError as exc:
                if exc.answered:
                    refused(exc)
                raise
            try:
                _check(response.images, response.text, request, decode=True)  # BadAnswer: retried
            except BackendError as exc:
                exc.answered, exc.usage = True, response.usage  # what the bad answer cost
                refused(exc)
                raise
            return response

        def on_retry(attempt: int, wait: float, exc: BackendError) -> None:
            logger.warning(
                "%s %s: attempt %d failed (%s); retrying in %.1fs", shot, pass_, attempt, exc, wait
            )
            hold.check_next(what)  # refused answers were billed: is there budget for another?

        waited = limiter.acquire(request.n) if estimate.usd else 0.0
        start = time.monotonic()
        history: list[Attempt] = []
        try:
            response, attempts, history = call_with_retries(
                call, policy, on_retry=on_retry, history=history
            )
        except (BackendError, BudgetExceeded, Stopped) as exc:
            if history or isinstance(exc, BackendError):  # attempts were made: ledgered
                hold(
                    {
                        **line,
                        "outcome": _failure_outcome(exc),
                        "cost_usd": hold.billed,
                        **({"rejected_usd": hold.billed} if hold.billed else {}),
                        "usage": None,
                        "latency_s": round(time.monotonic() - start, 3),
                        "attempts": (exc.attempts if isinstance(exc, BackendError) else None)
                        or len(history),
                        "retries": history,
                        "error": str(exc)[:500],
                    }
                )
            raise
        latency = round(time.monotonic() - start, 3)
        cost = bill(request, response.usage)
        cost_source = "usage"
        if cost is None:  # a token-priced answer without usage: the estimate stands in
            cost, cost_source = estimate.usd, "estimate (no usage in the response)"
        total = round(cost + hold.billed, 6)
        out_mp = sum(megapixels(s) for s in image_sizes(response.images))
        record: CacheRecord = {
            "created": now_iso(),
            "usage": response.usage,
            "cost_usd": cost,
            "estimate_usd": estimate.usd,
            "cost_source": cost_source,
            "latency_s": latency,
            "attempts": attempts,
            "backend": request.backend,
            "meta": response.meta,
            "request": request.to_dict(),
            "reservation": hold.rid,  # a process that dies before its line is found by it
        }
        if response.text is not None:  # a critique's answer: kept whole, checked on load
            record["text"] = response.text
        paid: LedgerLine = {
            **line,
            "outcome": PAID,
            "cost_usd": total,
            "cost_source": cost_source,
            "usage": response.usage,
            "output_megapixels": round(out_mp, 6),
            "latency_s": latency,
            "attempts": attempts,
            "retries": history,
            "rate_wait_s": round(waited, 3),
        }
        if hold.billed:
            record["rejected_usd"] = hold.billed
            paid["rejected_usd"] = hold.billed
        try:
            cache.store(fingerprint, response.images, record)
        except OSError as exc:  # paid for but not kept: the spend is still written down
            why = exc.strerror or str(exc)
            hold({**paid, "error": f"not kept in the cache: {why}"})
            raise StillmakeError(
                f"{shot} {pass_}: the answer (billed ${total:.3f}, in the ledger) could not be "
                f"kept in {_shown(cache.root, config.root)}/: {why}. Free the disk or fix "
                "the permissions, then run again (the request will be made, and paid, again)"
            ) from None
        hold(paid)
    refusals = f" (${hold.billed:.3f} of it for refused answers)" if hold.billed else ""
    logger.info(
        "%s %s: %d image(s) from %s in %.2fs, $%.3f%s (estimated $%.3f); this build so far $%.3f",
        shot,
        pass_,
        len(response.images),
        request.backend,
        latency,
        total,
        refusals,
        estimate.usd,
        ledger.spent([e for e in ledger.entries() if e.get("build") == line["build"]]),
        extra=RESULT,
    )
    return Obtained(response.images, record, cached=False)


def _refused_bill(
    request: ImageRequest | CritiqueRequest, usage: Usage | None, estimate: float
) -> tuple[float, str]:
    """(USD, how it was priced) for an answer the API sent and billed but the check
    refused: from its usage, or its estimate when the answer carried none readable."""
    cost = bill(request, usage)
    if cost is None:
        return estimate, "estimate (a refused answer without readable usage)"
    return cost, "usage"


def _check(
    images: list[bytes], text: str | None, request: ImageRequest | CritiqueRequest, *, decode: bool
) -> None:
    """BadAnswer unless the answer is what the request asks for: verdicts to the rubric's
    schema for a critique, else the images' count, format and size."""
    if isinstance(request, CritiqueRequest):
        check_verdicts(text)
        return
    check_answer(
        images,
        n=request.n,
        size=request.size,
        output_format=request.output_format,
        decode=decode,
    )


def _from_cache(
    cache: Cache,
    request: ImageRequest | CritiqueRequest,
    config: Config,
    *,
    shot: str,
    pass_: str,
    logger: logging.Logger,
) -> tuple[list[bytes], CacheRecord] | None:
    """The cached answer, or None. An entry that does not load whole, that answers
    another request (moved, swapped or edited on disk), or whose images are not what the
    request asks for (kept by a version that did not check answers), is moved aside to
    .corrupt/ with a warning naming it, and counts as not cached."""
    fingerprint = request.fingerprint()
    if not cache.has(fingerprint):
        return None
    try:
        images, record = cache.load(fingerprint)
        why = _answers_another(record, request)
        if why is None:
            _check(images, record.get("text"), request, decode=False)  # no pixel decode
            return images, record
    except (CorruptFile, BackendError) as exc:
        why = (exc.why if isinstance(exc, CorruptFile) else None) or str(exc)
    aside = cache.quarantine(fingerprint)
    logger.warning(
        "%s %s: cache entry %s is corrupt (%s); moved aside to %s and asked for again",
        shot,
        pass_,
        _shown(cache.entry(fingerprint), config.root),
        why,
        _shown(aside, config.root) if aside else "(already moved by another job)",
    )
    return None


def _answers_another(record: CacheRecord, request: ImageRequest | CritiqueRequest) -> str | None:
    """Why a cache record is not the answer to `request`: the request it was kept for
    (stored whole beside the answer) is another one, or it names none."""
    try:
        kept_for = type(request).from_dict(record["request"]).fingerprint()
    except (KeyError, TypeError, ValueError, AttributeError):
        return "it does not say which request it answers"
    if kept_for != request.fingerprint():
        return f"it was kept for request {kept_for}, not {request.fingerprint()} (edited?)"
    return None


def _limiter(request: ImageRequest | CritiqueRequest, config: Config) -> RateLimiter:
    """Images share openai.images_per_minute; critiques, a limit of their own
    (critique.requests_per_minute), so judging drafts never slows making them."""
    if isinstance(request, CritiqueRequest):
        per_minute = config.critique.requests_per_minute
        return RateLimiter(config.rate_path.with_name(".rate.critique.json"), per_minute)
    return RateLimiter(config.rate_path, config.openai.images_per_minute)


def _shown(path: os.PathLike[str], root: os.PathLike[str]) -> str:
    """A path as a user sees it: relative to the workflow directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _failure_outcome(exc: StillmakeError) -> str:
    if isinstance(exc, Stopped):
        return "stopped"
    if isinstance(exc, BudgetExceeded):
        return "over_budget"
    if isinstance(exc, BackendError) and exc.code == "moderation_blocked":
        return "moderation_blocked"
    return "failed"
