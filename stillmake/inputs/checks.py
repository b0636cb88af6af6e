"""The gate's checks by name: what a waiver in selections.yaml (`waive: {CHECK: why}`)
may name.

A flag's `metric` is the check that raised it: a pixel or face metric (the config
schema's `$defs.metrics`, one owner with the thresholds), a finals-only check, or a
vision-critique criterion (`critique:<criterion>`, the criteria `critique.fail_on`
takes). Read from the config schema, so the inputs layer knows them without importing
the measures; tests/planner/test_approval.py pins them to artifacts.thresholds and the rubric.
"""

from __future__ import annotations

import functools

from stillmake.inputs.schemas import load_schema

ACROSS_SHOTS = ("identity_across_shots",)  # judged on the finals together (manifest's gate)


@functools.cache
def gate_checks() -> tuple[str, ...]:
    """Every check name a gate flag can carry, in the schema's order."""
    schema = load_schema("config.schema.yaml")
    metrics = list(schema["$defs"]["metrics"]["properties"])
    criteria = schema["properties"]["critique"]["properties"]["fail_on"]["items"]["enum"]
    return (*metrics, *ACROSS_SHOTS, *(f"critique:{c}" for c in criteria))
