"""Shared fixtures: a temp copy of the workflow and a snakemake runner for it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "profiles", "report"]
from stillmake.inputs.config import Config, validated  # noqa: E402
from stillmake.user_cache import CACHE_ENV as USER_CACHE_ENV  # noqa: E402
from tests.fake_openai import FAKE_KEY  # noqa: E402  (a made-up key the secrets test greps for)

# A test is end-to-end when it runs the workflow itself (`snakemake`, `stillmake` in a
# copy of the workflow, a build made once per module or session): `pytest -m "not e2e"`
# is the fast set (the library, the loopback server, the board in-process).
E2E_FIXTURES = {"workflow", "built", "reviewed", "tmp_path_factory"}
E2E_FILES = {"test_cluster.py", "test_install.py", "test_board_e2e.py"}


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "e2e: runs the workflow itself (snakemake or stillmake in a workflow copy)"
    )
    # answers kept by content (stillmake/user_cache.py: faces, documents that passed their
    # schema): one cache for this run's workers and the builds they start, not the user's
    run = os.environ.get("PYTEST_XDIST_TESTRUNUID") or f"{os.getpid()}"
    os.environ[USER_CACHE_ENV] = str(Path(tempfile.gettempdir()) / f"stillmake-cache-{run}")


# seconds each file took (2 cores, 2026-12-08; `pytest --durations=0`), heaviest first
HEAVY = {
    "test_faults_e2e.py": 94,
    "test_rebuild_truth.py": 74,
    "test_playbook_e2e.py": 52,
    "test_token_spend_e2e.py": 51,
    "test_cluster.py": 47,
    "test_answers.py": 40,
    "test_approval_e2e.py": 35,
    "test_ledger_safety.py": 28,
    "test_main_job.py": 28,
    "test_selections_safety.py": 27,
    "test_critique_e2e.py": 26,
    "test_readme_loop.py": 20,
    "test_docs_commands.py": 20,
    "test_decisions_fuzz.py": 20,
}


def pytest_collection_modifyitems(config, items):
    for item in items:
        if E2E_FIXTURES & set(item.fixturenames) or item.path.name in E2E_FILES:
            item.add_marker(pytest.mark.e2e)
    # the heaviest files first: the two workers (--dist loadfile) then finish together
    # instead of one running a heavy file alone at the end
    items.sort(key=lambda item: -HEAVY.get(item.path.name, 0))


def config_for(root=".", **keys) -> Config:
    """A Config as the build reads it: the schema's defaults under `keys` (nested
    sections merged as Snakemake merges --config), relative paths under `root`."""
    from snakemake.utils import update_config

    data = {"prompts": "p.json", "selections": "s.yaml"}
    update_config(data, keys)
    return Config.from_validated(validated(data), root)


def copy_workflow(dest: Path) -> Path:
    dest.mkdir(parents=True, exist_ok=True)
    for name in WORKFLOW_FILES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, dest / name)
        else:
            shutil.copy2(src, dest / name)
    shutil.copytree(REPO / "runs" / "input", dest / "runs" / "input")
    return dest


PROMPTS = "runs/input/the_trace.image_prompts.refined.json"


def edit_prompt(wf: Workflow, shot: str, text: str) -> str:
    """Rewrite one shot's prompt in a workflow copy; returns the old prompt."""
    path = wf.path(PROMPTS)
    data = json.loads(path.read_text(encoding="utf-8"))
    for s in data["shots"]:
        if s["id"] == shot:
            old, s["prompt"] = s["prompt"], text
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
    return old


def token_bill(usage: dict) -> float:
    """The 2.x family's bill for one response, computed here from the published rates
    (text in $5, image in $8, image out $30 per 1M tokens), not by stillmake's code."""
    details = usage["input_tokens_details"]
    return (
        details["text_tokens"] * 5 + details["image_tokens"] * 8 + usage["output_tokens"] * 30
    ) / 1e6


def server_billed(server) -> float:
    """USD the loopback server billed: every image answer it generated, at the 2.x rates."""
    return sum(token_bill(usage) for rec, usage in server.billed() if "/images/" in rec.path)


def assert_located(exc, file, shot, key, words) -> None:
    """An input error names the file, the shot and the key, and says what is wrong."""
    msg = str(exc)
    assert str(file) in msg and words in msg, msg
    if shot:
        assert f"shot {shot}" in msg, msg
    if key:
        assert f"key '{key}'" in msg, msg


class Workflow:
    """A temp copy of the workflow with helpers to run snakemake and the CLI in it."""

    def __init__(self, root: Path):
        self.root = root

    def path(self, rel) -> Path:
        return self.root / rel

    def env(self, **extra) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        env.update({k: str(v) for k, v in extra.items() if v is not None})
        return env

    def snakemake(self, *args, check=True, timeout=240, env=None, **kw):
        cmd = [sys.executable, "-m", "snakemake", *args]
        proc = subprocess.run(
            cmd,
            cwd=self.root,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            **kw,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"snakemake {' '.join(args)} failed ({proc.returncode}):\n"
                f"{proc.stdout[-4000:]}\n{proc.stderr[-6000:]}"
            )
        return proc

    def stillmake(self, *args, check=True, env=None):
        proc = subprocess.run(
            [sys.executable, "-m", "stillmake", *args],
            cwd=self.root,
            env=env or self.env(),
            capture_output=True,
            text=True,
            timeout=120,
        )
        if check and proc.returncode != 0:
            raise AssertionError(
                f"stillmake {' '.join(args)} failed:\n{proc.stdout}\n{proc.stderr}"
            )
        return proc

    def openai_env(self, server, key=FAKE_KEY) -> dict:
        return self.env(OPENAI_API_KEY=key, OPENAI_BASE_URL=server.url)


@pytest.fixture
def workflow(tmp_path) -> Workflow:
    return Workflow(copy_workflow(tmp_path / "wf"))


@pytest.fixture
def fake_openai():
    from tests.fake_openai import FakeOpenAI

    with FakeOpenAI() as server:
        yield server


def _template(tmp_path_factory, name: str, *targets: str) -> Path:
    """A workflow copy built once per test session (per xdist worker): the sample on the
    preview backend, as `snakemake TARGET...` leaves it."""
    done = _TEMPLATES.get(name)
    if done is None:
        wf = Workflow(copy_workflow(tmp_path_factory.mktemp(f"template-{name}") / "wf"))
        wf.snakemake(*targets)
        done = _TEMPLATES[name] = wf.root
    return done


_TEMPLATES: dict[str, Path] = {}


def copy_built(template: Path, dest: Path) -> Workflow:
    """A copy of a built workflow, every file and mtime as the build left them (and
    Snakemake's records in .snakemake/): what a second build in the same place sees."""
    shutil.copytree(template, dest, symlinks=True)
    return Workflow(dest)


@pytest.fixture
def built(tmp_path, tmp_path_factory) -> Workflow:
    """The sample as plain `snakemake` builds it on the preview backend (built once per
    session, copied per test)."""
    return copy_built(_template(tmp_path_factory, "all"), tmp_path / "wf")


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A workflow copy with every shot's drafts and review built (`snakemake review` on
    the preview backend, built once per session), once per test module. Yields
    (Workflow, original selections text); tests put the text back when they change it."""
    template = _template(tmp_path_factory, "review", "review")
    wf = copy_built(template, tmp_path_factory.mktemp("reviewed") / "wf")
    yield wf, wf.path("runs/input/selections.yaml").read_text(encoding="utf-8")
