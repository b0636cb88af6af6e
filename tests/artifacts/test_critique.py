"""The vision critique's parts: rubric and schema, verdict parsing, the request's
fingerprint, pricing from Responses usage, config checks and what the sheet shows."""

from __future__ import annotations

import functools
import json
import logging

import pytest

from stillmake.api import calls
from stillmake.api.backends.base import PREVIEW_IDENTITY
from stillmake.api.pricing import Estimator, bill
from stillmake.api.requests import CritiqueRequest
from stillmake.api.retry import RetryPolicy
from stillmake.artifacts.sheets import text_blocks
from stillmake.errors import BadAnswer, BudgetExceeded, InputError, ModelError
from stillmake.files import sha256_bytes
from stillmake.inputs.config import CritiqueConfig
from stillmake.inputs.models import check_critique, check_request
from stillmake.planner.load import load_build
from stillmake.planner.preflight import check_config
from stillmake.rubric import (
    CRITERIA,
    RUBRIC_VERSION,
    VERDICT_SCHEMA,
    brief,
    check_verdicts,
    critique_flags,
    verdict_lines,
    worst_verdict,
)
from stillmake.stages.critique import NOT_ON_PREVIEW, critique_one
from stillmake.stages.job import Job
from tests.conftest import FAKE_KEY, REPO, config_for
from tests.fake_openai import make_png, verdict_for

API = "openai@http://127.0.0.1:1/v1"
# gpt-6.1-terra, USD per 1M tokens (reference facts), written here, not read from the table
TERRA_IN, TERRA_OUT = 1.00, 5.00


def answer(**levels) -> dict:
    return {
        name: {"verdict": levels.get(name, "pass"), "reason": f"{name} looks fine"}
        for name in CRITERIA
    }


def critique(inputs=("a" * 64, "b" * 64), **changes) -> CritiqueRequest:
    fields = dict(
        model="gpt-6.1-terra",
        prompt="brief",
        reasoning="low",
        rubric=RUBRIC_VERSION,
        size="1536x864",
        backend=API,
        inputs=tuple(inputs),
    )
    return CritiqueRequest(**{**fields, **changes})


# -- rubric and verdicts -------------------------------------------------------------


def test_schema_is_strict_mode_valid_and_covers_the_seed_gate():
    """Strict structured output: every object closed, every property required."""

    def closed(node):
        if node.get("type") == "object":
            assert node["additionalProperties"] is False
            assert sorted(node["required"]) == sorted(node["properties"])
            for sub in node["properties"].values():
                closed(sub)

    closed(VERDICT_SCHEMA)
    assert set(CRITERIA) == {
        "anatomy",
        "action",
        "background",
        "spatial_logic",
        "lighting",
        "style",  # the seed's negative: no fantasy VFX, comic grading, glossy CGI
    }
    text = brief(project="T", shot="s1", title="Wet", prompt="P!", beat="B!", refs=1)
    assert "Story beat: B!" in text and "P!" in text and "character references" in text
    assert all(f"- {name}:" in text for name in CRITERIA)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        (None, "has no text"),
        ("{not json", "not valid JSON"),
        (json.dumps({k: v for k, v in answer().items() if k != "lighting"}), "'lighting'"),
        (json.dumps(answer(action="great")), "at action/verdict"),
        (json.dumps({**answer(), "mood": {"verdict": "pass", "reason": "x"}}), "'mood'"),
    ],
)
def test_answers_off_the_schema_are_bad_answers_retried(text, words):
    with pytest.raises(BadAnswer, match="critique") as err:
        check_verdicts(text)
    assert words in str(err.value) and err.value.retryable


