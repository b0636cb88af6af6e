"""Token spend end to end: real `snakemake` builds against the loopback API server.

The default build on the gpt-image-2.6 models (what is sent, and that the fake's
rules accept all of it), the ledger as the token bill to the cent, the plan of
spend against the bill (from the prior, then learnt from the ledger), a dying
model and a bad size refused before any request, and a model change that
rebuilds finals only.

Run with `pytest -s` to see the measured plan-vs-bill figures.
"""

from __future__ import annotations

import json
import re

import pytest
import yaml

from tests.conftest import Workflow, copy_workflow
from tests.fake_openai import MODELS, FakeOpenAI

# finals without a person looking: the explicit opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]
PLAN_OPENAI = ["-C", "backend=openai", "-C", "final.approval=any"]
PROMPTS = "runs/input/the_trace.image_prompts.refined.json"
LEDGER = "runs/ledger.jsonl"

# USD per 1M tokens for the gpt-image-2.x family: written here, not read from the library
TEXT_IN, IMAGE_IN, IMAGE_OUT = 5.00, 8.00, 30.00
DYING = {"gpt-image-1.5", "gpt-image-1.5-2025-12-16", "gpt-image-1-mini", "chatgpt-image-latest"}
DRAFT_MODEL, EDIT_MODEL = "gpt-image-2.6-flare", "gpt-image-2.6-sunburst"
DRAFT_SIZE, FINAL_SIZE = "1536x864", "2560x1440"
SUMMARY = re.compile(
    r"^stillmake: this run (\d+) paid request\(s\) \$(\d+\.\d{3}), "
    r"(\d+) cache hit\(s\) \$0, (\d+) failed; ledger total \$(\d+\.\d{3})"
)
ACCURACY = re.compile(
    r"last paid build \((?P<build>[^)]*)\): planned \$(?P<planned>\d+\.\d{3}), "
    r"billed \$(?P<billed>\d+\.\d{3}) over (?P<n>\d+) request\(s\): the plan "
    r"was (?P<pct>\d+\.\d)% (?P<side>over|under) the bill"
)


# -- helpers -----------------------------------------------------------------------------


def capture_usage(fake: FakeOpenAI) -> list:
    """Wrap the fake's answer(): keep (request, usage) of every 200 response it sends."""
    seen = []
    answer = fake.answer

    def recording(rec):
        payload = answer(rec)
        seen.append((rec, payload["usage"]))
        return payload

    fake.answer = recording
    return seen


def token_bill(usage: dict) -> float:
    """USD for one response's usage at the 2.x rates, computed here independently."""
    details = usage["input_tokens_details"]
    return (
        details["text_tokens"] * TEXT_IN
        + details["image_tokens"] * IMAGE_IN
        + usage["output_tokens"] * IMAGE_OUT
    ) / 1e6


def ledger_lines(wf) -> list[dict]:
    path = wf.path(LEDGER)
    if not path.exists():
        return []
    return [json.loads(ln) for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]


def summary_line(stderr: str) -> re.Match:
    found = [m for m in map(SUMMARY.match, stderr.splitlines()) if m]
    assert len(found) == 1, stderr[-3000:]
    return found[0]


def plan_json(wf, env, *extra) -> dict:
    proc = wf.stillmake("plan", "--json", *PLAN_OPENAI, *extra, env=env)
    return json.loads(proc.stdout)


def accuracy_from_ledger(lines: list[dict]) -> dict:
    """The last paid API build, recomputed from the ledger without the library."""
    paid = [e for e in lines if e["outcome"] == "paid" and e.get("estimate_usd") is not None]
    build = paid[-1]["build"]
    mine = [e for e in paid if e["build"] == build]
    planned = sum(e["estimate_usd"] for e in mine)
    billed = sum(e["cost_usd"] for e in mine)
    return {
        "build": build,
        "n": len(mine),
        "planned": planned,
        "billed": billed,
        "error": (planned - billed) / billed,
    }


def assert_accuracy_line(text: str, lines: list[dict]) -> dict:
    acc = accuracy_from_ledger(lines)
    found = [m for m in map(ACCURACY.search, text.splitlines()) if m]
    assert len(found) == 1, text
    m = found[0]
    assert m["build"] == acc["build"]
    assert int(m["n"]) == acc["n"]
    assert m["planned"] == f"{acc['planned']:.3f}" and m["billed"] == f"{acc['billed']:.3f}"
    assert abs(float(m["pct"]) - abs(acc["error"]) * 100) <= 0.051, (m.group(0), acc)
    if abs(acc["error"]) >= 0.001:
        assert m["side"] == ("over" if acc["error"] > 0 else "under")
    return acc


