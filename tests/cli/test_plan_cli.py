"""`stillmake plan TARGET` for every target docs/build.md names, `-C` with dotted keys,
and `stillmake models`: through the CLI, on a temp copy of the workflow."""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner

from stillmake.cli.main import cli

README_TARGETS = {
    # target: the (shot, pass) requests a fresh sample would pay for on the API: no final
    # (its `lock: true` approves no candidate there) unless the config opts out
    "all": 9,
    "drafts": 5,
    "review": 5,
    "selected": 4,
    "edits": 7,
    "critical": 10,  # with final.approval: any (else refused: see below)
    "runs/drafts/s3/draft_1.png": 1,
}
UNATTENDED = {"critical": ("-C", "final.approval=any")}


def plan_json(wf, *args, **kw):
    proc = wf.stillmake("plan", "--json", *args, **kw)
    return json.loads(proc.stdout)


def test_the_build_page_names_these_targets():
    from tests.conftest import REPO

    page = (REPO / "docs" / "build.md").read_text(encoding="utf-8")
    table = page.split("## Targets", 1)[1].split("##", 1)[0]
    named = set(re.findall(r"`([\w/.]+)`", table))
    assert {"all", "drafts", "review", "selected", "edits", "finals", "critical"} <= named


@pytest.mark.parametrize("target", sorted(README_TARGETS))
def test_plan_every_readme_target(workflow, target):
    plan = plan_json(workflow, target, "-C", "backend=openai", *UNATTENDED.get(target, ()))
    paid = [r for r in plan["requests"] if r["paid"]]
    assert len(paid) == README_TARGETS[target], [(r["shot"], r["pass"]) for r in paid]
    assert plan["total_usd"] == pytest.approx(sum(r["price_usd"] for r in paid))
    assert all(r["basis"] == "prior" and r["price_usd"] > 0 for r in paid)
    finals = {r["shot"]: r for r in plan["requests"] if r["pass"] == "final"}
    if target == "all":  # listed, priced, not counted: each waits for a look and a lock
        assert sorted(finals) == ["s1", "s3", "s5"]
        assert {(r["note"], r["paid"]) for r in finals.values()} == {("awaiting approval", False)}
    if target == "critical":  # let through by the config, and marked so
        assert {r["note"] for r in finals.values()} == {"final.approval: any"}


def test_the_api_plan_of_an_unapproved_target_is_refused_naming_what_to_look_at(workflow):
    proc = workflow.stillmake("plan", "critical", "-C", "backend=openai", check=False)
    assert proc.returncode == 1 and "target 'critical' needs approved candidates" in proc.stderr
    assert "s1 awaits approval: its candidate runs/edits/s1/step_1.png is not built yet" in (
        proc.stderr
    )


def test_the_preview_plan_says_what_the_api_would_cost(workflow):
    text = workflow.stillmake("plan").stdout
    plan = json.loads(workflow.stillmake("plan", "--json").stdout)
    assert plan["total_usd"] == 0 and len(plan["requests"]) == 12
    assert all(r["api_usd"] > 0 for r in plan["requests"])
    usd, trusted = plan["api_usd"]
    assert usd == pytest.approx(sum(r["api_usd"] for r in plan["requests"]))
    finals = [r for r in plan["requests"] if r["pass"] == "final"]
    assert trusted == pytest.approx(sum(r["api_usd"] for r in finals)) and len(finals) == 3
    assert {r["note"] for r in finals} == {"lock: true (preview)"}
    assert f"on the openai backend this plan would cost ${usd:.3f}" in text
    assert "pay (lock: true (preview))" in text


def test_plan_finals_names_unlocked_shots_then_works_once_all_are_locked(workflow):
    proc = workflow.stillmake("plan", "finals", check=False)
    assert proc.returncode == 1
    assert "not locked: s2, s4" in proc.stderr and "Traceback" not in proc.stderr
    assert "invalid choice" not in proc.stderr
    sel = workflow.path("runs/input/selections.yaml")
    sel.write_text(
        sel.read_text()
        .replace("s4:\n  reroll: 0", "s4:\n  pick: 1\n  lock: true")
        .replace("s2:\n  pick: 1", "s2:\n  lock: true\n  pick: 1"),
        encoding="utf-8",
    )
    plan = plan_json(workflow, "finals", "-C", "backend=openai", "-C", "final.approval=any")
    finals = sorted(r["shot"] for r in plan["requests"] if r["pass"] == "final")
    assert finals == ["s1", "s2", "s3", "s4", "s5"]


