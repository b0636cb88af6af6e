"""Draft pass: one images.generate call per shot (n drafts), one file per draft."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.calls import obtain
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.provenance import write_image
from stillmake.artifacts.records import image_record

if TYPE_CHECKING:
    from stillmake.stages.job import Job


def run(job: Job) -> None:
    request = ImageRequest.from_dict(job.params["request"])
    context = job.params["context"]
    label = {"shot": job.shot, "pass": "draft", "lighting": context.get("lighting")}
    obtained = obtain(
        request, job.settings, shot=job.shot, pass_="draft", label=label, logger=job.logger
    )
    job.logger.info("prompt: %s", request.prompt)
    job.logger.info("negative: %s", context.get("negative", ""))
    for k, (png, path) in enumerate(
        zip(obtained.images, job.output["images"], strict=True), start=1
    ):
        write_image(path, png, image_record(request, obtained, context, k=k, png=png))