def jobs_in_dry_run(stdout: str) -> list[tuple[str, str | None]]:
    """(rule, shot or None) for every job of `snakemake -n` output."""
    jobs, rule = [], None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            if rule:
                jobs.append((rule, None))
            rule = line.split()[1].rstrip(":")
        elif line.startswith("wildcards:") and rule:
            jobs.append((rule, line.split("shot=")[1].split(",")[0]))
            rule = None
    if rule:
        jobs.append((rule, None))
    return jobs


def write_configfile(wf, name: str, data: dict):
    path = wf.path(name)
    path.write_text(yaml.safe_dump(data), encoding="utf-8")
    return path


def is_final(rec) -> bool:
    return rec.path.endswith("/edits") and rec.param("quality") == "high"


# -- one default build, shared by the request and bill checks -----------------------------


@pytest.fixture(scope="module")
def default_build(tmp_path_factory):
    wf = Workflow(copy_workflow(tmp_path_factory.mktemp("token") / "wf"))
    with FakeOpenAI() as fake:
        seen = capture_usage(fake)
        proc = wf.snakemake(*OPENAI, env=wf.openai_env(fake))
        yield {
            "wf": wf,
            "fake": fake,
            "seen": list(seen),
            "proc": proc,
            "requests": list(fake.requests),
            "ledger": ledger_lines(wf),
        }


def test_default_build_requests_obey_the_2x_rules(default_build):
    reqs = default_build["requests"]
    print(
        f"\ndefault build: {len(reqs)} requests "
        f"({sum(r.path.endswith('/generations') for r in reqs)} generate, "
        f"{sum(r.path.endswith('/edits') and not is_final(r) for r in reqs)} edit, "
        f"{sum(is_final(r) for r in reqs)} final)"
    )
    assert len(reqs) == 12
    assert [r.status for r in reqs] == [200] * 12, [(r.path, r.status) for r in reqs]
    for r in reqs:
        model = r.param("model")
        assert model not in DYING and MODELS[model].shutdown is None, model

    drafts = [r for r in reqs if r.path.endswith("/images/generations")]
    edits = [r for r in reqs if r.path.endswith("/images/edits")]
    assert len(drafts) == 5 and len(edits) == 7
    for r in drafts:
        assert r.json["model"] == DRAFT_MODEL and int(r.json["n"]) == 3
        assert r.json["quality"] == "medium" and r.json["size"] == DRAFT_SIZE
    for r in edits:
        present = set(r.fields) | set(r.files)
        assert "input_fidelity" not in present and "moderation" not in present, sorted(present)
        assert r.param("model") == EDIT_MODEL
    finals = [r for r in edits if is_final(r)]
    steps = [r for r in edits if not is_final(r)]
    assert len(finals) == 3 and len(steps) == 4
    assert all(r.param("size") == FINAL_SIZE and r.param("quality") == "high" for r in finals)
    assert all(r.param("size") == DRAFT_SIZE and r.param("quality") == "medium" for r in steps)

    # the ledger agrees on which pass sent what
    paid = [e for e in default_build["ledger"] if e["outcome"] == "paid"]
    finals_ledger = sorted(e["shot"] for e in paid if e["pass"] == "final")
    assert finals_ledger == ["s1", "s3", "s5"]
    for e in paid:
        if e["pass"] == "final":
            assert (e["size"], e["quality"], e["model"]) == (FINAL_SIZE, "high", EDIT_MODEL)
        if e["pass"] == "draft":
            assert (e["size"], e["quality"], e["model"], e["n"]) == (
                DRAFT_SIZE,
                "medium",
                DRAFT_MODEL,
                3,
            )


