"""models: the model table, as the build checks it (capabilities, token rates, lifecycle)."""

from __future__ import annotations

import json
from datetime import date

import click

from stillmake.cli.common import config_options, echo_warnings, load_build, table, user_errors
from stillmake.inputs.config import PASSES, ConfigSources
from stillmake.inputs.models import CLASSIC_SIZES, models, today

COLUMNS = (
    "model",
    "status",
    "sizes",
    "qualities",
    "complexity",
    "markup",
    "fidelity",
    "price",
    "note",
)


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
    f"sides divisible by 16, aspect 1:3..3:1, at most 3840x2160, at least 655,360 px\n"
    "price: text in / image in / image out, USD per 1M tokens (billed from usage); "
    "per image: low/medium/high, non-square; vision models (the opt-in critique): "
    "any token in / out"
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
    click.echo(table(rows, COLUMNS))
    click.echo(
        f"\n{LEGEND}\nas of {today()}; this workflow: "
        + ", ".join(f"{p} {m}" for p, m in passes.items())
    )
    echo_warnings(build)
