"""Final pass: n=1, high quality, one fixed size, for locked shots only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.calls import obtain
from stillmake.artifacts.provenance import raw_image, read_record, write_image
from stillmake.artifacts.records import image_record
from stillmake.stages.critique import critique_candidate

if TYPE_CHECKING:
    from stillmake.api.backends.base import Label
    from stillmake.artifacts.records import Provenance
    from stillmake.planner.jobs import FinalJob
    from stillmake.stages.job import Job


def run(job: Job[FinalJob]) -> None:
    final = job.planned
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
    candidate = read_record(job.input["candidate"])
    chain = candidate.get("chain") or [f"draft {candidate.get('k')}"]
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
        **critique_candidate(
            job, final.critique, obtained.images[0], request.size, "critique-final"
        ),
    }
    write_image(job.output["image"], obtained.images[0], record)
