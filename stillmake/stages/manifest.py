"""The seed's final log: one row per locked shot, as CSV and JSON."""

from __future__ import annotations

import csv
import io
from collections import defaultdict
from typing import TYPE_CHECKING

import numpy as np
from PIL import Image

from stillmake.api.calls import RESULT
from stillmake.artifacts.gate import ShotGate, gate_image
from stillmake.artifacts.identity import across_shots
from stillmake.artifacts.provenance import raw_image, read_record
from stillmake.artifacts.quality import (
    consistency_flags,
    flags_to_json,
    worst,
    worst_level,
)
from stillmake.artifacts.thresholds import thresholds_for
from stillmake.errors import StillmakeError
from stillmake.files import atomic_write_json, atomic_write_text

if TYPE_CHECKING:
    from stillmake.planner.jobs import ManifestJob
    from stillmake.stages.job import Job

COLUMNS = [
    "shot",
    "title",
    "prompt",
    "negative",
    "model",
    "size",
    "quality",
    "n",
    "mode",
    "source_chain",
    "fingerprint",
    "cost_usd",
    "gate",
    "approval",
    "waived",
    "image_sha256",
    "backend",
    "created",
]


ONE_LINE = ("prompt", "negative", "title")  # free text a person may have broken over lines


def one_line(text: object) -> object:
    """A cell on one physical line, so the CSV opens in a spreadsheet as a table: line
    breaks written as \\n (and a backslash as \\\\); manifest.json keeps the text as is."""
    if not isinstance(text, str):
        return text
    flat = text.replace("\\", "\\\\").replace("\r\n", "\n").replace("\r", "\n")
    return flat.replace("\n", "\\n")


def csv_row(entry: dict) -> dict:
    return {k: one_line(v) if k in ONE_LINE else v for k, v in entry.items()}


def rows(finals: list) -> list[dict]:
    out = []
    for path in finals:
        s = read_record(path)
        raw_image(path)  # a whole image, or an error naming it and the command to rebuild it
        with Image.open(path) as im:
            pixels = f"{im.width}x{im.height}"
        out.append(
            {
                "shot": s["shot"],
                "title": s.get("title", ""),
                "prompt": s["prompt"],
                "negative": s["negative"],
                "model": s["model"],
                "size": s["size"],
                "quality": s["quality"],
                "n": s["n"],
                "mode": s["mode"],
                "source_chain": " -> ".join(s["chain"]),
                "fingerprint": s["fingerprint"],
                "cost_usd": s["request_cost_usd"],
                "image_sha256": s["image_sha256"],
                "backend": s["backend"],
                "created": s["created"],
                **approval_columns(s.get("approval") or {}),
                "path": str(path),
                "pixels": pixels,
                "lighting": s.get("lighting"),
                # judged before: the candidate's leaks, the final's critique
                "judged": s.get("chain_flags", []) + s.get("flags", []),
            }
        )
    return out


def approval_columns(approval: object) -> dict:
    """What let the final be paid: the candidate the lock approved (or what stood in for
    a lock), and each failing check the art director waived, with why."""
    if not isinstance(approval, dict):
        approval = {}
    by = approval.get("by")
    waived = approval.get("waived") or {}
    return {
        "approval": f"lock {approval.get('candidate')}" if by == "lock" else (by or ""),
        "waived": "; ".join(f"{check}: {why}" for check, why in waived.items()),
    }


def gate(
    entries: list[dict], overrides: dict | None = None, characters: dict | None = None
) -> dict:
    """Per-final quality flags (pixels and identity), colour-temperature consistency per
    lighting tag, and each character's identity across the finals it appears in."""
    shots: dict[str, ShotGate] = {}
    groups: defaultdict[str | None, dict[str, dict[str, float]]] = defaultdict(dict)
    faces: dict[str, dict[str, np.ndarray]] = {}
    for e in entries:
        lighting = e.get("lighting")
        cast = (characters or {}).get(e["shot"]) or {}
        checked = gate_image(e["path"], lighting, overrides, cast, e.get("backend"))
        faces[e["shot"]] = checked.pop("descriptors")
        checked["flags"] += e.get("judged", [])
        shots[e["shot"]] = {"lighting": lighting, **checked}
        groups[lighting][e["shot"]] = checked["metrics"]
    consistency = {}
    for lighting, group in groups.items():
        flags = flags_to_json(
            consistency_flags(group, lighting, thresholds_for(lighting, overrides))
        )
        consistency[lighting or "untagged"] = flags
        for shot in group:
            shots[shot]["flags"] += flags
    across = across_shots(faces, thresholds_for(None, overrides))
    for entry in across.values():
        # the outlier carries the disagreement; with two finals, both do
        for shot in [entry["outlier"]] if entry["outlier"] else entry["shots"]:
            shots[shot]["flags"] += entry["flags"]
    for judged in shots.values():
        judged["worst"] = worst(judged["flags"])
    sizes = sorted({e["pixels"] for e in entries})
    return {
        "sizes": sizes,
        "one_size": len(sizes) <= 1,
        "shots": shots,
        "consistency": consistency,
        "identity": across,
        "worst": worst_level(s["worst"] for s in shots.values()),
    }


def check_sizes(entries: list[dict], size: str) -> None:
    wrong = [f"{e['shot']} ({e['pixels']})" for e in entries if e["pixels"] != size]
    if wrong:
        raise StillmakeError(f"finals must all be {size}; these are not: {', '.join(wrong)}")


def run(job: Job[ManifestJob]) -> None:
    manifest = job.planned
    entries = rows(job.input["finals"])
    check_sizes(entries, manifest.size)
    characters = {shot: job.references(cast) for shot, cast in manifest.characters.items()}
    report = gate(entries, manifest.thresholds, characters)
    for e in entries:
        e["gate"] = report["shots"][e["shot"]]["worst"]
        del e["judged"]  # in gate.json, with the final's other flags
    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=COLUMNS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(csv_row(e) for e in entries)
    atomic_write_json(job.output["gate"], report)
    atomic_write_json(job.output["json"], {"size": manifest.size, "finals": entries})
    atomic_write_text(job.output["csv"], buf.getvalue())
    job.logger.info(
        "manifest: %d finals, %s, gate %s",
        len(entries),
        manifest.size,
        report["worst"],
        extra=RESULT,
    )
