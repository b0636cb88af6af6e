"""check: the quality gate on any image, outside the build."""

from __future__ import annotations

import json
from pathlib import Path

import click

from stillmake.quality import DEFAULT_THRESHOLDS, check_image


@click.command("check")
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("--lighting", "-l", default=None, metavar="TAG",
              help=f"Scene lighting tag whose thresholds apply: "
                   f"{', '.join(t for t in DEFAULT_THRESHOLDS if t != 'default')} (default: none).")
@click.option("--json", "as_json", is_flag=True, help="Print metrics and flags as JSON.")
def check(images, lighting, as_json):
    """Measure IMAGE(s) against the quality gate; exit 1 if any fails.

    \b
    Metrics (from pixels):
      highlight_clip      share of pixels at luminance >= 250 (blown highlights)
      clip_r/g/b          share of pixels with that channel at 254+ (red matters in red scenes)
      shadow_crush        share of pixels at luminance <= 5
      cast_a, cast_b      mean Lab a* (green-/magenta+) and b* (blue-/yellow+) of near-neutrals
      midtone_separation  spread of L* in the midtones (flat red scenes read low)
      sharpness           variance of the Laplacian (soft images read low)
    Each gets pass / warn / fail with a one-line reason; thresholds depend on
    the lighting tag (fluorescent allows a slight green cast).
    Example:  stillmake check runs/final/s4.png --lighting red_emergency
    """
    results = []
    for image in images:
        if not Path(image).is_file():
            raise click.BadParameter(f"{image}: no such file", param_hint="IMAGE")
        try:
            results.append(check_image(image, lighting=lighting))
        except OSError as exc:
            raise click.BadParameter(f"{image}: not an image ({exc})", param_hint="IMAGE")
    if as_json:
        click.echo(json.dumps(results, indent=2))
    else:
        for r in results:
            click.echo(f"{r['path']}  {r['size']}  {r['worst'].upper()}")
            m = r["metrics"]
            click.echo("  " + "  ".join(f"{k}={v:g}" for k, v in m.items()))
            for f in r["flags"]:
                if f["level"] != "pass":
                    click.echo(f"  [{f['level']}] {f['message']}")
    if any(r["worst"] == "fail" for r in results):
        raise SystemExit(1)
