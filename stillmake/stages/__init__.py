"""One module per rule (critique.py: the opt-in critique the review runs); STAGES is the
table the Snakemake bridge dispatches on, by rule."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from stillmake.stages import draft, edit, final, manifest, review, select

STAGES: dict[str, Callable[[Any], None]] = {
    "draft": draft.run,
    "review_sheet": review.run,
    "select": select.run,
    "edit_step": edit.run,
    "final": final.run,
    "manifest": manifest.run,
}
