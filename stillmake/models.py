"""Model capability and price table: checked before any call is planned or paid."""

from __future__ import annotations

from dataclasses import dataclass

from stillmake.errors import ModelError

STANDARD_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")


@dataclass(frozen=True)
class Model:
    name: str
    sizes: tuple[str, ...]
    qualities: tuple[str, ...]
    input_fidelity: tuple[str, ...]
    # USD per output image: quality -> (square, non-square)
    prices: dict

    def price(self, quality: str, size: str) -> float:
        square, other = self.prices[_priced_quality(quality)]
        w, _, h = size.partition("x")
        # "auto" may come back non-square: plan for the dearer case.
        return square if (size != "auto" and w == h) else other


def _priced_quality(quality: str) -> str:
    # "auto" lets the API choose; plan for the dearest it could pick.
    return "high" if quality == "auto" else quality


MODELS: dict[str, Model] = {
    "gpt-image-1.5": Model(
        name="gpt-image-1.5",
        sizes=STANDARD_SIZES,
        qualities=("low", "medium", "high", "auto"),
        input_fidelity=("high", "low"),
        prices={"low": (0.009, 0.013), "medium": (0.034, 0.05), "high": (0.133, 0.20)},
    ),
    "gpt-image-1-mini": Model(
        name="gpt-image-1-mini",
        sizes=STANDARD_SIZES,
        qualities=("low", "medium", "high", "auto"),
        input_fidelity=("low",),
        prices={"low": (0.005, 0.006), "medium": (0.011, 0.015), "high": (0.036, 0.052)},
    ),
}

DEFAULT_MODEL = "gpt-image-1.5"

RETIRED: dict[str, str] = {
    "gpt-image-1": "shut down on 2026-10-23",
    "dall-e-2": "retired on 2026-05-12",
    "dall-e-3": "retired on 2026-05-12",
}


def get_model(name: str) -> Model:
    if name in MODELS:
        return MODELS[name]
    if name in RETIRED:
        raise ModelError(
            f"model '{name}' was {RETIRED[name]}; use '{DEFAULT_MODEL}' "
            f"(same API surface) — set `model: {DEFAULT_MODEL}` in config.yaml"
        )
    known = ", ".join(MODELS)
    raise ModelError(f"unknown model '{name}'; stillmake knows: {known}")


def check_request(model_name: str, *, size: str, quality: str, fidelity: str | None = None,
                  where: str = "") -> Model:
    """Raise ModelError if the model does not take these settings."""
    model = get_model(model_name)
    at = f" ({where})" if where else ""
    if size not in model.sizes:
        raise ModelError(
            f"model '{model.name}' does not take size '{size}'{at}; "
            f"choose one of {', '.join(model.sizes)}"
        )
    if quality not in model.qualities:
        raise ModelError(
            f"model '{model.name}' does not take quality '{quality}'{at}; "
            f"choose one of {', '.join(model.qualities)}"
        )
    if fidelity is not None and fidelity not in model.input_fidelity:
        raise ModelError(
            f"model '{model.name}' does not take input_fidelity '{fidelity}'{at}; "
            f"it takes {', '.join(model.input_fidelity)}"
        )
    return model


def best_fidelity(model_name: str) -> str | None:
    """Highest input_fidelity the model accepts (edits keep identity best at 'high')."""
    fid = get_model(model_name).input_fidelity
    return "high" if "high" in fid else (fid[0] if fid else None)
