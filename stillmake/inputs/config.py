"""The workflow's config as one typed value, read the same way at every door.

`snakemake` (the Snakefile), every `stillmake` command and the review board build it
from the same sources in the same order: `config.yaml`, then each `--configfile`, then
`--config`/`-C KEY=VALUE` (values typed as `snakemake --config` types them, dotted keys
for nested sections), merged with Snakemake's own `update_config`. The result is
checked against `data/schemas/config.schema.yaml`, which holds every default: nothing
here or elsewhere falls back to a default of its own.

Secrets are deliberately absent: the openai client reads OPENAI_API_KEY from the
environment itself, so no key ever passes through config, params or logs.
"""

from __future__ import annotations

import dataclasses
import os
import types
import typing
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, TypeVar

import yaml

from stillmake.artifacts.thresholds import QualityOverrides
from stillmake.errors import InputError
from stillmake.inputs.budget import check_budget, read_budget
from stillmake.inputs.schemas import fill_and_validate, yaml_file_lines
from stillmake.paths import CONFIG_FILE

if TYPE_CHECKING:
    from _typeshed import DataclassInstance

CONFIG_SCHEMA = "config.schema.yaml"
Pass = Literal["draft", "edit", "final"]
PASSES: tuple[Pass, ...] = ("draft", "edit", "final")


@dataclass(frozen=True, slots=True)
class DraftConfig:
    """Pass 1: composition search (images.generate, n drafts per shot)."""

    model: str | None
    n: int
    quality: str
    size: str
    complexity: str | None


@dataclass(frozen=True, slots=True)
class EditConfig:
    """Pass 3: consistency edits (images.edit, one change per step), at the drafts' size."""

    model: str | None
    quality: str
    input_fidelity: str
    complexity: str | None
    protect_unmasked: bool
    feather_px: int
    refuse_weak: bool


@dataclass(frozen=True, slots=True)
class FinalConfig:
    """Pass 4: finals (n=1, one fixed size for every final)."""

    model: str | None
    mode: str
    quality: str
    size: str
    complexity: str | None
    approval: str  # candidate: locks bound to what was seen; any: unattended, unchecked


@dataclass(frozen=True, slots=True)
class CritiqueConfig:
    """The opt-in vision critique (Responses API)."""

    enabled: bool
    model: str
    reasoning: str
    blocking: bool
    requests_per_minute: int | None
    fail_on: tuple[str, ...]  # criteria whose `fail` fails the gate; others warn at most


@dataclass(frozen=True, slots=True)
class OpenAIConfig:
    """How the official client reaches the API (never the key)."""

    base_url: str | None
    timeout_s: float
    max_retries: int
    images_per_minute: int | None
    in_flight: int


@dataclass(frozen=True, slots=True)
class StorageConfig:
    """Where the state every job shares lives (a shared filesystem for a cluster)."""

    cache: str
    ledger: str
    lease_s: float


@dataclass(frozen=True, slots=True)
class Config:
    """The validated config, every key present (defaults from the schema), typed.

    `root` is where relative paths in it are read: the workflow directory, or a
    module's prefix under it."""

    prompts: str
    selections: str
    backend: str
    model: str
    output_format: str
    moderation: str
    draft: DraftConfig
    edit: EditConfig
    final: FinalConfig
    critique: CritiqueConfig
    critical: tuple[str, ...]
    budget_usd: float | None  # None: `unlimited`, the one way to have no ceiling
    quality: QualityOverrides  # {lighting tag: {metric: {warn: bound, fail: bound}}}
    openai: OpenAIConfig
    storage: StorageConfig
    console: str  # what a build prints: `brief` or `snakemake` (its per-job blocks too)
    root: Path = Path()

    @classmethod
    def from_validated(cls, data: Mapping[str, Any], root: str | os.PathLike[str] = "") -> Config:
        """The typed form of a config already checked and filled by `validated`."""
        budget = read_budget(data["budget_usd"])  # None only for the explicit `unlimited`
        return _build(cls, {**data, "budget_usd": budget, "root": Path(root or ".")})

    # -- what the keys mean ---------------------------------------------------------
    def pass_config(self, pass_: Pass) -> DraftConfig | EditConfig | FinalConfig:
        sections: dict[Pass, DraftConfig | EditConfig | FinalConfig] = {
            "draft": self.draft,
            "edit": self.edit,
            "final": self.final,
        }
        return sections[pass_]

    def model_for(self, pass_: Pass) -> str:
        """The pass's own `model`, else the top-level one."""
        return self.pass_config(pass_).model or self.model

    def model_key(self, pass_: Pass) -> str:
        """The config key that chose the pass's model (what an error about it names)."""
        return f"{pass_}.model" if self.pass_config(pass_).model else "model"

    @property
    def critique_active(self) -> bool:
        """Enabled, on a backend that can judge: the preview's stand-ins get no opinion."""
        return self.critique.enabled and self.backend != "preview"

    # -- where files are ------------------------------------------------------------
    @property
    def prompts_path(self) -> Path:
        return self.root / self.prompts

    @property
    def selections_path(self) -> Path:
        return self.root / self.selections

    @property
    def cache_dir(self) -> Path:
        return self.root / self.storage.cache  # an absolute path stays as given

    @property
    def ledger_path(self) -> Path:
        return self.root / self.storage.ledger

    @property
    def rate_path(self) -> Path:
        """Beside the ledger: builds that share a budget share the images-per-minute cap."""
        return self.ledger_path.with_name(".rate.json")


