"""The workflow's config, read one way: config.yaml plus overrides, checked against the
schema, defaults from the schema alone; `Settings` is the run-wide view of it.

The CLI loads it here exactly as the Snakefile sees it. Secrets are deliberately
absent: the openai client reads OPENAI_API_KEY from the environment itself, so no
key ever passes through config, params or logs.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from urllib.parse import unquote_plus, urlsplit, urlunsplit

import jsonschema
import yaml

from stillmake.errors import InputError, ModelError, StillmakeError
from stillmake.inputs.budget import check_budget, read_budget
from stillmake.inputs.guardrail import draft_quality_problem
from stillmake.inputs.models import (
    check_critique,
    check_request,
    get_model,
    lifecycle_warning,
    lookup,
    parse_size,
)
from stillmake.inputs.schemas import load_schema

DEFAULT_OPENAI_BASE_URL = "https://api.openai.com/v1"
CONFIG_FILE = "config.yaml"
PASSES = ("draft", "edit", "final")
ASPECT_TOLERANCE = 0.01
CONFIG_SCHEMA = "config.schema.yaml"


# query parameters whose values are credentials: ?api-key=, ?token=, ?sig=, ...
SECRET_QUERY_KEY = re.compile(r"key|token|secret|passw|pwd|sig|auth|credential|session", re.I)


def redact_url(url: str) -> str:
    """The URL without its credentials, the only form of a URL that is ever recorded
    (fingerprints, params, sidecars, the ledger, logs): user info dropped, the values of
    secret-looking query parameters replaced by ***. Everything else is kept as written,
    so a URL without credentials is unchanged (and so are its fingerprints)."""
    parts = urlsplit(url)
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(
        f"{name}=***"
        if sep and SECRET_QUERY_KEY.search(unquote_plus(name))
        else f"{name}{sep}{value}"
        for name, sep, value in (item.partition("=") for item in parts.query.split("&") if item)
    )
    return urlunsplit(parts._replace(netloc=netloc, query=query))


def fill_defaults(data: dict, schema: dict) -> dict:
    """Apply schema `default`s recursively (what snakemake.utils.validate does)."""
    for key, sub in (schema.get("properties") or {}).items():
        if key not in data and "default" in sub:
            default = sub["default"]
            data[key] = (
                dict(default)
                if isinstance(default, dict)
                else (list(default) if isinstance(default, list) else default)
            )
        if isinstance(data.get(key), dict) and sub.get("type") == "object":
            fill_defaults(data[key], sub)
    return data


def parse_override(item: str) -> tuple[list[str], object]:
    """`a.b=value` -> (["a", "b"], yaml-typed value), like `snakemake --config`."""
    if "=" not in item:
        raise InputError(f"'{item}' is not KEY=VALUE", key="--config")
    key, value = item.split("=", 1)
    return key.split("."), yaml.safe_load(value) if value else None


def nest_overrides(overrides: Iterable[str]) -> dict:
    """["draft.size=1536x640", "budget_usd=3"] -> {"draft": {"size": ...}, "budget_usd": 3}."""
    data: dict = {}
    for item in overrides:
        keys, value = parse_override(item)
        node = data
        for k in keys[:-1]:
            node = node.setdefault(k, {})
        node[keys[-1]] = value
    return data


def merge(base: dict, extra: dict) -> dict:
    """Deep merge, as Snakemake merges --configfile into the workflow's config."""
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            merge(base[key], value)
        else:
            base[key] = value
    return base


def load_config(
    path: str | os.PathLike[str] = "config.yaml", overrides: Iterable[str] = ()
) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError(
            "config file not found (run stillmake from the workflow "
            "directory, or pass --directory)",
            file=path,
        ) from None
    except yaml.YAMLError as exc:
        raise InputError(f"broken YAML: {exc}", file=path) from None
    merge(data, nest_overrides(overrides))
    check_budget(data)  # one line for an empty, NaN, negative or non-number budget
    schema = load_schema(CONFIG_SCHEMA)
    errors = sorted(
        jsonschema.Draft202012Validator(schema).iter_errors(data),
        key=lambda e: list(e.absolute_path),
    )
    if errors:
        err = errors[0]
        key = ".".join(map(str, err.absolute_path)) or None
        raise InputError(err.message, file=path, key=key)
    return fill_defaults(data, schema)


def defaults() -> dict:
    """The config every key of which comes from the schema's defaults."""
    return fill_defaults({}, load_schema(CONFIG_SCHEMA))


