"""What every backend is, returns and raises, so the call path stays backend-agnostic."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from stillmake.api.requests import CritiqueRequest, ImageRequest

PREVIEW_IDENTITY = "preview"  # the offline renderer's part of every fingerprint


@dataclass
class BackendResponse:
    images: list[bytes]  # PNG bytes, one per requested image, in order
    usage: dict | None = None
    meta: dict = field(default_factory=dict)  # size/quality/output_format the server reports
    text: str | None = None  # a critique's answer (its JSON verdicts); images stay empty


class Backend(Protocol):
    """An image service: `identity` goes into every fingerprint, so answers from two
    services never stand in for each other."""

    name: str
    identity: str

    def generate(self, request: ImageRequest, label: dict) -> BackendResponse: ...

    def edit(
        self,
        request: ImageRequest,
        images: list[bytes],
        mask: bytes | None,
        label: dict,
        markup: bytes | None = None,
    ) -> BackendResponse: ...

    def critique(self, request: CritiqueRequest, images: list[bytes]) -> BackendResponse: ...
