"""Run settings derived from the validated config: paths, backend, budget.

Secrets are deliberately absent: the openai client reads OPENAI_API_KEY from
the environment itself, so no key ever passes through config, params or logs.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from stillmake.errors import StillmakeError

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"


@dataclass
class Settings:
    root: Path = field(default_factory=Path.cwd)
    backend: str = "preview"
    openai: dict = field(default_factory=dict)
    budget_usd: float | None = None

    @classmethod
    def from_config(cls, config: dict, root=None) -> "Settings":
        return cls(
            root=Path(root) if root else Path.cwd(),
            backend=config.get("backend", "preview"),
            openai=dict(config.get("openai") or {}),
            budget_usd=config.get("budget_usd"),
        )

    @property
    def runs(self) -> Path:
        return self.root / "runs"

    @property
    def cache_dir(self) -> Path:
        return self.runs / "cache"

    @property
    def ledger_path(self) -> Path:
        return self.runs / "ledger.jsonl"

    @property
    def rate_path(self) -> Path:
        return self.runs / ".rate.json"

    def base_url(self) -> str:
        return (
            self.openai.get("base_url")
            or os.environ.get("OPENAI_BASE_URL")
            or DEFAULT_OPENAI_BASE_URL
        ).rstrip("/")

    def backend_identity(self) -> str:
        """Part of every fingerprint, so a preview never stands in for an API image."""
        if self.backend == "preview":
            from stillmake.backends.preview import PreviewBackend

            return PreviewBackend.identity
        return f"openai@{self.base_url()}"

    def require_credentials(self) -> None:
        if self.backend == "openai" and not os.environ.get("OPENAI_API_KEY"):
            raise StillmakeError(
                "backend 'openai' needs an API key: export OPENAI_API_KEY=... in the shell "
                "that runs snakemake (keys are read from the environment only, never from "
                "config.yaml), or run with --config backend=preview for the offline preview."
            )

    def make_backend(self):
        if self.backend == "preview":
            from stillmake.backends.preview import PreviewBackend

            return PreviewBackend()
        if self.backend == "openai":
            self.require_credentials()
            from stillmake.backends.openai_images import OpenAIBackend

            return OpenAIBackend(base_url=self.base_url(),
                                 timeout_s=float(self.openai.get("timeout_s", 120)))
        raise StillmakeError(f"unknown backend '{self.backend}'; use 'preview' or 'openai'")
