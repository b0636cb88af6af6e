"""Draft pass: one images.generate call per shot (n drafts), one file per draft."""

from __future__ import annotations

from stillmake.calls import obtain
from stillmake.files import sha256_bytes
from stillmake.provenance import write_image
from stillmake.requests import ImageRequest


def image_record(request: ImageRequest, obtained, context: dict, *, k: int, png: bytes) -> dict:
    """The provenance of one image: what was asked, what came back, what it cost."""
    record = obtained.record
    return {
        "shot": context["shot"],
        "pass": context["pass"],
        "k": k,
        "prompt": request.prompt,
        "negative": context.get("negative", ""),
        "lighting": context.get("lighting"),
        "model": request.model,
        "size": request.size,
        "quality": request.quality,
        "n": request.n,
        "output_format": request.output_format,
        "input_fidelity": request.input_fidelity,
        "endpoint": request.endpoint,
        "backend": request.backend,
        "reroll": request.reroll,
        "fingerprint": request.fingerprint(),
        "inputs": list(request.inputs),
        "mask": request.mask,
        "image_sha256": sha256_bytes(png),
        "usage": record.get("usage"),
        "request_cost_usd": record.get("cost_usd"),
        "cost_usd": round((record.get("cost_usd") or 0.0) / request.n, 6),
        "latency_s": record.get("latency_s"),
        "attempts": record.get("attempts"),
        "created": record.get("created"),
        "cache_hit": obtained.cached,
    }


def run(job) -> None:
    request = ImageRequest.from_dict(job.params["request"])
    context = job.params["context"]
    label = {"shot": job.shot, "pass": "draft", "lighting": context.get("lighting")}
    obtained = obtain(request, job.settings, shot=job.shot, pass_="draft", label=label,
                      logger=job.logger)
    job.logger.info("prompt: %s", request.prompt)
    job.logger.info("negative: %s", context.get("negative", ""))
    for k, (png, path) in enumerate(zip(obtained.images, job.output["images"]), start=1):
        write_image(path, png, image_record(request, obtained, context, k=k, png=png))
