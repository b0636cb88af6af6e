"""The vision critique on the wire: what `client.responses.create` is sent, and what its
answer means. Kept apart from the Images calls so either can change alone.

The judged image goes at `detail: high` (hands and faces need the pixels); references
at `low`: they say who a character is, not what the frame shows. The answer is held
to the rubric's JSON schema by the API (strict structured output) and again by us.
"""

from __future__ import annotations

import base64
from typing import Any

from stillmake.api.backends.base import BackendResponse, usage_of
from stillmake.api.requests import CritiqueRequest
from stillmake.errors import BackendError, BadAnswer
from stillmake.images import FORMATS, image_format
from stillmake.rubric import SCHEMA_NAME, VERDICT_SCHEMA


def data_url(data: bytes) -> str:
    """An image inline, as the Responses API takes it (PNG, JPEG or WebP, by its bytes)."""
    mime = FORMATS[image_format(data) or "png"][1]
    return f"data:{mime};base64,{base64.b64encode(data).decode('ascii')}"


def critique_kwargs(request: CritiqueRequest, images: list[bytes]) -> dict[str, Any]:
    content: list[dict[str, str]] = [{"type": "input_text", "text": request.prompt}]
    content += [
        {"type": "input_image", "image_url": data_url(data), "detail": "high" if k == 0 else "low"}
        for k, data in enumerate(images)
    ]
    return {
        "model": request.model,
        "input": [{"role": "user", "content": content}],
        "reasoning": {"effort": request.reasoning},
        "text": {
            "format": {
                "type": "json_schema",
                "name": SCHEMA_NAME,
                "schema": VERDICT_SCHEMA,
                "strict": True,
            }
        },
        "store": False,  # nothing kept server-side: the cache is ours
    }


def critique_response(resp: Any) -> BackendResponse:
    """The answer's text and usage. A refusal (or a content filter) is final, like a
    moderation refusal; an answer cut short is a bad answer, retried."""
    refusals = [
        part.refusal
        for item in getattr(resp, "output", None) or []
        if getattr(item, "type", None) == "message"
        for part in getattr(item, "content", None) or []
        if getattr(part, "type", None) == "refusal"
    ]
    incomplete = getattr(getattr(resp, "incomplete_details", None), "reason", None)
    usage = usage_of(resp)
    if refusals or incomplete == "content_filter":
        why = " ".join(refusals) or "content filter"
        refused = BackendError(f"the model refused to critique: {why}", code="refusal")
        refused.answered, refused.usage = True, usage  # an answer: billed
        raise refused
    if getattr(resp, "status", None) != "completed":
        bad = BadAnswer(
            f"the critique is {getattr(resp, 'status', None) or 'without a status'}"
            + (f" ({incomplete})" if incomplete else "")
        )
        bad.usage = usage
        raise bad
    return BackendResponse(
        images=[],
        usage=usage,
        meta={"id": getattr(resp, "id", None), "model": getattr(resp, "model", None)},
        text=resp.output_text,
    )
