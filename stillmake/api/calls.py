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
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.backends.factory import make_backend
from stillmake.api.cache import Cache
from stillmake.api.ledger import PAID, Ledger
from stillmake.api.pricing import Estimator, bill, image_sizes, megapixels
from stillmake.api.ratelimit import RateLimiter
from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.api.retry import RetryPolicy, call_with_retries
from stillmake.errors import BackendError, CorruptFile, StillmakeError
from stillmake.files import locked
from stillmake.images import check_answer
from stillmake.inputs.guardrail import require_shortlist
from stillmake.rubric import check_verdicts

if TYPE_CHECKING:
    from stillmake.api.backends.base import BackendResponse
    from stillmake.inputs.config import Config

log = logging.getLogger("stillmake")
BUILD_ENV = "STILLMAKE_BUILD"  # set once per snakemake run: groups its ledger lines
RESULT = {"result": True}  # marks a log record as the job's one line on the console


@dataclass
class Obtained:
    images: list[bytes]
    record: dict  # the cached response record: usage, cost_usd, latency_s, attempts, created
    cached: bool


def now_iso() -> str:
    return datetime.now(UTC).isoformat(timespec="milliseconds")


def obtain(
    request: ImageRequest | CritiqueRequest,
    settings: Config,
    *,
    shot: str,
    pass_: str,
    label: dict,
    images: list[bytes] | None = None,
    mask: bytes | None = None,
    markup: bytes | None = None,
    shortlisted: bool = False,
    logger: logging.Logger = log,
) -> Obtained:
    if isinstance(request, ImageRequest):  # a critique's "quality" is its reasoning effort
        require_shortlist(request.quality, shortlisted=shortlisted, shot=shot, pass_=pass_)
    cache = Cache(settings.cache_dir)
    # held from the cache lookup to the cache store: a second asker waits, then hits
    with locked(cache.lock_path(request.fingerprint())):
        return _obtain(
            request,
            settings,
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
    settings: Config,
    cache: Cache,
    *,
    shot: str,
    pass_: str,
    label: dict,
    images: list[bytes] | None,
    mask: bytes | None,
    markup: bytes | None,
    logger: logging.Logger,
) -> Obtained:
    fingerprint = request.fingerprint()
    ledger = Ledger(settings.ledger_path, settings.budget_usd, lease_s=settings.storage.lease_s)
    input_sizes = image_sizes(images)
    line = {
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
    cached = _from_cache(cache, request, settings, shot=shot, pass_=pass_, logger=logger)
    if cached is not None:
        cached_images, record = cached
        ledger.append(
            {
                **line,
                "outcome": "cache_hit",
                "cost_usd": 0.0,
                "usage": record.get("usage"),
                "latency_s": 0.0,
                "attempts": 0,
            }
        )
        logger.info(
            "%s %s: cache hit %s (paid %s, $0.00 now)",
            shot,
            pass_,
            fingerprint,
            record.get("created"),
            extra=RESULT,
        )
        return Obtained(cached_images, record, cached=True)

    estimate = Estimator(ledger.entries()).estimate(request, input_sizes)
    line["estimate_usd"] = estimate.usd
    backend = make_backend(settings)
    policy = RetryPolicy(max_retries=settings.openai.max_retries)
    limiter = _limiter(request, settings)

    def call() -> BackendResponse:
        if request.endpoint == "generate":
            response = backend.generate(request, label)
        elif request.endpoint == "responses":
            response = backend.critique(request, images or [])
        else:
            response = backend.edit(request, images or [], mask, label, markup=markup)
        try:
            _check(response.images, response.text, request, decode=True)  # BadAnswer: retried
        except BackendError as exc:
            exc.usage = response.usage  # what the API says it spent on the bad answer
            raise
        return response

    def on_retry(attempt: int, wait: float, exc: BackendError) -> None:
        logger.warning(
            "%s %s: attempt %d failed (%s); retrying in %.1fs", shot, pass_, attempt, exc, wait
        )

    with ledger.reserve(
        estimate.usd,
        f"{shot} {pass_} ({request.n}× {request.model} {request.quality} {request.size})",
        request.backend,
    ) as settle:
        waited = limiter.acquire(request.n) if estimate.usd else 0.0
        start = time.monotonic()
        try:
            response, attempts, history = call_with_retries(call, policy, on_retry=on_retry)
        except BackendError as exc:
            settle(
                {
                    **line,
                    "outcome": _failure_outcome(exc),
                    "cost_usd": 0.0,
                    "usage": None,
                    "latency_s": round(time.monotonic() - start, 3),
                    "attempts": getattr(exc, "attempts", 1),
                    "retries": getattr(exc, "history", []),
                    "error": str(exc)[:500],
                }
            )
            raise
        latency = round(time.monotonic() - start, 3)
        cost = bill(request, response.usage)
        cost_source = "usage"
        if cost is None:  # a token-priced answer without usage: the estimate stands in
            cost, cost_source = estimate.usd, "estimate (no usage in the response)"
        out_mp = sum(megapixels(s) for s in image_sizes(response.images))
        record = {
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
        }
        if response.text is not None:  # a critique's answer: kept whole, checked on load
            record["text"] = response.text
        paid = {
            **line,
            "outcome": PAID,
            "cost_usd": cost,
            "cost_source": cost_source,
            "usage": response.usage,
            "output_megapixels": round(out_mp, 6),
            "latency_s": latency,
            "attempts": attempts,
            "retries": history,
            "rate_wait_s": round(waited, 3),
        }
        try:
            cache.store(fingerprint, response.images, record)
        except OSError as exc:  # paid for but not kept: the spend is still written down
            why = exc.strerror or str(exc)
            settle({**paid, "error": f"not kept in the cache: {why}"})
            raise StillmakeError(
                f"{shot} {pass_}: the answer (billed ${cost:.3f}, in the ledger) could not be "
                f"kept in {_shown(cache.root, settings.root)}/: {why}. Free the disk or fix "
                "the permissions, then run again (the request will be made, and paid, again)"
            ) from None
        settle(paid)
    logger.info(
        "%s %s: %d image(s) from %s in %.2fs, $%.3f (estimated $%.3f); this build so far $%.3f",
        shot,
        pass_,
        len(response.images),
        request.backend,
        latency,
        cost,
        estimate.usd,
        ledger.spent([e for e in ledger.entries() if e.get("build") == line["build"]]),
        extra=RESULT,
    )
    return Obtained(response.images, record, cached=False)


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
    settings: Config,
    *,
    shot: str,
    pass_: str,
    logger: logging.Logger,
) -> tuple[list[bytes], dict] | None:
    """The cached answer, or None. An entry that does not load whole, or whose images
    are not what the request asks for (kept by a version that did not check answers),
    is moved aside to .corrupt/ with a warning naming it, and counts as not cached."""
    fingerprint = request.fingerprint()
    if not cache.has(fingerprint):
        return None
    try:
        images, record = cache.load(fingerprint)
        _check(images, record.get("text"), request, decode=False)  # no pixel decode
        return images, record
    except (CorruptFile, BackendError) as exc:
        why = getattr(exc, "why", None) or str(exc)
    aside = cache.quarantine(fingerprint)
    logger.warning(
        "%s %s: cache entry %s is corrupt (%s); moved aside to %s and asked for again",
        shot,
        pass_,
        _shown(cache.entry(fingerprint), settings.root),
        why,
        _shown(aside, settings.root) if aside else "(already moved by another job)",
    )
    return None


def _limiter(request: ImageRequest | CritiqueRequest, settings: Config) -> RateLimiter:
    """Images share openai.images_per_minute; critiques, a limit of their own
    (critique.requests_per_minute), so judging drafts never slows making them."""
    if isinstance(request, CritiqueRequest):
        per_minute = settings.critique.requests_per_minute
        return RateLimiter(settings.rate_path.with_name(".rate.critique.json"), per_minute)
    return RateLimiter(settings.rate_path, settings.openai.images_per_minute)


def _shown(path: os.PathLike[str], root: os.PathLike[str]) -> str:
    """A path as a user sees it: relative to the workflow directory when inside it."""
    try:
        return str(Path(path).resolve().relative_to(Path(root).resolve()))
    except ValueError:
        return str(path)


def _failure_outcome(exc: BackendError) -> str:
    return "moderation_blocked" if exc.code == "moderation_blocked" else "failed"
