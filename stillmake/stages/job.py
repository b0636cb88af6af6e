"""What a stage is handed: one rule's run, in the library's terms (no Snakemake types).

Its own module, so the stages and the bridge that builds jobs both import it and
neither imports the other."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from stillmake.inputs.settings import Settings


@dataclass
class Job:
    stage: str
    shot: str | None
    settings: Settings
    params: dict
    input: dict
    output: dict
    log_path: Path | None
    logger: logging.Logger = field(default=None)

    def found(self, paths: Iterable[str]) -> list[str]:
        """Files as params name them (relative to the project) -> where this job finds
        them (under a module's prefix, when there is one)."""
        return [os.path.relpath(self.settings.root / path) for path in paths]

    def references(self, characters: dict[str, list[str]] | None) -> dict[str, list[str]]:
        """{character: its reference images}, found as `found` finds files."""
        return {name: self.found(refs) for name, refs in (characters or {}).items()}
