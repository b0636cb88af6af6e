"""A normal (non-editable) install works: code and data ship inside the wheel.

The dev machine has the project installed editable, which would hide a missing
`package-data` entry (the data is read from the repo). So the wheel is built
from a copy of the project's source, installed with `pip install --target`,
and the sample build and the CLI are run from that copy with `PYTHONPATH`
pointing at it, in a workflow copy that has no `stillmake/` directory.

setuptools' editable finder is *appended* to `sys.meta_path`, so the ordinary
path finder (which searches `sys.path`, PYTHONPATH first) resolves `stillmake`
before it. That is not taken on trust: every run goes through PROBE, which
records (audit hook) every file the process opens and, at exit, where each
loaded `stillmake` module came from. The tests assert that all of them come
from the installed copy, that the packaged data was read from there, and that
nothing under the repository was opened at all.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from tests.conftest import REPO

DATA_FILES = ["stillmake/data/models.yaml", "stillmake/data/schemas/config.schema.yaml"]

# python -c PROBE REPORT MODULE ARGS...: runs `python -m MODULE ARGS...` in this process and
# writes {modules: {name: __file__}, opened: [abs paths], meta_path: [...]} to REPORT.
PROBE = r"""
import json, os, runpy, sys
report, module, *args = sys.argv[1:]
opened = []

def _hook(event, hook_args):
    if event == "open" and hook_args and isinstance(hook_args[0], (str, bytes, os.PathLike)):
        try:
            opened.append(os.path.abspath(os.fsdecode(hook_args[0])))
        except Exception:
            pass

sys.addaudithook(_hook)
sys.argv = [module, *args]
try:
    runpy.run_module(module, run_name="__main__", alter_sys=True)
finally:
    mods = {n: getattr(m, "__file__", None) for n, m in list(sys.modules.items())
            if n == "stillmake" or n.startswith("stillmake.")}
    with open(report, "w") as fh:
        json.dump({"modules": mods, "opened": list(opened),
                   "meta_path": [repr(f) for f in sys.meta_path]}, fh)
