"""The library type-checks: `mypy stillmake`, as pyproject.toml's [tool.mypy] configures
it (default strictness; stubs missing only for dlib and snakemake), finds 0 errors.

mypy keeps its cache in .mypy_cache/: a warm run takes a second or two, a cold one (a
fresh clone, CI) about half a minute on one core."""

import subprocess
import sys

from tests.conftest import REPO


def test_the_library_type_checks_with_0_errors():
    proc = subprocess.run(
        [sys.executable, "-m", "mypy", "stillmake"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=600,
    )
    said = proc.stdout + proc.stderr
    assert proc.returncode == 0, said
    assert said.strip().startswith("Success: no issues found"), said
