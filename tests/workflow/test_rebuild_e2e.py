"""Drafts and review through real `snakemake` runs against the loopback API server.

One build, then: edit one shot's prompt (only that shot rebuilds, one request),
revert (zero requests), --forceall (zero requests), lose .snakemake/ (zero).
"""

from __future__ import annotations

import json
import shutil

import pytest
from PIL import Image

from stillmake.api.ledger import Ledger
from tests.conftest import PROMPTS, edit_prompt, token_bill


def jobs_in_dry_run(stdout: str) -> list[tuple[str, str]]:
    """(rule, shot) pairs from `snakemake -n` output."""
    jobs, rule = [], None
    for line in stdout.splitlines():
        line = line.strip()
        if line.startswith(("rule ", "localrule ")) and line.endswith(":"):
            rule = line.split()[1].rstrip(":")
        elif line.startswith("wildcards:") and rule:
            jobs.append((rule, line.split("shot=")[1].split(",")[0]))
            rule = None
    return jobs


def test_drafts_review_rebuild_per_shot_and_never_paid_twice(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    args = ["review", "--config", "backend=openai"]

    first = wf.snakemake(*args, env=env)
    paid = [e for e in Ledger(wf.path("runs/ledger.jsonl")).entries() if e["outcome"] == "paid"]
    billed = sum(token_bill(e["usage"]) for e in paid)
    assert f"stillmake: this run 5 paid request(s) ${billed:.3f}, 0 cache hit(s)" in first.stderr
    shots = [s["id"] for s in json.loads(wf.path(PROMPTS).read_text())["shots"]]
    assert len(shots) == 5
    assert fake_openai.count("generations") == 5
    for req in fake_openai.requests:
        assert req.json["n"] == 3 and req.json["quality"] == "medium"
        assert req.json["size"] == "1536x864" and req.json["model"] == "gpt-image-2.6-flare"
        assert "Avoid:" in req.json["prompt"]
    for shot in shots:
        for k in (1, 2, 3):
            png = wf.path(f"runs/drafts/{shot}/draft_{k}.png")
            side = json.loads(png.with_suffix(".json").read_text())
            assert side["shot"] == shot and side["k"] == k and side["n"] == 3
            assert side["backend"] == f"openai@{fake_openai.url}"
            assert side["usage"]["total_tokens"] > 0 and side["cost_usd"] > 0
            with Image.open(png) as im:
                assert im.size == (1536, 864)
                assert json.loads(im.text["stillmake"])["fingerprint"] == side["fingerprint"]
                assert "Negative prompt:" in im.text["parameters"]
        review = json.loads(wf.path(f"runs/review/{shot}.json").read_text())
        assert [d["k"] for d in review["drafts"]] == [1, 2, 3]
        assert wf.path(f"runs/review/{shot}.png").stat().st_size > 0
    ledger = Ledger(wf.path("runs/ledger.jsonl"))
    paid = [e for e in ledger.entries() if e["outcome"] == "paid"]
    assert len(paid) == 5 and ledger.spent() == pytest.approx(billed, abs=1e-5)
    assert all(e["attempts"] == 1 and e["latency_s"] >= 0 for e in paid)

    # edit s3's prompt: the dry run lists s3's jobs only, for changed params
    old = edit_prompt(wf, "s3", "Leyla kneels by the drain, one hand flat on the wet tiles.")
    dry = wf.snakemake("-n", *args, env=env)
    assert sorted(jobs_in_dry_run(dry.stdout)) == [("draft", "s3"), ("review_sheet", "s3")]
    assert "params" in dry.stdout.lower()
    before = fake_openai.count()
    wf.snakemake(*args, env=env)
    assert fake_openai.count() - before == 1
    assert "drain" in fake_openai.requests[-1].json["prompt"]

    # revert: the old request is in the cache -> zero requests
    edit_prompt(wf, "s3", old)
    before = fake_openai.count()
    wf.snakemake(*args, env=env)
    assert fake_openai.count() == before
    assert Ledger(wf.path("runs/ledger.jsonl")).entries()[-1]["outcome"] == "cache_hit"

    # --forceall and a lost .snakemake/: zero requests, spend unchanged
    spent = Ledger(wf.path("runs/ledger.jsonl")).spent()
    forced = wf.snakemake(*args, "--forceall", env=env)
    summary = [ln for ln in forced.stderr.splitlines() if ln.startswith("stillmake: this run")]
    assert summary == [
        f"stillmake: this run 0 paid request(s) $0.000, 5 cache hit(s) $0, "
        f"0 failed; ledger total ${spent:.3f} of budget $5.00 (${5 - spent:.3f} left)"
    ]
    shutil.rmtree(wf.path(".snakemake"))
    wf.snakemake(*args, env=env)
    assert fake_openai.count() == before
    assert Ledger(wf.path("runs/ledger.jsonl")).spent() == spent
