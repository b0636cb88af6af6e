"""check: the quality gate on any image, outside the build."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

import click
from PIL import Image

from stillmake.artifacts.thresholds import DEFAULT_THRESHOLDS, METRICS, thresholds_for
from stillmake.cli.common import config_options
from stillmake.errors import StillmakeError
from stillmake.images import pixel_problem
from stillmake.inputs.config import ConfigSources
from stillmake.paths import CONFIG_FILE

if TYPE_CHECKING:
    from stillmake.artifacts.identity import IdentityRecord
    from stillmake.artifacts.quality import FlagJson

TAGS = [t for t in DEFAULT_THRESHOLDS if t != "default"]
SHARES = {
    "highlight_clip",
    "clip_r",
    "clip_g",
    "clip_b",
    "shadow_crush",
    "highlight_detail",
    "hl_clip_r",
    "hl_clip_g",
    "hl_clip_b",
}
FACE_METRICS = {"identity", "skin_hue", "skin_chroma", "wardrobe"}  # one row per face judged
MARK = {"pass": "pass", "warn": "WARN", "fail": "FAIL"}


def _metric_help() -> str:
    names = [m for m in METRICS if not m.startswith(("leak_", "changed_", "temperature_"))]
    width = max(map(len, names))
    return "\n".join(f"  {m:<{width}}  {METRICS[m][1]}" for m in names)


HELP = f"""Measure IMAGE(s) against the quality gate; exit 1 if any fails.

The same metrics and thresholds the build uses on review sheets and
runs/final/gate.json, for any PNG/JPEG/WebP, built by stillmake or not.

\b
Metrics (from pixels):
{_metric_help()}

\b
Each judged metric gets pass / WARN / FAIL with a one-line reason. The
thresholds depend on the scene's lighting tag:
  default        neutral grade: small casts, few clipped or crushed pixels
  fluorescent    a slight green institutional cast wanted (a* -8 to -1;
                 none at all warns), skin judged on the faces
  red_emergency  red highlights must keep detail (clip_r <= 1%) and the
                 midtones must stay separated; darker shadows allowed
  daylight       a warmer b* allowed
Without --lighting, an image built by stillmake is judged by the lighting tag
in its provenance (PNG chunk or sidecar .json); other images by `default`.
Threshold overrides under `quality:` in ./config.yaml apply, as in the build.

\b
Identity: with --ref REF (repeatable), the face in each IMAGE that best
matches REF is measured (distance of 128-D face embeddings; pass <= 0.45,
warn <= 0.6, fail above: `quality: {{default: {{identity: ...}}}}` overrides),
and the garment under it against the one under REF's face (wardrobe).
Without --ref, the faces found are counted. No face found is a warning.
Skin: the face matched (without --ref, the surest face found) is read on
the vectorscope's skin-tone line (skin_hue, skin_chroma).

\b
Exit status: 0 every image passes or warns, 1 some image fails,
2 an image is missing or unreadable (or the config is broken).

