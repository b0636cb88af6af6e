"""JSON Schema validation that reports in the user's terms (file, shot, key)."""

from __future__ import annotations

import copy
import difflib
import json
import os
from collections.abc import Callable, Iterator
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

import jsonschema
import yaml

from stillmake.errors import InputError


def schema_file(name: str) -> Traversable:
    """A schema shipped inside the package (found the same in editable and normal installs)."""
    return resources.files("stillmake").joinpath("data", "schemas", name)


def schema_path(name: str) -> str:
    """The schema as a file path, for `snakemake.utils.validate` in the Snakefile."""
    return str(schema_file(name))


@cache
def load_schema(name: str) -> dict:
    text = schema_file(name).read_text(encoding="utf-8")
    if name.endswith(".json"):
        return json.loads(text)
    return yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))  # noqa: S506


def validate(
    data: object,
    schema_name: str,
    *,
    file: str | os.PathLike[str],
    shot_of: Callable[[tuple, Any], tuple[str | None, str | None]] | None = None,
) -> None:
    """Raise InputError for the first schema violation, located as precisely as possible.

    `shot_of(path)` maps a JSON path (tuple) to (shot id, key) for this document.
    """
    schema = load_schema(schema_name)
    validator = _Validator(schema)
    errors = sorted(validator.iter_errors(data), key=_error_rank)
    if not errors:
        return
    err = _deepest(errors[0])
    path = tuple(err.absolute_path)
    shot, key = shot_of(path, data) if shot_of else (None, ".".join(map(str, path)) or None)
    raise InputError(_describe(err), file=file, shot=shot, key=key)


def fill_and_validate(data: dict, schema_name: str, *, file: str | os.PathLike[str]) -> None:
    """`validate`, filling in the schema's defaults first (nested sections too), as
    `snakemake.utils.validate(..., set_default=True)` does."""
    for _error in _Filling(load_schema(schema_name)).iter_errors(data):
        pass  # filled in as a side effect; `validate` reports the errors in the user's terms
    validate(data, schema_name, file=file)


def _is_integer(_checker: object, instance: object) -> bool:
    """A whole number as written: `2`, not `2.0` (JSON Schema's default counts 2.0 as an
    integer; `pick: 2.0` then passed every check and crashed the select job)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


_Validator = jsonschema.validators.extend(
    jsonschema.Draft202012Validator,
    type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
)


def _set_defaults(
    validator: jsonschema.protocols.Validator, properties: dict, instance: object, schema: dict
) -> Iterator[jsonschema.ValidationError]:
    """A section's missing keys from the schema's `default`s (a copy of each)."""
    if isinstance(instance, dict):
        for name, sub in properties.items():
            if "default" in sub and name not in instance:
                instance[name] = copy.deepcopy(sub["default"])
    yield from _PROPERTIES(validator, properties, instance, schema)


_PROPERTIES = _Validator.VALIDATORS["properties"]
_Filling = jsonschema.validators.extend(_Validator, {"properties": _set_defaults})


def _error_rank(err: jsonschema.ValidationError) -> tuple[int, str]:
    return (-len(list(err.absolute_path)), str(err.message))


def _deepest(err: jsonschema.ValidationError) -> jsonschema.ValidationError:
    """For oneOf/anyOf, the branch error that went deepest says most."""
    while err.context:
        here = list(err.absolute_path)
        # a branch that failed only on type was the wrong branch for this value
        relevant = [
            e for e in err.context if not (e.validator == "type" and list(e.absolute_path) == here)
        ]
        err = max(relevant or err.context, key=lambda e: len(list(e.absolute_path)))
    return err


def _known_keys(err: jsonschema.ValidationError) -> str:
    """For a key the schema does not know: the nearest known one, else them all."""
    known = list(err.schema.get("properties") or ())
    extra = [k for k in err.instance if k not in known] if isinstance(err.instance, dict) else []
    if not known or not extra:
        return ""
    near = difflib.get_close_matches(str(extra[0]), known, n=1)
    return f"; did you mean '{near[0]}'?" if near else f"; known: {', '.join(known)}"


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"missing required key '{missing}'"
    if err.validator == "pattern" and err.schema.get("pattern") == "\\S":
        return "must not be empty"
    if err.validator == "minLength":
        return "must not be empty"
    if err.validator == "additionalProperties":
        return err.message + _known_keys(err)
    if err.validator == "type" and isinstance(err.instance, float) and err.instance.is_integer():
        return f"{err.message}: write {int(err.instance)}, without the decimal point"
    if err.validator == "enum":
        return f"{err.instance!r} is not one of {', '.join(map(str, err.validator_value))}"
    return err.message
