"""The fake Images server, driven by the official `openai` client: the gpt-image-2 family's
rules (sizes, qualities, complexity, input_fidelity, moderation, markup, shutdowns) and
token usage as the fake's documented formulas give it."""

from __future__ import annotations

import base64
import io
import json
import math
import urllib.request

import numpy as np
import openai
import pytest
from PIL import Image

from tests.fake_openai import (
    FAKE_KEY,
    OUTPUT_TOKENS_PER_MP,
    TEXT_CHARS_PER_TOKEN,
    FakeOpenAI,
    family_factor,
    input_image_tokens,
    output_image_tokens,
)

TODAY = "2026-11-25"


@pytest.fixture(scope="module")
def server():
    with FakeOpenAI(today=TODAY) as fake:
        yield fake


@pytest.fixture
def fake(server):
    server.reset()
    server.today = TODAY
    return server


@pytest.fixture
def client(fake):
    return openai.OpenAI(base_url=fake.url, api_key=FAKE_KEY, max_retries=0, timeout=10)


def png(size, mode="RGB", color=(90, 120, 150), alpha_box=None) -> bytes:
    """A PNG of `size`; with mode RGBA, opaque except `alpha_box` (x0, y0, x1, y1) cleared."""
    w, h = size
    if mode == "RGBA":
        arr = np.zeros((h, w, 4), np.uint8)
        arr[..., :3] = color
        arr[..., 3] = 255
        if alpha_box:
            x0, y0, x1, y1 = alpha_box
            arr[y0:y1, x0:x1, 3] = 0
        im = Image.fromarray(arr, "RGBA")
    else:
        im = Image.new("RGB", size, color)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def part(name, data):
    return (name, data, "image/png")


def decoded_size(resp, i=0):
    return Image.open(io.BytesIO(base64.b64decode(resp.data[i].b64_json))).size


def refused(exc_type, call, *, param=None, code=None, says=()):
    with pytest.raises(exc_type) as info:
        call()
    err = info.value
    if param is not None:
        assert err.param == param, err.body
    if code is not None:
        assert err.code == code, err.body
    for text in says if isinstance(says, tuple) else (says,):
        assert text in err.body["message"], err.body
    return err


# -- sizes ---------------------------------------------------------------------------------


@pytest.mark.parametrize("size", ["1536x864", "2560x1440", "1536x640", "1024x1536", "auto"])
def test_flexible_sizes_accepted_on_26(client, size):
    r = client.images.generate(
        model="gpt-image-2.6-flare", prompt="a lighthouse", size=size, quality="low"
    )
    want = (1024, 1024) if size == "auto" else tuple(int(v) for v in size.split("x"))
    assert decoded_size(r) == want
    assert r.size == f"{want[0]}x{want[1]}" and r.quality == "low"


@pytest.mark.parametrize(
    "size,says",
    [
        ("1000x1000", "Invalid size '1000x1000': width and height must be divisible by 16."),
        ("2048x512", "Invalid size '2048x512': the aspect ratio must be between 1:3 and 3:1."),
        ("4096x2304", "Invalid size '4096x2304': too many pixels"),
        ("768x768", "Invalid size '768x768': too few pixels"),
        ("4000x1344", "width and height must be at most 3840"),
        ("wide", "expected 'auto' or WIDTHxHEIGHT"),
    ],
)
def test_flexible_size_rules_refused_with_their_reason(client, fake, size, says):
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(model="gpt-image-2.6-flare", prompt="x", size=size),
        param="size",
        code="invalid_value",
        says=says,
    )
    assert fake.summary()[-1]["status"] == 400


def test_edge_of_the_rules_is_inside(client):
    for size in ("3840x2160", "2352x784", "1024x640"):  # max pixels, exactly 3:1, exactly 655,360
        r = client.images.generate(model="gpt-image-2", prompt="edge", size=size, quality="low")
        assert r.size == size


def test_classic_sizes_only_on_15(client):
    r = client.images.generate(
        model="gpt-image-1.5", prompt="a pier", size="1536x1024", quality="low"
    )
    assert decoded_size(r) == (1536, 1024)
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(model="gpt-image-1.5", prompt="a pier", size="1536x864"),
        param="size",
        code="invalid_value",
        says=("Invalid size '1536x864' for model gpt-image-1.5", "'1024x1024'"),
    )


