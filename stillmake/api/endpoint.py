"""Where the API is and who may call it: the base URL (never written down with its
credentials) and the key, which the official client reads from the environment itself."""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING
from urllib.parse import unquote_plus, urlsplit, urlunsplit

from stillmake.errors import StillmakeError

if TYPE_CHECKING:
    from stillmake.inputs.config import Config

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"

# query parameters whose values are credentials: ?api-key=, ?token=, ?sig=, ...
SECRET_QUERY_KEY = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session", re.I)


def redact_url(url: str) -> str:
    """The URL without its credentials, the only form of a URL that is ever recorded
    (fingerprints, params, sidecars, the ledger, logs): user info dropped, the values of
    secret-looking query parameters replaced by ***. Everything else is kept as written,
    so a URL without credentials is unchanged (and so are its fingerprints)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=***"
        if sep and SECRET_QUERY_KEY.search(unquote_plus(name))
        else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def base_url(config: Config) -> str:
    """The URL the client connects to, credentials and all: never write it down;
    `redact_url(base_url(config))` is the form that may be recorded."""
    return (
        config.openai.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_OPENAI_BASE_URL
    ).rstrip("/")


def base_url_source(config: Config) -> str | None:
    """The setting base_url() came from, as an error message names it; None for the
    default (neither is set)."""
    if config.openai.base_url:
        return "openai.base_url in config.yaml"
    if os.environ.get("OPENAI_BASE_URL"):
        return "OPENAI_BASE_URL"
    return None


def require_credentials(config: Config) -> None:
    if config.backend == "openai" and not os.environ.get("OPENAI_API_KEY"):
        raise StillmakeError(
            "backend 'openai' needs an API key: export OPENAI_API_KEY=... in the shell "
            "that runs snakemake (keys are read from the environment only, never from "
            "config.yaml), or run with --config backend=preview for the offline preview."
        )
