"""Review pass: a contact sheet of a shot's drafts with quality flags, and its JSON
(with the opt-in critique, a vision model's verdicts beside the flags)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.calls import RESULT
from stillmake.artifacts.picks import drafts_fingerprint, image_sha256
from stillmake.artifacts.provenance import read_sidecar
from stillmake.artifacts.quality import check_image, thresholds_for, worst_level
from stillmake.artifacts.sheets import contact_sheet
from stillmake.files import atomic_write_bytes, atomic_write_json
from stillmake.rubric import verdict_lines
from stillmake.stages.critique import critique_drafts

if TYPE_CHECKING:
    from stillmake.stages.job import Job


def review(
    shot: str, title: str, lighting: str | None, images: list, overrides: dict | None = None
) -> dict:
    """Metrics and flags for every draft of a shot, plus the fingerprint a pick binds to."""
    thresholds = thresholds_for(lighting or "default", overrides or None)
    drafts = []
    for k, path in enumerate(images, start=1):
        side = read_sidecar(path)
        # the pixels on disk (a whole image, or an error naming it and the command to
        # rebuild it): what the pick binds to, so the sheet labels them, retouched or not
        sha = image_sha256(path)
        checked = check_image(path, lighting=lighting, thresholds=thresholds)
        drafts.append(
            {
                "k": k,
                "path": str(path),
                "image_sha256": sha,
                "fingerprint": side["fingerprint"],
                "model": side["model"],
                "size": side["size"],
                "quality": side["quality"],
                "backend": side["backend"],
                "cost_usd": side["cost_usd"],
                "cache_hit": side["cache_hit"],
                "metrics": checked["metrics"],
                "flags": checked["flags"],
                "worst": checked["worst"],
            }
        )
    return {
        "shot": shot,
        "title": title,
        "lighting": lighting,
        "drafts_fingerprint": drafts_fingerprint([d["image_sha256"] for d in drafts]),
        "drafts": drafts,
        "worst": worst_level(d["worst"] for d in drafts),
    }


def run(job: Job) -> None:
    ctx = job.params["context"]
    images = [Path(p) for p in job.input["drafts"]]
    report = review(
        ctx["shot"], ctx.get("title", ""), ctx.get("lighting"), images, ctx.get("thresholds")
    )
    if ctx.get("critique"):
        critique_drafts(job, ctx["critique"], report["drafts"], images)
    sheet = contact_sheet(
        images,
        shot=ctx["shot"],
        title=ctx.get("title", ""),
        labels=[f"draft {d['k']} · {d['image_sha256'][:6]}" for d in report["drafts"]],
        flags=[d["flags"] for d in report["drafts"]],
        notes=[verdict_lines(d["critique"]) for d in report["drafts"]]
        if ctx.get("critique")
        else None,
    )
    atomic_write_json(job.output["json"], report)
    atomic_write_bytes(job.output["sheet"], sheet)
    job.logger.info(
        "%s review: drafts %s, worst flag %s",
        ctx["shot"],
        report["drafts_fingerprint"],
        report["worst"],
        extra=RESULT,
    )
