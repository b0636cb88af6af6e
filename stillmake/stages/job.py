"""What a stage is handed: one rule's run, in the library's terms (no Snakemake types).

Its own module, so the stages and the bridge that builds jobs both import it and
neither imports the other."""

from __future__ import annotations

import logging
import os
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

    def references(self, characters: dict[str, list[str]] | None) -> dict[str, list[str]]:
        """{character: its reference images}, as params name them (relative to the project)
        -> where this job finds them (under a module's prefix, when there is one)."""
        return {
            name: [os.path.relpath(self.settings.root / ref) for ref in refs]
            for name, refs in (characters or {}).items()
        }
