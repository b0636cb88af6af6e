"""The opt-in vision critique of a shot's drafts, run by the review job after the pixel
metrics: one request per draft on the one call path (cache, budget, rate limit,
retries, ledger), so a draft already judged is judged again for $0.

A critique is a model's opinion: it never changes the pixel flags or the shot's
`worst`, and one that cannot be had (a refusal, a bad answer after retries, an HTTP
error, the budget) is recorded as "failed" with why, unless `critique.blocking` is
true: then it fails the review job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.backends.base import PREVIEW_IDENTITY
from stillmake.api.calls import obtain
from stillmake.artifacts.provenance import raw_image
from stillmake.errors import StillmakeError
from stillmake.files import sha256_bytes
from stillmake.rubric import check_verdicts, worst_verdict
from stillmake.stop import Stopped

if TYPE_CHECKING:
    from stillmake.planner.jobs import CritiqueSpec, ReviewJob
    from stillmake.stages.job import Job

NOT_ON_PREVIEW = "preview backend: a stand-in image gets no opinion"


def critique_drafts(
    job: Job[ReviewJob], spec: CritiqueSpec, drafts: list[dict], images: list[Path]
) -> None:
    """Add each draft's `critique` (status, verdicts, cost) to its review entry."""
    for draft, path in zip(drafts, images, strict=True):
        draft["critique"] = critique_one(job, spec, draft, path)


def critique_one(job: Job[ReviewJob], spec: CritiqueSpec, draft: dict, path: Path) -> dict:
    shot = job.planned.shot
    model = spec.model
    shown = {"model": model, "opinion": f"model's opinion ({model})"}
    if spec.backend == PREVIEW_IDENTITY:
        return {**shown, "status": "not run", "why": NOT_ON_PREVIEW}
    sent = [raw_image(path), *(raw_image(ref) for ref in job.found(spec.refs))]
    request = spec.request(size=draft["size"], inputs=(sha256_bytes(data) for data in sent))
    try:
        obtained = obtain(
            request,
            job.config,
            shot=shot,
            pass_=f"critique{draft['k']}",
            label={},
            images=sent,
            logger=job.logger,
        )
    except Stopped:
        raise  # the build is stopping: not a critique that failed, so nothing is recorded
    except StillmakeError as exc:
        if spec.blocking:
            raise StillmakeError(f"critique of draft {draft['k']} (blocking): {exc}") from None
        job.logger.warning("%s critique of draft %d failed: %s", shot, draft["k"], exc)
        return {**shown, "status": "failed", "why": str(exc)}
    verdicts = check_verdicts(obtained.record["text"])  # checked on the way in, whole here
    return {
        **shown,
        "status": "done",
        "verdicts": verdicts,
        "worst": worst_verdict(verdicts),
        "fingerprint": request.fingerprint(),
        "usage": obtained.record.get("usage"),
        "cost_usd": 0.0 if obtained.cached else obtained.record["cost_usd"],
        "cache_hit": obtained.cached,
    }
