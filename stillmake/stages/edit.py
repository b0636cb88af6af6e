"""Consistency pass: one images.edit per step, on the previous step's image."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING

from PIL import Image

from stillmake.api.calls import obtain
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.gate import gate_image
from stillmake.artifacts.provenance import raw_image, read_sidecar, write_image
from stillmake.artifacts.quality import (
    edit_leak,
    evaluate,
    flags_to_json,
    load_rgb,
    thresholds_for,
    worst,
)
from stillmake.artifacts.records import image_record
from stillmake.artifacts.weak import weak_source
from stillmake.errors import GuardrailError
from stillmake.files import sha256_bytes
from stillmake.inputs.masks import (
    composite_outside,
    editable_area,
    load_markup,
    load_mask,
    region_mask,
)
from stillmake.stages.critique import critique_candidate

if TYPE_CHECKING:
    from stillmake.stages.job import Job


def image_size(png: bytes) -> tuple[int, int]:
    with Image.open(io.BytesIO(png)) as im:
        return im.size


def build_mask(
    step: dict, size: tuple[int, int], shot: str, mask_file: str | None = None
) -> bytes | None:
    """Region box or hand-made mask -> RGBA PNG at the source's size (alpha 0 = editable).
    The mask is read from `mask_file`, the job's declared input (where a storage plugin
    or a module prefix put it); errors name the path as selections.yaml gives it."""
    key = f"edits[{step['step']}]"
    if step.get("region"):
        return region_mask(step["region"], size)
    if step.get("mask"):
        return load_mask(
            mask_file or step["mask"], size, file=step["mask"], shot=shot, key=f"{key}.mask"
        )
    return None


def measure_leak(source: bytes, result: bytes, mask: bytes | None, feather_px: int) -> dict | None:
    if mask is None:
        return None
    src, out = load_rgb(io.BytesIO(source)), load_rgb(io.BytesIO(result))
    if src.shape != out.shape:
        return None
    return edit_leak(src, out, editable_area(mask), feather_px=feather_px)


def gate_source(job: Job) -> dict:
    """The gate on the step's source, before it is paid for: the seed's "avoid repeated
    high-fidelity edits on weak candidates". A warning, or with edit.refuse_weak a refusal."""
    step, shot, path = job.params["step"], job.shot, str(job.input["source"])
    gated = gate_image(
        path,
        job.params["context"].get("lighting"),
        step.get("thresholds"),
        job.references(step.get("characters")),
        read_sidecar(path).get("backend"),
    )
    why = weak_source(shot, step["step"], path, gated)
    if why and step.get("refuse_weak"):
        raise GuardrailError(
            f"{why}, and edit.refuse_weak is on. Re-pick (`stillmake pick {shot} K`, see "
            f"runs/review/{shot}.png), reroll, or set edit.refuse_weak: false to edit it anyway"
        )
    if why:
        job.logger.warning("%s (edit.refuse_weak: true refuses it)", why)
    return gated


def drift(job: Job, result: bytes, source: dict, backend: str) -> dict:
    """Did the edit drift the face? The result's identity beside its source's distances."""
    gated = judge_result(job, result, backend)
    return identity_record(gated, source)


def identity_record(gated: dict, source: dict) -> dict:
    before = source["identity"]["characters"]
    return {
        **gated["identity"],
        "flags": [f for f in gated["flags"] if f["metric"] == "identity"],
        "source_distance": {name: c["distance"] for name, c in before.items()},
    }


def judge_result(job: Job, result: bytes, backend: str) -> dict:
    """The whole gate on the step's result: pixels and faces, as on any image."""
    step = job.params["step"]
    return gate_image(
        load_rgb(io.BytesIO(result)),
        job.params["context"].get("lighting"),
        step.get("thresholds"),
        job.references(step.get("characters")),
        backend,
    )


def leak_flags(job: Job, leak: dict | None) -> list[dict]:
    """The change outside the mask judged (leak_mean, changed_fraction_outside), each flag
    naming the step: the seed's "one change per step", measured."""
    if leak is None:
        return []
    step = job.params["step"]
    lighting = job.params["context"].get("lighting")
    judged = evaluate(leak, lighting, thresholds_for(lighting, step.get("thresholds")))
    return [
        {**f, "message": f"edit step {step['step']}: {f['message']}"} for f in flags_to_json(judged)
    ]


def chain_flags(source_side: dict, flags: list[dict]) -> list[dict]:
    """What the candidate carries to its final's gate: every step's leak that is not a
    pass, from step 1 to this one."""
    return list(source_side.get("chain_flags", [])) + [f for f in flags if f["level"] != "pass"]


def run(job: Job) -> None:
    step = job.params["step"]
    context = job.params["context"]
    shot = job.shot
    gated = gate_source(job)
    source = raw_image(job.input["source"])
    refs = [raw_image(p) for p in job.input.get("refs", [])]
    mask = build_mask(step, image_size(source), shot, job.input.get("mask"))
    markup = (
        load_markup(
            job.input.get("markup") or step["markup"],
            image_size(source),
            file=step["markup"],
            shot=shot,
            key=f"edits[{step['step']}].markup",
        )
        if step.get("markup")
        else None
    )
    request = ImageRequest.from_dict(job.params["request"]).with_inputs(
        [sha256_bytes(source)] + [sha256_bytes(r) for r in refs],
        mask=sha256_bytes(mask) if mask else None,
        markup=sha256_bytes(markup) if markup else None,
    )
    label = {
        "shot": shot,
        "pass": "edit",
        "step": step["step"],
        "change": step["change"],
        "lighting": context.get("lighting"),
    }
    obtained = obtain(
        request,
        job.settings,
        shot=shot,
        pass_=f"edit{step['step']}",
        label=label,
        images=[source, *refs],
        mask=mask,
        markup=markup,
        shortlisted=True,
        logger=job.logger,
    )
    result = obtained.images[0]
    if step.get("protect_unmasked") and mask is not None:
        result = composite_outside(source, result, mask, feather_px=step["feather_px"])
    leak = measure_leak(source, result, mask, step.get("feather_px", 8))
    leaked = leak_flags(job, leak)
    gated_result = judge_result(job, result, request.backend)
    source_side = read_sidecar(job.input["source"])
    record = {
        **image_record(request, obtained, context, k=1, png=result),
        "step": step["step"],
        "change": step["change"],
        "keep": step["keep"],
        "region": step.get("region"),
        "mask_file": step.get("mask"),
        "markup_file": step.get("markup"),
        "refs": list(job.input.get("refs", [])),
        "source": str(job.input["source"]),
        "chain": source_side.get("chain", [f"draft {source_side.get('k')}"])
        + [f"step {step['step']}"],
        "protect_unmasked": bool(step.get("protect_unmasked") and mask is not None),
        "edit_leak": leak,
        "identity": identity_record(gated_result, gated),
        "metrics": gated_result["metrics"],
        "faces": gated_result["faces"],
        "chain_flags": chain_flags(source_side, leaked),
    }
    record["flags"] = leaked + gated_result["flags"]
    judged = critique_candidate(
        job, step.get("critique"), result, request.size, f"critique-edit{step['step']}"
    )
    if judged:
        record["critique"] = judged["critique"]
        record["flags"] += judged["flags"]
    record["worst"] = worst(record["flags"])
    write_image(job.output["image"], result, record)
    for f in leaked:
        if f["level"] != "pass":
            job.logger.warning("%s %s", shot, f["message"])
    job.logger.info(
        "%s step %d: %s%s",
        shot,
        step["step"],
        step["change"],
        f" (leak mean {leak['leak_mean']:.2f})" if leak else "",
    )
