"""ImageRequest: the one description of an Images API call; CritiqueRequest: the one
description of a vision critique (Responses API).

Everything that changes what a call returns is a field here, so the fingerprint of
a request is the cache key and the identity of what was paid for.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any

from stillmake.files import sha256_bytes
from stillmake.inputs.models import parse_size

FINGERPRINT_VERSION = 1


@dataclass(frozen=True)
class ImageRequest:
    endpoint: str  # "generate" | "edit"
    model: str
    prompt: str  # the composed prompt: exactly what is sent
    n: int
    size: str
    quality: str
    output_format: str = "png"
    input_fidelity: str | None = None
    moderation: str = "auto"
    reroll: int = 0
    backend: str = (
        "preview"  # backend identity, e.g. "preview" or "openai@https://api.openai.com/v1"
    )
    inputs: tuple[str, ...] = field(default_factory=tuple)  # sha256 of input images, source first
    mask: str | None = None  # sha256 of the mask PNG sent
    complexity: str | None = None  # 2.6 models: planning effort, independent of quality
    markup: str | None = None  # sha256 of the markup PNG sent (2.5+ edits)
    # preview backend only: its drafts' flaws drawn on purpose ("1:identity,3:highlights")
    preview: str | None = None

    # Fields added after fingerprints were first written: left out of the digest while
    # unset, so every request paid for before they existed keeps its cache entry.
    _OPTIONAL = ("complexity", "markup", "preview")

    def fingerprint(self) -> str:
        """Stable digest of everything that determines the result."""
        fields = {k: v for k, v in asdict(self).items() if not (k in self._OPTIONAL and v is None)}
        return _digest(fields)

    def to_dict(self) -> dict[str, Any]:
        """The request as job params; `markup` and `preview` only when set, so the params
        (and request stamps) of every job stamped before they existed are unchanged."""
        d = {name: getattr(self, name) for name in _IMAGE_FIELDS}  # asdict deep-copies
        d["inputs"] = list(self.inputs)
        for name in ("markup", "preview"):
            if d[name] is None:
                del d[name]
        return d

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> ImageRequest:
        return cls(**{**d, "inputs": tuple(d.get("inputs") or ())})

    def with_inputs(
        self, inputs: Iterable[str], mask: str | None = None, markup: str | None = None
    ) -> ImageRequest:
        return replace(self, inputs=tuple(inputs), mask=mask, markup=markup)

    def bound(
        self, images: Iterable[bytes], mask: bytes | None = None, markup: bytes | None = None
    ) -> ImageRequest:
        """The request with the hashes of the images it sends (source first), its mask
        and its markup: what the cache and the ledger know it by. The edit and final
        stages and `stillmake plan` all bind inputs here."""
        return self.with_inputs(
            (sha256_bytes(i) for i in images),
            mask=sha256_bytes(mask) if mask else None,
            markup=sha256_bytes(markup) if markup else None,
        )

    @property
    def width_height(self) -> tuple[int, int]:
        return parse_size(self.size)


_IMAGE_FIELDS = tuple(f.name for f in fields(ImageRequest))


@dataclass(frozen=True)
class CritiqueRequest:
    """A vision model's verdicts on one image, against a rubric: the same call path as an
    image (cache, budget, rate limit, retries, ledger) with a text answer instead of images.

    `size` is the judged image's, for the ledger; `quality` reads as the reasoning effort
    wherever the call path and the ledger name a request's quality."""

    model: str
    prompt: str  # the brief as sent: rubric, the shot's prompt and beat
    reasoning: str
    rubric: str  # stillmake.rubric.RUBRIC_VERSION
    size: str
    backend: str
    inputs: tuple[str, ...] = field(default_factory=tuple)  # sha256: the image, then references
    endpoint: str = "responses"
    n: int = 1

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> CritiqueRequest:
        return cls(**{**d, "inputs": tuple(d.get("inputs") or ())})

    @property
    def quality(self) -> str:
        return self.reasoning

    def fingerprint(self) -> str:
        return _digest(asdict(self))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "inputs": list(self.inputs)}


def _digest(fields: Mapping[str, Any]) -> str:
    body = json.dumps({"v": FINGERPRINT_VERSION, **fields}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:24]