def test_verdicts_parse_and_show_as_a_models_opinion():
    verdicts = check_verdicts(json.dumps(answer(anatomy="fail", background="warn")))
    assert worst_verdict(verdicts) == "fail" and worst_verdict(answer()) == "pass"
    done = {"status": "done", "model": "gpt-6.1-terra", "verdicts": verdicts}
    # an opinion counts at warn level unless critique.fail_on names the criterion
    capped = verdict_lines(done)
    assert [(x["level"], x["message"].split(":")[0]) for x in capped[1:]] == [
        ("warn", "anatomy"),
        ("warn", "background"),
    ]
    lines = verdict_lines(done, ["anatomy"])
    assert lines[0] == {"level": None, "message": "model's opinion (gpt-6.1-terra):"}
    assert [(x["level"], x["message"].split(":")[0]) for x in lines[1:]] == [
        ("fail", "anatomy"),
        ("warn", "background"),
    ]
    # the same levels as flags: what the sheets, the board and the gate count
    flags = critique_flags(done, ["anatomy"])
    assert [(f["metric"], f["level"]) for f in flags] == [
        ("critique:anatomy", "fail"),
        ("critique:background", "warn"),
    ]
    assert flags[0]["message"].startswith("anatomy (gpt-6.1-terra's opinion: fail): ")
    assert [f["level"] for f in critique_flags(done)] == ["warn", "warn"]
    assert critique_flags({"status": "failed", "why": "HTTP 500"}) == []
    assert verdict_lines({**done, "verdicts": answer()})[1]["message"] == "all criteria pass"
    failed = verdict_lines({"status": "failed", "why": "HTTP 500", "model": "m"})
    assert failed == [{"level": None, "message": "critique failed: HTTP 500"}]
    # the sheet draws these lines under the pixel flags, wrapped, with their level's dot
    blocks = text_blocks(1, labels=["draft 1"], flags=[[]], notes=[lines], width=512)
    drawn = [text for _style, text in blocks[0]]
    assert drawn[:3] == ["draft 1", "all checks pass", "model's opinion (gpt-6.1-terra):"]
    assert any(t.startswith("anatomy: anatomy looks fine") for t in drawn)
    assert [style[1] for style, _ in blocks[0][3:]] == ["fail", "warn"]


# -- the request -----------------------------------------------------------------------


def test_fingerprint_covers_image_refs_model_rubric_and_effort():
    base = critique()
    assert base.fingerprint() == critique().fingerprint()
    others = [
        critique(inputs=("c" * 64, "b" * 64)),  # another image
        critique(inputs=("a" * 64,)),  # no reference
        critique(model="gpt-6.1-terra-next"),
        critique(rubric="seed-gate/1"),  # the rubric before `style`
        critique(reasoning="high"),
        critique(prompt="another beat"),
        critique(backend=PREVIEW_IDENTITY),
    ]
    assert len({base.fingerprint(), *(o.fingerprint() for o in others)}) == 1 + len(others)
    assert base.quality == "low" and base.endpoint == "responses" and base.n == 1


# -- pricing ---------------------------------------------------------------------------


def test_bill_from_responses_usage_at_the_vision_rates():
    usage = {
        "input_tokens": 1784,
        "output_tokens": 634,
        "output_tokens_details": {"reasoning_tokens": 512},  # included in output_tokens
    }
    assert bill(critique(), usage) == pytest.approx((1784 * TERRA_IN + 634 * TERRA_OUT) / 1e6)
    assert bill(critique(), None) is None
    assert bill(critique(backend=PREVIEW_IDENTITY), usage) == 0.0


def test_estimate_from_the_prior_then_from_the_ledger():
    sizes = [(1536, 864), (1024, 1024)]
    request = critique(prompt="p" * 2000)
    first = Estimator().estimate(request, sizes)
    assert first.basis == "prior" and first.output_tokens == 800  # models.yaml, low effort
    assert first.text_tokens == 500 and first.input_image_tokens == round(2.37568 * 900)
    assert first.usd == pytest.approx((500 + 2138 + 800 * 5) / 1e6, abs=2e-6)
    seen = {
        "outcome": "paid",
        "endpoint": "responses",
        "backend": API,
        "model": "gpt-6.1-terra",
        "quality": "low",
        "prompt_chars": 2000,
        "input_megapixels": 2.37568,
        # the model read half the tokens the prior expects and answered in 600
        "usage": {"input_tokens": round((500 + 2138.112) / 2), "output_tokens": 600},
    }
    learnt = Estimator([seen]).estimate(request, sizes)
    assert learnt.basis == "ledger" and learnt.output_tokens == 600
    assert learnt.text_tokens + learnt.input_image_tokens == pytest.approx(1319, abs=1)
    assert Estimator([seen]).estimate(critique(reasoning="high"), sizes).basis == "prior"


# -- config and specs --------------------------------------------------------------------


