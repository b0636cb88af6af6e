"""One module per rule (critique.py: the opt-in critique the review runs); STAGES is the
table the Snakemake bridge dispatches on."""

from __future__ import annotations

from stillmake.stages import draft, edit, final, manifest, review, select

STAGES = {
    "draft": draft.run,
    "review": review.run,
    "select": select.run,
    "edit": edit.run,
    "final": final.run,
    "manifest": manifest.run,
}
