"""The history of selections.yaml as the art director reads it: each version, who made
it (the CLI, the board, a hand save, a restore), what was asked, and what changed, per
shot (`s3: pick 1 -> 2`)."""

from __future__ import annotations

import datetime as _dt
import json

from stillmake.inputs.selections.history import History, Version

COLUMNS = ("#", "when", "by", "who", "what", "changed")
_GONE = object()


def _short(value: object, limit: int = 28) -> str:
    if value is _GONE or value is None:
        return "-"
    if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
        return f"{len(value)} step(s)"
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def shot_changes(before: object, after: object) -> str:
    """`pick 1 -> 2, lock - -> true`: what changed in one shot's entry."""
    if before is _GONE:
        return f"added {_short(after, 60)}"
    if after is _GONE:
        return "removed"
    if not isinstance(before, dict) or not isinstance(after, dict):
        return f"{_short(before)} -> {_short(after)}"
    keys = dict.fromkeys([*before, *after])
    return ", ".join(
        f"{k} {_short(before.get(k, _GONE))} -> {_short(after.get(k, _GONE))}"
        for k in keys
        if before.get(k, _GONE) != after.get(k, _GONE)
    )


def changes(before: dict | None, after: dict | None, shot: str | None = None) -> dict[str, str]:
    """{shot: what changed} between two versions' decisions (one shot, or all)."""
    if after is None:
        return {"": "does not load (a broken save)"}
    if before is None:
        before = {}
    shots = [shot] if shot else list(dict.fromkeys([*after, *before]))
    out = {}
    for s in shots:
        b, a = before.get(s, _GONE), after.get(s, _GONE)
        if b != a:
            out[s] = shot_changes(b, a)
    return out


def _when(v: Version) -> str:
    return _dt.datetime.fromtimestamp(v.seconds).strftime("%Y-%m-%d %H:%M:%S")


def history_rows(history: History, shot: str | None = None, limit: int | None = 20) -> list[dict]:
    """The last `limit` versions (all: None) that changed anything (or `shot`), oldest
    first, each with what changed."""
    versions = history.versions()
    start = 0 if shot or limit is None else max(0, len(versions) - limit - 1)
    rows = []
    previous: dict | None = None
    for i, v in enumerate(versions[start:], start=start):
        now = history.decisions(v.sha)
        if i == start and i:
            previous = now
            continue
        diff = changes(previous if i else None, now, shot)
        if now is not None:
            previous = now
        if shot and not diff:
            continue
        changed = "; ".join(f"{s}: {what}" if s else what for s, what in diff.items())
        if not diff:
            changed = "comments or layout only"
        if i == 0 and not shot:
            changed = f"{len(now or {})} shot(s) with decisions"
        rows.append(
            {
                "#": v.n,
                "when": _when(v),
                "by": v.by,
                "who": v.who,
                "what": v.what,
                "changed": changed,
            }
        )
    return rows if limit is None else rows[-limit:]
