"""Beyond one machine: the workflow run through an executor plugin (every job its own
`snakemake` process, in its own pid namespace), under a default storage provider, and as
a module with a prefix. Each is the real thing: snakemake and its plugins."""

from __future__ import annotations

import json
import re
import shutil
import subprocess

from stillmake.api.ledger import Ledger
from tests.conftest import FAKE_KEY, PROMPTS

OPENAI = ["--config", "backend=openai"]


def _duplicate_shots(wf, copies: dict[str, str]) -> None:
    """Add shots whose request is another shot's, prompt for prompt: the same fingerprint."""
    path = wf.path(PROMPTS)
    data = json.loads(path.read_text())
    shots = data["shots"]
    for new, old in copies.items():
        (src,) = [s for s in shots if s["id"] == old]
        shots.append({**src, "id": new})
    path.write_text(json.dumps(data, indent=2))


def test_cluster_jobs_in_their_own_pid_namespaces_keep_the_budget_and_pay_once(
    workflow, fake_openai
):
    wf = workflow
    _duplicate_shots(wf, {"s6": "s1", "s7": "s2"})
    fake_openai.latency = 1.0
    capture = wf.path("jobscripts")
    capture.mkdir()
    submit = f'cp "$0" {capture}/ && exec profiles/cluster-local/submit "$0"'
    proc = wf.snakemake(
        "drafts",
        "--workflow-profile",
        "profiles/cluster-local",
        "--cluster-generic-submit-cmd",
        f"bash -c '{submit}'",
        "--jobs",
        "7",
        *OPENAI,
        "budget_usd=0.25",
        env=wf.openai_env(fake_openai),
        check=False,
        timeout=300,
    )
    entries = Ledger(wf.path("runs/ledger.jsonl")).entries()
    paid = [e for e in entries if e["outcome"] == "paid"]
    # every job was a cluster job of its own (in its own pid namespace where `unshare` is
    # allowed: as root, as in CI)
    assert len(list(capture.iterdir())) == 7, proc.stderr[-3000:]
    # the budget held: reservations of jobs whose pids mean nothing to each other
    assert 0 < sum(e["cost_usd"] for e in paid) <= 0.25, proc.stderr[-3000:]
    outcomes = [(e["shot"], e["outcome"]) for e in entries]
    assert len(paid) == fake_openai.count("/images/generations") >= 2, outcomes
    # no fingerprint paid twice, though s6/s7 ask what s1/s2 ask
    assert len({e["fingerprint"] for e in paid}) == len(paid)
    # each job's own output is in its cluster log, as on a real cluster
    logs = "".join(p.read_text() for p in wf.path(".snakemake/cluster-logs").iterdir())
    refused = set(re.findall(r"(s\d) draft \([^)]*\) would cost", logs))
    built = {e["shot"] for e in entries if e["outcome"] in ("paid", "cache_hit")}
    assert refused and not refused & built and len(refused | built) == 7, logs[-3000:]
    # the key reached the jobs through their environment, never a jobscript file
    for script in capture.iterdir():
        assert FAKE_KEY not in script.read_text()
    for path in wf.root.rglob("*"):
        if path.is_file() and path.stat().st_size < 5_000_000:
            assert FAKE_KEY.encode() not in path.read_bytes(), path


def test_builds_under_a_default_storage_provider(workflow, tmp_path):
    wf = workflow
    remote = tmp_path / "remote"
    shutil.copytree(wf.path("runs/input"), remote / "runs/input")  # inputs live in storage
    args = ["--default-storage-provider", "fs", "--default-storage-prefix", str(remote)]
    proc = wf.snakemake(*args)
    assert "[22/22 · " in proc.stderr, proc.stderr[-3000:]  # every job done
    for rel in ("runs/final/s3.png", "runs/final/manifest.csv", "runs/edits/s3/step_2.json"):
        assert (remote / rel).is_file(), rel
    assert not wf.path("runs/final").exists()  # outputs went to storage, not the workdir
    again = wf.snakemake(*args, "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


HOST = """\
configfile: "stills/config.yaml"


module stillmake:
    snakefile:
        "{snakefile}"
    config:
        config
    prefix:
        "stills"


use rule * from stillmake as stills_*


rule all:
    default_target: True
    input:
        rules.stills_all.input,
"""


def test_works_as_a_module_with_a_prefix(workflow, tmp_path):
    host = tmp_path / "host"
    shutil.copytree(workflow.path("runs/input"), host / "stills/runs/input")
    shutil.copy(workflow.path("config.yaml"), host / "stills/config.yaml")
    (host / "Snakefile").write_text(HOST.format(snakefile=workflow.path("Snakefile")))
    proc = subprocess.run(
        ["snakemake", "-c2", "--force-use-threads", "--resources", "api=1"],
        cwd=host,
        env=workflow.env(),
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (host / "stills/runs/final/manifest.csv").is_file()
    assert not (host / "stills/stills").exists() and not (host / "runs").exists()
    assert (host / "stills/runs/.params/s3/edit_2.json").is_file()
    # the module's end-of-build summary runs in the host's build
    summary = r"stillmake: this run 0 paid request\(s\) \$0.000, 12 preview render\(s\)"
    assert re.search(summary, proc.stderr), proc.stderr[-2000:]
    # the same paths seen from the CLI in the project directory
    status = workflow.stillmake("-d", str(host / "stills"), "status", "--json")
    assert json.loads(status.stdout)["spent_usd"] == 0

    # a real build without a key stops in a module too; -n needs none
    cmd = ["snakemake", "-c1", "-F", "--config", "backend=openai"]
    dry = subprocess.run(cmd + ["-n"], cwd=host, env=workflow.env(), capture_output=True)
    assert dry.returncode == 0, dry.stderr[-2000:]
    real = subprocess.run(cmd, cwd=host, env=workflow.env(), capture_output=True, text=True)
    assert real.returncode != 0
    assert "backend 'openai' needs an API key" in real.stderr
