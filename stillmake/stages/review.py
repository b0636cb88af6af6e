"""Review pass: a contact sheet of a shot's drafts with quality flags and what each
measure read (identity, skin, wardrobe, highlights), the pick and the rejects, and its
JSON (with the opt-in critique, a vision model's verdicts among the flags)."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, NotRequired, TypedDict

from stillmake.api.calls import RESULT
from stillmake.artifacts.gate import FaceReadings, gate_image
from stillmake.artifacts.identity import IdentityRecord
from stillmake.artifacts.picks import drafts_fingerprint, image_sha256
from stillmake.artifacts.provenance import read_record
from stillmake.artifacts.quality import FlagJson, Metrics, worst_level
from stillmake.artifacts.sheets import Line, contact_sheet
from stillmake.artifacts.thresholds import QualityOverrides
from stillmake.artifacts.weak import weak_pick
from stillmake.files import atomic_write_bytes, atomic_write_json
from stillmake.rubric import Critique, verdict_lines
from stillmake.stages.critique import critique_drafts

if TYPE_CHECKING:
    from stillmake.planner.jobs import ReviewJob
    from stillmake.stages.job import Job


class DraftReview(TypedDict):
    """One draft in its shot's review: what it is (from its record), its pixels' digest,
    and what the gate (and the opt-in critique) made of it."""

    k: int
    path: str
    image_sha256: str  # the pixels on disk: what a pick binds to
    fingerprint: str  # its request's
    model: str
    size: str
    quality: str
    backend: str
    cost_usd: float
    cache_hit: bool
    metrics: Metrics
    identity: IdentityRecord
    faces: FaceReadings
    flags: list[FlagJson]
    worst: str
    critique: NotRequired[Critique]  # with the critique enabled


class ReviewReport(TypedDict):
    """runs/review/<shot>.json: read by `stillmake status`, `plan` and the board."""

    shot: str
    title: str
    lighting: str | None
    drafts_fingerprint: str
    drafts: list[DraftReview]
    worst: str
    pick: int | None
    reject: dict[str, str]  # draft number (as text) -> why
    weak_pick: str | None  # why the pick fails the gate; None when it does not (or no pick)


def review(
    shot: str,
    title: str,
    lighting: str | None,
    images: Sequence[str | os.PathLike[str]],
    overrides: QualityOverrides | None = None,
    characters: Mapping[str, list[str]] | None = None,
    pick: int | None = None,
    reject: Mapping[str, str] | None = None,
) -> ReviewReport:
    """Metrics, identity and flags for every draft of a shot, the fingerprint a pick
    binds to, and whether the pick is a weak candidate."""
    drafts: list[DraftReview] = []
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
                "faces": checked["faces"],
                "flags": checked["flags"],
                "worst": checked["worst"],
            }
        )
    report = ReviewReport(
        shot=shot,
        title=title,
        lighting=lighting,
        drafts_fingerprint=drafts_fingerprint([d["image_sha256"] for d in drafts]),
        drafts=drafts,
        worst=worst_level(d["worst"] for d in drafts),
        pick=pick,
        reject=dict(reject or {}),
        weak_pick=None,
    )
    report["weak_pick"] = weak_pick(report, pick)
    return report


def judged_again(report: ReviewReport) -> None:
    """After flags were added to the drafts (a critique's): the shot's worst and whether
    the pick is weak, as they now stand."""
    report["worst"] = worst_level(d["worst"] for d in report["drafts"])
    report["weak_pick"] = weak_pick(report, report["pick"])


def sheet_lines(report: ReviewReport) -> list[list[Line]]:
    """Each draft's lines under its thumbnail: the pick (and whether it is weak) or the
    reject and why, its flags but the critique's (printed under its own heading),
    identity not measured (and why)."""
    out = []
    rejects = report["reject"]
    for d in report["drafts"]:
        flags = [f for f in d["flags"] if not f["metric"].startswith("critique:")]
        said = any(f["metric"] == "identity" for f in flags)
        lines: list[Line] = list(flags)
        note = d["identity"]["note"]
        if not said and note.startswith("identity"):
            lines.append({"level": "note", "message": note})
        if d["k"] == report.get("pick"):
            weak = report.get("weak_pick")
            lines.insert(0, {"level": "fail" if weak else "note", "message": weak or "picked"})
        elif str(d["k"]) in rejects:
            lines.insert(0, {"level": "note", "message": f"rejected: {rejects[str(d['k'])]}"})
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
        asked.rejects,
    )
    critique = asked.critique
    if critique:
        critique_drafts(job, critique, report["drafts"], images)
        judged_again(report)
    sheet = contact_sheet(
        images,
        shot=asked.shot,
        # the fingerprint a pick typed by hand may carry (`drafts:`), as `stillmake pick` writes it
        title=f"{asked.title} · drafts {report['drafts_fingerprint']}",
        labels=[f"draft {d['k']} · {d['image_sha256'][:6]}" for d in report["drafts"]],
        flags=sheet_lines(report),
        notes=[verdict_lines(d["critique"], critique.fail_on) for d in report["drafts"]]
        if critique
        else None,
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
