"""The real Images API through the official `openai` client.

The client's own retries are off (max_retries=0): stillmake retries itself so
that every attempt is counted in the ledger and the budget sees each one.

The client connects with the base URL as given (credentials and all); everything this
backend says (its identity, every error message) names the URL with its credentials
redacted, so no password reaches a fingerprint, a log, the ledger or .snakemake/.
"""

from __future__ import annotations

import base64
import binascii
import json
import os
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

from stillmake.api.backends.base import BackendResponse, Label, usage_of
from stillmake.api.backends.responses import critique_kwargs, critique_response
from stillmake.api.endpoint import redact_url
from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.errors import BackendError, BadAnswer, ModerationBlocked
from stillmake.images import upload

if TYPE_CHECKING:
    import openai

BASE_URL_SETTING = "openai.base_url in config.yaml or OPENAI_BASE_URL"


class OpenAIBackend:
    name = "openai"

    def __init__(self, base_url: str, timeout_s: float = 120.0, source: str | None = None):
        import openai  # imported here: 0.6 s that preview builds never pay

        self._openai = openai
        self.url = redact_url(base_url)  # the only form of the URL this backend ever says
        # where the URL came from, for "cannot reach" messages (None: the default)
        self.where = f"set by {source}" if source else "the default"
        self.timeout_s = timeout_s
        self.identity = f"openai@{self.url}"
        self._secrets = _secrets(base_url)
        # a query on the base URL (?api-version=..., a gateway's key) goes with every
        # request: the client would otherwise paste the endpoint's path after it
        parts = urlsplit(base_url)
        self.client = openai.OpenAI(
            base_url=urlunsplit(parts._replace(query="")),
            default_query=dict(parse_qsl(parts.query, keep_blank_values=True)) or None,
            timeout=timeout_s,
            max_retries=0,
        )

    def generate(self, request: ImageRequest, label: Label) -> BackendResponse:
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
        self,
        request: ImageRequest,
        images: list[bytes],
        mask: bytes | None,
        label: Label,
        markup: bytes | None = None,
    ) -> BackendResponse:
        # PNG, JPEG and WebP go as what they are: the right extension and MIME type
        files = [upload(data, f"image_{i}") for i, data in enumerate(images, 1)]
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
        if markup is not None:
            kwargs["markup"] = ("markup.png", markup, "image/png")
        if request.input_fidelity:  # None for the 2.x family, which refuses it
            kwargs["input_fidelity"] = request.input_fidelity
        if request.complexity:
            kwargs["complexity"] = request.complexity
        return self._call(self.client.images.edit, **kwargs)

    def critique(self, request: CritiqueRequest, images: list[bytes]) -> BackendResponse:
        """A vision model's verdicts through the Responses API (client.responses.create)."""
        return self._scrubbed(
            lambda: critique_response(
                self._send(self.client.responses.create, **critique_kwargs(request, images))
            )
        )

    def _call(self, method: Callable[..., Any], **kwargs: Any) -> BackendResponse:
        return self._scrubbed(lambda: self._answer(method, **kwargs))

    def _scrubbed(self, answer: Callable[[], BackendResponse]) -> BackendResponse:
        try:
            return answer()
        except BackendError as exc:
            exc.args = (self._scrub(str(exc)),)  # a server may echo the URL's secrets
            raise

    def _answer(self, method: Callable[..., Any], **kwargs: Any) -> BackendResponse:
        resp = self._send(method, **kwargs)
        usage = usage_of(resp)
        images = []
        for k, item in enumerate(getattr(resp, "data", None) or [], start=1):
            if not getattr(item, "b64_json", None):
                continue  # counted by the answer check: fewer images than asked for
            try:
                images.append(base64.b64decode(item.b64_json, validate=True))
            except (binascii.Error, ValueError):
                bad = BadAnswer(
                    f"image {k} of {kwargs['n']} in the API's answer is not valid base64"
                )
                bad.usage = usage  # billed all the same
                raise bad from None
        meta = {k: getattr(resp, k, None) for k in ("size", "quality", "output_format", "created")}
        return BackendResponse(images=images, usage=usage, meta=meta)

    def _send(self, method: Callable[..., Any], **kwargs: Any) -> Any:
        """The client's answer, or the BackendError its failure means (retryable or not)."""
        openai = self._openai
        try:
            return method(**kwargs)
        except openai.APIStatusError as exc:
            raise _status_error(exc) from None
        except openai.APITimeoutError:
            raise BackendError(
                f"request timed out: no answer from {self.url} within {self.timeout_s:g} s "
                "(openai.timeout_s in config.yaml)",
                retryable=True,
            ) from None
        except openai.APIConnectionError as exc:
            reason = exc.__cause__ or exc
            raise BackendError(
                f"cannot reach the API at {self.url} ({self.where}): {reason}; "
                f"check that a server answers there, or fix {BASE_URL_SETTING}",
                retryable=True,
            ) from None
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:  # a 200 that is not JSON
            raise BadAnswer(f"the API's answer is not valid JSON ({exc})") from None
        except openai.APIResponseValidationError as exc:
            raise BadAnswer(f"the API's answer is not the response asked for ({exc})") from None
        except openai.OpenAIError as exc:
            raise BackendError(f"the openai client failed: {exc}") from None

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return text


def _secrets(base_url: str) -> list[str]:
    """Values that must never be written down: the URL's user info and secret query
    values (what redact_url hides), and the API key itself."""
    parts = urlsplit(base_url)
    found = [parts.password, parts.username]
    found += [unquote(s) for s in found if s]
    shown = dict(parse_qsl(urlsplit(redact_url(base_url)).query, keep_blank_values=True))
    found += [v for k, v in parse_qsl(parts.query, keep_blank_values=True) if shown.get(k) != v]
    found.append(os.environ.get("OPENAI_API_KEY"))
    # longest first, so a secret containing another is replaced whole
    return sorted({s for s in found if s and len(s) >= 3}, key=len, reverse=True)


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