@dataclass
class Settings:
    """Run-wide facts derived from a validated config: backend, budget, API settings,
    where the cache and ledger live, and which model each pass uses."""

    config: dict
    root: Path

    @classmethod
    def from_config(cls, config: dict, root: str | os.PathLike[str] | None = None) -> Settings:
        return cls(config=config, root=Path(root) if root else Path.cwd())

    @property
    def backend(self) -> str:
        return self.config["backend"]

    @property
    def openai(self) -> dict:
        return self.config["openai"]

    @property
    def critique(self) -> dict:
        """The opt-in vision critique: {enabled, model, reasoning, blocking, ...}."""
        return self.config["critique"]

    @property
    def budget_usd(self) -> float | None:
        """The ceiling in USD; None only for the explicit `unlimited`."""
        return read_budget(self.config["budget_usd"])

    def model_for(self, pass_: str) -> str:
        """The pass's own `model`, else the top-level one."""
        return self.config[pass_].get("model") or self.config["model"]

    @cached_property
    def storage(self) -> dict:
        """`storage:` with the schema's defaults under what the config gives."""
        return {**defaults()["storage"], **(self.config.get("storage") or {})}

    @property
    def cache_dir(self) -> Path:
        return self.root / self.storage["cache"]  # an absolute path stays as given

    @property
    def ledger_path(self) -> Path:
        return self.root / self.storage["ledger"]

    @property
    def rate_path(self) -> Path:
        """Beside the ledger: builds that share a budget share the images-per-minute cap."""
        return self.ledger_path.with_name(".rate.json")

    @property
    def lease_s(self) -> float:
        return float(self.storage["lease_s"])

    def base_url(self) -> str:
        """The URL the client connects to, credentials and all: never write it down;
        `redact_url(settings.base_url())` is the form that may be recorded."""
        return (
            self.openai.get("base_url")
            or os.environ.get("OPENAI_BASE_URL")
            or DEFAULT_OPENAI_BASE_URL
        ).rstrip("/")

    def base_url_source(self) -> str | None:
        """The setting base_url() came from, as an error message names it; None for the
        default (neither is set)."""
        if self.openai.get("base_url"):
            return "openai.base_url in config.yaml"
        if os.environ.get("OPENAI_BASE_URL"):
            return "OPENAI_BASE_URL"
        return None

    def require_credentials(self) -> None:
        if self.backend == "openai" and not os.environ.get("OPENAI_API_KEY"):
            raise StillmakeError(
                "backend 'openai' needs an API key: export OPENAI_API_KEY=... in the shell "
                "that runs snakemake (keys are read from the environment only, never from "
                "config.yaml), or run with --config backend=preview for the offline preview."
            )

    # -- checks: before Snakemake schedules a single job ---------------------------
    def check(self) -> list[str]:
        """Refuse what a pass's model does not take (shut down or unknown, size, quality,
        complexity) and high-quality drafts; return warnings (a dying model, sizes)."""
        warnings: list[str] = []
        sizes = {
            "draft": self.config["draft"]["size"],
            "edit": self.config["draft"]["size"],
            "final": self.config["final"]["size"],
        }
        for pass_ in PASSES:
            model, cfg = self.model_for(pass_), self.config[pass_]
            try:
                get_model(model)
            except ModelError as exc:
                key = f"{pass_}.model" if cfg.get("model") else "model"
                raise InputError(str(exc), file=CONFIG_FILE, key=key) from None
            warning = lifecycle_warning(model)
            if warning and warning not in warnings:
                warnings.append(warning)
            try:
                check_request(
                    model,
                    size=sizes[pass_],
                    quality=cfg["quality"],
                    complexity=cfg.get("complexity"),
                    where=f"{pass_} pass",
                )
            except ModelError as exc:
                # edits run at the drafts' size: a size problem there is draft.size's
                owner = "draft" if exc.setting == "size" and pass_ == "edit" else pass_
                key = f"{owner}.{exc.setting}"
                if exc.setting == "model" and not cfg.get("model"):
                    key = "model"
                raise InputError(str(exc), file=CONFIG_FILE, key=key) from None
        problem = draft_quality_problem(self.config["draft"]["quality"])
        if problem:
            raise InputError(problem, file=CONFIG_FILE, key="draft.quality")
        return warnings + self._critique_warnings() + self._size_warnings()

    def _critique_warnings(self) -> list[str]:
        """The critique's model must judge images and take the reasoning effort asked for."""
        cfg = self.critique
        if not cfg["enabled"]:
            return []
        try:
            check_critique(cfg["model"], cfg["reasoning"])
        except ModelError as exc:
            raise InputError(str(exc), file=CONFIG_FILE, key=f"critique.{exc.setting}") from None
        warning = lifecycle_warning(cfg["model"])
        return [warning] if warning else []

    def _size_warnings(self) -> list[str]:
        final, draft = self.config["final"]["size"], self.config["draft"]["size"]
        if final == "auto":
            raise InputError(
                "finals need one fixed size, not 'auto'", file=CONFIG_FILE, key="final.size"
            )
        warnings = []
        if draft != "auto" and self.config["final"]["mode"] == "edit":
            (dw, dh), (fw, fh) = parse_size(draft), parse_size(final)
            if abs(dw / dh - fw / fh) > ASPECT_TOLERANCE * (fw / fh):
                warnings.append(
                    f"draft.size {draft} ({dw / dh:.2f}:1) and final.size {final} "
                    f"({fw / fh:.2f}:1) differ in aspect: a final renders the picked draft, "
                    f"so its composition will be cropped or stretched"
                )
        if lookup(self.model_for("final")).experimental(final):
            warnings.append(
                f"final.size {final} is above 2560x1440: the API calls that experimental"
            )
        return warnings
