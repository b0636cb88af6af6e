"""Checks made before any job runs, so that nothing is found only after earlier passes
were paid for: every pass's model takes its settings, every shot's size suits its
models, references are whole images, and the Images API's limits hold for every
request as it will be sent. Each refusal names the file, the shot and the key."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from stillmake.artifacts.thresholds import thresholds_for
from stillmake.errors import InputError, ModelError
from stillmake.images import input_problem
from stillmake.inputs import compose
from stillmake.inputs.config import PASSES, Config
from stillmake.inputs.guardrail import draft_quality_problem
from stillmake.inputs.masks import load_mask, mismatch
from stillmake.inputs.models import (
    MAX_EDIT_IMAGES,
    MAX_MASK_BYTES,
    MAX_PROMPT_CHARS,
    check_critique,
    check_request,
    get_model,
    lifecycle_warning,
    lookup,
    parse_size,
)
from stillmake.paths import CONFIG_FILE

if TYPE_CHECKING:
    from stillmake.inputs.prompts import Production
    from stillmake.planner.build import Build

ASPECT_TOLERANCE = 0.01


# -- config: what each pass's model takes ---------------------------------------------


def check_config(config: Config) -> list[str]:
    """Refuse what a pass's model does not take (shut down or unknown, size, quality,
    complexity) and high-quality drafts; return warnings (a dying model, sizes)."""
    warnings: list[str] = []
    sizes = {"draft": config.draft.size, "edit": config.draft.size, "final": config.final.size}
    for pass_ in PASSES:
        model, cfg = config.model_for(pass_), config.pass_config(pass_)
        try:
            get_model(model)
        except ModelError as exc:
            raise InputError(str(exc), file=CONFIG_FILE, key=config.model_key(pass_)) from None
        warning = lifecycle_warning(model)
        if warning and warning not in warnings:
            warnings.append(warning)
        try:
            check_request(
                model,
                size=sizes[pass_],
                quality=cfg.quality,
                complexity=cfg.complexity,
                where=f"{pass_} pass",
            )
        except ModelError as exc:
            # edits run at the drafts' size: a size problem there is draft.size's
            owner = "draft" if exc.setting == "size" and pass_ == "edit" else pass_
            key = f"{owner}.{exc.setting}"
            if exc.setting == "model":
                key = config.model_key(pass_)
            raise InputError(str(exc), file=CONFIG_FILE, key=key) from None
    problem = draft_quality_problem(config.draft.quality)
    if problem:
        raise InputError(problem, file=CONFIG_FILE, key="draft.quality")
    return warnings + _critique_warnings(config) + _size_warnings(config)


def _critique_warnings(config: Config) -> list[str]:
    """The critique's model must judge images and take the reasoning effort asked for."""
    cfg = config.critique
    if not cfg.enabled:
        return []
    try:
        check_critique(cfg.model, cfg.reasoning)
    except ModelError as exc:
        raise InputError(str(exc), file=CONFIG_FILE, key=f"critique.{exc.setting}") from None
    warning = lifecycle_warning(cfg.model)
    return [warning] if warning else []


def _size_warnings(config: Config) -> list[str]:
    final, draft = config.final.size, config.draft.size
    if final == "auto":
        raise InputError(
            "finals need one fixed size, not 'auto'", file=CONFIG_FILE, key="final.size"
        )
    warnings = []
    if draft != "auto" and config.final.mode == "edit":
        (dw, dh), (fw, fh) = parse_size(draft), parse_size(final)
        if abs(dw / dh - fw / fh) > ASPECT_TOLERANCE * (fw / fh):
            warnings.append(
                f"draft.size {draft} ({dw / dh:.2f}:1) and final.size {final} "
                f"({fw / fh:.2f}:1) differ in aspect: a final renders the picked draft, "
                f"so its composition will be cropped or stretched"
            )
    if lookup(config.model_for("final")).experimental(final):
        warnings.append(f"final.size {final} is above 2560x1440: the API calls that experimental")
    return warnings


def check_shot_sizes(config: Config, production: Production) -> None:
    """A shot's own size must suit the draft and edit models too."""
    for shot in production.shots.values():
        if not shot.size:
            continue
        for pass_ in ("draft", "edit"):
            try:
                check_request(
                    config.model_for(pass_),
                    size=shot.size,
                    quality=config.pass_config(pass_).quality,
                )
            except ModelError as exc:
                raise InputError(str(exc), file=production.path, shot=shot.id, key="size") from None


# -- the build: references, limits, thresholds -------------------------------------------


def check_build(build: Build) -> list[str]:
    """Refuse what a job would find only after earlier passes were paid for; return the
    warnings every run prints (a mask or markup of another aspect than its image)."""
    _check_refs(build)
    _check_limits(build)
    _check_thresholds(build)
    return _drawn_aspects(build)


def _drawn_aspects(build: Build) -> list[str]:
    """Masks and markups of another aspect than the images they edit: said on every run
    (`snakemake -n` too); the edit step refuses one before paying."""
    warnings = []
    for shot in build.shots:
        size = parse_size(build.draft_size(shot))
        for j, step in enumerate(build.selections[shot].edits, start=1):
            for what, drawn in (("mask", step.mask), ("markup", step.markup)):
                if drawn:
                    where = dict(
                        file=build.config.selections_path, shot=shot, key=f"edits[{j}].{what}"
                    )
                    warnings += mismatch(what, drawn, size, **where)
    return warnings


