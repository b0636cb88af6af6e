"""The README's art director's loop, run literally: every command of its code block, in
order, on a fresh copy of the sample (preview backend), succeeds; so the loop and the
README cannot drift apart. `$EDITOR` is a stand-in that adds the step the comment asks
for (a region edit on s2)."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tests.conftest import REPO

EDITOR = """\
import sys
path = sys.argv[1]
text = open(path, encoding="utf-8").read()
old = "s2:\\n  pick: 1   # composition is right; wardrobe to be checked after s3 is final\\n"
step = (
    "  edits:\\n"
    "    - change: \\"turn the tap off\\"\\n"
    "      keep: \\"the nurse, the sink and the lighting\\"\\n"
    "      region: [0.55, 0.45, 0.80, 0.75]\\n"
)
assert old in text, "the sample changed: update this stand-in editor"
open(path, "w", encoding="utf-8").write(text.replace(old, old + step))
"""


def loop_commands() -> list[str]:
    """The commands of the README's loop block: every line that is not a comment."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    section = readme.split("## The art director's loop", 1)[1]
    block = re.search(r"```bash\n(.*?)```", section, re.S).group(1)
    return [
        line for line in block.splitlines() if line.strip() and not line.lstrip().startswith("#")
    ]


def test_the_readme_loop_runs_as_written(workflow, tmp_path):
    commands = loop_commands()
    assert commands[0].startswith("snakemake") and any(
        c.startswith("snakemake finals") for c in commands
    )
    editor = tmp_path / "editor.py"
    editor.write_text(EDITOR, encoding="utf-8")
    env = workflow.env(EDITOR=f"{sys.executable} {editor}")
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env['PATH']}"  # snakemake, stillmake
    for command in commands:
        proc = subprocess.run(
            ["bash", "-c", command],
            cwd=workflow.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=240,
        )
        assert proc.returncode == 0, f"{command}\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    finals = sorted(p.name for p in workflow.path("runs/final").glob("s*.png"))
    assert finals == ["s1.png", "s2.png", "s3.png", "s4.png", "s5.png"]
    manifest = workflow.path("runs/final/manifest.csv").read_text(encoding="utf-8")
    assert "highlight_detail: the alarm light is meant to bloom" in manifest
    assert workflow.path("runs/edits/s2/step_1.png").is_file()