# -- quality, complexity -------------------------------------------------------------------


def test_xhigh_refused_on_gpt_image_2_accepted_on_26(client):
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(model="gpt-image-2", prompt="x", quality="xhigh"),
        param="quality",
        code="invalid_value",
        says="'xhigh'",
    )
    r = client.images.generate(model="gpt-image-2.6-sunburst", prompt="x", quality="xhigh")
    assert r.quality == "xhigh"
    r = client.images.generate(model="gpt-image-2.5-flare-2026-09-08", prompt="x", quality="max")
    assert r.quality == "max"
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(model="gpt-image-2.6-flare", prompt="x", quality="standard"),
        param="quality",
    )


def test_complexity_only_on_26(client, fake):
    client.images.generate(
        model="gpt-image-2.6-flare", prompt="x", complexity="high", quality="low"
    )
    assert fake.summary()[-1]["complexity"] == "high"
    for model in ("gpt-image-2", "gpt-image-2.5-sunburst", "gpt-image-1.5"):
        refused(
            openai.BadRequestError,
            lambda model=model: client.images.generate(model=model, prompt="x", complexity="low"),
            param="complexity",
            says=f"complexity is not supported for model {model}",
        )
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(
            model="gpt-image-2.6-flare", prompt="x", complexity="extreme"
        ),
        param="complexity",
        code="invalid_value",
    )
    # on edits too (multipart field)
    client.images.edit(
        model="gpt-image-2.6-sunburst",
        prompt="x",
        complexity="medium",
        image=[part("a.png", png((1024, 1024)))],
        quality="low",
    )
    assert fake.summary()[-1]["complexity"] == "medium"


# -- input_fidelity, moderation -------------------------------------------------------------


def test_input_fidelity_refused_on_2x_accepted_on_15(client, fake):
    img = [part("a.png", png((1024, 1024)))]
    for model in ("gpt-image-2", "gpt-image-2.5-flare", "gpt-image-2.6-sunburst"):
        refused(
            openai.BadRequestError,
            lambda model=model: client.images.edit(
                model=model, prompt="x", image=img, input_fidelity="high"
            ),
            param="input_fidelity",
            code="invalid_value",
            says=f"input_fidelity is not supported for model {model}; omit it",
        )
    client.images.edit(
        model="gpt-image-1.5", prompt="x", image=img, input_fidelity="high", quality="low"
    )
    assert fake.summary()[-1]["input_fidelity"] == "high"
    client.images.edit(
        model="gpt-image-1-mini", prompt="x", image=img, input_fidelity="low", quality="low"
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-1-mini", prompt="x", image=img, input_fidelity="high"
        ),
        param="input_fidelity",
    )
    # not a generations parameter at all
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(
            model="gpt-image-1.5", prompt="x", extra_body={"input_fidelity": "high"}
        ),
        param="input_fidelity",
        code="unknown_parameter",
    )


def test_moderation_on_generations_only(client, fake):
    client.images.generate(model="gpt-image-2", prompt="x", moderation="low", quality="low")
    assert fake.summary()[-1]["moderation"] == "low"
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-2",
            prompt="x",
            image=[part("a.png", png((1024, 1024)))],
            extra_body={"moderation": "low"},
        ),
        param="moderation",
        code="unknown_parameter",
        says="Unknown parameter: 'moderation'",
    )


# -- markup --------------------------------------------------------------------------------


def test_markup_on_25_edits(client, fake):
    base = png((1536, 1024))
    markup = png((1536, 1024), "RGBA", alpha_box=(0, 0, 1536, 900))
    r = client.images.edit(
        model="gpt-image-2.5-flare",
        prompt="move the lamp left",
        image=[part("a.png", base)],
        markup=part("markup.png", markup),
        quality="low",
    )
    assert decoded_size(r) == (1536, 1024)
    row = fake.summary()[-1]
    assert row["markup"] is True and row["mask"] is False and row["images"] == 1
    assert fake.requests[-1].files["markup"][0].data == markup  # a real file part


