"""The opt-in vision critique end to end: real `snakemake` builds of one shot's review
against the loopback server's /v1/responses, through the official `openai` client.

Run with `pytest -s` to see the measured cost and time per critique.
"""

from __future__ import annotations

import json

import pytest
import yaml

from stillmake.artifacts.digests import PixelDigests
from stillmake.artifacts.provenance import raw_image
from stillmake.artifacts.sheets import contact_sheet
from stillmake.board.view import board, load_build
from stillmake.rubric import verdict_lines
from tests.conftest import FAKE_KEY
from tests.fake_openai import FakeOpenAI, verdict_for

# finals without a person looking: the explicit opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]
REVIEW = "runs/review/s1.json"
SHEET = "runs/review/s1.png"
DRAFTS = [f"runs/drafts/s1/draft_{k}.png" for k in (1, 2, 3)]
LEDGER = "runs/ledger.jsonl"
MODEL = "gpt-6.1-terra"
# USD per 1M tokens for gpt-6.1-terra, from the reference facts: written here, not read
# from the library
TERRA_IN, TERRA_OUT = 1.00, 5.00
CRITERIA = {"anatomy", "action", "background", "spatial_logic", "lighting", "style"}


def critique_on(wf, **extra) -> list[str]:
    """snakemake options that turn the critique on (a nested key needs a config file)."""
    path = wf.path("critique.yaml")
    path.write_text(yaml.safe_dump({"critique": {"enabled": True, **extra}}), encoding="utf-8")
    return ["--configfile", str(path)]


def ledger_lines(wf) -> list[dict]:
    text = wf.path(LEDGER).read_text(encoding="utf-8")
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def critiques(wf) -> list[dict]:
    return [e for e in ledger_lines(wf) if e["endpoint"] == "responses"]


def capture_responses(fake: FakeOpenAI) -> list[dict]:
    """Every 200 answer the fake sends to /v1/responses: its usage, as sent."""
    seen = []
    answer = fake.answer

    def recording(rec):  # noqa: ANN001, ANN202
        payload = answer(rec)
        if rec.path.endswith("/responses") and isinstance(payload, dict) and "usage" in payload:
            seen.append(payload["usage"])
        return payload

    fake.answer = recording
    return seen


