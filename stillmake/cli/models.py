"""models: the model table, as the build checks it (capabilities, token rates, lifecycle)."""

from __future__ import annotations

import json
import textwrap
from datetime import date

import click

from stillmake.cli.common import config_options, echo_warnings, load_build, table, user_errors
from stillmake.inputs.config import PASSES, ConfigSources
from stillmake.inputs.models import CLASSIC_SIZES, Model, models, today

COLUMNS = ("model", "status", "sizes", "qualities", "also takes", "price")
WIDTH = 100  # the table, its notes and the legend fit a 100-column terminal
QUALITY_ORDER = ("none", "minimal", "low", "medium", "high", "xhigh", "max")


def _span(values: tuple[str, ...]) -> str:
    """low,medium,high,xhigh,max,auto -> low..max,auto (a run of the usual order)."""
    ordered = [v for v in values if v in QUALITY_ORDER]
    rest = [v for v in values if v not in QUALITY_ORDER]
    idx = [QUALITY_ORDER.index(v) for v in ordered]
    if len(ordered) > 2 and idx == list(range(idx[0], idx[0] + len(idx))):
        ordered = [f"{ordered[0]}..{ordered[-1]}"]
    return ",".join(ordered + rest)


def _short_status(m: Model, on: date | None) -> str:
    left = m.days_left(on)
    if left is None:
        return "current"
    return "shut down" if left <= 0 else f"ends in {left} days"


def _takes(m: Model) -> str:
    takes = [w for w, yes in (("complexity", m.complexity), ("markup", m.markup)) if yes]
    if m.input_fidelity:
        takes.append(f"fidelity {','.join(m.input_fidelity)}")
    return ",".join(takes) or "-"


def _short_price(pricing: dict) -> str:
    if pricing.get("kind") == "tokens":
        return f"${pricing['text_in']:g}/${pricing['image_in']:g}/${pricing['image_out']:g}"
    if pricing.get("kind") == "io_tokens":
        return f"${pricing['input']:g}/${pricing['output']:g}"
    return "per image" if pricing.get("kind") == "per_image" else "-"


def short_rows(on: date | None = None) -> list[dict]:
    """The table as printed: one short line per model (the rest under it, as notes)."""
    return [
        {
            "model": m.name,
            "status": _short_status(m, on),
            "sizes": m.sizes or "-",
            "qualities": _span(m.qualities)
            or (f"effort {_span(m.reasoning)}" if m.reasoning else "-"),
            "also takes": _takes(m),
            "price": _short_price(m.pricing),
        }
        for m in models().values()
    ]


def notes(on: date | None = None) -> list[str]:
    """Per model: its shutdown and replacement, what it is for, its snapshots."""
    out = []
    for m in models().values():
        said = [m.status(on) + (f"; use {m.replacement}" if m.replacement else "")]
        if m.days_left(on) is None:
            said = []
        said += [m.note] if m.note else []
        said += [f"snapshot {s}" for s in m.snapshots]
        if m.pricing.get("kind") == "per_image":
            said.append(_price(m.pricing))
        if said:
            out += textwrap.wrap(
                f"{m.name}: {'; '.join(said)}",
                WIDTH,
                subsequent_indent="    ",
                break_on_hyphens=False,
            )
    return out


def _price(pricing: dict) -> str:
    if pricing.get("kind") == "tokens":
        return f"${pricing['text_in']:g}/${pricing['image_in']:g}/${pricing['image_out']:g} per 1M"
    if pricing.get("kind") == "io_tokens":
        return f"${pricing['input']:g} in/${pricing['output']:g} out per 1M"
    if pricing.get("kind") == "per_image":
        return "per image: " + "/".join(f"${v[1]:g}" for q, v in pricing.items() if q != "kind")
    return "-"


def model_rows(on: date | None = None) -> list[dict]:
    rows = []
    for m in models().values():
        status = m.status(on)
        if m.replacement and m.shutdown:
            status += f" -> {m.replacement}"
        rows.append(
            {
                "model": m.name,
                "status": status,
                "sizes": m.sizes or "-",
                "qualities": ",".join(m.qualities)
                or (f"reasoning {','.join(m.reasoning)}" if m.reasoning else "-"),
                "complexity": "yes" if m.complexity else "-",
                "markup": "yes" if m.markup else "-",
                "fidelity": ",".join(m.input_fidelity) or "omit",
                "price": _price(m.pricing),
                "note": "; ".join(filter(None, [m.note] + [f"snapshot {s}" for s in m.snapshots])),
            }
        )
    return rows


LEGEND = (
    f"sizes: classic = {', '.join(CLASSIC_SIZES)}; flexible = classic or any WxH, both "
    "sides divisible by 16, aspect 1:3..3:1, at most 3840x2160, at least 655,360 px. "
    "price: USD per 1M tokens, text in/image in/image out (billed from usage); for vision "
    "models (the opt-in critique) any token in/out; per image: low/medium/high, non-square."
)


@click.command("models")
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON.")
@config_options
@user_errors
def models_command(as_json: bool, sources: ConfigSources) -> None:
    """The models stillmake knows: sizes, qualities, token rates, shutdown dates.

    \b
    A model within 30 days of its shutdown date builds with a warning naming
    the date and its replacement; on or after that date it is refused before
    any job runs. The last lines say which model each pass of this workflow
    uses (config.yaml: `model`, or the pass's own `draft.model`, `edit.model`,
    `final.model`). STILLMAKE_TODAY=YYYY-MM-DD shows the table as of that day.
    Flexible sizes: both sides divisible by 16, aspect 1:3 to 3:1, at most
    3840x2160 (above 2560x1440 experimental), at least 655,360 pixels.
    """
    rows = model_rows()
    build = load_build(sources)
    passes = {p: build.model_for(p) for p in PASSES}
    if as_json:
        click.echo(
            json.dumps({"today": today().isoformat(), "models": rows, "passes": passes}, indent=2)
        )
        return
    click.echo(table(short_rows(), COLUMNS))
    click.echo("")
    click.echo("\n".join(notes()))
    click.echo("")
    click.echo("\n".join(textwrap.wrap(LEGEND, WIDTH)))
    click.echo(f"as of {today()}")
    click.echo("this workflow: " + ", ".join(f"{p} {m}" for p, m in passes.items()))
    echo_warnings(build)
