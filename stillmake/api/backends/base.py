"""What every backend is, returns and raises, so the call path stays backend-agnostic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, TypedDict

from stillmake.api.requests import CritiqueRequest, ImageRequest

PREVIEW_IDENTITY = "preview"  # the offline renderer's part of every fingerprint

# the API's token usage as it answered (input_tokens, output_tokens, *_details: {...});
# api.records checks its counts before a ledger line is summed
Usage = dict[str, Any]

# what a request is for, as the preview draws it on its stand-in (a banner), never sent
Label = TypedDict(
    "Label",
    {"shot": str, "pass": str, "lighting": str | None, "step": int, "change": str, "title": str},
    total=False,
)


def usage_of(answer: Any) -> Usage | None:
    """An openai answer's `usage` as plain JSON; None when it carries none."""
    usage = getattr(answer, "usage", None)
    dump = getattr(usage, "model_dump", None)
    return dump() if callable(dump) else None


@dataclass
class BackendResponse:
    images: list[bytes]  # PNG bytes, one per requested image, in order
    usage: Usage | None = None
    # what the server reports of the answer: size, quality, output_format (or the model)
    meta: dict[str, Any] = field(default_factory=dict)
    text: str | None = None  # a critique's answer (its JSON verdicts); images stay empty


class Backend(Protocol):
    """An image service: `identity` goes into every fingerprint, so answers from two
    services never stand in for each other."""

    name: str
    identity: str

    def generate(self, request: ImageRequest, label: Label) -> BackendResponse: ...

    def edit(
        self,
        request: ImageRequest,
        images: list[bytes],
        mask: bytes | None,
        label: Label,
        markup: bytes | None = None,
    ) -> BackendResponse: ...

    def critique(self, request: CritiqueRequest, images: list[bytes]) -> BackendResponse: ...
