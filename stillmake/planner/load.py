"""Planning a build: read the inputs the config names, check them before any job
(preflight.py), then plan (build.py). Its own module, so the checks can read a Build
without the Build knowing about them."""

from __future__ import annotations

from stillmake.inputs.config import Config
from stillmake.inputs.prompts import load_prompts
from stillmake.inputs.selections import load_selections
from stillmake.planner import preflight
from stillmake.planner.build import Build


def load_build(config: Config) -> Build:
    """Read the prompts and the selections named by the config, check everything a job
    would otherwise find only after earlier passes were paid for, and plan."""
    warnings = preflight.check_config(config)
    production = load_prompts(config.prompts_path)
    preflight.check_shot_sizes(config, production)
    selections = load_selections(
        config.selections_path, shots=production.shot_ids, draft_n=config.draft.n
    )
    build = Build(config=config, production=production, selections=selections, warnings=warnings)
    build.warnings += preflight.check_build(build)
    return build
