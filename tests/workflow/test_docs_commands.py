"""Every command in a ```bash block of README.md and docs/*.md is run: here, in one copy
of the workflow, page by page in the order the pages give them (the API against the
loopback server `tests/fake_openai.py`; a viewer the system would open is a recorder);
or, where it cannot run here, by the test named for it in ELSEWHERE, which must hold the
command's telling words; or, for the reasons in NOT_HERE, nowhere. Inline `code` in
prose is not a command list: a command a person is meant to run goes in a bash block."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import REPO, Workflow, copy_workflow

PAGES = ["README.md", *sorted(str(p.relative_to(REPO)) for p in (REPO / "docs").glob("*.md"))]

# command -> (file[::test function] that runs it, words that file or function holds)
ELSEWHERE = {
    "pip install -e . && snakemake": (
        "tests/workflow/test_install.py::test_sample_builds_from_the_installed_copy",
        '_run_installed(workflow, site, "snakemake")',
    ),
    'pip install -e ".[test]" && python -m pytest -q': (
        ".ci/run",
        'pip install -e ".[test]" && python -m pytest -q',
    ),
    # served by tests/board/test_board_api.py::test_review_command_help_and_serving through
    # this helper (and by the browser tests); on a free port, without opening a browser
    "stillmake review": (
        "tests/board_access.py::serving",
        '"stillmake", "review", "--no-open", "--port", "0"',
    ),
    "stillmake review --port 0 --no-open": (
        "tests/board_access.py::serving",
        '"stillmake", "review", "--no-open", "--port", "0"',
    ),
    "pip install snakemake-executor-plugin-cluster-generic": (
        "pyproject.toml",
        '"snakemake-executor-plugin-cluster-generic',
    ),
    "snakemake --workflow-profile profiles/cluster-local": (
        "tests/workflow/test_cluster.py::test_cluster_jobs_in_their_own_pid_namespaces_keep_the_budget_and_pay_once",
        "profiles/cluster-local",
    ),
    "pip install snakemake-storage-plugin-fs": ("pyproject.toml", '"snakemake-storage-plugin-fs'),
    "rsync -a runs/input/ /mnt/store/runs/input/": (  # into a temp dir instead of /mnt/store
        "tests/workflow/test_cluster.py::test_builds_under_a_default_storage_provider",
        'copytree(wf.path("runs/input"), remote / "runs/input")',
    ),
    "snakemake --default-storage-provider fs --default-storage-prefix /mnt/store": (
        "tests/workflow/test_cluster.py::test_builds_under_a_default_storage_provider",
        '"--default-storage-provider", "fs", "--default-storage-prefix"',
    ),
}
NOT_HERE = {
    'python -m pytest -q -m "not e2e"': "runs the test suite, which this test is part of",
    "pip install snakemake-executor-plugin-slurm": "installs from the package registry",
    "pip install snakemake-executor-plugin-kubernetes": "installs from the package registry",
    "snakemake --workflow-profile profiles/cluster --executor slurm --config backend=openai": (
        "needs a SLURM cluster"
    ),
    "snakemake --workflow-profile profiles/cluster --executor kubernetes --envvars "
    "OPENAI_API_KEY --default-storage-provider s3 --default-storage-prefix s3://bucket/stills": (
        "needs a Kubernetes cluster and an S3 bucket"
    ),
}
# The loop is run step by step, literally, by its own test (issue 19's): not here too.
SECTIONS_ELSEWHERE = {("README.md", "The art director's loop")}


def _without_comment(line: str) -> str:
    """The line up to a `#` that starts a comment (outside quotes, after a space)."""
    quote = None
    for i, ch in enumerate(line):
        if quote:
            quote = None if ch == quote else quote
        elif ch in "'\"":
            quote = ch
        elif ch == "#" and (i == 0 or line[i - 1].isspace()):
            return line[:i].rstrip()
    return line.rstrip()


def page_commands(page: str) -> list[tuple[str, str]]:
    """(section, command) for every command of the page's bash blocks, in order."""
    out, section, block, pending = [], "", None, ""
    for line in (REPO / page).read_text(encoding="utf-8").splitlines():
        if block is None:
            if line.startswith("#"):
                section = line.lstrip("#").strip()
            elif line.strip() == "```bash":
                block = []
            continue
        if line.strip() == "```":
            block = None
            continue
        text = _without_comment(line).strip()
        if text.endswith("\\"):
            pending += text[:-1].strip() + " "
            continue
        command, pending = (pending + text).strip(), ""
        if command:
            out.append((section, command))
    return out


