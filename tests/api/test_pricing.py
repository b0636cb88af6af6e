"""Spend is the bill: cost from usage and token rates; the estimate learns per megapixel."""

import pytest

from stillmake.api.pricing import Estimator, bill, synthetic_usage
from stillmake.api.requests import ImageRequest
from stillmake.views.spend import accuracy_line, plan_accuracy

API = "openai@http://127.0.0.1:1/v1"


def req(
    model="gpt-image-2.6-flare",
    quality="medium",
    size="1536x864",
    n=3,
    prompt="p" * 400,
    endpoint="generate",
):
    return ImageRequest(endpoint, model, prompt, n, size, quality, backend=API)


def usage(text, image_in, out):
    return {
        "input_tokens": text + image_in,
        "output_tokens": out,
        "total_tokens": text + image_in + out,
        "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
    }


def test_bill_is_computed_from_usage_and_token_rates():
    cost = bill(req(), usage(100, 2000, 3000))
    assert cost == pytest.approx((100 * 5 + 2000 * 8 + 3000 * 30) / 1e6)
    assert bill(req(), None) is None  # no usage: the caller falls back to its estimate
    # a usage without details: input tokens count as text
    assert bill(req(), {"input_tokens": 100, "output_tokens": 0}) == pytest.approx(0.0005)


def test_preview_is_free_and_per_image_models_use_their_price_list():
    free = ImageRequest("generate", "gpt-image-2.6-flare", "p", 3, "1536x864", "medium")
    assert bill(free, usage(1, 1, 10**6)) == 0.0
    assert bill(req(model="gpt-image-1.5", size="1536x1024"), None) == pytest.approx(0.15)
    assert bill(
        req(model="gpt-image-1.5", size="1024x1024", n=1, quality="high"), None
    ) == pytest.approx(0.133)


def test_estimate_uses_the_prior_until_the_ledger_has_tokens():
    est = Estimator().estimate(req())
    assert est.basis == "prior"
    # prior: 869 output tokens per MP at medium, 1536x864 = 1.327 MP, n = 3
    assert est.output_tokens == round(869 * 1.327104 * 3)
    assert est.text_tokens == 100
    assert est.usd == pytest.approx((100 * 5 + est.output_tokens * 30) / 1e6, rel=1e-3)


def line(
    model="gpt-image-2.6-flare",
    quality="medium",
    out=3000,
    out_mp=3.98,
    in_tokens=0,
    in_mp=0.0,
    text=100,
    chars=400,
    build="b1",
    cost=0.1,
    estimate=0.12,
    backend=API,
):
    return {
        "outcome": "paid",
        "backend": backend,
        "model": model,
        "quality": quality,
        "usage": usage(text, in_tokens, out),
        "output_megapixels": out_mp,
        "input_megapixels": in_mp,
        "prompt_chars": chars,
        "build": build,
        "cost_usd": cost,
        "estimate_usd": estimate,
    }


def test_estimate_learns_tokens_per_megapixel_for_model_and_quality():
    est = Estimator([line(out=4000, out_mp=4.0), line(out=2000, out_mp=2.0)])
    e = est.estimate(req(size="2560x1440", n=1))
    assert e.basis == "ledger"
    assert e.output_tokens == round(1000 * 3.6864)  # 1000 tokens/MP, pooled
    # another quality or model is not learnt from these lines
    assert est.estimate(req(quality="low")).basis == "prior"
    assert est.estimate(req(model="gpt-image-2.6-sunburst")).basis == "prior"
    # snapshots share their model's observations
    snap = Estimator([line(model="gpt-image-2.5-flare")])
    assert snap.estimate(req(model="gpt-image-2.5-flare-2026-09-08")).basis == "ledger"
    # preview lines and cache hits teach nothing
    assert Estimator([line(backend="preview")]).estimate(req()).basis == "prior"
    assert Estimator([{**line(), "outcome": "cache_hit"}]).estimate(req()).basis == "prior"


def test_edits_count_their_input_images():
    est = Estimator([line(in_tokens=1800, in_mp=2.0)])
    edit = req(endpoint="edit", n=1)
    without = est.estimate(edit)
    with_two = est.estimate(edit, [(1536, 864), (1024, 1024)])
    assert with_two.input_image_tokens == round(900 * (1.327104 + 1.048576))
    assert with_two.usd - without.usd == pytest.approx(
        with_two.input_image_tokens * 8 / 1e6, rel=1e-3
    )


def test_synthetic_usage_has_the_real_shape():
    u = synthetic_usage(req(), [(1024, 1024)])
    assert u["total_tokens"] == u["input_tokens"] + u["output_tokens"]
    assert u["input_tokens_details"]["image_tokens"] == round(900 * 1.048576)


def test_plan_accuracy_reports_the_last_paid_build():
    entries = [
        line(build="b1", cost=1.0, estimate=2.0),
        line(build="b2", cost=0.5, estimate=0.4),
        line(build="b2", cost=0.5, estimate=0.4),
        line(build="b3", backend="preview"),
    ]
    acc = plan_accuracy(entries)
    assert acc == {
        "build": "b2",
        "requests": 2,
        "planned_usd": 0.8,
        "billed_usd": 1.0,
        "error": -0.2,
    }
    assert "plan was 20.0% under the bill" in accuracy_line(acc)
    assert "prior" in accuracy_line(plan_accuracy([]))
