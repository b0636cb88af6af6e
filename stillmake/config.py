"""Load config.yaml for the CLI exactly as the Snakefile sees it (same schema, same defaults)."""

from __future__ import annotations

from pathlib import Path

import jsonschema
import yaml

from stillmake.errors import InputError
from stillmake.schemas import load_schema

CONFIG_SCHEMA = "config.schema.yaml"


def fill_defaults(data: dict, schema: dict) -> dict:
    """Apply schema `default`s recursively (what snakemake.utils.validate does)."""
    for key, sub in (schema.get("properties") or {}).items():
        if key not in data and "default" in sub:
            default = sub["default"]
            data[key] = dict(default) if isinstance(default, dict) else (
                list(default) if isinstance(default, list) else default)
        if isinstance(data.get(key), dict) and sub.get("type") == "object":
            fill_defaults(data[key], sub)
    return data


def parse_override(item: str) -> tuple[list[str], object]:
    """`a.b=value` -> (["a", "b"], yaml-typed value), like `snakemake --config`."""
    if "=" not in item:
        raise InputError(f"'{item}' is not KEY=VALUE", key="--config")
    key, value = item.split("=", 1)
    return key.split("."), yaml.safe_load(value) if value else None


def nest_overrides(overrides) -> dict:
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


def load_config(path="config.yaml", overrides=()) -> dict:
    path = Path(path)
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except FileNotFoundError:
        raise InputError("config file not found (run stillmake from the workflow "
                         "directory, or pass --directory)", file=path) from None
    except yaml.YAMLError as exc:
        raise InputError(f"broken YAML: {exc}", file=path) from None
    merge(data, nest_overrides(overrides))
    schema = load_schema(CONFIG_SCHEMA)
    errors = sorted(jsonschema.Draft202012Validator(schema).iter_errors(data),
                    key=lambda e: list(e.absolute_path))
    if errors:
        err = errors[0]
        key = ".".join(map(str, err.absolute_path)) or None
        raise InputError(err.message, file=path, key=key)
    return fill_defaults(data, schema)
