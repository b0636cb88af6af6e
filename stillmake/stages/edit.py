"""Consistency pass: one images.edit per step, on the previous step's image."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image

from stillmake.api.calls import obtain
from stillmake.artifacts.gate import Gated, gate_image
from stillmake.artifacts.identity import EditIdentity
from stillmake.artifacts.provenance import raw_image, read_record, write_image
from stillmake.artifacts.quality import (
    FlagJson,
    Metrics,
    edit_leak,
    evaluate,
    flags_to_json,
    load_rgb,
    worst,
)
from stillmake.artifacts.records import Provenance, image_record
from stillmake.artifacts.thresholds import thresholds_for
from stillmake.artifacts.weak import weak_source
from stillmake.errors import GuardrailError
from stillmake.inputs.masks import composite_outside, editable_area
from stillmake.stages.critique import critique_candidate

if TYPE_CHECKING:
    from stillmake.api.backends.base import Label
    from stillmake.planner.jobs import EditJob
    from stillmake.stages.job import Job


def image_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        return im.size


def measure_leak(
    source: bytes, result: bytes, mask: bytes | None, feather_px: int
) -> Metrics | None:
    if mask is None:
        return None
    src, out = load_rgb(io.BytesIO(source)), load_rgb(io.BytesIO(result))
    if src.shape != out.shape:
        return None
    return edit_leak(src, out, editable_area(mask), feather_px=feather_px)


def gate_source(job: Job[EditJob]) -> Gated:
    """The gate on the step's source, before it is paid for: the seed's "avoid repeated
    high-fidelity edits on weak candidates". A warning, or with edit.refuse_weak a refusal."""
    edit, path = job.planned, str(job.input["source"])
    gated = gate_image(
        path,
        edit.lighting,
        edit.thresholds,
        job.references(edit.characters),
        read_record(path).get("backend"),
    )
    why = weak_source(edit.shot, edit.step, path, gated)
    if why and edit.refuse_weak:
        raise GuardrailError(
            f"{why}, and edit.refuse_weak is on. Re-pick (`stillmake pick {edit.shot} K`, see "
            f"runs/review/{edit.shot}.png), reroll, or set edit.refuse_weak: false to edit it "
            "anyway"
        )
    if why:
        job.logger.warning("%s (edit.refuse_weak: true refuses it)", why)
    return gated


def drift(job: Job[EditJob], result: bytes, source: Gated, backend: str) -> EditIdentity:
    """Did the edit drift the face? The result's identity beside its source's distances."""
    return identity_record(judge_result(job, result, backend), source)


def identity_record(gated: Gated, source: Gated) -> EditIdentity:
    before = source["identity"]["characters"]
    return {
        **gated["identity"],
        "flags": [f for f in gated["flags"] if f["metric"] == "identity"],
        "source_distance": {name: c["distance"] for name, c in before.items()},
    }


def judge_result(job: Job[EditJob], result: bytes, backend: str) -> Gated:
    """The whole gate on the step's result: pixels and faces, as on any image."""
    edit = job.planned
    return gate_image(
        load_rgb(io.BytesIO(result)),
        edit.lighting,
        edit.thresholds,
        job.references(edit.characters),
        backend,
    )


def leak_flags(job: Job[EditJob], leak: Metrics | None) -> list[FlagJson]:
    """The change outside the mask judged (leak_mean, changed_fraction_outside), each flag
    naming the step: the seed's "one change per step", measured."""
    if leak is None:
        return []
    edit = job.planned
    judged = evaluate(leak, edit.lighting, thresholds_for(edit.lighting, edit.thresholds))
    return [
        {**f, "message": f"edit step {edit.step}: {f['message']}"} for f in flags_to_json(judged)
    ]


def chain_flags(source_side: Provenance, flags: list[FlagJson]) -> list[FlagJson]:
    """What the candidate carries to its final's gate: every step's leak that is not a
    pass, from step 1 to this one."""
    return list(source_side.get("chain_flags", [])) + [f for f in flags if f["level"] != "pass"]


def run(job: Job[EditJob]) -> None:
    edit = job.planned
    gated = gate_source(job)
    source = raw_image(job.input["source"])
    refs = [raw_image(p) for p in job.input["refs"]]
    size = image_size(source)
    mask = edit.mask_png(size, job.input.get("mask"))
    markup = edit.markup_png(size, job.input.get("markup"))
    request = edit.request.bound([source, *refs], mask, markup)
    label: Label = {
        "shot": edit.shot,
        "pass": "edit",
        "step": edit.step,
        "change": edit.change,
        "lighting": edit.lighting,
    }
    obtained = obtain(
        request,
        job.config,
        shot=edit.shot,
        pass_=f"edit{edit.step}",
        label=label,
        images=[source, *refs],
        mask=mask,
        markup=markup,
        shortlisted=True,
        logger=job.logger,
    )
    result = obtained.images[0]
    if edit.protect_unmasked and mask is not None:
        result = composite_outside(source, result, mask, feather_px=edit.feather_px)
    leak = measure_leak(source, result, mask, edit.feather_px)
    leaked = leak_flags(job, leak)
    gated_result = judge_result(job, result, request.backend)
    source_side = read_record(job.input["source"])
    record: Provenance = {
        **image_record(
            request,
            obtained,
            shot=edit.shot,
            pass_="edit",
            negative=edit.negative,
            lighting=edit.lighting,
            k=1,
            png=result,
        ),
        "step": edit.step,
        "change": edit.change,
        "keep": edit.keep,
        "region": edit.region,
        "mask_file": edit.mask,
        "markup_file": edit.markup,
        "refs": list(job.input["refs"]),
        "source": str(job.input["source"]),
        "chain": source_side.get("chain", [f"draft {source_side.get('k')}"])
        + [f"step {edit.step}"],
        "protect_unmasked": bool(edit.protect_unmasked and mask is not None),
        "edit_leak": leak,
        "identity": identity_record(gated_result, gated),
        "metrics": gated_result["metrics"],
        "faces": gated_result["faces"],
        "chain_flags": chain_flags(source_side, leaked),
    }
    record["flags"] = leaked + gated_result["flags"]
    judged = critique_candidate(
        job, edit.critique, result, request.size, f"critique-edit{edit.step}"
    )
    if judged:
        record["critique"] = judged["critique"]
        record["flags"] += judged["flags"]
    record["worst"] = worst(record["flags"])
    write_image(job.output["image"], result, record)
    for f in leaked:
        if f["level"] != "pass":
            job.logger.warning("%s %s", edit.shot, f["message"])
    job.logger.info(
        "%s step %d: %s%s",
        edit.shot,
        edit.step,
        edit.change,
        f" (leak mean {leak['leak_mean']:.2f})" if leak else "",
    )
