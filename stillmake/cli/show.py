"""show: open a shot's review sheet (or its candidate, its final) in the system's viewer."""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

import click

from stillmake import paths
from stillmake.cli.common import config_options, load_build, user_errors
from stillmake.decisions import check_shots
from stillmake.errors import StillmakeError
from stillmake.inputs.config import ConfigSources
from stillmake.views.outcome import candidate


@click.command("show")
@click.argument("shot")
@click.option(
    "--candidate",
    "what",
    flag_value="candidate",
    help="The image a lock approves: the last edit step, else the picked draft.",
)
@click.option("--final", "what", flag_value="final", help="The shot's final.")
@config_options
@user_errors
def show(shot: str, what: str | None, sources: ConfigSources) -> None:
    """Open SHOT's review sheet (its drafts side by side, numbered, with their flags)
    in the image viewer of the system: xdg-open on Linux, open on macOS, the file's
    app on Windows. `stillmake review` shows every shot in a browser instead.
    """
    build = load_build(sources)
    check_shots(build, [shot])
    if what == "final":
        path = paths.final(shot)
    elif what == "candidate":
        path = candidate(build, shot) or ""
        if not path:
            raise StillmakeError(
                f"shot {shot} has no candidate yet: pick a draft (stillmake pick {shot} K), "
                "then run snakemake"
            )
    else:
        path = paths.review_sheet(shot)
    if not Path(path).is_file():
        raise StillmakeError(f"{path} is not built yet: run snakemake")
    failed = open_file(path)
    if failed:
        raise StillmakeError(
            f"could not open {path} ({failed}): open the file yourself, "
            "or look at every shot with stillmake review"
        )
    click.echo(f"opened {path}")


def open_file(path: str, wait_s: float = 3.0) -> str | None:
    """Hand `path` to the system's opener; why it failed, or None. xdg-open (Linux and
    the other Unixes) is watched for `wait_s`: one that finds no viewer says so and
    exits at once, one that started a viewer may stay until the viewer closes."""
    if sys.platform == "darwin" or sys.platform.startswith(("win", "cygwin")):
        code = click.launch(path)
        return None if code == 0 else f"the system's opener exited {code}"
    with tempfile.TemporaryFile("w+") as said:
        try:
            proc = subprocess.Popen(
                ["xdg-open", path], stdout=subprocess.DEVNULL, stderr=said, start_new_session=True
            )
        except FileNotFoundError:
            return "xdg-open is not installed"
        try:
            code = proc.wait(timeout=wait_s)
        except subprocess.TimeoutExpired:
            return None  # a viewer is up
        said.seek(0)
        last = (said.read().strip().splitlines() or [""])[-1]
    return None if code == 0 else (last or f"xdg-open exited {code}")
