"""The model table: capabilities, sizes, lifecycle dates, and what each refusal says."""

from datetime import date

import pytest

from stillmake.errors import ModelError
from stillmake.inputs.models import (
    best_fidelity,
    check_request,
    get_model,
    lifecycle_warning,
    lookup,
    models,
    usable_names,
)

NOV25, DEC01 = date(2026, 11, 25), date(2026, 12, 1)


def test_table_holds_the_current_family_and_its_capabilities():
    table = models()
    for name in (
        "gpt-image-2",
        "gpt-image-2.5-flare",
        "gpt-image-2.5-sunburst",
        "gpt-image-2.6-flare",
        "gpt-image-2.6-sunburst",
    ):
        m = table[name]
        assert m.sizes == "flexible" and m.token_priced and m.input_fidelity == ()
        assert m.shutdown is None and m.status(NOV25) == "current"
    assert table["gpt-image-2.6-flare"].complexity and not table["gpt-image-2.5-flare"].complexity
    assert table["gpt-image-2.5-sunburst"].markup and not table["gpt-image-2"].markup
    assert "xhigh" in table["gpt-image-2.5-flare"].qualities
    assert "xhigh" not in table["gpt-image-2"].qualities
    assert lookup("gpt-image-2.5-flare-2026-09-08").base == "gpt-image-2.5-flare"
    assert lookup("gpt-image-2-2026-04-21").sizes == "flexible"


@pytest.mark.parametrize(
    "name, replacement",
    [
        ("gpt-image-1.5", "gpt-image-2.6-sunburst"),
        ("gpt-image-1.5-2025-12-16", "gpt-image-2.6-sunburst"),
        ("gpt-image-1-mini", "gpt-image-2.6-flare"),
        ("chatgpt-image-latest", "gpt-image-2.6-sunburst"),
    ],
)
def test_dying_models_warn_before_and_are_refused_from_their_shutdown_date(name, replacement):
    assert get_model(name, NOV25).name == name
    warning = lifecycle_warning(name, NOV25)
    assert "2026-12-01 (6 days from now)" in warning and replacement in warning
    assert lifecycle_warning(name, date(2026, 10, 1)) is None  # more than 30 days ahead
    with pytest.raises(ModelError, match=f"was shut down on 2026-12-01; use '{replacement}'"):
        get_model(name, DEC01)
    assert name not in usable_names(DEC01)


def test_today_can_be_moved_with_an_environment_variable(monkeypatch):
    monkeypatch.setenv("STILLMAKE_TODAY", "2026-12-02")
    with pytest.raises(ModelError, match="shut down on 2026-12-01"):
        get_model("gpt-image-1.5")
    assert get_model("gpt-image-2.6-flare").name == "gpt-image-2.6-flare"


@pytest.mark.parametrize(
    "name, words",
    [
        ("gpt-image-1", "shut down on 2026-10-23; use 'gpt-image-2.6-sunburst'"),
        ("dall-e-3", "shut down on 2026-05-12"),
        ("dall-e-2", "shut down on 2026-05-12"),
        ("gpt-imag-1.5", "unknown model"),
    ],
)
def test_retired_and_unknown_models(name, words):
    with pytest.raises(ModelError, match=words.replace("(", r"\(").replace(".", r"\.")):
        get_model(name)


@pytest.mark.parametrize(
    "size",
    [
        "1536x864",
        "2560x1440",
        "1536x640",
        "2560x1072",
        "3840x2160",
        "1024x1024",
        "auto",
        "2400x800",
        "816x816",
    ],
)
def test_flexible_sizes_the_2x_family_takes(size):
    assert lookup("gpt-image-2.6-sunburst").size_problem(size) is None


@pytest.mark.parametrize(
    "size, rule",
    [
        ("1000x1000", "divisible by 16"),
        ("3200x800", "between 1:3 and 3:1"),
        ("4096x2304", "largest size is 3840x2160"),
        ("2160x3840", None),  # portrait 4K fits: the long edge is 3840
        ("800x800", "at least 655,360 pixels"),
        ("wide", "WIDTHxHEIGHT"),
    ],
)
def test_flexible_size_rules_name_the_rule_broken(size, rule):
    problem = lookup("gpt-image-2").size_problem(size)
    assert (problem is None) if rule is None else (rule in problem), problem


def test_classic_models_take_only_classic_sizes():
    assert "only 1024x1024, 1536x1024, 1024x1536, auto" in lookup("gpt-image-1.5").size_problem(
        "1536x864"
    )
    assert lookup("gpt-image-1.5").size_problem("1536x1024") is None


def test_check_request_names_the_setting_at_fault():
    with pytest.raises(ModelError, match="size '1000x1000' \\(draft pass\\): width") as exc:
        check_request("gpt-image-2.6-flare", size="1000x1000", quality="medium", where="draft pass")
    assert exc.value.setting == "size"
    with pytest.raises(ModelError, match="quality 'xhigh'") as exc:
        check_request("gpt-image-2", size="1536x864", quality="xhigh")
    assert exc.value.setting == "quality"
    with pytest.raises(ModelError, match="input_fidelity 'high'.*omit it") as exc:
        check_request("gpt-image-2.6-sunburst", size="1536x864", quality="high", fidelity="high")
    assert exc.value.setting == "input_fidelity"
    with pytest.raises(ModelError, match="does not take complexity") as exc:
        check_request("gpt-image-2.5-sunburst", size="1536x864", quality="high", complexity="high")
    assert exc.value.setting == "complexity"
    check_request("gpt-image-2.6-sunburst", size="1536x864", quality="max", complexity="high")


def test_input_fidelity_is_omitted_for_the_2x_family():
    assert best_fidelity("gpt-image-1-mini") == "low"
    assert best_fidelity("gpt-image-1.5") == "high"
    assert best_fidelity("gpt-image-2.6-sunburst") is None