_T = TypeVar("_T", bound="DataclassInstance")


def _build(cls: type[_T], data: Mapping[str, Any]) -> _T:
    """A config dataclass from its validated mapping, nested sections included."""
    hints = typing.get_type_hints(cls)
    values = {}
    for f in dataclasses.fields(cls):
        value = data[f.name]
        kind = hints[f.name]
        if isinstance(kind, type) and dataclasses.is_dataclass(kind):
            value = _build(kind, value)
        elif typing.get_origin(kind) is tuple:
            value = tuple(value)
        elif kind is float or (
            isinstance(kind, types.UnionType) and float in kind.__args__ and value is not None
        ):
            value = float(value)
        values[f.name] = value
    return cls(**values)


# -- loading: the same sources, in the same order, at every door ----------------------


def validated(data: dict[str, Any], file: str | os.PathLike[str] = CONFIG_FILE) -> dict[str, Any]:
    """Check `data` against the schema and fill in its defaults, in place (as
    `snakemake.utils.validate` does, with one-line errors naming the key)."""
    check_budget(data)  # one line for an empty, NaN, negative or non-number budget
    fill_and_validate(data, CONFIG_SCHEMA, file=file, line_of=yaml_file_lines(file))
    return data


def workflow_config(data: dict[str, Any], root: str | os.PathLike[str] = "") -> Config:
    """The Snakefile's door: Snakemake's merged `config`, checked and typed."""
    return Config.from_validated(validated(data), root)


def read_config_file(path: str | os.PathLike[str]) -> dict[str, Any]:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise InputError(
            "config file not found (run stillmake from the workflow directory, "
            "or pass --directory)",
            file=path,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"broken YAML: {exc}".replace("\n", " "), file=path) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise InputError("must be a mapping of config keys", file=path)
    return data


def typed_value(text: str) -> Any:
    """A `-C KEY=VALUE` value typed as config.yaml would type it (`true`, `2`, `[a, b]`;
    empty: null, as `snakemake --config` makes it)."""
    if not text:
        return None
    try:
        return yaml.safe_load(text)
    except yaml.YAMLError:
        return text


def parse_overrides(items: Iterable[str]) -> dict[str, Any]:
    """["draft.size=1536x640", "budget_usd=3"] -> {"draft": {"size": ...}, "budget_usd": 3}:
    `snakemake --config`, plus dotted keys for nested sections."""
    from snakemake.utils import update_config

    data: dict[str, Any] = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise InputError(f"'{item}' is not KEY=VALUE", key="--config")
        node: Any = typed_value(value)
        for part in reversed(key.strip().split(".")):
            node = {part: node}
        update_config(data, node)
    return data


def load_config(
    configfiles: Sequence[str | os.PathLike[str]] = (),
    overrides: Iterable[str] = (),
    *,
    root: str | os.PathLike[str] = "",
) -> Config:
    """A `stillmake` command's door: `config.yaml`, each `--configfile`, then the
    `--config` overrides, merged as Snakemake merges them."""
    from snakemake.utils import update_config

    data = read_config_file(Path(root or ".") / CONFIG_FILE)
    for extra in configfiles:
        update_config(data, read_config_file(extra))
    update_config(data, parse_overrides(overrides))
    return Config.from_validated(validated(data), root)


@dataclass(frozen=True)
class ConfigSources:
    """Where a door reads its config from beyond `config.yaml`: what a `stillmake` command
    takes as `--configfile` and `--config`/`-C`, and hands on to the `snakemake` it runs."""

    configfiles: tuple[str, ...] = ()
    overrides: tuple[str, ...] = ()

    def load(self, root: str | os.PathLike[str] = "") -> Config:
        return load_config(self.configfiles, self.overrides, root=root)

    def snakemake_args(self, scratch: str | os.PathLike[str]) -> list[str]:
        """The same config for a `snakemake` run: the config files, then the overrides as
        one more file in `scratch` (Snakemake's `--config` takes no dotted keys)."""
        files = [str(Path(f).absolute()) for f in self.configfiles]
        if self.overrides:
            extra = Path(scratch) / "overrides.yaml"
            extra.write_text(yaml.safe_dump(parse_overrides(self.overrides)), encoding="utf-8")
            files.append(str(extra))
        return ["--configfile", *files] if files else []


ONLY_CONFIG_YAML = ConfigSources()


def schema_defaults() -> dict[str, Any]:
    """The config every key of which comes from the schema (for tests and tools)."""
    return validated({"prompts": "", "selections": ""})
