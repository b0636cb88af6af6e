"""Final pass: n=1, high quality, one fixed size, for locked shots only."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.calls import obtain
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.provenance import raw_image, read_sidecar, write_image
from stillmake.artifacts.records import image_record
from stillmake.files import sha256_bytes
from stillmake.stages.critique import critique_candidate

if TYPE_CHECKING:
    from stillmake.stages.job import Job


def run(job: Job) -> None:
    spec = job.params["spec"]
    context = job.params["context"]
    shot = job.shot
    request = ImageRequest.from_dict(job.params["request"])
    images = []
    if request.endpoint == "edit":
        images = [raw_image(job.input["candidate"])] + [
            raw_image(p) for p in job.input.get("refs", [])
        ]
        request = request.with_inputs([sha256_bytes(i) for i in images])
    label = {
        "shot": shot,
        "pass": "final",
        "lighting": context.get("lighting"),
        "title": spec.get("title"),
    }
    obtained = obtain(
        request,
        job.settings,
        shot=shot,
        pass_="final",
        label=label,
        images=images,
        shortlisted=spec.get("pick") is not None,
        logger=job.logger,
    )
    candidate = read_sidecar(job.input["candidate"])
    chain = candidate.get("chain") or [f"draft {candidate.get('k')}"]
    record = {
        **image_record(request, obtained, context, k=1, png=obtained.images[0]),
        "mode": spec["mode"],
        "candidate": str(job.input["candidate"]),
        "chain": chain + ["final"],
        "pick": spec["pick"],
        "title": spec.get("title", ""),
        # the candidate's edit steps that leaked outside their masks: the gate's too
        "chain_flags": candidate.get("chain_flags", []),
        **critique_candidate(
            job, spec.get("critique"), obtained.images[0], request.size, "critique-final"
        ),
    }
    write_image(job.output["image"], obtained.images[0], record)
