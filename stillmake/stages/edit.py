"""Consistency pass: one images.edit per step, on the previous step's image."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image

from stillmake.api.calls import obtain
from stillmake.artifacts import identity
from stillmake.artifacts.provenance import raw_image, read_record, write_image
from stillmake.artifacts.quality import edit_leak, load_rgb
from stillmake.artifacts.records import image_record
from stillmake.artifacts.thresholds import thresholds_for
from stillmake.artifacts.weak import gate_image, weak_source
from stillmake.errors import GuardrailError
from stillmake.inputs.masks import composite_outside, editable_area

if TYPE_CHECKING:
    from stillmake.planner.jobs import EditJob
    from stillmake.stages.job import Job


def image_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        return im.size


def measure_leak(source: bytes, result: bytes, mask: bytes | None, feather_px: int) -> dict | None:
    if mask is None:
        return None
    src, out = load_rgb(io.BytesIO(source)), load_rgb(io.BytesIO(result))
    if src.shape != out.shape:
        return None
    return edit_leak(src, out, editable_area(mask), feather_px=feather_px)


def gate_source(job: Job[EditJob]) -> dict:
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


def drift(job: Job[EditJob], result: bytes, source: dict, backend: str) -> dict:
    """Did the edit drift the face? The result's identity beside its source's distances."""
    edit = job.planned
    thresholds = thresholds_for(edit.lighting, edit.thresholds)
    judged = identity.judge(
        load_rgb(io.BytesIO(result)),
        job.references(edit.characters),
        thresholds,
        backend=backend,
    )
    before = source["identity"]["characters"]
    return {
        **identity.to_json(judged),
        "flags": identity.flags_json(judged),
        "source_distance": {name: c["distance"] for name, c in before.items()},
    }


def run(job: Job[EditJob]) -> None:
    edit = job.planned
    gated = gate_source(job)
    source = raw_image(job.input["source"])
    refs = [raw_image(p) for p in job.input["refs"]]
    size = image_size(source)
    mask = edit.mask_png(size, job.input.get("mask"))
    markup = edit.markup_png(size, job.input.get("markup"))
    request = edit.request.bound([source, *refs], mask, markup)
    label = {
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
    source_side = read_record(job.input["source"])
    record = {
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
        "identity": drift(job, result, gated, request.backend),
    }
    write_image(job.output["image"], result, record)
    job.logger.info(
        "%s step %d: %s%s",
        edit.shot,
        edit.step,
        edit.change,
        f" (leak mean {leak['leak_mean']:.2f})" if leak else "",
    )
