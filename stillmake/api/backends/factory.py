"""Which backend a build talks to, chosen from the settings in one place."""

from __future__ import annotations

from stillmake.api.backends.base import PREVIEW_IDENTITY, Backend
from stillmake.errors import StillmakeError
from stillmake.inputs.settings import Settings, redact_url


def backend_identity(settings: Settings) -> str:
    """Part of every fingerprint, so a preview never stands in for an API image.

    The URL is named without its credentials: the identity travels in every request's
    params (so into .snakemake/ metadata), sidecars, PNG chunks, the cache and the ledger."""
    if settings.backend == "preview":
        return PREVIEW_IDENTITY
    return f"openai@{redact_url(settings.base_url())}"


def make_backend(settings: Settings) -> Backend:
    if settings.backend == "preview":
        from stillmake.api.backends.preview import PreviewBackend

        return PreviewBackend()
    if settings.backend == "openai":
        settings.require_credentials()
        from stillmake.api.backends.openai_images import OpenAIBackend

        return OpenAIBackend(
            base_url=settings.base_url(),
            timeout_s=float(settings.openai["timeout_s"]),
            source=settings.base_url_source(),
        )
    raise StillmakeError(f"unknown backend '{settings.backend}'; use 'preview' or 'openai'")