def test_ledger_is_the_token_bill_to_the_cent(default_build):
    lines = default_build["ledger"]
    paid = [e for e in lines if e["outcome"] == "paid"]
    assert len(paid) == 12 and len(lines) == 12, [e["outcome"] for e in lines]

    recomputed = 0.0
    for e in paid:
        mine = token_bill(e["usage"])
        assert abs(mine - e["cost_usd"]) < 0.005, (e["shot"], e["pass"], mine, e["cost_usd"])
        recomputed += mine
    ledger_total = sum(e["cost_usd"] for e in paid)
    assert round(ledger_total, 2) == round(recomputed, 2)
    assert abs(ledger_total - recomputed) < 0.005

    # what the server itself answered: the same usages, the same total
    seen = default_build["seen"]
    assert len(seen) == 12

    def key(u):
        details = u["input_tokens_details"]
        return details["text_tokens"], details["image_tokens"], u["output_tokens"]

    assert sorted(key(u) for _, u in seen) == sorted(key(e["usage"]) for e in paid)
    served = sum(token_bill(u) for _, u in seen)
    assert abs(ledger_total - served) < 0.005 and round(ledger_total, 2) == round(served, 2)

    m = summary_line(default_build["proc"].stderr)
    assert int(m[1]) == 12 and int(m[3]) == 0 and int(m[4]) == 0
    assert m[2] == f"{served:.3f}" and m[5] == f"{served:.3f}"
    print(
        f"\nbill: ledger ${ledger_total:.4f}, recomputed ${recomputed:.4f}, "
        f"server ${served:.4f}; summary says ${m[2]}"
    )


def test_plan_from_prior_then_learnt_from_the_ledger(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)

    # a fresh copy: no ledger, every estimate from the model table's prior
    first = plan_json(wf, env)
    assert first["last_build"] is None
    paid_plan = [p for p in first["requests"] if p["paid"]]
    assert len(paid_plan) == 12 and {p["basis"] for p in paid_plan} == {"prior"}
    assert fake_openai.count() == 0

    proc = wf.snakemake(*OPENAI, env=env)
    lines = ledger_lines(wf)
    bill = sum(e["cost_usd"] for e in lines if e["outcome"] == "paid")
    assert fake_openai.count() == 12 and bill > 0
    err = (first["total_usd"] - bill) / bill
    print(f"\nprior plan ${first['total_usd']:.4f} vs bill ${bill:.4f}: {err * 100:+.1f}%")
    assert abs(err) <= 0.50
    assert summary_line(proc.stderr)[2] == f"{bill:.3f}"

    # the plan now reports how far the last paid build's own estimates were from its bill
    after = plan_json(wf, env)
    acc = accuracy_from_ledger(lines)
    lb = after["last_build"]
    assert lb["requests"] == 12 == acc["n"] and lb["build"] == acc["build"]
    assert abs(lb["planned_usd"] - acc["planned"]) < 1e-5
    assert abs(lb["billed_usd"] - acc["billed"]) < 1e-5
    assert abs(lb["error"] - acc["error"]) < 1e-3
    assert not [p for p in after["requests"] if p["paid"]]
    print(
        f"per-call estimates of that build ${acc['planned']:.4f} vs bill ${acc['billed']:.4f}: "
        f"{acc['error'] * 100:+.1f}%"
    )

    # a new shot of the same kind: a copy of s2 with its own prompt, not in selections
    data = json.loads(wf.path(PROMPTS).read_text(encoding="utf-8"))
    s2 = next(s for s in data["shots"] if s["id"] == "s2")
    s6 = {
        **s2,
        "id": "s6",
        "title": "The Empty Couch",
        "characters": ["leyla"],
        "prompt": (
            "Leyla sits on the edge of the empty examination couch, the crisp paper "
            "crackling under her, and stares at a wet handprint on the cabinet door. "
            "Medium wide shot, 35mm, white enamel cabinets, a wall-mounted sharps bin."
        ),
    }
    data["shots"].append(s6)
    wf.path(PROMPTS).write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")

    learnt = plan_json(wf, env)
    pay = [p for p in learnt["requests"] if p["paid"]]
    assert [(p["shot"], p["pass"]) for p in pay] == [("s6", "draft")], pay
    s6_plan = pay[0]
    assert s6_plan["basis"] == "ledger"
    assert (s6_plan["model"], s6_plan["size"], s6_plan["n"]) == (DRAFT_MODEL, DRAFT_SIZE, 3)
    assert abs(learnt["total_usd"] - s6_plan["price_usd"]) < 1e-6

    text = wf.stillmake("plan", *PLAN_OPENAI, env=env).stdout
    assert "s6" in text
    assert_accuracy_line(text, lines)  # still the first build: 12 requests

    before = fake_openai.count()
    proc = wf.snakemake(*OPENAI, env=env)
    assert fake_openai.count() - before == 1
    assert fake_openai.requests[-1].path.endswith("/generations")
    assert "wet handprint" in fake_openai.requests[-1].json["prompt"]
    lines = ledger_lines(wf)
    s6_line = [e for e in lines if e["shot"] == "s6"]
    assert len(s6_line) == 1 and s6_line[0]["outcome"] == "paid"
    s6_bill = s6_line[0]["cost_usd"]
    assert abs(token_bill(s6_line[0]["usage"]) - s6_bill) < 0.005
    err6 = (s6_plan["price_usd"] - s6_bill) / s6_bill
    print(
        f"learnt plan for s6 draft ${s6_plan['price_usd']:.4f} vs bill ${s6_bill:.4f}: "
        f"{err6 * 100:+.1f}% (estimate at call time ${s6_line[0]['estimate_usd']:.4f})"
    )
    assert abs(err6) <= 0.20
    assert summary_line(proc.stderr)[2] == f"{s6_bill:.3f}"

    text = wf.stillmake("plan", *PLAN_OPENAI, env=env).stdout
    acc = assert_accuracy_line(text, lines)
    assert acc["n"] == 1
    print(text.strip().splitlines()[-1])


