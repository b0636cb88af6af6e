"""Review pass: a contact sheet of a shot's drafts with quality flags, and its JSON
(with the opt-in critique, a vision model's verdicts beside the flags)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.calls import RESULT
from stillmake.artifacts.picks import drafts_fingerprint, image_sha256
from stillmake.artifacts.provenance import read_record
from stillmake.artifacts.quality import worst_level
from stillmake.artifacts.sheets import contact_sheet
from stillmake.artifacts.weak import gate_image, weak_pick
from stillmake.files import atomic_write_bytes, atomic_write_json
from stillmake.rubric import verdict_lines
from stillmake.stages.critique import critique_drafts

if TYPE_CHECKING:
    from stillmake.planner.jobs import ReviewJob
    from stillmake.stages.job import Job


def review(
    shot: str,
    title: str,
    lighting: str | None,
    images: list,
    overrides: dict | None = None,
    characters: dict[str, list[str]] | None = None,
    pick: int | None = None,
) -> dict:
    """Metrics, identity and flags for every draft of a shot, the fingerprint a pick
    binds to, and whether the pick is a weak candidate."""
    drafts = []
    for k, path in enumerate(images, start=1):
        side = read_record(path)
        # the pixels on disk (a whole image, or an error naming it and the command to
        # rebuild it): what the pick binds to, so the sheet labels them, retouched or not
        sha = image_sha256(path)
        checked = gate_image(path, lighting, overrides, characters or {}, side["backend"])
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
                "identity": checked["identity"],
                "flags": checked["flags"],
                "worst": checked["worst"],
            }
        )
    report = {
        "shot": shot,
        "title": title,
        "lighting": lighting,
        "drafts_fingerprint": drafts_fingerprint([d["image_sha256"] for d in drafts]),
        "drafts": drafts,
        "worst": worst_level(d["worst"] for d in drafts),
        "pick": pick,
    }
    report["weak_pick"] = weak_pick(report, pick)
    return report


def sheet_lines(report: dict) -> list[list[dict]]:
    """Each draft's lines under its thumbnail: its flags, identity not measured (and why),
    and on the picked draft whether it is weak."""
    out = []
    for d in report["drafts"]:
        lines = list(d["flags"])
        ident = d.get("identity") or {}
        said = any(f["metric"] == "identity" for f in lines)
        if not said and not ident.get("measured") and ident.get("note", "").startswith("identity"):
            lines.append({"level": "note", "message": ident["note"]})
        if d["k"] == report.get("pick"):
            weak = report.get("weak_pick")
            lines.insert(0, {"level": "fail" if weak else "note", "message": weak or "picked"})
        out.append(lines)
    return out


def run(job: Job[ReviewJob]) -> None:
    asked = job.planned
    images = [Path(p) for p in job.input["drafts"]]
    report = review(
        asked.shot,
        asked.title,
        asked.lighting,
        images,
        asked.thresholds,
        job.references(asked.characters),
        asked.pick,
    )
    if asked.critique:
        critique_drafts(job, asked.critique, report["drafts"], images)
    sheet = contact_sheet(
        images,
        shot=asked.shot,
        title=asked.title,
        labels=[f"draft {d['k']} · {d['image_sha256'][:6]}" for d in report["drafts"]],
        flags=sheet_lines(report),
        notes=[verdict_lines(d["critique"]) for d in report["drafts"]] if asked.critique else None,
    )
    atomic_write_json(job.output["json"], report)
    atomic_write_bytes(job.output["sheet"], sheet)
    job.logger.info(
        "%s review: drafts %s, worst flag %s",
        asked.shot,
        report["drafts_fingerprint"],
        report["worst"],
        extra=RESULT,
    )
    if report["weak_pick"]:
        job.logger.warning("%s: %s", asked.shot, report["weak_pick"])
