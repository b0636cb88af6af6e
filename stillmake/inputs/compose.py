"""The one prompt composer: the text every request sends, for drafts, edit steps and finals.

The Images API has no negative-prompt parameter, so the negative is folded into
the text ("Avoid: ...") and also kept separately for the log.
"""

from __future__ import annotations

from functools import cache

from stillmake.inputs.prompts import Production, Shot
from stillmake.inputs.selections import EditStep

LIGHTING_INTENT = {
    "fluorescent": (
        "overhead fluorescent tubes with a slight green institutional cast; "
        "skin tones stay natural, not green"
    ),
    "red_emergency": (
        "red emergency lighting; keep highlight detail in the red practicals and "
        "clear midtone separation, no clipped reds"
    ),
    "daylight": "soft natural daylight, neutral white balance, gentle contrast",
}
FINAL_FROM_CANDIDATE = (
    "Render this exact frame as the final still at full quality: keep the "
    "composition, framing, identity, wardrobe and lighting as they are."
)
KEEP_THE_REST = "Everything not named in the change stays exactly as it is."


def negative(production: Production, shot: Shot) -> str:
    """The production's negative and the shot's own, as logged beside every image."""
    return _joined(production.negative, shot.negative)


@cache
def _joined(production_negative: str, shot_negative: str) -> str:
    """(Asked for by every request of every shot as a build is planned: made once.)"""
    return "; ".join(n for n in (production_negative.strip(), shot_negative.strip()) if n)


def _global_lines(production: Production) -> list[str]:
    lines = []
    if production.style:
        lines.append(f"Style: {production.style}")
    if production.constraints:
        lines.append("Constraints: " + "; ".join(production.constraints))
    return lines


def _avoid(production: Production, shot: Shot) -> list[str]:
    text = negative(production, shot)
    return [f"Avoid: {text}"] if text else []


def shot_prompt(production: Production, shot: Shot) -> str:
    """Shot prompt + global style/constraints + lighting + characters + Avoid."""
    parts = [shot.prompt.strip(), *_global_lines(production)]
    if shot.lighting:
        parts.append(f"Lighting: {LIGHTING_INTENT.get(shot.lighting, shot.lighting)}")
    chars = [
        f"{cid.capitalize()}: {production.characters[cid].description}" for cid in shot.characters
    ]
    if chars:
        parts.append("Characters: " + " ".join(chars))
    return "\n".join(parts + _avoid(production, shot))


def edit_prompt(production: Production, shot: Shot, step: EditStep) -> str:
    """One change per step: what changes, what stays fixed, and the global constraints."""
    lines = [f"Change: {step.change}"]
    if step.keep:
        lines.append(f"Keep exactly as is: {step.keep}")
    lines.append(KEEP_THE_REST)
    return "\n".join(lines + _global_lines(production) + _avoid(production, shot))


def final_prompt(production: Production, shot: Shot, mode: str) -> str:
    """`generate` regenerates from the shot prompt; `edit` renders the locked candidate."""
    text = shot_prompt(production, shot)
    return f"{FINAL_FROM_CANDIDATE}\n{text}" if mode == "edit" else text
