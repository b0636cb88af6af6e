"""Style is enforced: rules snakefmt-formatted and `snakemake --lint` clean; the Python
tree ruff-clean (lint and format)."""

import subprocess
import sys

from tests.conftest import REPO


def test_snakefmt_clean():
    proc = subprocess.run(
        [sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
        cwd=REPO,
        capture_output=True,
        text=True,
    )
    assert proc.returncode == 0, proc.stderr


def test_lint_clean(workflow):
    proc = workflow.snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr


def ruff(*args):
    return subprocess.run(
        [sys.executable, "-m", "ruff", *args], cwd=REPO, capture_output=True, text=True
    )


def test_library_tests_and_benchmarks_are_ruff_clean():
    """Lint (including type hints on every library function) and format, as configured
    in pyproject.toml."""
    lint = ruff("check", "stillmake", "tests", "bench")
    assert lint.returncode == 0, lint.stdout[-3000:]
    fmt = ruff("format", "--check", "stillmake", "tests", "bench")
    assert fmt.returncode == 0, fmt.stdout[-3000:]