def test_markup_refusals(client):
    base = [part("a.png", png((1024, 1024)))]
    good = part("markup.png", png((1024, 1024), "RGBA", alpha_box=(0, 0, 1024, 512)))
    mask = part("mask.png", png((1024, 1024), "RGBA", alpha_box=(0, 0, 512, 512)))
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-2.6-flare", prompt="x", image=base, markup=good, mask=mask
        ),
        param="markup",
        says="cannot be combined with mask",
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(model="gpt-image-2", prompt="x", image=base, markup=good),
        param="markup",
        says="markup is not supported for model gpt-image-2",
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-2.5-sunburst",
            prompt="x",
            image=base,
            markup=part("m.png", png((1536, 1024), "RGBA", alpha_box=(0, 0, 10, 10))),
        ),
        param="markup",
        says="size 1536x1024 does not match image size 1024x1024",
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-2.5-sunburst",
            prompt="x",
            image=base,
            markup=part("m.png", png((1024, 1024), "RGBA")),
        ),
        param="markup",
        says="no transparent pixels",
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.edit(
            model="gpt-image-2.5-sunburst",
            prompt="x",
            image=base,
            markup=part("m.png", png((1024, 1024))),
        ),
        param="markup",
        says="alpha channel",
    )
    refused(
        openai.BadRequestError,
        lambda: client.images.generate(
            model="gpt-image-2.5-flare", prompt="x", extra_body={"markup": "m.png"}
        ),
        param="markup",
        code="unknown_parameter",
    )


# -- models and shutdowns ------------------------------------------------------------------


def test_deprecated_model_refused_from_its_shutdown_day(client, fake):
    r = client.images.generate(model="gpt-image-1.5", prompt="x", quality="low")
    assert r.size == "1024x1024"
    for day in ("2026-12-01", "2027-01-01"):
        fake.today = day
        for model in (
            "gpt-image-1.5",
            "gpt-image-1.5-2025-12-16",
            "gpt-image-1-mini",
            "chatgpt-image-latest",
        ):
            refused(
                openai.NotFoundError,
                lambda model=model: client.images.generate(model=model, prompt="x"),
                code="model_not_found",
                says=f"The model `{model}` has been deprecated",
            )
    # the default model (none sent) is gpt-image-2, still served
    r = client.images.generate(prompt="no model named", quality="low")
    assert r.size == "1024x1024" and fake.summary()[-1]["status"] == 200


def test_today_via_constructor_and_control():
    with FakeOpenAI(today="2026-12-01") as late:
        c = openai.OpenAI(base_url=late.url, api_key=FAKE_KEY, max_retries=0, timeout=10)
        assert late.today == "2026-12-01"
        refused(
            openai.NotFoundError,
            lambda: c.images.generate(model="gpt-image-1.5", prompt="x"),
            code="model_not_found",
        )
        root = late.url[: -len("/v1")]
        req = urllib.request.Request(
            root + "/_control",
            data=json.dumps({"today": TODAY}).encode(),
            headers={"Content-Type": "application/json"},
        )
        urllib.request.urlopen(req, timeout=5).read()
        assert late.today == TODAY
        c.images.generate(model="gpt-image-1.5", prompt="x", quality="low")
        late.control({"today": "2026-12-02"})
        assert late.today == "2026-12-02"


@pytest.mark.parametrize("model", ["gpt-image-1", "dall-e-2", "dall-e-3", "gpt-image-9"])
def test_gone_and_unknown_models_404(client, model):
    refused(
        openai.NotFoundError,
        lambda model=model: client.images.generate(model=model, prompt="x"),
        code="model_not_found",
        says=f"`{model}`",
    )


# -- usage ---------------------------------------------------------------------------------


def test_generation_usage_follows_the_formulas(client):
    prompt = "A rain-soaked neon alley at night, anamorphic, 35mm grain"  # 57 characters
    model, size, quality, n = "gpt-image-2.6-sunburst", "1536x864", "high", 3
    r = client.images.generate(model=model, prompt=prompt, size=size, quality=quality, n=n)
    u = r.usage
    assert len(r.data) == n
    assert (
        u.input_tokens_details.text_tokens
        == max(1, round(len(prompt) / TEXT_CHARS_PER_TOKEN))
        == 14
    )
    assert u.input_tokens_details.image_tokens == 0
    nominal = 3200 * 1.1 * (1536 * 864 / 1e6)
    assert OUTPUT_TOKENS_PER_MP[quality] * family_factor(model) == pytest.approx(3200 * 1.1)
    assert n * nominal * 0.94 - n <= u.output_tokens <= n * nominal * 1.06 + n
    assert u.output_tokens == sum(
        output_image_tokens(model, prompt, k, size, quality) for k in range(n)
    )
    assert u.output_tokens_details.image_tokens == u.output_tokens
    assert u.input_tokens == u.input_tokens_details.text_tokens
    assert u.total_tokens == u.input_tokens + u.output_tokens
    # deterministic: the same request reports the same usage
    again = client.images.generate(model=model, prompt=prompt, size=size, quality=quality, n=n)
    assert again.usage == u