def test_models_are_kept_to_their_kind():
    with pytest.raises(ModelError, match="cannot critique: it makes images"):
        check_critique("gpt-image-2", "low")
    with pytest.raises(ModelError, match="does not take reasoning 'huge'"):
        check_critique("gpt-6.1-terra", "huge")
    with pytest.raises(ModelError, match="is a vision model: it judges images"):
        check_request("gpt-6.1-terra", size="1536x864", quality="medium")


def config(root=REPO, backend="preview", budget_usd=5.0, **critique_cfg):
    return config_for(
        root,
        prompts=str(REPO / "runs/input/the_trace.image_prompts.refined.json"),
        selections=str(REPO / "runs/input/selections.yaml"),
        backend=backend,
        budget_usd=budget_usd,
        critique=critique_cfg,
    )


def test_off_by_default_and_review_params_unchanged_until_turned_on():
    off = load_build(config())
    assert off.config.critique == CritiqueConfig(
        enabled=False,
        model="gpt-6.1-terra",
        reasoning="low",
        blocking=False,
        requests_per_minute=None,
        fail_on=(),
    )
    assert off.params("review_sheet", "s1")["critique"] is None
    assert off.review_refs("s1") == []
    on = load_build(config(enabled=True, backend="openai"))
    spec = on.params("review_sheet", "s1")["critique"]
    assert spec["refs"] == ["runs/input/refs/leyla_ref.png"] == on.review_refs("s1")
    assert "Leyla notices a line of wet footprints" in spec["brief"]  # s1's beat
    assert spec["rubric"] == RUBRIC_VERSION and spec["backend"].startswith("openai@")
    with pytest.raises(InputError, match="key 'critique.reasoning'"):
        check_config(config(enabled=True, reasoning="huge"))


def test_preview_backend_gets_no_opinion():
    """A stand-in image is not judged: no call, no ledger line, said on the sheet."""
    build = load_build(config(enabled=True))
    spec = build.critique_spec("s1")
    job = Job(
        "review",
        "s1",
        build.config,
        build.review("s1"),
        {},
        {},
        None,
        logging.getLogger("test"),
    )
    got = critique_one(job, spec, REPO / "nope.png", "1536x864", "critique1")
    assert got["status"] == "not run" and got["why"] == NOT_ON_PREVIEW
    assert verdict_lines(got)[0]["message"] == f"critique not run: {NOT_ON_PREVIEW}"


# -- on the one call path, against the loopback server -----------------------------------


@pytest.fixture
def on_fake(tmp_path, fake_openai, monkeypatch):
    """Settings for the openai backend on the fake server; retries wait milliseconds."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.setattr(
        calls, "RetryPolicy", functools.partial(RetryPolicy, base_s=0.01, cap_s=0.02)
    )

    def make(budget=5.0):
        return config_for(
            tmp_path,
            backend="openai",
            budget_usd=budget,
            critique={"enabled": True},
            openai={"base_url": fake_openai.url},
        )

    return make


def test_critique_is_retried_billed_cached_and_budgeted_like_an_image(on_fake, fake_openai):
    settings = on_fake()
    draft = make_png("draft", (1536, 864))
    request = critique(inputs=[sha256_bytes(draft)], backend=f"openai@{fake_openai.url}")

    def ask(req):
        return calls.obtain(req, settings, shot="s1", pass_="critique1", label={}, images=[draft])

    fake_openai.fail_next(1, 429, retry_after=0)
    got = ask(request)
    (line,) = [json.loads(x) for x in settings.ledger_path.read_text().splitlines()]
    assert line["outcome"] == "paid" and line["attempts"] == 2
    assert line["retries"][0]["status"] == 429 and line["endpoint"] == "responses"
    usage = got.record["usage"]
    assert line["cost_usd"] == pytest.approx(
        (usage["input_tokens"] * TERRA_IN + usage["output_tokens"] * TERRA_OUT) / 1e6
    )
    verdicts = check_verdicts(got.record["text"])
    assert {n: v["verdict"] for n, v in verdicts.items()} == {
        n: verdict_for(draft, n) for n in CRITERIA
    }
    assert ask(request).cached and fake_openai.count("/responses") == 2  # the 429 and one
    # a spent-out budget refuses the next critique before anything is sent
    settings = on_fake(budget=0.0)
    with pytest.raises(BudgetExceeded):
        ask(critique(inputs=[sha256_bytes(draft)], reasoning="high"))
    assert fake_openai.count("/responses") == 2
