"""What the Snakefile loads once per invocation (kept free of Snakemake imports)."""

from __future__ import annotations

from stillmake.specs import BuildSpecs


def load_build(config: dict, *, dryrun: bool = False) -> BuildSpecs:
    """Parse and check every input before a job is scheduled.

    A missing API key fails here for a real run (not for `-n`, which pays nothing).
    """
    build = BuildSpecs(config)
    if not dryrun:
        build.settings.require_credentials()
    return build
