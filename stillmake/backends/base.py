"""What every backend returns and raises, so the call path stays backend-agnostic."""

from __future__ import annotations

from dataclasses import dataclass, field

from stillmake.errors import StillmakeError


@dataclass
class BackendResponse:
    images: list[bytes]  # PNG bytes, one per requested image, in order
    usage: dict | None = None
    meta: dict = field(default_factory=dict)  # size/quality/output_format the server reports


class BackendError(StillmakeError):
    """A failed call. `retryable` says whether trying again can help."""

    def __init__(
        self,
        message: str,
        *,
        retryable: bool = False,
        retry_after: float | None = None,
        status: int | None = None,
        code: str | None = None,
    ):
        super().__init__(message)
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        self.code = code


class ModerationBlocked(BackendError):
    """The API refused the prompt or image; never retried, never billed."""
