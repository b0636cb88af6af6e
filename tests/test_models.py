import pytest

from stillmake.errors import ModelError
from stillmake.models import best_fidelity, check_request, get_model


def test_prices_square_and_non_square():
    m = get_model("gpt-image-1.5")
    assert m.price("medium", "1024x1024") == 0.034
    assert m.price("medium", "1536x1024") == 0.05
    assert m.price("high", "1024x1536") == 0.20
    assert get_model("gpt-image-1-mini").price("low", "1024x1024") == 0.005
    assert m.price("auto", "auto") == 0.20  # plan for the dearest case


@pytest.mark.parametrize("name, words", [
    ("gpt-image-1", "shut down on 2026-10-23; use 'gpt-image-1.5'"),
    ("dall-e-3", "retired"),
    ("dall-e-2", "retired"),
    ("gpt-imag-1.5", "unknown model"),
])
def test_retired_and_unknown_models(name, words):
    with pytest.raises(ModelError, match=words.replace("(", r"\(").replace(".", r"\.")):
        get_model(name)


def test_bad_size_quality_fidelity():
    with pytest.raises(ModelError, match="size '1792x1024'"):
        check_request("gpt-image-1.5", size="1792x1024", quality="high")
    with pytest.raises(ModelError, match="quality 'hd'"):
        check_request("gpt-image-1.5", size="1024x1024", quality="hd")
    with pytest.raises(ModelError, match="input_fidelity 'high'"):
        check_request("gpt-image-1-mini", size="1024x1024", quality="high", fidelity="high")
    assert best_fidelity("gpt-image-1-mini") == "low"
    assert best_fidelity("gpt-image-1.5") == "high"
