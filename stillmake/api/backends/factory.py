"""Which backend a build talks to, chosen from the config in one place."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.api.backends.base import PREVIEW_IDENTITY, Backend
from stillmake.api.endpoint import base_url, base_url_source, redact_url, require_credentials
from stillmake.errors import StillmakeError

if TYPE_CHECKING:
    from stillmake.inputs.config import Config


def backend_identity(config: Config) -> str:
    """Part of every fingerprint, so a preview never stands in for an API image.

    The URL is named without its credentials: the identity travels in every request's
    params (so into .snakemake/ metadata), sidecars, PNG chunks, the cache and the ledger."""
    if config.backend == "preview":
        return PREVIEW_IDENTITY
    return f"openai@{redact_url(base_url(config))}"


def make_backend(config: Config) -> Backend:
    if config.backend == "preview":
        from stillmake.api.backends.preview import PreviewBackend

        return PreviewBackend()
    if config.backend == "openai":
        require_credentials(config)
        from stillmake.api.backends.openai_images import OpenAIBackend

        return OpenAIBackend(
            base_url=base_url(config),
            timeout_s=config.openai.timeout_s,
            source=base_url_source(config),
        )
    raise StillmakeError(f"unknown backend '{config.backend}'; use 'preview' or 'openai'")