"""


def _under(path, root) -> bool:
    try:
        Path(path).resolve().relative_to(Path(root).resolve())
        return True
    except ValueError:
        return False


def _pip(*args, timeout=240) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "pip", *args], capture_output=True, text=True, timeout=timeout
    )


@pytest.fixture(scope="module")
def installed(tmp_path_factory):
    """(wheel, site): the project built as a wheel and installed with --target into site."""
    tmp = tmp_path_factory.mktemp("install")
    # Build from a copy of the source: an in-tree build would write build/ and *.egg-info
    # into the repo, and a stale build/lib could put deleted modules into the wheel.
    src = tmp / "src"
    src.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(REPO / name, src / name)
    shutil.copytree(
        REPO / "stillmake",
        src / "stillmake",
        ignore=shutil.ignore_patterns("__pycache__", "*.pyc", "*.egg-info"),
    )
    dist = tmp / "dist"
    # No build isolation first: offline, with the setuptools already installed. It needs a
    # setuptools that has bdist_wheel (>= 70.1, or the `wheel` package); otherwise pip builds
    # in an isolated env with setuptools>=68 from the configured index.
    attempts = []
    for isolation in (["--no-build-isolation"], []):
        proc = _pip("wheel", "--no-deps", *isolation, "-w", str(dist), str(src))
        attempts.append(
            f"pip wheel {' '.join(isolation)} -> {proc.returncode}\n"
            f"{proc.stdout[-1500:]}\n{proc.stderr[-2500:]}"
        )
        if proc.returncode == 0:
            break
    wheels = sorted(dist.glob("stillmake-*.whl"))
    assert len(wheels) == 1, "could not build the wheel:\n" + "\n".join(attempts)
    site = tmp / "site"
    proc = _pip("install", "--no-deps", "--no-compile", "--target", str(site), str(wheels[0]))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (site / "stillmake" / "__init__.py").is_file()
    return wheels[0], site


def _run_installed(workflow, site, module, *args, timeout=240):
    """Run `python -m MODULE ARGS` in the workflow copy with the installed copy on PYTHONPATH."""
    report = workflow.root.parent / f"probe-{module}-{'-'.join(args) or 'all'}.json"
    proc = subprocess.run(
        [sys.executable, "-c", PROBE, str(report), module, *args],
        cwd=workflow.root,
        env=workflow.env(PYTHONPATH=site),
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert report.is_file(), f"probe wrote no report:\n{proc.stdout}\n{proc.stderr}"
    return proc, json.loads(report.read_text())


def _assert_installed_copy_used(probe, site, workflow, data_read=()):
    mods = probe["modules"]
    assert "stillmake" in mods and len(mods) > 5, mods
    strays = {n: f for n, f in mods.items() if f is None or not _under(f, site)}
    assert not strays, f"stillmake modules not loaded from the installed copy {site}: {strays}"
    # nothing of the repo was read: not its code, not its data, not its config
    from_repo = [
        p
        for p in probe["opened"]
        if _under(p, REPO) and not _under(p, site) and not _under(p, workflow.root)
    ]
    assert not from_repo, f"files opened in the repository {REPO}: {from_repo[:20]}"
    opened = {Path(p).resolve() for p in probe["opened"]}
    for rel in data_read:
        assert (site / rel).resolve() in opened, f"{rel} was not read from the installed copy"


def test_wheel_ships_the_data(installed):
    wheel, _ = installed
    names = set(zipfile.ZipFile(wheel).namelist())
    for rel in DATA_FILES:
        assert rel in names, f"{rel} missing from {wheel.name}"
    # every data file of the source tree ships, not only the two the build reads first,
    # and the review board's page
    shipped = {
        p.relative_to(REPO).as_posix()
        for folder in ("data", "board/static")
        for p in (REPO / "stillmake" / folder).rglob("*")
        if p.is_file() and "__pycache__" not in p.parts
    }
    assert shipped <= names, f"not in the wheel: {sorted(shipped - names)}"
    assert "stillmake/cli/main.py" in names and "stillmake/__main__.py" in names
    entry_points = next(n for n in names if n.endswith(".dist-info/entry_points.txt"))
    assert (
        "stillmake = stillmake.cli.main:cli" in zipfile.ZipFile(wheel).read(entry_points).decode()
    )


def test_installed_copy_is_the_one_imported(installed, workflow):
    _, site = installed
    assert not (workflow.root / "stillmake").exists()
    proc = subprocess.run(
        [
            sys.executable,
            "-c",
            "import stillmake, sys; from stillmake.inputs.schemas import schema_path; "
            "print(stillmake.__file__); print(schema_path('config.schema.yaml'))",
        ],
        cwd=workflow.root,
        env=workflow.env(PYTHONPATH=site),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    module_file, schema = proc.stdout.split()
    assert _under(module_file, site) and not _under(module_file, REPO), module_file
    assert _under(schema, site) and Path(schema).is_file(), schema


def test_sample_builds_from_the_installed_copy(installed, workflow):
    _, site = installed
    proc, probe = _run_installed(workflow, site, "snakemake")  # profiles/default applies
    assert proc.returncode == 0, f"{proc.stdout[-3000:]}\n{proc.stderr[-6000:]}"
    manifest = workflow.path("runs/final/manifest.csv")
    assert manifest.is_file() and manifest.read_text().startswith("shot"), proc.stderr[-3000:]
    assert any(line.startswith("stillmake: this run") for line in proc.stderr.splitlines())
    _assert_installed_copy_used(probe, site, workflow, data_read=DATA_FILES)


def test_cli_runs_from_the_installed_copy(installed, workflow):
    _, site = installed
    proc, probe = _run_installed(workflow, site, "stillmake", "models")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "gpt-image-2.6-sunburst" in proc.stdout, proc.stdout
    _assert_installed_copy_used(probe, site, workflow, data_read=["stillmake/data/models.yaml"])

    proc, probe = _run_installed(workflow, site, "stillmake", "validate")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.startswith("ok: ") and "backend preview" in proc.stdout, proc.stdout
    _assert_installed_copy_used(probe, site, workflow)