def _check_limits(build: Build) -> None:
    """Limits the Images API enforces on every model: a prompt's length as sent, the
    images one images.edit takes, a mask's size as sent."""
    production, config = build.production, build.config
    prompts_path, selections_path = config.prompts_path, config.selections_path
    final_mode = config.final.mode
    for shot in build.shots:
        s = production.shot(shot)
        where: dict[str, Any] = dict(file=prompts_path, shot=shot, key="prompt")
        _check_prompt(compose.shot_prompt(production, s), "draft", where)
        _check_prompt(compose.final_prompt(production, s, final_mode), "final", where)
        characters = len(build.character_refs(shot))
        for j, step in enumerate(build.selections[shot].edits, start=1):
            key = f"edits[{j}]"
            where = dict(file=selections_path, shot=shot, key=f"{key}.change")
            _check_prompt(build.edit_prompt(shot, j), f"edit step {j}", where)
            sent = 1 + characters + len(step.refs)
            if sent > MAX_EDIT_IMAGES:
                raise InputError(
                    f"images.edit takes at most {MAX_EDIT_IMAGES} images; this step would "
                    f"send {sent} (the source, {characters} character reference(s) from "
                    f"{prompts_path}, {len(step.refs)} of the step's own): drop "
                    f"{sent - MAX_EDIT_IMAGES}",
                    file=selections_path,
                    shot=shot,
                    key=f"{key}.refs",
                )
            if step.mask:
                _check_mask_size(build, shot, f"{key}.mask", step.mask)
            if step.markup and not build.takes_markup:
                raise InputError(
                    f"edit model '{build.model_for('edit')}' does not take a markup "
                    "(gpt-image-2.5 and later do): set edit.model to one that does, or "
                    "mark the step with a region or mask",
                    file=selections_path,
                    shot=shot,
                    key=f"{key}.markup",
                )
        if final_mode == "edit" and 1 + characters > MAX_EDIT_IMAGES:
            raise InputError(
                f"images.edit takes at most {MAX_EDIT_IMAGES} images; the final would send "
                f"{1 + characters} (the candidate and {characters} character "
                f"reference(s)): give this shot fewer characters or references, or set "
                f"final.mode: generate",
                file=prompts_path,
                shot=shot,
                key="characters",
            )


def _check_prompt(prompt: str, what: str, where: dict[str, Any]) -> None:
    if len(prompt) > MAX_PROMPT_CHARS:
        raise InputError(
            f"the Images API takes prompts of at most {MAX_PROMPT_CHARS:,} characters; the "
            f"{what} prompt as sent is {len(prompt):,} (with the style, constraints, "
            f"lighting, characters and negative it carries): shorten it by "
            f"{len(prompt) - MAX_PROMPT_CHARS:,}",
            **where,
        )


def _check_mask_size(build: Build, shot: str, key: str, mask: Path) -> None:
    """The mask as the edit sends it (at the drafts' size, alpha snapped): built here only
    for a file over a sixteenth of the limit; a smaller PNG does not grow past it."""
    if mask.stat().st_size <= MAX_MASK_BYTES // 16:
        return
    selections = build.config.selections_path
    w, h = parse_size(build.draft_size(shot))
    sent = len(load_mask(mask, (w, h), file=selections, shot=shot, key=key))
    if sent >= MAX_MASK_BYTES:
        raise InputError(
            f"the Images API takes masks under {MAX_MASK_BYTES / 1e6:g} MB; {mask} as sent "
            f"(RGBA at {w}x{h}) is {sent / 1e6:.1f} MB: only its alpha counts, so save it "
            f"with flat colours",
            file=selections,
            shot=shot,
            key=key,
        )


def _check_thresholds(build: Build) -> None:
    """`quality:` thresholds, for every lighting tag in use, as the review, edit and gate
    jobs will read them: a bad one stops the build before any job."""
    overrides = build.config.quality
    tags = {"default", *(build.shot(s).lighting or "default" for s in build.shots)}
    for tag in sorted(tags | set(overrides)):
        try:
            thresholds_for(tag, overrides)
        except InputError as exc:
            raise InputError(exc.detail, file=CONFIG_FILE, key=exc.key) from None


def _check_refs(build: Build) -> None:
    """Character references sent to the API (edits, a final, a critique) exist, and are
    whole PNG, JPEG or WebP images (they go as they are)."""
    prompts = build.config.prompts_path
    needed = [s for s in build.shots if _sends_refs(build, s)]
    for shot in needed:
        for ref in build.character_refs(shot):
            if not ref.is_file():
                raise InputError(
                    f"reference image {ref} not found", file=prompts, shot=shot, key="characters"
                )
    for cid in dict.fromkeys(c for s in needed for c in build.shot(s).characters):
        for ref in build.production.characters[cid].refs:
            problem = input_problem(ref)
            if problem:
                raise InputError(
                    f"reference image {ref} {problem}", file=prompts, key=f"characters.{cid}.refs"
                )


def _sends_refs(build: Build, shot: str) -> bool:
    sel = build.selections[shot]
    return bool(sel.edits or sel.lock or build.config.critique_active)
