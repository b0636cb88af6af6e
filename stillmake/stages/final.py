"""Final pass: n=1, high quality, one fixed size, for approved candidates only.

Before anything is sent, the job judges the candidate it was handed (its content and its
gate verdict, from its own record) against the lock and the waivers in its params
(planner/approval.decide): a lock that approved another image, a bare `lock: true` on a
paying backend, or a failing check nobody waived refuses with one line."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.calls import obtain
from stillmake.artifacts.picks import image_sha256
from stillmake.artifacts.provenance import raw_image, read_record, write_image
from stillmake.artifacts.records import image_record
from stillmake.errors import StillmakeError
from stillmake.planner.approval import Approval, Lock, chain_of, decide, read_note
from stillmake.stages.critique import critique_candidate

if TYPE_CHECKING:
    from stillmake.api.backends.base import Label
    from stillmake.artifacts.records import Provenance
    from stillmake.planner.jobs import FinalJob
    from stillmake.stages.job import Job


class NotApproved(StillmakeError):
    """The final's candidate is not approved (or the gate stops it): nothing was sent."""


def approve(job: Job[FinalJob], candidate: Provenance) -> Approval:
    """The verdict on the candidate this job renders; NotApproved unless it may be paid."""
    final = job.planned
    path = str(job.input["candidate"])
    lock = Lock(
        shot=final.shot,
        locked=final.locked,
        approved=final.approved,
        trust=final.trust,
        waive=final.waive,
        selections=job.config.selections,
    )
    shown = final.candidate  # as messages name it (not under a module's prefix)
    verdict = decide(
        lock,
        shown,
        image_sha256(path),
        candidate,
        note=read_note(job.config.root, final.shot),
        backend=job.config.backend,
    )
    if not verdict.wanted:
        raise NotApproved(verdict.why)
    return verdict


def run(job: Job[FinalJob]) -> None:
    final = job.planned
    candidate = read_record(job.input["candidate"])
    approval = approve(job, candidate)
    request = final.request
    images = []
    if request.endpoint == "edit":
        images = [raw_image(job.input["candidate"])] + [raw_image(p) for p in job.input["refs"]]
        request = request.bound(images)
    label: Label = {
        "shot": final.shot,
        "pass": "final",
        "lighting": final.lighting,
        "title": final.title,
    }
    obtained = obtain(
        request,
        job.config,
        shot=final.shot,
        pass_="final",
        label=label,
        images=images,
        shortlisted=final.pick is not None,
        logger=job.logger,
    )
    chain = chain_of(candidate)
    record: Provenance = {
        **image_record(
            request,
            obtained,
            shot=final.shot,
            pass_="final",
            negative=final.negative,
            lighting=final.lighting,
            k=1,
            png=obtained.images[0],
        ),
        "mode": final.mode,
        "candidate": str(job.input["candidate"]),
        "chain": chain + ["final"],
        "pick": final.pick,
        "title": final.title,
        # the candidate's edit steps that leaked outside their masks: the gate's too
        "chain_flags": candidate.get("chain_flags", []),
        "approval": {
            "state": approval.state,
            "candidate": approval.fingerprint,
            "by": "lock" if final.approved else approval.trust,
            "waived": approval.verdict.waived,
        },
        **critique_candidate(
            job, final.critique, obtained.images[0], request.size, "critique-final"
        ),
    }
    write_image(job.output["image"], obtained.images[0], record)
