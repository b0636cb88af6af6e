"""Shared fixtures: a temp copy of the workflow and a snakemake runner for it."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
WORKFLOW_FILES = ["Snakefile", "config.yaml", "rules", "profiles", "report"]
from stillmake.inputs.config import Config, validated  # noqa: E402
from tests.fake_openai import FAKE_KEY  # noqa: E402  (a made-up key the secrets test greps for)


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


@pytest.fixture(scope="module")
def reviewed(tmp_path_factory):
    """A workflow copy with every shot's drafts and review built (`snakemake review` on
    the preview backend, about 5 s), once per test module. Yields (Workflow, original
    selections text); tests put the text back when they change it."""
    wf = Workflow(copy_workflow(tmp_path_factory.mktemp("reviewed") / "wf"))
    wf.snakemake("review")
    yield wf, wf.path("runs/input/selections.yaml").read_text(encoding="utf-8")
