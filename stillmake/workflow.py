"""What the Snakefile loads once per invocation (kept free of Snakemake imports)."""

from __future__ import annotations

from stillmake.specs import BuildSpecs


def load_build(config: dict) -> BuildSpecs:
    """Parse and check every input before a job is scheduled."""
    return BuildSpecs(config)