ALL = [(page, section, cmd) for page in PAGES for section, cmd in page_commands(page)]


def test_the_pages_have_commands_and_every_listed_one_is_still_on_a_page():
    listed = set(ELSEWHERE) | set(NOT_HERE)
    on_pages = {cmd for _page, _section, cmd in ALL}
    assert len(on_pages) >= 10
    assert listed <= on_pages, listed - on_pages  # the lists never outlive the pages


@pytest.mark.parametrize("command", sorted(ELSEWHERE))
def test_a_command_run_elsewhere_is_run_there(command):
    where, words = ELSEWHERE[command]
    file, _, function = where.partition("::")
    source = (REPO / file).read_text(encoding="utf-8")
    if function:
        found = re.search(rf"^def {function}\(.*?(?=^def |\Z)", source, re.S | re.M)
        assert found, f"no test {where}"
        source = found.group(0)
    assert words in source, f"{where} does not run `{command}`"


@pytest.fixture(scope="module")
def viewer(tmp_path_factory) -> Path:
    """A stand-in for the system's opener (xdg-open): records what it was asked to open."""
    bin_dir = tmp_path_factory.mktemp("viewer")
    opener = bin_dir / "xdg-open"
    opener.write_text('#!/bin/sh\necho "$@" >> "$(dirname "$0")/opened"\n')
    opener.chmod(0o755)
    return bin_dir


def _script(commands: list[str]) -> str:
    lines = ["set -u"]
    for command in commands:
        said = command.replace("'", "'\\''")
        lines.append(f"{command} || {{ echo 'FAILED: {said}' >&2; exit 1; }}")
    return "\n".join(lines) + "\n"


def test_every_page_command_runs_in_a_copy_of_the_workflow(tmp_path, fake_openai, viewer):
    """Page by page, each bash block as one shell script (an `export` holds for the
    commands after it), every command exiting 0. The README in a copy of its own: its
    API build binds the sample's hand-typed picks to the API's drafts, so the preview
    builds of docs/ (one copy, page after page) would find them stale, as they should."""
    copies: dict[bool, Workflow] = {}
    ran = 0
    for page in PAGES:
        runnable = [
            cmd
            for _page, section, cmd in ALL
            if _page == page
            and (page, section) not in SECTIONS_ELSEWHERE
            and cmd not in ELSEWHERE
            and cmd not in NOT_HERE
        ]
        if not runnable:
            continue
        readme = page == "README.md"
        if readme not in copies:
            copies[readme] = Workflow(copy_workflow(tmp_path / ("readme" if readme else "docs")))
        wf = copies[readme]
        env = wf.env(OPENAI_BASE_URL=fake_openai.url)
        env["PATH"] = os.pathsep.join([str(viewer), str(Path(sys.executable).parent), env["PATH"]])
        proc = subprocess.run(
            ["bash", "-c", _script(runnable)],
            cwd=wf.root,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"{page}:\n{proc.stdout[-2000:]}\n{proc.stderr[-4000:]}"
        ran += len(runnable)
    assert ran >= 5
    assert fake_openai.count() > 0  # the real-API commands reached the loopback server
    assert "runs/review/s3.png" in (viewer / "opened").read_text()
