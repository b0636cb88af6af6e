"""The workflow stays in catalog style: snakefmt-formatted and `snakemake --lint` clean."""

import subprocess
import sys

from tests.conftest import REPO


def test_snakefmt_clean():
    proc = subprocess.run([sys.executable, "-m", "snakefmt", "--check", "Snakefile", "rules"],
                          cwd=REPO, capture_output=True, text=True)
    assert proc.returncode == 0, proc.stderr


def test_lint_clean(workflow):
    proc = workflow.snakemake("--lint")
    assert "Congratulations, your workflow is in a good condition!" in proc.stdout + proc.stderr
