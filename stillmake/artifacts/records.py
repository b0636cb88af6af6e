"""The provenance record of one image: what was asked, what came back, what it cost.

Every stage that writes an image writes this record (sidecar and PNG chunks), so
every image says how it was made in the same words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from stillmake.api.requests import ImageRequest
from stillmake.files import sha256_bytes

if TYPE_CHECKING:
    from stillmake.api.calls import Obtained


def image_record(
    request: ImageRequest,
    obtained: Obtained,
    *,
    shot: str,
    pass_: str,
    negative: str,
    lighting: str | None,
    k: int,
    png: bytes,
) -> dict[str, Any]:
    record = obtained.record
    return {
        "shot": shot,
        "pass": pass_,
        "k": k,
        "prompt": request.prompt,
        "negative": negative,
        "lighting": lighting,
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