def test_plan_takes_dotted_overrides_as_snakemake_would(workflow):
    plan = plan_json(
        workflow,
        "drafts",
        "-C",
        "backend=openai",
        "-C",
        "draft.size=1536x640",
        "-C",
        "draft.model=gpt-image-2",
    )
    sizes = {(r["size"], r["model"]) for r in plan["requests"]}
    assert sizes == {("1536x640", "gpt-image-2")}
    base = plan_json(workflow, "drafts", "-C", "backend=openai")
    # fewer pixels: a cheaper plan
    assert plan["total_usd"] < base["total_usd"]
    # the pass's other keys stay: n=3 and quality medium come from config.yaml
    assert {(r["n"], r["quality"]) for r in plan["requests"]} == {(3, "medium")}


def test_plan_refuses_a_size_the_model_does_not_take(workflow):
    proc = workflow.stillmake("plan", "-C", "final.size=1920x1000", check=False)
    assert proc.returncode == 1
    assert (
        "config.yaml, key 'final.size': model 'gpt-image-2.6-sunburst' does not take size "
        "'1920x1000' (final pass): width and height must both be divisible by 16"
    ) in proc.stderr


def test_plan_warns_of_a_dying_model_and_refuses_it_from_its_date(workflow):
    args = ("plan", "drafts", "-C", "draft.model=gpt-image-1-mini", "-C", "draft.size=1536x1024")
    env = workflow.env(STILLMAKE_TODAY="2026-11-25")
    proc = workflow.stillmake(*args, env=env)
    assert "model 'gpt-image-1-mini' shuts down on 2026-12-01 (6 days from now)" in proc.stderr
    assert "gpt-image-2.6-flare" in proc.stderr
    proc = workflow.stillmake(*args, env=workflow.env(STILLMAKE_TODAY="2026-12-01"), check=False)
    assert proc.returncode == 1
    assert (
        "key 'draft.model': model 'gpt-image-1-mini' was shut down on 2026-12-01; use "
        "'gpt-image-2.6-flare'"
    ) in proc.stderr


def test_models_command_lists_capabilities_rates_and_lifecycle(workflow, monkeypatch):
    monkeypatch.setenv("STILLMAKE_TODAY", "2026-11-25")
    monkeypatch.chdir(workflow.root)
    result = CliRunner().invoke(cli, ["models"])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert max(len(line) for line in lines) <= 100, result.output  # a 100-column terminal
    rows = {line.split()[0]: line for line in lines if line.startswith("gpt")}
    assert (
        "ends in 6 days" in rows["gpt-image-1.5"] and "fidelity high,low" in rows["gpt-image-1.5"]
    )
    assert "flexible" in rows["gpt-image-2.6-flare"] and "$5/$8/$30" in rows["gpt-image-2"]
    assert "low..max,auto" in rows["gpt-image-2.6-flare"] and "shut down" in rows["gpt-image-1"]
    assert "shuts down 2026-12-01 (6 days); use gpt-image-2.6-sunburst" in rows["gpt-image-1.5:"]
    assert "shut down 2026-10-23; use gpt-image-2.6-sunburst" in rows["gpt-image-1:"]
    assert (
        "draft gpt-image-2.6-flare, edit gpt-image-2.6-sunburst, final gpt-image-2.6-sunburst"
        in result.output
    )
    result = CliRunner().invoke(cli, ["models", "--json"])
    data = json.loads(result.output)
    assert data["passes"]["draft"] == "gpt-image-2.6-flare" and data["today"] == "2026-11-25"
    assert {m["model"] for m in data["models"]} >= {"gpt-image-2.6-sunburst", "gpt-image-2"}
    help_text = CliRunner().invoke(cli, ["models", "--help"]).output
    assert "30 days" in help_text and "STILLMAKE_TODAY" in help_text
