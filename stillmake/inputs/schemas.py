"""JSON Schema validation that reports in the user's terms (file, shot, key)."""

from __future__ import annotations

import copy
import difflib
import hashlib
import json
import os
import re
from collections.abc import Callable, Iterator, Mapping
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from stillmake import user_cache
from stillmake.errors import InputError

if TYPE_CHECKING:
    import jsonschema


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


LineOf = Callable[[tuple, object], "int | None"]


class _NotJson(Exception):
    pass


def _not_json(value: object) -> object:
    raise _NotJson  # a date, say: its type matters to the schema; not cached


@cache
def _schema_digest(schema_name: str) -> bytes:
    """The schema as written and how it is applied here (this module): both part of the
    answer a cached check stands for. Read once per process, and only when a document
    is looked up."""
    checker = Path(__file__).read_bytes()
    return hashlib.sha256(checker + schema_file(schema_name).read_bytes()).digest()


def _passed_before(data: object, schema_name: str, kind: str = "valid") -> Path | None:
    """Where the user's cache marks this exact document as having passed this exact
    schema (a 1000-shot prompts file takes about 0.5 s to check); None when the cache is
    off or the document holds values JSON does not (its type could matter)."""
    try:
        text = json.dumps(data, sort_keys=True, allow_nan=False, default=_not_json)
    except (_NotJson, ValueError, TypeError):
        return None
    digest = hashlib.sha256(_schema_digest(schema_name))
    digest.update(schema_name.encode() + b"\0" + text.encode())
    return user_cache.entry(kind, digest.hexdigest())


def validate(
    data: object,
    schema_name: str,
    *,
    file: str | os.PathLike[str],
    shot_of: Callable[[tuple, Any], tuple[str | None, str | None]] | None = None,
    line_of: LineOf | None = None,
) -> None:
    """Raise InputError for the first schema violation, located as precisely as possible.

    `shot_of(path)` maps a JSON path (tuple) to (shot id, key) for this document;
    `line_of(path, value)` finds the line the value at `path` is written on, if it is.
    A document that passed before (the same text, the same schema) is not checked again."""
    passed = _passed_before(data, schema_name)
    if passed is not None and passed.is_file():
        return
    _check(data, schema_name, file=file, shot_of=shot_of, line_of=line_of)
    user_cache.keep(passed, schema_name)


def _check(
    data: object,
    schema_name: str,
    *,
    file: str | os.PathLike[str],
    shot_of: Callable[[tuple, Any], tuple[str | None, str | None]] | None = None,
    line_of: LineOf | None = None,
) -> None:
    """The check itself, afresh: InputError for the first violation."""
    checking, _filling = _validators()
    errors = sorted(checking(load_schema(schema_name)).iter_errors(data), key=_error_rank)
    if not errors:
        return
    err = _deepest(errors[0])
    path = tuple(err.absolute_path)
    shot, key = shot_of(path, data) if shot_of else (None, ".".join(map(str, path)) or None)
    line = line_of(*_written_at(err, path)) if line_of else None
    raise InputError(_describe(err), file=file, shot=shot, key=key, line=line)


def fill_and_validate(
    data: dict, schema_name: str, *, file: str | os.PathLike[str], line_of: LineOf | None = None
) -> None:
    """`validate`, filling in the schema's defaults first (nested sections too), as
    `snakemake.utils.validate(..., set_default=True)` does. A document filled before
    (the same text, the same schema) is filled from the user's cache."""
    kept = _passed_before(data, schema_name, "filled")
    try:
        filled = json.loads(kept.read_text(encoding="utf-8")) if kept else None
    except (OSError, ValueError):
        filled = None
    if isinstance(filled, dict):
        data.clear()
        data.update(filled)
        return
    _checking, filling = _validators()
    for _error in filling(load_schema(schema_name)).iter_errors(data):
        pass  # filled in as a side effect; `_check` reports the errors in the user's terms
    _check(data, schema_name, file=file, line_of=line_of)
    user_cache.keep(kept, json.dumps(data))


def _written_at(err: jsonschema.ValidationError, path: tuple) -> tuple[tuple, object]:
    """(path, value) of what is at fault as written: an unknown key, else the value."""
    extra, instance = _unknown_keys(err), err.instance
    if extra and isinstance(instance, dict):
        return (*path, extra[0]), instance[extra[0]]
    return path, instance


def _properties(err: jsonschema.ValidationError) -> dict:
    """The keys the failing schema knows (none for a schema that is not a mapping)."""
    schema = err.schema
    return (schema.get("properties") or {}) if isinstance(schema, dict) else {}


def _unknown_keys(err: jsonschema.ValidationError) -> list:
    instance = err.instance
    if err.validator != "additionalProperties" or not isinstance(instance, dict):
        return []
    known = _properties(err)
    return [k for k in instance if k not in known]


def yaml_line(text: str, path: tuple, value: object = None) -> int | None:
    """The line (1-based) of the value at `path` in a YAML document (keys as written,
    0-based list indices), or None if it is not written there. With `value` given, the
    line only if YAML reads that value there (a value from elsewhere, e.g. --config,
    is not pinned on the file's line)."""
    try:
        node = yaml.compose(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
    except yaml.YAMLError:
        return None
    line = None
    for part in path:
        if isinstance(node, yaml.MappingNode):
            pair = next((kv for kv in node.value if kv[0].value == str(part)), None)
            if pair is None:
                return None
            line, node = pair[0].start_mark.line + 1, pair[1]
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int):
            if part >= len(node.value):
                return None
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            return None
    if isinstance(node, yaml.ScalarNode):
        line = node.start_mark.line + 1  # a value on the line after its key: that line
        try:
            read = yaml.safe_load(node.value) if node.style in (None, "") else node.value
        except yaml.YAMLError:
            return None
        if value is not None and read != value:
            return None
    return line


