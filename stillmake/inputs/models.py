"""The model table (data/models.yaml): capabilities, prices and lifecycle, checked
before any call is planned or paid, so a request the API would refuse never leaves.
"""

from __future__ import annotations

import functools
import os
from dataclasses import dataclass, field, replace
from datetime import date
from importlib import resources
from typing import Any, TypedDict

import yaml

from stillmake.errors import ModelError

CLASSIC_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
WARN_DAYS = 30
FLEX_MULTIPLE = 16
FLEX_MAX_EDGE = 3840
FLEX_MAX_PIXELS = 3840 * 2160
FLEX_MIN_PIXELS = 655_360
FLEX_EXPERIMENTAL_PIXELS = 2560 * 1440
FLEX_MAX_ASPECT = 3.0
# Limits of the Images API for every model, checked when the build is planned (planner/preflight.py)
MAX_PROMPT_CHARS = 32_000  # characters of one prompt, as sent
MAX_EDIT_IMAGES = 16  # images of one images.edit: source + character refs + step refs
MAX_MASK_BYTES = 4_000_000  # a mask PNG as sent: "less than 4 MB"


def parse_size(size: str) -> tuple[int, int]:
    """ "WxH" -> (w, h); "auto" plans as 1024x1024."""
    if size == "auto":
        return (1024, 1024)
    w, _, h = size.partition("x")
    return int(w), int(h)


def today() -> date:
    """Today, or STILLMAKE_TODAY (YYYY-MM-DD) to see how a build fares on another day."""
    override = os.environ.get("STILLMAKE_TODAY")
    return date.fromisoformat(override) if override else date.today()


@dataclass(frozen=True)
class Model:
    name: str
    sizes: str = ""  # "classic" | "flexible" | "" (shut down: takes nothing)
    qualities: tuple[str, ...] = ()
    complexity: bool = False
    markup: bool = False
    input_fidelity: tuple[str, ...] = ()
    moderation: bool = False
    # kind tokens: USD per 1M text_in, image_in, image_out ... tokens; per_image: per
    # quality [square, non-square] USD; io_tokens: input, output (data/models.yaml)
    pricing: dict[str, Any] = field(default_factory=dict)
    snapshots: tuple[str, ...] = ()
    shutdown: date | None = None
    replacement: str | None = None
    released: date | None = None
    note: str = ""
    kind: str = "image"  # "image" makes images; "vision" judges them (the critique)
    reasoning: tuple[str, ...] = ()  # vision models: the reasoning efforts they take

    @property
    def base(self) -> str:
        """The table entry a snapshot name belongs to (prices and priors are shared)."""
        return _snapshot_owner().get(self.name, self.name)

    @property
    def token_priced(self) -> bool:
        return self.pricing.get("kind") == "tokens"

    def days_left(self, on: date | None = None) -> int | None:
        return None if self.shutdown is None else (self.shutdown - (on or today())).days

    def status(self, on: date | None = None) -> str:
        left = self.days_left(on)
        if left is None:
            return "current"
        if left <= 0:
            return f"shut down {self.shutdown}"
        return f"shuts down {self.shutdown} ({left} days)"

    def size_problem(self, size: str) -> str | None:
        """Why this model refuses `size`, or None: the rule broken, in words."""
        if size in CLASSIC_SIZES:
            return None
        if self.sizes != "flexible":
            return f"it takes only {', '.join(CLASSIC_SIZES)}"
        width, sep, height = size.partition("x")
        if not (sep and width.isdigit() and height.isdigit()):
            return "a size is WIDTHxHEIGHT in pixels (e.g. 1536x864) or auto"
        w, h = int(width), int(height)
        if w % FLEX_MULTIPLE or h % FLEX_MULTIPLE:
            return f"width and height must both be divisible by {FLEX_MULTIPLE}"
        if max(w, h) > FLEX_MAX_ASPECT * min(w, h):
            return "the aspect ratio must be between 1:3 and 3:1"
        if max(w, h) > FLEX_MAX_EDGE or w * h > FLEX_MAX_PIXELS:
            return "the largest size is 3840x2160 (3840 px on the long edge, 8,294,400 pixels)"
        if w * h < FLEX_MIN_PIXELS:
            return f"at least {FLEX_MIN_PIXELS:,} pixels are needed (it has {w * h:,})"
        return None

    def experimental(self, size: str) -> bool:
        w, _, h = size.partition("x")
        return size not in CLASSIC_SIZES and int(w) * int(h) > FLEX_EXPERIMENTAL_PIXELS


class Prior(TypedDict):
    """What estimates stand on until the ledger has observed a model (models.yaml `prior`)."""

    output_tokens_per_mp: dict[str, float]  # by quality
    input_image_tokens_per_mp: float
    text_chars_per_token: float
    critique_output_tokens: dict[str, float]  # by reasoning effort


