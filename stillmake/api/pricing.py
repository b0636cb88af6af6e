"""What a request costs: the bill from the response's `usage`, and the estimate
made before the call, learnt from the tokens the ledger has already observed.

The estimate is per megapixel, so one build's drafts price the next shot's drafts
at any size; until the ledger has a model and quality, the table's prior stands in.
"""

from __future__ import annotations

import io
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.errors import ModelError
from stillmake.inputs.models import lookup, parse_size, prior

if TYPE_CHECKING:
    from stillmake.api.backends.base import Usage
    from stillmake.api.records import LedgerLine

PREVIEW = "preview"
MIN_OBSERVED_MP = 1e-6


def is_free(request: ImageRequest | CritiqueRequest) -> bool:
    """Preview renders cost nothing: the same path runs, at $0."""
    return request.backend.startswith(PREVIEW)


def megapixels(size: tuple[int, int]) -> float:
    return size[0] * size[1] / 1e6


def image_sizes(images: Iterable[bytes] | None) -> list[tuple[int, int]]:
    """Pixel sizes of encoded images, read from their headers (no decode)."""
    sizes = []
    for data in images or ():
        with Image.open(io.BytesIO(data)) as im:
            sizes.append(im.size)
    return sizes


def token_usd(model_name: str, text: float, image_in: float, image_out: float) -> float:
    rates = lookup(model_name).pricing
    return (
        text * rates["text_in"] + image_in * rates["image_in"] + image_out * rates["image_out"]
    ) / 1e6


def io_usd(model_name: str, input_tokens: float, output_tokens: float) -> float:
    """Vision models: every input token (text or image) at one rate, output (reasoning
    included) at another."""
    rates = lookup(model_name).pricing
    return (input_tokens * rates["input"] + output_tokens * rates["output"]) / 1e6


def per_image_usd(model_name: str, quality: str, size: str, n: int) -> float:
    """1.x models: a price per output image (auto is planned at the dearest case)."""
    prices = lookup(model_name).pricing
    square, other = prices["high" if quality == "auto" else quality]
    w, _, h = size.partition("x")
    return (square if size != "auto" and w == h else other) * n


def bill(request: ImageRequest | CritiqueRequest, usage: Usage | None) -> float | None:
    """USD for one response from its `usage`; None when a token-priced answer has none."""
    if is_free(request):
        return 0.0
    model = lookup(request.model)
    if model.kind == "vision":
        if not usage:
            return None
        tokens = (usage.get("input_tokens") or 0, usage.get("output_tokens") or 0)
        return round(io_usd(request.model, *tokens), 6)
    if not model.token_priced:
        return round(per_image_usd(request.model, request.quality, request.size, request.n), 6)
    if not usage:
        return None
    details = usage.get("input_tokens_details") or {}
    image_in = details.get("image_tokens") or 0
    text = details.get("text_tokens")
    if text is None:
        text = max(0, (usage.get("input_tokens") or 0) - image_in)
    return round(token_usd(request.model, text, image_in, usage.get("output_tokens") or 0), 6)


@dataclass
class Estimate:
    usd: float
    output_tokens: int
    input_image_tokens: int
    text_tokens: int
    basis: str  # "ledger" (observed tokens) or "prior" (the table's figures)