def yaml_file_lines(file: str | os.PathLike[str]) -> LineOf:
    """`line_of` for a YAML file on disk (read once, when an error needs it)."""

    def line_of(path: tuple, value: object) -> int | None:
        try:
            text = Path(file).read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            return None
        return yaml_line(text, path, value)

    return line_of


def _is_integer(_checker: object, instance: object) -> bool:
    """A whole number as written: `2`, not `2.0` (JSON Schema's default counts 2.0 as an
    integer; `pick: 2.0` then passed every check and crashed the select job)."""
    return isinstance(instance, int) and not isinstance(instance, bool)


@cache
def _validators() -> tuple[Any, Any]:
    """(the validator, the one that also fills in defaults): jsonschema is imported only
    when a document is checked afresh (about 0.2 s a process; see `_passed_before`)."""
    import jsonschema

    checking = jsonschema.validators.extend(
        jsonschema.Draft202012Validator,
        type_checker=jsonschema.Draft202012Validator.TYPE_CHECKER.redefine("integer", _is_integer),
    )
    properties = checking.VALIDATORS["properties"]

    def set_defaults(
        validator: jsonschema.protocols.Validator, props: dict, instance: object, schema: dict
    ) -> Iterator[jsonschema.ValidationError]:
        """A section's missing keys from the schema's `default`s (a copy of each)."""
        if isinstance(instance, dict):
            for name, sub in props.items():
                if "default" in sub and name not in instance:
                    instance[name] = copy.deepcopy(sub["default"])
        yield from properties(validator, props, instance, schema)

    return checking, jsonschema.validators.extend(checking, {"properties": set_defaults})


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


SECRET_KEY = re.compile(r"(api_?key|secret|token|password)", re.I)


def _unknown_key(err: jsonschema.ValidationError) -> str:
    """A key the schema does not know: which, and the nearest known one (else them all)."""
    extra = _unknown_keys(err)
    if not extra:
        return err.message
    said = f"unknown key '{extra[0]}'"
    if SECRET_KEY.search(str(extra[0])):
        return f"{said}: the API key is read from the environment only (OPENAI_API_KEY); remove it"
    known = list(_properties(err))
    if not known:
        return said
    near = difflib.get_close_matches(str(extra[0]), known, n=1)
    return said + (f"; did you mean '{near[0]}'?" if near else f"; known: {', '.join(known)}")


def _describe(err: jsonschema.ValidationError) -> str:
    if err.validator == "required":
        missing = err.message.split("'")[1] if "'" in err.message else err.message
        return f"missing required key '{missing}'"
    schema = err.schema if isinstance(err.schema, Mapping) else {}
    if err.validator == "pattern" and schema.get("pattern") == "\\S":
        return "must not be empty"
    if err.validator == "minLength":
        return "must not be empty"
    if err.validator == "additionalProperties":
        return _unknown_key(err)
    if err.validator == "type":
        return _wrong_type(err)
    if err.validator == "enum":
        allowed = err.validator_value if isinstance(err.validator_value, list) else []
        return f"{err.instance!r} is not one of {', '.join(map(str, allowed))}"
    return err.message


# -- a value of the wrong type, in words, with its likely fix --------------------------

TYPE_WORDS = {
    "integer": "a whole number",
    "number": "a number",
    "string": "text",
    "object": "a mapping of keys (key: value)",
    "array": "a list",
    "boolean": "true or false",
    "null": "empty",
}
KEY_THEN_VALUE = re.compile(r"^([A-Za-z_][\w-]*)(?::(?=\S)|\s+)(.+)$")


def _kind(value: object) -> str:
    if isinstance(value, bool):
        return "true or false"
    if isinstance(value, int):
        return "a whole number"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "text"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    return "empty"


def _shown(value: object) -> str:
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:59] + "…"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _wrong_type(err: jsonschema.ValidationError) -> str:
    """ "'pick 1' is text, not key: value: write `pick: 1` ..." rather than JSON Schema's
    "'pick 1' is not of type 'object', 'null'"."""
    given: Any = err.validator_value
    wanted: list[str] = [given] if isinstance(given, str) else list(given)
    value = err.instance
    expected = " or ".join(TYPE_WORDS.get(t, t) for t in wanted if t != "null") or "empty"
    if isinstance(value, float) and value.is_integer() and "integer" in wanted:
        return f"{value} is not a whole number: write {int(value)}, without the decimal point"
    if isinstance(value, str) and "object" in wanted:
        pair = KEY_THEN_VALUE.match(value.strip())
        if pair and pair.group(1) in _properties(err):
            return (
                f"{_shown(value)} is a line of text, not key: value: write "
                f"'{pair.group(1)}: {pair.group(2)}' (a colon and a space after the key)"
            )
    if isinstance(value, str) and {"number", "integer"} & set(wanted):
        if _is_number(value.strip()):
            return f"{_shown(value)} is text (in quotes), not a number: write {value.strip()}"
        return f"{_shown(value)} is text where {expected} belongs: write a number, no quotes"
    return f"{_shown(value)} is {_kind(value)} where {expected} belongs"