@functools.cache
def _table() -> dict[str, Any]:
    text = resources.files("stillmake").joinpath("data/models.yaml").read_text(encoding="utf-8")
    return yaml.safe_load(text)


@functools.cache
def models() -> dict[str, Model]:
    """Every model of the table, by name (snapshots resolve through get_model)."""
    out = {}
    for name, raw in _table()["models"].items():
        raw = dict(raw)
        for key in ("qualities", "input_fidelity", "snapshots", "reasoning"):
            raw[key] = tuple(raw.get(key) or ())
        out[name] = Model(name=name, **raw)
    return out


@functools.cache
def _snapshot_owner() -> dict[str, str]:
    return {snap: m.name for m in models().values() for snap in m.snapshots}


def prior() -> Prior:
    return _table()["prior"]


def lookup(name: str) -> Model:
    """The table entry for a name or snapshot name, lifecycle not checked."""
    table = models()
    if name in table:
        return table[name]
    owner = _snapshot_owner().get(name)
    if owner:
        return replace(table[owner], name=name)
    raise ModelError(
        f"unknown model '{name}'; stillmake knows: {', '.join(usable_names())} "
        f"(see `stillmake models`)"
    )


def usable_names(on: date | None = None) -> list[str]:
    return [m.name for m in models().values() if (left := m.days_left(on)) is None or left > 0]


def get_model(name: str, on: date | None = None) -> Model:
    """The model, refused on or after its shutdown date with its replacement named."""
    model = lookup(name)
    left = model.days_left(on)
    if left is not None and left <= 0:
        raise ModelError(
            f"model '{name}' was shut down on {model.shutdown}; use '{model.replacement}' "
            f"(set `model: {model.replacement}` in config.yaml, or the pass's own `model:`)"
        )
    return model


def lifecycle_warning(name: str, on: date | None = None) -> str | None:
    """A warning for a model within WARN_DAYS of its shutdown, else None."""
    model = lookup(name)
    left = model.days_left(on)
    if left is None or left <= 0 or left > WARN_DAYS:
        return None
    return (
        f"model '{name}' shuts down on {model.shutdown} ({left} days from now); "
        f"move to '{model.replacement}' before then: from that day every request to it fails"
    )


def check_request(
    model_name: str,
    *,
    size: str,
    quality: str,
    fidelity: str | None = None,
    complexity: str | None = None,
    where: str = "",
) -> Model:
    """Raise ModelError if the model does not take these settings."""
    model = get_model(model_name)
    at = f" ({where})" if where else ""
    if model.kind != "image":
        raise ModelError(
            f"model '{model.name}' is a {model.kind} model: it judges images, it does not "
            f"make them{at}; choose an image model (see `stillmake models`)",
            "model",
        )
    problem = model.size_problem(size)
    if problem:
        raise ModelError(f"model '{model.name}' does not take size '{size}'{at}: {problem}", "size")
    if quality not in model.qualities:
        raise ModelError(
            f"model '{model.name}' does not take quality '{quality}'{at}; "
            f"choose one of {', '.join(model.qualities)}",
            "quality",
        )
    if fidelity is not None and fidelity not in model.input_fidelity:
        takes = (
            ", ".join(model.input_fidelity) or "nothing (omit it: the model keeps detail itself)"
        )
        raise ModelError(
            f"model '{model.name}' does not take input_fidelity '{fidelity}'{at}; it takes {takes}",
            "input_fidelity",
        )
    if complexity is not None and not model.complexity:
        raise ModelError(
            f"model '{model.name}' does not take complexity{at}; only the gpt-image-2.6 models do",
            "complexity",
        )
    return model


def check_critique(model_name: str, reasoning: str) -> Model:
    """Raise ModelError unless the model judges images and takes this reasoning effort."""
    model = get_model(model_name)
    if model.kind != "vision":
        vision = [m.name for m in models().values() if m.kind == "vision"]
        raise ModelError(
            f"model '{model.name}' cannot critique: it makes images, it does not judge them; "
            f"use a vision model ({', '.join(vision)})",
            "model",
        )
    if reasoning not in model.reasoning:
        raise ModelError(
            f"model '{model.name}' does not take reasoning '{reasoning}'; choose one of "
            f"{', '.join(model.reasoning)}",
            "reasoning",
        )
    return model


def best_fidelity(model_name: str) -> str | None:
    """Highest input_fidelity the model accepts; None where the parameter must be omitted."""
    fid = lookup(model_name).input_fidelity
    return "high" if "high" in fid else (fid[0] if fid else None)
