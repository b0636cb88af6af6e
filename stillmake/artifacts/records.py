"""The provenance record of one image: what was asked, what came back, what it cost.

Every stage that writes an image writes this record (sidecar and PNG chunks), so
every image says how it was made in the same words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TypedDict

from stillmake.api.requests import ImageRequest
from stillmake.files import sha256_bytes

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage
    from stillmake.api.calls import Obtained
    from stillmake.artifacts.gate import FaceReadings
    from stillmake.artifacts.identity import EditIdentity
    from stillmake.artifacts.quality import FlagJson, Metrics
    from stillmake.rubric import Critique

# What every image the build writes says of itself (`image_record`): the request, the
# answer's bill and timing, and the image's own digest.
ImageRecord = TypedDict(
    "ImageRecord",
    {
        "shot": str,
        "pass": str,  # draft | select | edit | final
        "k": int,  # which of the answer's images (drafts: 1..n)
        "prompt": str,
        "negative": str,
        "lighting": "str | None",
        "model": str,
        "size": str,
        "quality": str,
        "n": int,
        "output_format": str,
        "input_fidelity": "str | None",
        "endpoint": str,
        "backend": str,
        "reroll": int,
        "fingerprint": str,  # the request's: its cache entry and ledger lines
        "inputs": "list[str]",  # sha256 of the images sent, source first
        "mask": "str | None",
        "image_sha256": str,  # the pixels as the backend returned them
        "usage": "Usage | None",
        "request_cost_usd": "float | None",  # the whole answer's
        "cost_usd": float,  # this image's share
        "latency_s": "float | None",
        "attempts": "int | None",
        "created": "str | None",
        "cache_hit": bool,
    },
)


class FinalApproval(TypedDict):
    """What let a final be paid (planner/approval.py's verdict, as the manifest shows it)."""

    state: str
    candidate: str | None  # the candidate's fingerprint
    by: str | None  # "lock", or what stood in for one (the preview, final.approval: any)
    waived: dict[str, str]  # failing checks let through, and why


class Provenance(ImageRecord, total=False):
    """A record as the later stages extend it: the selected draft (pick ... retouched), an
    edit step (step ... worst), a final (mode, candidate, title, chain, chain_flags,
    critique). Read back from an image by artifacts.provenance.read_record."""

    pick: int | None
    drafts: str | None  # the fingerprint of the drafts the pick was made on
    source: str  # the image it was made from
    rejects: dict[str, str]
    retouched: list[str]  # drafts changed by hand since they were drafted
    step: int
    change: str
    keep: str
    region: list[float] | None
    mask_file: str | None
    markup_file: str | None
    refs: list[str]
    chain: list[str]  # "draft 2", "step 1", ..., "final"
    protect_unmasked: bool
    edit_leak: Metrics | None
    identity: EditIdentity
    metrics: Metrics
    faces: FaceReadings
    chain_flags: list[FlagJson]  # every earlier step's leak that did not pass
    flags: list[FlagJson]
    critique: Critique
    worst: str
    mode: str  # a final: edit | generate
    candidate: str
    title: str
    bound_by: str  # a hand-typed pick bound by the build when it first applied it
    approval: FinalApproval  # a final: what let it be paid


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
) -> ImageRecord:
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
