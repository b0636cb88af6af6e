"""The real Images API through the official `openai` client.

The client's own retries are off (max_retries=0): stillmake retries itself so
that every attempt is counted in the ledger and the budget sees each one.
"""

from __future__ import annotations

import base64
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any

from stillmake.api.backends.base import BackendResponse
from stillmake.api.requests import ImageRequest
from stillmake.errors import BackendError, ModerationBlocked

if TYPE_CHECKING:
    import openai


class OpenAIBackend:
    name = "openai"

    def __init__(self, base_url: str, timeout_s: float = 120.0):
        import openai  # imported here: 0.6 s that preview builds never pay

        self._openai = openai
        self.identity = f"openai@{base_url}"
        self.client = openai.OpenAI(base_url=base_url, timeout=timeout_s, max_retries=0)

    def generate(self, request: ImageRequest, label: dict) -> BackendResponse:
        kwargs = dict(
            model=request.model,
            prompt=request.prompt,
            n=request.n,
            size=request.size,
            quality=request.quality,
            output_format=request.output_format,
            moderation=request.moderation,  # generations only: edits refuse it
        )
        if request.complexity:
            kwargs["complexity"] = request.complexity
        return self._call(self.client.images.generate, **kwargs)

    def edit(
        self, request: ImageRequest, images: list[bytes], mask: bytes | None, label: dict
    ) -> BackendResponse:
        files = [(f"image_{i}.png", data, "image/png") for i, data in enumerate(images, 1)]
        kwargs = dict(
            model=request.model,
            prompt=request.prompt,
            image=files if len(files) > 1 else files[0],
            n=request.n,
            size=request.size,
            quality=request.quality,
            output_format=request.output_format,
        )
        if mask is not None:
            kwargs["mask"] = ("mask.png", mask, "image/png")
        if request.input_fidelity:  # None for the 2.x family, which refuses it
            kwargs["input_fidelity"] = request.input_fidelity
        if request.complexity:
            kwargs["complexity"] = request.complexity
        return self._call(self.client.images.edit, **kwargs)

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> BackendResponse:
        openai = self._openai
        try:
            resp = method(**kwargs)
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except openai.APITimeoutError:
            raise BackendError("request timed out", retryable=True) from None
        except openai.APIConnectionError as exc:
            raise BackendError(f"connection error: {exc}", retryable=True) from None
        images = [base64.b64decode(d.b64_json) for d in resp.data or [] if d.b64_json]
        if len(images) != kwargs["n"]:
            raise BackendError(f"asked for {kwargs['n']} images, got {len(images)}")
        usage = resp.usage.model_dump() if getattr(resp, "usage", None) else None
        meta = {k: getattr(resp, k, None) for k in ("size", "quality", "output_format", "created")}
        return BackendResponse(images=images, usage=usage, meta=meta)


def _status_error(exc: openai.APIStatusError) -> BackendError:
    body = exc.body if isinstance(exc.body, dict) else {}
    err = body.get("error", body) if isinstance(body, dict) else {}
    code = err.get("code") if isinstance(err, dict) else None
    message = (err.get("message") if isinstance(err, dict) else None) or str(exc)
    status = exc.status_code
    if code == "moderation_blocked":
        return ModerationBlocked(
            f"moderation refused the request: {message}", status=status, code=code
        )
    retry_after = _retry_after(exc.response.headers) if exc.response is not None else None
    retryable = status in (408, 409, 429) or status >= 500
    return BackendError(
        f"HTTP {status} {code or ''}: {message}".replace("  ", " "),
        retryable=retryable,
        retry_after=retry_after,
        status=status,
        code=code,
    )


def _retry_after(headers: Mapping[str, str]) -> float | None:
    for name in ("retry-after-ms", "retry-after"):
        value = headers.get(name)
        if value:
            try:
                seconds = float(value)
            except ValueError:
                return None
            return seconds / 1000 if name.endswith("ms") else seconds
    return None