@pytest.mark.parametrize(
    "model,factor",
    [
        ("gpt-image-2.5-flare", 0.85),
        ("gpt-image-2.6-sunburst-x", 1.1),
        ("gpt-image-2", 1.0),
        ("gpt-image-1.5", 1.0),
    ],
)
def test_family_factor(model, factor):
    assert family_factor(model) == factor


def test_quality_scales_output_tokens(client):
    got = {}
    for q in ("low", "medium", "high", "xhigh", "max", "auto"):
        got[q] = client.images.generate(
            model="gpt-image-2.5-flare", prompt="quality ladder", size="1024x1024", quality=q
        ).usage.output_tokens
        nominal = OUTPUT_TOKENS_PER_MP[q] * 0.85 * 1.048576
        assert nominal * 0.94 - 1 <= got[q] <= nominal * 1.06 + 1, (q, got[q])
    assert got["low"] < got["medium"] < got["high"] < got["xhigh"] < got["max"]


def test_edit_usage_counts_each_input_image_not_mask_or_markup(client):
    a, b = png((1000, 700)), png((1536, 1024), color=(10, 200, 30))
    want_in = (85 + 170 * 2 * 2) + (85 + 170 * 3 * 2)  # 765 + 1105
    assert input_image_tokens(1000, 700) + input_image_tokens(1536, 1024) == want_in == 1870
    prompt = "give her a red umbrella"
    markup = part("m.png", png((1000, 700), "RGBA", alpha_box=(0, 0, 1000, 600)))
    r = client.images.edit(
        model="gpt-image-2.5-flare",
        prompt=prompt,
        quality="medium",
        image=[part("a.png", a), part("b.png", b)],
        markup=markup,
    )
    u = r.usage
    assert u.input_tokens_details.image_tokens == 1870
    assert u.input_tokens_details.text_tokens == round(len(prompt) / 4)
    assert u.input_tokens == 1870 + u.input_tokens_details.text_tokens
    # size auto on an edit: the output is the first image's size
    assert r.size == "1000x700" and decoded_size(r) == (1000, 700)
    nominal = 800 * 0.85 * 0.7
    assert nominal * 0.94 - 1 <= u.output_tokens <= nominal * 1.06 + 1
    assert u.output_tokens == output_image_tokens(
        "gpt-image-2.5-flare", prompt, 0, "1000x700", "medium"
    )
    # a mask is not an input image either; output at the requested size
    mask = part("mask.png", png((1000, 700), "RGBA", alpha_box=(0, 0, 500, 700)))
    r = client.images.edit(
        model="gpt-image-2.6-flare",
        prompt=prompt,
        quality="low",
        size="1536x1024",
        image=[part("a.png", a), part("b.png", b)],
        mask=mask,
    )
    assert r.usage.input_tokens_details.image_tokens == 1870
    assert decoded_size(r) == (1536, 1024) and r.size == "1536x1024"
    nominal = 120 * 0.85 * 1536 * 1024 / 1e6
    assert nominal * 0.94 - 1 <= r.usage.output_tokens <= nominal * 1.06 + 1


def test_single_image_part_and_tile_formula(client):
    r = client.images.edit(
        model="gpt-image-2", prompt="x", quality="low", image=part("one.png", png((512, 513)))
    )
    assert r.usage.input_tokens_details.image_tokens == 85 + 170 * 1 * 2
    assert input_image_tokens(512, 512) == 255
    assert input_image_tokens(3840, 2160) == 85 + 170 * math.ceil(3840 / 512) * math.ceil(
        2160 / 512
    )
