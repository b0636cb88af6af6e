"""The seed's guardrail, in code: no high-quality request for a shot without a pick."""

import pytest

from stillmake.api.calls import obtain
from stillmake.api.requests import ImageRequest
from stillmake.errors import GuardrailError
from stillmake.inputs.config import load_config
from stillmake.planner.load import load_build
from tests.conftest import config_for, copy_workflow


def test_obtain_refuses_high_quality_before_a_shortlist(tmp_path):
    settings = config_for(tmp_path)
    req = ImageRequest("generate", "gpt-image-1.5", "p", 1, "1536x1024", "high")
    with pytest.raises(GuardrailError, match="shot s4: no final at quality 'high' before a pick"):
        obtain(req, settings, shot="s4", pass_="final", label={})
    assert not (tmp_path / "runs").exists()  # refused before cache, ledger or backend
    ok = obtain(req, settings, shot="s4", pass_="final", label={}, shortlisted=True)
    assert len(ok.images) == 1


def test_final_request_needs_a_pick(tmp_path, monkeypatch):
    monkeypatch.chdir(copy_workflow(tmp_path / "wf"))
    build = load_build(load_config())
    assert build.final("s3").request.quality == "high"
    with pytest.raises(GuardrailError, match="shot s4: no final .* before a pick"):
        build.final("s4")