def test_critique_paid_cached_priced_and_shown(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    on = critique_on(wf)
    # the plan of spend counts one critique per draft, per edit step (a candidate) and
    # per final, before any image exists
    plan = json.loads(
        wf.stillmake(
            "plan",
            "--json",
            "-C",
            "backend=openai",
            "-C",
            "critique.enabled=true",
            "-C",
            "final.approval=any",
            env=env,
        ).stdout
    )
    planned = [r for r in plan["requests"] if r["endpoint"] == "responses"]
    by_pass = {}
    for r in planned:
        by_pass.setdefault(r["pass"], []).append(r["shot"])
    # the sample: 5 shots of 3 drafts; edit steps s1 1, s3 2, s5 1; s1, s3, s5 locked
    assert {p: sorted(s) for p, s in by_pass.items()} == {
        **{f"critique{k}": ["s1", "s2", "s3", "s4", "s5"] for k in (1, 2, 3)},
        "critique-edit1": ["s1", "s3", "s5"],
        "critique-edit2": ["s3"],
        "critique-final": ["s1", "s3", "s5"],
    }
    assert all(r["paid"] and r["model"] == MODEL and r["price_usd"] > 0 for r in planned)

    usages = capture_responses(fake_openai)
    wf.snakemake(REVIEW, *OPENAI, *on, env=env)
    sent = [r for r in fake_openai.requests if r.path == "/v1/responses"]
    assert len(sent) == 3 and len(usages) == 3
    body = sent[0].json
    assert body["model"] == MODEL and body["reasoning"] == {"effort": "low"}
    assert body["text"]["format"]["type"] == "json_schema" and body["text"]["format"]["strict"]
    parts = body["input"][0]["content"]
    images = [p for p in parts if p["type"] == "input_image"]
    # the draft (high detail), then s1's one character reference (Leyla, low detail)
    assert [p["detail"] for p in images] == ["high", "low"]
    assert images[0]["image_url"].startswith("data:image/png;base64,")
    assert "Before first bell" in parts[0]["text"]  # the beat goes with the rubric

    # the ledger: one paid line per draft, billed at the model's rates from its usage
    lines = critiques(wf)
    assert [e["pass"] for e in lines] == ["critique1", "critique2", "critique3"]
    assert all(e["outcome"] == "paid" and e["quality"] == "low" for e in lines)
    for line, usage in zip(lines, usages, strict=True):
        assert line["usage"]["input_tokens"] == usage["input_tokens"]
        bill = (usage["input_tokens"] * TERRA_IN + usage["output_tokens"] * TERRA_OUT) / 1e6
        assert abs(line["cost_usd"] - bill) < 1e-9 and line["estimate_usd"] > 0
        assert usage["output_tokens_details"]["reasoning_tokens"] > 0

    # the review: each draft's verdicts as the model gave them, marked as its opinion,
    # and among its flags at warn level (critique.fail_on names none here)
    report = json.loads(wf.path(REVIEW).read_text(encoding="utf-8"))
    for draft, path in zip(report["drafts"], DRAFTS, strict=True):
        c = draft["critique"]
        assert c["status"] == "done" and c["opinion"] == f"model's opinion ({MODEL})"
        pixels = raw_image(wf.path(path))
        verdicts = {n: verdict_for(pixels, n) for n in CRITERIA}
        assert {n: v["verdict"] for n, v in c["verdicts"].items()} == verdicts
        assert c["cache_hit"] is False and c["cost_usd"] > 0
        flagged = {
            f["metric"]: f["level"] for f in draft["flags"] if f["metric"][:9] == "critique:"
        }
        assert flagged == {f"critique:{n}": "warn" for n, v in verdicts.items() if v != "pass"}
        assert draft["worst"] in ("pass", "warn", "fail")
    # the sheet has the verdicts' lines under the flags: taller than the flags alone
    plain = contact_sheet(
        [wf.path(p) for p in DRAFTS],
        shot="s1",
        title=report["title"],
        labels=[f"draft {d['k']} · {d['image_sha256'][:6]}" for d in report["drafts"]],
        flags=[[f for f in d["flags"] if f["metric"][:9] != "critique:"] for d in report["drafts"]],
    )
    assert _height(wf.path(SHEET).read_bytes()) >= _height(plain) + 2 * 20

    # a second build judges nothing again: the same answers, from the cache, for $0
    spent = sum(e["cost_usd"] for e in ledger_lines(wf))
    wf.snakemake(REVIEW, "--forcerun", "review_sheet", *OPENAI, *on, env=env)
    assert len([r for r in fake_openai.requests if r.path == "/v1/responses"]) == 3
    again = critiques(wf)[3:]
    assert [e["outcome"] for e in again] == ["cache_hit"] * 3
    assert sum(e["cost_usd"] for e in ledger_lines(wf)) == spent
    second = json.loads(wf.path(REVIEW).read_text(encoding="utf-8"))
    assert [d["critique"]["verdicts"] for d in second["drafts"]] == [
        d["critique"]["verdicts"] for d in report["drafts"]
    ]
    assert all(d["critique"]["cache_hit"] for d in second["drafts"])

    # turning it off again reruns the review alone (no draft), at $0
    dry = wf.snakemake(REVIEW, "-n", *OPENAI, env=env).stdout
    assert "review_sheet" in dry and "rule draft" not in dry

    hits = [p for p in wf.root.rglob("*") if p.is_file() and FAKE_KEY.encode() in p.read_bytes()]
    assert hits == []
    per_draft = sum(e["cost_usd"] for e in lines) / 3
    print(
        f"\ncritique per draft: ${per_draft:.5f}; usage {usages[0]}; latency "
        f"{[e['latency_s'] for e in lines]} s"
    )


def test_failed_critique_is_recorded_not_fatal_unless_blocking(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake(*DRAFTS, *OPENAI, env=env)  # the drafts, paid once, before the faults
    # draft 1: a schema-breaking answer (retried), then a refusal (final); draft 2: a
    # refusal; draft 3 is judged
    fake_openai.corrupt_next(1, "bad_verdict")
    fake_openai.corrupt_next(2, "refusal")
    wf.snakemake(REVIEW, *OPENAI, *critique_on(wf), env=env)
    report = json.loads(wf.path(REVIEW).read_text(encoding="utf-8"))
    status = [d["critique"]["status"] for d in report["drafts"]]
    assert status == ["failed", "failed", "done"]
    why = report["drafts"][0]["critique"]["why"]
    assert "the model refused to critique" in why
    shown = verdict_lines(report["drafts"][0]["critique"])  # what the sheet prints
    assert shown[0]["message"].startswith("critique failed: the model refused to critique")
    lines = critiques(wf)
    assert [(e["pass"], e["outcome"]) for e in lines] == [
        ("critique1", "failed"),
        ("critique2", "failed"),
        ("critique3", "paid"),
    ]
    assert lines[0]["attempts"] == 2 and "schema" in lines[0]["retries"][0]["error"]
    # the off-schema answer and the refusals came with usage: billed, so counted (issue 20),
    # at the vision rates ($1 in, $5 out per 1M tokens), computed here from the server's usage
    served = [u for rec, u in fake_openai.billed() if rec.path.endswith("/responses")]
    bills = [(u["input_tokens"] * 1.0 + u["output_tokens"] * 5.0) / 1e6 for u in served]
    assert len(bills) == 4  # off-schema + refusal (draft 1), refusal (draft 2), draft 3
    assert lines[0]["cost_usd"] == pytest.approx(bills[0] + bills[1], abs=1e-6)
    assert lines[1]["cost_usd"] == pytest.approx(bills[2], abs=1e-6) and bills[2] > 0
    assert sum(e["cost_usd"] for e in lines) == pytest.approx(sum(bills), abs=1e-6)

    # blocking: a critique that cannot be had fails the review job, saying why
    fake_openai.corrupt_next(1, "refusal")
    proc = wf.snakemake(
        REVIEW,
        "--forcerun",
        "review_sheet",
        *OPENAI,
        *critique_on(wf, blocking=True),
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    assert "critique of draft 1 (blocking): the model refused to critique" in proc.stderr


def _height(png: bytes) -> int:
    return int.from_bytes(png[20:24], "big")  # the IHDR chunk's height


def test_candidates_and_finals_are_judged_and_their_verdicts_reach_the_gate(
    workflow, fake_openai, monkeypatch
):
    """s1 to its final with the critique on and `anatomy` able to fail: the edit step's
    result and the final are judged too (cached, ledgered), their verdicts are flags in
    their records, on the board and in gate.json."""
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.path("runs/input/selections.yaml").write_text(
        "s1:\n  pick: 2\n  edits:\n    - change: remove the sign\n      region: [0.7, 0.08, "
        "0.95, 0.4]\n  lock: true\n",
        encoding="utf-8",
    )
    on = critique_on(wf, fail_on=["anatomy"])
    wf.snakemake("runs/final/manifest.csv", REVIEW, *OPENAI, *on, env=env)  # s1 is locked
    passes = [e["pass"] for e in critiques(wf)]
    assert sorted(passes) == [
        "critique-edit1",
        "critique-final",
        "critique1",
        "critique2",
        "critique3",
    ]

    step = json.loads(wf.path("runs/edits/s1/step_1.json").read_text(encoding="utf-8"))
    final = json.loads(wf.path("runs/final/s1.json").read_text(encoding="utf-8"))
    gate = json.loads(wf.path("runs/final/gate.json").read_text(encoding="utf-8"))
    expected_of = {}
    for record, image in ((step, "runs/edits/s1/step_1.png"), (final, "runs/final/s1.png")):
        pixels = raw_image(wf.path(image))
        verdicts = {n: verdict_for(pixels, n) for n in CRITERIA}
        assert {n: v["verdict"] for n, v in record["critique"]["verdicts"].items()} == verdicts
        # warn level, fail only for anatomy (critique.fail_on)
        expected = {
            f"critique:{n}": ("fail" if v == "fail" and n == "anatomy" else "warn")
            for n, v in verdicts.items()
            if v != "pass"
        }
        flagged = {
            f["metric"]: f["level"] for f in record["flags"] if f["metric"][:9] == "critique:"
        }
        assert flagged == expected
        expected_of[image] = expected
    # the step's leak is judged and named with both levels (the fake re-renders the frame)
    (leak,) = [f for f in step["flags"] if f["metric"] == "leak_mean"]
    assert leak["level"] == "fail" and "allowed up to 1, fails above 4" in leak["message"]
    # the gate counts the final's verdicts and the candidate's leak
    s1 = gate["shots"]["s1"]
    assert [f for f in s1["flags"] if f["metric"][:9] == "critique:"] == [
        f for f in final["flags"] if f["metric"][:9] == "critique:"
    ]
    assert any(f["metric"] == "leak_mean" and f["level"] == "fail" for f in s1["flags"])
    assert s1["worst"] == "fail"

    # the board shows them: on each draft and on the edit step
    monkeypatch.chdir(wf.root)
    page = board(load_build(), None, "", False, PixelDigests())
    (shot,) = [s for s in page["shots"] if s["id"] == "s1"]
    shown = {f["metric"] for f in shot["edits"][0]["flags"]}
    assert shown >= {"leak_mean", *expected_of["runs/edits/s1/step_1.png"]}
    review = json.loads(wf.path(REVIEW).read_text(encoding="utf-8"))
    for draft, shown in zip(review["drafts"], shot["drafts"], strict=True):
        criticised = [f for f in draft["flags"] if f["metric"][:9] == "critique:"]
        assert [f for f in shown["flags"] if f["metric"][:9] == "critique:"] == criticised