\b
Examples:
  stillmake check runs/final/*.png
  stillmake check runs/final/s4.png --lighting red_emergency
  stillmake check draft.png --json | jq '.[0].metrics'
  stillmake check runs/final/s1.png --ref runs/input/refs/leyla_ref.png
"""


class _Refused(click.ClickException):
    """An image refused in one line, exit status 2 (as a missing one)."""

    exit_code = 2


def _provenance_lighting(path: Path) -> str | None:
    """The lighting tag stillmake recorded for this image, if any."""
    try:
        with Image.open(path) as im:
            record = json.loads(getattr(im, "text", {}).get("stillmake", "null")) or {}
    except (OSError, ValueError, SyntaxError):
        record = {}
    if "lighting" not in record:
        side = path.with_suffix(".json")
        try:
            record = json.loads(side.read_text(encoding="utf-8")) if side.is_file() else {}
        except (OSError, ValueError):
            record = {}
    lighting = record.get("lighting") if isinstance(record, dict) else None
    return lighting if isinstance(lighting, str) and lighting else None


def _config_overrides(sources: ConfigSources) -> dict | None:
    """The `quality:` thresholds of the workflow here, as the build reads them (none
    outside a workflow directory)."""
    if not Path(CONFIG_FILE).is_file():
        return None
    try:
        return dict(sources.load().quality) or None
    except StillmakeError as exc:
        raise click.UsageError(f"cannot read threshold overrides: {exc}") from None


def _value(metric: str, value: float | None) -> str:
    if value is None:
        return "-"
    if metric in SHARES:
        return f"{value * 100:.2f}%"
    value = round(value, 1) + 0.0  # no "-0.0"
    return f"{value:+.1f}" if metric.startswith("cast_") else f"{value:.1f}"


def _identity(
    path: Path, refs: tuple[str, ...], thresholds: dict, lighting: str | None, metrics: dict
) -> tuple[IdentityRecord, list[FlagJson]]:
    """The identity record and the face flags of one image: identity and wardrobe against
    --ref, else the faces counted; skin of the face matched (or the surest one)."""
    from stillmake.artifacts import identity
    from stillmake.artifacts.gate import face_checks
    from stillmake.artifacts.quality import flags_to_json

    unavailable = identity.available()
    if unavailable:
        return identity.to_json(identity.not_measured(unavailable)), []
    rgb = identity.load_rgb(path)
    if refs:
        judged = identity.judge(rgb, {"ref": refs}, thresholds)
    else:
        judged = identity.not_measured("no --ref: faces counted", identity.find_faces(rgb))
    _, face_flags = face_checks(rgb, metrics, judged, lighting, thresholds)
    return identity.to_json(judged), identity.flags_json(judged) + flags_to_json(face_flags)


def _identity_rows(result: dict) -> list[tuple[str, str, str, str]]:
    """The table's identity rows: faces found, then each identity flag, or why none."""
    ident = result["identity"]
    rows = []
    if ident["faces"] is not None:
        rows.append(("faces", str(ident["faces"]), "-", ""))
    for f in result["flags"]:
        if f["metric"] in FACE_METRICS:
            value = "-" if f["value"] is None else f"{f['value']:.3f}"
            note = f["message"] if f["level"] != "pass" else ""
            rows.append((f["metric"], value, MARK[f["level"]], note))
    if not ident["measured"] and ident["note"].startswith("identity") and len(rows) <= 1:
        rows.append(("identity", "-", "-", ident["note"]))
    return rows


def _table(result: dict) -> list[str]:
    flags = {f["metric"]: f for f in result["flags"] if f["metric"] not in FACE_METRICS}
    lines = [
        f"{result['path']}  {result['size']}  lighting: {result['lighting'] or 'default'}"
        f"{' (' + result['lighting_from'] + ')' if result['lighting_from'] else ''}"
        f"  -> {result['worst'].upper()}"
    ]
    rows = [("metric", "value", "gate", "note")]
    for metric, value in result["metrics"].items():
        flag = flags.get(metric)
        level = MARK[flag["level"]] if flag else "-"
        note = flag["message"] if flag and flag["level"] != "pass" else ""
        rows.append((metric, _value(metric, value), level, note))
    rows += _identity_rows(result)
    w0 = max(len(r[0]) for r in rows)
    w1 = max(len(r[1]) for r in rows)
    for name, value, level, note in rows:
        lines.append(f"  {name:<{w0}}  {value:>{w1}}  {level:<4}  {note}".rstrip())
    return lines


@click.command("check", help=HELP, short_help="Quality metrics and flags for any image.")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option(
    "--lighting",
    "-l",
    default=None,
    metavar="TAG",
    help=f"Judge every IMAGE with this lighting tag's thresholds: "
    f"{', '.join(['default', *TAGS])}, or a tag defined under `quality:` "
    f"in config.yaml. Default: each image's own tag from its provenance.",
)
@click.option(
    "--ref",
    "refs",
    multiple=True,
    metavar="REF",
    type=click.Path(dir_okay=False, exists=True),
    help="A reference photo of the person who should be in every IMAGE (repeatable: "
    "the nearest counts). Measures identity; without it, faces are only counted.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list, one object per image: path, size, lighting, metrics, "
    "identity {measured, note, faces, characters}, flags [{level, metric, value, "
    "message}], worst.",
)
@config_options
def check(
    images: tuple[str, ...],
    lighting: str | None,
    refs: tuple[str, ...],
    as_json: bool,
    sources: ConfigSources,
) -> None:
    from stillmake.artifacts.quality import LEVELS, check_image, worst  # numpy: only here

    overrides = _config_overrides(sources)
    known = {"default", *TAGS, *(overrides or {})}
    if lighting is not None and lighting not in known:
        raise click.BadParameter(
            f"unknown lighting tag '{lighting}'; known: {', '.join(sorted(known))}",
            param_hint="'--lighting'",
        )
    results = []
    for image in images:
        path = Path(image)
        if not path.is_file():
            raise click.BadParameter(f"{image}: no such file", param_hint="IMAGE")
        too_large = pixel_problem(path)
        if too_large:
            raise _Refused(f"{image} {too_large}: not checked (it could take gigabytes to decode)")
        tag, source = lighting, ("--lighting" if lighting else None)
        if tag is None:
            tag = _provenance_lighting(path)
            source = "from provenance" if tag else None
        try:
            thresholds = thresholds_for(tag, overrides)
        except StillmakeError as exc:
            raise click.UsageError(f"config.yaml: {exc}") from None
        try:
            result = check_image(path, lighting=tag, thresholds=thresholds)
        except (OSError, ValueError, SyntaxError, Image.DecompressionBombError) as exc:
            raise click.BadParameter(
                f"{image}: not a readable image ({exc})", param_hint="IMAGE"
            ) from None
        ident, ident_flags = _identity(path, refs, thresholds, tag, result["metrics"])
        flags = result["flags"] + ident_flags
        results.append(
            {
                "path": result["path"],
                "size": result["size"],
                "lighting": tag,
                "lighting_from": source if source != "--lighting" else None,
                "metrics": result["metrics"],
                "identity": ident,
                "flags": flags,
                "worst": worst(flags),
            }
        )
    if as_json:
        click.echo(
            json.dumps(
                [{k: v for k, v in r.items() if k != "lighting_from"} for r in results], indent=2
            )
        )
    else:
        for i, r in enumerate(results):
            if i:
                click.echo("")
            click.echo("\n".join(_table(r)))
        if len(results) > 1:
            counts = {lvl: sum(r["worst"] == lvl for r in results) for lvl in LEVELS}
            click.echo(
                f"\n{len(results)} images: {counts['pass']} pass, {counts['warn']} warn, "
                f"{counts['fail']} fail"
            )
    if any(r["worst"] == "fail" for r in results):
        click.get_current_context().exit(1)