def test_dying_model_and_bad_size_are_refused_before_any_request(workflow, fake_openai):
    wf = workflow
    extra = write_configfile(
        wf,
        "extra.yaml",
        {"model": "gpt-image-1.5", "final": {"size": "1536x1024"}, "draft": {"size": "1536x1024"}},
    )
    args = [*OPENAI, "--configfile", str(extra)]

    # six days before the shutdown: a warning, the dry run goes on
    dry = wf.snakemake(
        "-n", *args, env={**wf.openai_env(fake_openai), "STILLMAKE_TODAY": "2026-11-25"}
    )
    warnings = [ln for ln in dry.stderr.splitlines() if "warning" in ln and "gpt-image-1.5" in ln]
    assert warnings, dry.stderr[-3000:]
    assert any("2026-12-01" in ln and EDIT_MODEL in ln for ln in warnings), warnings

    # on the day: refused before any job, dry run or not, naming the replacement
    gone = {**wf.openai_env(fake_openai), "STILLMAKE_TODAY": "2026-12-01"}
    fake_openai.today = "2026-12-01"
    for run in (["-n", *args], args):
        proc = wf.snakemake(*run, env=gone, check=False)
        out = proc.stdout + proc.stderr
        assert proc.returncode != 0, out[-3000:]
        assert f"was shut down on 2026-12-01; use '{EDIT_MODEL}'" in out, out[-3000:]
    assert fake_openai.count() == 0
    assert not wf.path("runs/drafts").exists()

    # a size the 2.x models refuse: named, with the rule, before any request
    bad = write_configfile(wf, "bad.yaml", {"draft": {"size": "1000x1000"}})
    proc = wf.snakemake(
        *OPENAI, "--configfile", str(bad), env=wf.openai_env(fake_openai), check=False
    )
    out = proc.stdout + proc.stderr
    assert proc.returncode != 0
    assert "1000x1000" in out and "divisible by 16" in out, out[-3000:]
    assert fake_openai.count() == 0 and not ledger_lines(wf)


def test_changing_final_model_rebuilds_finals_only(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake(*OPENAI, env=env)
    assert fake_openai.count() == 12

    extra = write_configfile(wf, "final_model.yaml", {"final": {"model": "gpt-image-2"}})
    args = [*OPENAI, "--configfile", str(extra)]
    dry = wf.snakemake("-n", *args, env=env)
    jobs = jobs_in_dry_run(dry.stdout)
    rules = {rule for rule, _ in jobs}
    print(f"\ndry run after final.model change: {sorted(jobs, key=str)}")
    assert rules - {"all"} == {"final", "manifest"}, jobs
    assert sorted(shot for rule, shot in jobs if rule == "final") == ["s1", "s3", "s5"]
    assert fake_openai.count() == 12

    before = len(ledger_lines(wf))
    wf.snakemake(*args, env=env)
    new = fake_openai.requests[12:]
    assert len(new) == 3, [(r.path, r.param("model")) for r in new]
    assert all(
        r.path.endswith("/images/edits") and r.param("model") == "gpt-image-2" and r.status == 200
        for r in new
    )
    assert all(r.param("size") == FINAL_SIZE and r.param("quality") == "high" for r in new)
    added = ledger_lines(wf)[before:]
    assert sorted((e["shot"], e["pass"], e["outcome"]) for e in added) == [
        ("s1", "final", "paid"),
        ("s3", "final", "paid"),
        ("s5", "final", "paid"),
    ]
