"""The vision critique's rubric: the seed's quick quality gate, for what no pixel metric sees.

Face identity, skin, wardrobe and highlights are measured (artifacts/); these criteria
are judged by a vision model instead. Its answer must be JSON that matches
VERDICT_SCHEMA exactly: anything else is a bad answer (retried, never cached, never
shown as a verdict). RUBRIC_VERSION is part of every critique's fingerprint: change the
criteria or the brief, and bump it.

Its verdicts become flags (`critique_flags`): a `warn` or `fail` verdict flags at warn
level, at fail level only for the criteria `critique.fail_on` names. A model's opinion
can stop a final only where the art director asked it to.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from stillmake.errors import BadAnswer

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage
    from stillmake.artifacts.quality import FlagJson
    from stillmake.artifacts.sheets import Note

RUBRIC_VERSION = "seed-gate/2"
LEVELS = ("pass", "warn", "fail")

# criterion -> what the model judges (the seed's gate, minus what pixels measure)
CRITERIA: dict[str, str] = {
    "anatomy": "realistic anatomy: hands (count the fingers), limbs, faces and bodies are "
    "whole and plausible",
    "action": "one primary readable action in frame: what the character does reads at a glance",
    "background": "the background supports the story beat without stealing focus",
    "spatial_logic": "spatial logic: perspective, scale, contact with floors and objects, "
    "and the layout of the set make physical sense",
    "lighting": "lighting matches the scene's intent (the lighting line of the prompt) in "
    "direction, colour temperature and mood",
    "style": "a grounded film still: no fantasy VFX or glowing magic, no comic-book grading, "
    "no glossy CGI look or plastic skin",
}
KINDS = {  # what is judged: the first image of a critique
    "draft": "a draft still",
    "candidate": "a candidate still (a picked draft after consistency edits)",
    "final": "a final still",
}

VERDICT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "additionalProperties": False,
    "required": list(CRITERIA),
    "properties": {
        name: {
            "type": "object",
            "additionalProperties": False,
            "required": ["verdict", "reason"],
            "properties": {
                "verdict": {"type": "string", "enum": list(LEVELS)},
                "reason": {"type": "string"},
            },
        }
        for name in CRITERIA
    },
}
SCHEMA_NAME = "draft_critique"


class Verdict(TypedDict):
    verdict: str  # pass | warn | fail
    reason: str


Verdicts = dict[str, Verdict]  # criterion -> the model's verdict (VERDICT_SCHEMA)


class Critique(TypedDict):
    """One image's critique as review JSON and sidecars keep it (stages/critique.py):
    `status` done, with its verdicts and what it cost; or "failed"/"not run" and why."""

    model: str
    opinion: str  # how the sheet and board name it: "model's opinion (<model>)"
    status: str  # done | failed | not run
    why: NotRequired[str]  # failed or not run
    verdicts: NotRequired[Verdicts]
    worst: NotRequired[str]
    fingerprint: NotRequired[str]  # the critique request's: its ledger lines and cache entry
    usage: NotRequired[Usage | None]
    cost_usd: NotRequired[float]  # $0 from the cache
    cache_hit: NotRequired[bool]


def brief(
    *, project: str, shot: str, title: str, prompt: str, beat: str, refs: int, kind: str = "draft"
) -> str:
    """The text sent beside the images: what to judge, against which intent, how to answer."""
    lines = [
        f"You review {KINDS[kind]} for the film {project!r}, shot {shot}"
        + (f" ({title!r})" if title else "")
        + ". Judge the first image only.",
    ]
    if refs:
        lines.append(
            f"The {refs} image(s) after it are character references: who the characters are, "
            "not part of the frame."
        )
    if beat:
        lines.append(f"Story beat: {beat}")
    lines += [f"The prompt the image was made from:\n{prompt}", "Criteria:"]
    lines += [f"- {name}: {what}" for name, what in CRITERIA.items()]
    lines.append(
        "For every criterion answer pass, warn or fail, with one line of reason an art "
        "director can act on (name what is wrong and where)."
    )
    return "\n".join(lines)


def check_verdicts(text: str | None) -> Verdicts:
    """The model's answer as {criterion: {verdict, reason}}, or BadAnswer saying why not."""
    if not text:
        raise BadAnswer("the critique has no text (no output_text in the answer)")
    try:
        verdicts = json.loads(text)
    except ValueError as exc:
        raise BadAnswer(f"the critique is not valid JSON ({exc})") from None
    import jsonschema  # here: 0.2 s a process, and only the critique's answers need it

    try:
        jsonschema.validate(verdicts, VERDICT_SCHEMA)
    except jsonschema.ValidationError as exc:
        where = "/".join(map(str, exc.absolute_path)) or "the answer"
        raise BadAnswer(
            f"the critique does not match its schema at {where}: {exc.message}"
        ) from None
    return verdicts  # JSON (Any) that matches VERDICT_SCHEMA: Verdicts


def flag_level(criterion: str, verdict: str, fail_on: Sequence[str] = ()) -> str:
    """A verdict as the gate counts it: at most `warn`, unless `critique.fail_on` names
    the criterion."""
    return (
        "fail"
        if verdict == "fail" and criterion in fail_on
        else min(verdict, "warn", key=LEVELS.index)
    )


def critique_flags(critique: Critique | None, fail_on: Sequence[str] = ()) -> list[FlagJson]:
    """One flag per criterion not passed (metric `critique:<criterion>`), worded as the
    model's opinion; none for a critique not run or failed."""
    if not critique or critique.get("status") != "done":
        return []
    model = critique.get("model", "?")
    return [
        {
            "level": flag_level(name, v["verdict"], fail_on),
            "metric": f"critique:{name}",
            "value": None,
            "message": f"{name} ({model}'s opinion: {v['verdict']}): "
            + " ".join(v["reason"].split()),
        }
        for name, v in critique["verdicts"].items()
        if v["verdict"] != "pass"
    ]


def verdict_lines(critique: Critique, fail_on: Sequence[str] = ()) -> list[Note]:
    """What a contact sheet shows of one draft's critique: a heading marking it as a
    model's opinion, then every criterion not passed ({level, message}, like a flag, at
    the level the gate counts it)."""
    model = critique.get("model", "?")
    if critique.get("status") != "done":
        why = critique.get("why", "")
        return [{"level": None, "message": f"critique {critique.get('status')}: {why}"}]
    lines: list[Note] = [{"level": None, "message": f"model's opinion ({model}):"}]
    shown = [(n, v) for n, v in critique["verdicts"].items() if v["verdict"] != "pass"]
    if not shown:
        return lines + [{"level": "pass", "message": "all criteria pass"}]
    return lines + [
        {
            "level": flag_level(name, v["verdict"], fail_on),
            "message": f"{name}: {' '.join(v['reason'].split())}",
        }
        for name, v in shown
    ]


def worst_verdict(verdicts: Verdicts) -> str:
    return max((v["verdict"] for v in verdicts.values()), key=LEVELS.index, default="pass")
