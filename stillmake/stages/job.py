"""What a stage is handed: one rule's run, in the library's terms (no Snakemake types).

Its own module, so the stages and the bridge that builds jobs both import it and
neither imports the other."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from stillmake.inputs.config import Config
from stillmake.planner.jobs import JobRequest

Files = dict[str, Any]  # name -> path or [paths]; "_": every path, in order
_J = TypeVar("_J", bound=JobRequest)


@dataclass
class Job(Generic[_J]):
    stage: str
    shot: str | None
    config: Config
    planned: _J  # the job's typed request, as the planner made it (from the rule's params)
    input: Files
    output: Files
    log_path: Path | None
    logger: logging.Logger

    def found(self, paths: Iterable[str]) -> list[str]:
        """Files as params name them (relative to the project) -> where this job finds
        them (under a module's prefix, when there is one)."""
        return [os.path.relpath(self.config.root / path) for path in paths]

    def references(self, characters: Mapping[str, list[str]] | None) -> dict[str, list[str]]:
        """{character: its reference images}, found as `found` finds files."""
        return {name: self.found(refs) for name, refs in (characters or {}).items()}
