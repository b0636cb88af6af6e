"""The opt-in vision critique of a shot's images: its drafts (run by the review job),
each edit step's result (a candidate, run by its edit job) and its final (run by the
final job), after the pixel metrics: one request per image on the one call path (cache,
budget, rate limit, retries, ledger), so an image already judged is judged again for $0.

The verdicts become flags (stillmake.rubric.critique_flags: warn level, fail only for
the criteria `critique.fail_on` names). A critique that cannot be had (a refusal, a bad
answer after retries, an HTTP error, the budget) is recorded as "failed" with why and
flags nothing, unless `critique.blocking` is true: then it fails the job.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from stillmake.api.backends.base import PREVIEW_IDENTITY
from stillmake.api.calls import obtain
from stillmake.artifacts.provenance import raw_image
from stillmake.artifacts.quality import worst
from stillmake.errors import StillmakeError
from stillmake.files import sha256_bytes
from stillmake.rubric import Critique, check_verdicts, critique_flags, worst_verdict
from stillmake.stop import Stopped

if TYPE_CHECKING:
    from stillmake.artifacts.quality import FlagJson
    from stillmake.planner.jobs import CritiqueSpec, ReviewJob
    from stillmake.stages.job import Job
    from stillmake.stages.review import DraftReview

NOT_ON_PREVIEW = "preview backend: a stand-in image gets no opinion"


class Judgement(TypedDict, total=False):
    """An edit step's result or a final judged (`critique_candidate`): the critique and
    its flags; empty when the critique is off."""

    critique: Critique
    flags: list[FlagJson]


def critique_drafts(
    job: Job[ReviewJob], spec: CritiqueSpec, drafts: list[DraftReview], images: list[Path]
) -> None:
    """Add each draft's `critique` (status, verdicts, cost) to its review entry, and its
    verdicts to the draft's flags."""
    for draft, path in zip(drafts, images, strict=True):
        draft["critique"] = critique_one(job, spec, path, draft["size"], f"critique{draft['k']}")
        draft["flags"] = draft["flags"] + critique_flags(draft["critique"], spec.fail_on)
        draft["worst"] = worst(draft["flags"])


def critique_one(
    job: Job[Any], spec: CritiqueSpec, image: str | Path | bytes, size: str, pass_: str
) -> Critique:
    """A vision model's verdicts on one image (a file, or the PNG bytes about to be one;
    `pass_` names it in the ledger and plan: critique1..n for drafts, critique-edit1..
    for edit steps, critique-final)."""
    shot = job.shot
    assert shot is not None  # a critique is of a shot's image: review, edit and final jobs
    model = spec.model
    opinion = f"model's opinion ({model})"
    if spec.backend == PREVIEW_IDENTITY:
        return Critique(model=model, opinion=opinion, status="not run", why=NOT_ON_PREVIEW)
    data = image if isinstance(image, bytes) else raw_image(image)
    sent = [data, *(raw_image(ref) for ref in job.found(spec.refs))]
    request = spec.request(size=size, inputs=(sha256_bytes(data) for data in sent))
    try:
        obtained = obtain(
            request,
            job.config,
            shot=shot,
            pass_=pass_,
            label={},
            images=sent,
            logger=job.logger,
        )
    except Stopped:
        raise  # the build is stopping: not a critique that failed, so nothing is recorded
    except StillmakeError as exc:
        if spec.blocking:
            raise StillmakeError(f"{_what(pass_)} (blocking): {exc}") from None
        job.logger.warning("%s %s failed: %s", shot, _what(pass_), exc)
        return Critique(model=model, opinion=opinion, status="failed", why=str(exc))
    verdicts = check_verdicts(obtained.record["text"])  # checked on the way in, whole here
    return Critique(
        model=model,
        opinion=opinion,
        status="done",
        verdicts=verdicts,
        worst=worst_verdict(verdicts),
        fingerprint=request.fingerprint(),
        usage=obtained.record.get("usage"),
        cost_usd=0.0 if obtained.cached else obtained.record["cost_usd"],
        cache_hit=obtained.cached,
    )


def _what(pass_: str) -> str:
    """critique2 -> "critique of draft 2"; critique-edit1 -> "critique of edit step 1"."""
    if pass_ == "critique-final":
        return "critique of the final"
    if pass_.startswith("critique-edit"):
        return f"critique of edit step {pass_.removeprefix('critique-edit')}"
    return f"critique of draft {pass_.removeprefix('critique')}"


def critique_candidate(
    job: Job[Any], spec: CritiqueSpec | None, image: bytes, size: str, pass_: str
) -> Judgement:
    """The critique of an edit step's result or a final, and its flags: {"critique",
    "flags"} ({} when the critique is off)."""
    if not spec:
        return {}
    critique = critique_one(job, spec, image, size, pass_)
    return Judgement(critique=critique, flags=critique_flags(critique, spec.fail_on))
