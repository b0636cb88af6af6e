"""Draft pass: one images.generate call per shot (n drafts), one file per draft."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.calls import obtain
from stillmake.artifacts.provenance import write_image
from stillmake.artifacts.records import image_record

if TYPE_CHECKING:
    from stillmake.api.backends.base import Label
    from stillmake.planner.jobs import DraftJob
    from stillmake.stages.job import Job


def run(job: Job[DraftJob]) -> None:
    draft = job.planned
    request = draft.request
    label: Label = {"shot": draft.shot, "pass": "draft", "lighting": draft.lighting}
    obtained = obtain(
        request, job.config, shot=draft.shot, pass_="draft", label=label, logger=job.logger
    )
    job.logger.info("prompt: %s", request.prompt)
    job.logger.info("negative: %s", draft.negative)
    for k, (png, path) in enumerate(
        zip(obtained.images, job.output["images"], strict=True), start=1
    ):
        record = image_record(
            request,
            obtained,
            shot=draft.shot,
            pass_="draft",
            negative=draft.negative,
            lighting=draft.lighting,
            k=k,
            png=png,
        )
        write_image(path, png, record)