class Estimator:
    """Estimates from observed tokens: per (model, quality) output tokens per megapixel,
    per model input-image tokens per megapixel, and characters per text token."""

    def __init__(self, entries: Iterable[LedgerLine] = ()):
        # keyed by the model's base name: None (a model the table lacks) is never learnt
        # (model, quality) -> [tokens, mp]
        self.out: defaultdict[tuple[str | None, str | None], list[float]] = defaultdict(_pair)
        self.inp: defaultdict[str | None, list[float]] = defaultdict(_pair)  # model -> [tokens, mp]
        self.text = [0.0, 0.0]  # [tokens, chars]
        # critiques: (model, reasoning) -> [output tokens, answers]; model -> [input tokens
        # observed, input tokens the prior predicted] (Responses usage does not split them)
        self.critique_out: defaultdict[tuple[str | None, str | None], list[float]] = defaultdict(
            _pair
        )
        self.critique_in: defaultdict[str | None, list[float]] = defaultdict(_pair)
        for e in entries:
            self._learn(e)

    def _learn(self, e: LedgerLine) -> None:
        usage = e.get("usage")
        if e.get("outcome") != "paid" or not usage or str(e.get("backend", "")).startswith(PREVIEW):
            return
        model = lookup_base(e.get("model"))
        if model is None:
            return
        if e.get("endpoint") == "responses":
            self._learn_critique(model, e, usage)
            return
        details = usage.get("input_tokens_details") or {}
        out_mp = e.get("output_megapixels") or 0.0
        if out_mp > MIN_OBSERVED_MP and usage.get("output_tokens"):
            acc = self.out[(model, e.get("quality"))]
            acc[0] += usage["output_tokens"]
            acc[1] += out_mp
        in_mp = e.get("input_megapixels") or 0.0
        if in_mp > MIN_OBSERVED_MP and details.get("image_tokens"):
            acc = self.inp[model]
            acc[0] += details["image_tokens"]
            acc[1] += in_mp
        if e.get("prompt_chars") and details.get("text_tokens"):
            self.text[0] += details["text_tokens"]
            self.text[1] += e["prompt_chars"]

    def _learn_critique(self, model: str, e: LedgerLine, usage: Usage) -> None:
        out = self.critique_out[(model, e.get("quality"))]
        out[0] += usage.get("output_tokens") or 0
        out[1] += 1
        inp = self.critique_in[model]
        inp[0] += usage.get("input_tokens") or 0
        inp[1] += sum(_critique_prior_input(e.get("prompt_chars") or 0, e.get("input_megapixels")))

    def _critique(
        self, request: CritiqueRequest, input_sizes: Sequence[tuple[int, int]]
    ) -> Estimate:
        """A critique: the prior's input tokens (brief + images) scaled by what the ledger
        observed for the model, and the observed output tokens per answer at this effort."""
        model = lookup_base(request.model)
        text, image = _critique_prior_input(
            len(request.prompt), sum(megapixels(s) for s in input_sizes)
        )
        observed, predicted = self.critique_in.get(model, (0.0, 0.0))
        scale = observed / predicted if predicted else 1.0
        tokens, answers = self.critique_out.get((model, request.reasoning), (0.0, 0.0))
        if answers:
            out, basis = tokens / answers, "ledger"
        else:
            out, basis = float(prior()["critique_output_tokens"][request.reasoning]), "prior"
        usd = 0.0 if is_free(request) else io_usd(request.model, (text + image) * scale, out)
        return Estimate(round(usd, 6), round(out), round(image * scale), round(text * scale), basis)

    def output_tokens_per_mp(self, model: str, quality: str) -> tuple[float, str]:
        tokens, mp = self.out.get((lookup_base(model), quality), (0.0, 0.0))
        if mp > MIN_OBSERVED_MP:
            return tokens / mp, "ledger"
        return float(prior()["output_tokens_per_mp"][quality]), "prior"

    def input_tokens_per_mp(self, model: str) -> float:
        tokens, mp = self.inp.get(lookup_base(model), (0.0, 0.0))
        return tokens / mp if mp > MIN_OBSERVED_MP else float(prior()["input_image_tokens_per_mp"])

    def tokens_per_char(self) -> float:
        if self.text[1]:
            return self.text[0] / self.text[1]
        return 1.0 / prior()["text_chars_per_token"]

    def estimate(
        self, request: ImageRequest | CritiqueRequest, input_sizes: Sequence[tuple[int, int]] = ()
    ) -> Estimate:
        """Before the call: what it will cost. `input_sizes` are the edit's (or the
        critique's) input images."""
        if isinstance(request, CritiqueRequest):
            return self._critique(request, input_sizes)
        per_mp, basis = self.output_tokens_per_mp(request.model, request.quality)
        out_size = (
            parse_size(request.size)
            if request.size != "auto"
            else (input_sizes[0] if input_sizes else parse_size(request.size))
        )
        out_tokens = per_mp * megapixels(out_size) * request.n
        in_tokens = self.input_tokens_per_mp(request.model) * sum(
            megapixels(s) for s in input_sizes
        )
        text_tokens = len(request.prompt) * self.tokens_per_char()
        usd = 0.0
        if not is_free(request):
            model = lookup(request.model)
            if model.token_priced:
                usd = token_usd(request.model, text_tokens, in_tokens, out_tokens)
            else:
                usd, basis = (
                    per_image_usd(request.model, request.quality, request.size, request.n),
                    "price list",
                )
        return Estimate(
            round(usd, 6), round(out_tokens), round(in_tokens), round(text_tokens), basis
        )


def _pair() -> list[float]:
    return [0.0, 0.0]


def _critique_prior_input(chars: int, image_mp: float | None) -> tuple[float, float]:
    """(text, image) input tokens of a critique as the prior sees them."""
    p = prior()
    return chars / p["text_chars_per_token"], (image_mp or 0.0) * p["input_image_tokens_per_mp"]


def lookup_base(name: str | None) -> str | None:
    if name is None:  # a ledger line without a model (a hand edit)
        return None
    try:
        return lookup(name).base
    except ModelError:  # a ledger line from a model this table no longer has
        return None


def synthetic_usage(request: ImageRequest, input_sizes: Sequence[tuple[int, int]] = ()) -> Usage:
    """The usage a renderer with no meter reports: the prior's token counts."""
    est = Estimator().estimate(request, input_sizes)
    return {
        "input_tokens": est.text_tokens + est.input_image_tokens,
        "output_tokens": est.output_tokens,
        "total_tokens": est.text_tokens + est.input_image_tokens + est.output_tokens,
        "input_tokens_details": {
            "text_tokens": est.text_tokens,
            "image_tokens": est.input_image_tokens,
        },
    }
