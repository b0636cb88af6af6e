"""The planner alone (no Snakemake): config + prompts + selections -> each job's typed
request, its params and files, which jobs would run, and the spend plan over them."""

from __future__ import annotations

import dataclasses
import json
import os

import pytest

from stillmake import paths
from stillmake.errors import GuardrailError, StillmakeError
from stillmake.inputs.config import load_config
from stillmake.planner.jobs import JOB_TYPES, EditJob
from stillmake.planner.load import load_build
from stillmake.planner.pending import Pending
from stillmake.planner.stamps import params_digest, record_built
from stillmake.views.plan import SpendPlanner, total
from tests.conftest import copy_workflow


@pytest.fixture
def sample(tmp_path, monkeypatch):
    """A copy of the sample workflow, as the current directory (nothing built)."""
    monkeypatch.chdir(copy_workflow(tmp_path / "wf"))
    return tmp_path / "wf"


def plan(*overrides: str):
    return load_build(load_config(overrides=list(overrides)))


def test_a_config_value_reaches_the_request_in_one_hop(sample):
    """draft.quality from the config to the request the API gets: Config -> DraftJob."""
    build = plan("draft.quality=low", "draft.size=1536x640", "model=gpt-image-2")
    request = build.draft("s3").request
    assert (request.quality, request.size) == ("low", "1536x640")
    assert request.model == "gpt-image-2.6-flare"  # the pass names its own
    assert build.params("draft", "s3")["request"]["quality"] == "low"
    assert build.final("s3").request.model == "gpt-image-2"  # the pass that names none


def test_every_job_comes_back_from_its_params_as_it_was_planned(sample):
    build = plan()
    keys = [("draft", "s1", None), ("review_sheet", "s1", None), ("select", "s3", None)]
    keys += [("edit_step", "s3", 2), ("final", "s5", None), ("manifest", None, None)]
    for rule, shot, step in keys:
        job = build.job(rule, shot, step)
        plain = json.loads(json.dumps(build.params(rule, shot, step)))  # what Snakemake holds
        assert JOB_TYPES[rule].from_params(plain, shot=shot, step=step) == job, rule


def test_edit_steps_chain_and_the_final_renders_the_last(sample):
    build = plan()
    assert build.edit("s3", 1).inputs()["source"] == paths.selected("s3")
    assert build.edit("s3", 2).inputs()["source"] == paths.edit_step("s3", 1)
    assert build.final("s3").candidate == paths.edit_step("s3", 2)
    assert build.final("s2").candidate == paths.selected("s2")
    assert "mask" in build.edit("s5", 1).inputs() and build.edit("s1", 1).region is not None


def test_no_high_quality_request_for_a_shot_without_a_pick(sample):
    with pytest.raises(GuardrailError, match="shot s4: no final at quality 'high'"):
        plan().final("s4")


def test_a_shot_is_judged_by_its_own_lighting_layers(sample):
    """Review and edit jobs carry the `quality:` layers that judge their shot only, so a
    change to another lighting tag's thresholds reruns nothing of it."""
    from stillmake.artifacts.thresholds import thresholds_for

    build = plan()
    lighting = build.shot("s4").lighting
    assert set(build.review("s4").thresholds) == {"default", lighting}
    other = next(t for t in build.config.quality if t not in ("default", lighting))
    changed = plan(f"quality.{other}.sharpness.warn=1")
    assert changed.params("review_sheet", "s4") == build.params("review_sheet", "s4")
    assert changed.params("manifest") != build.params("manifest")
    mine = plan(f"quality.{lighting}.sharpness.warn=1", "quality.default.skin_chroma=null")
    judged = thresholds_for(lighting, mine.review("s4").thresholds)
    assert judged == thresholds_for(lighting, dict(mine.config.quality))
    assert judged["sharpness"]["warn"] == 1 and "skin_chroma" not in judged


def test_the_critique_is_in_the_jobs_that_judge_only_when_enabled(sample):
    off, on = plan(), plan("critique.enabled=true")
    assert off.review("s1").critique is None and off.final("s1").critique is None
    assert on.review("s1").critique is not None and on.edit("s1", 1).critique is not None
    assert off.params("draft", "s1") == on.params("draft", "s1")  # drafts do not rerun


def test_finals_of_unlocked_shots_are_refused_naming_them(sample):
    with pytest.raises(StillmakeError, match="not locked: s2, s4") as err:
        Pending(plan()).outputs(["finals"])
    assert "Traceback" not in str(err.value)


def built(build, *keys) -> None:
    """These jobs run as a build runs them: stamps at DAG time, then outputs (any not
    there yet), recorded as built from their current request."""
    for key in keys:
        stamp = build.request_stamp(*key)
        for out in build.job(*key).outputs():
            if not os.path.exists(out):
                os.makedirs(os.path.dirname(out), exist_ok=True)
                with open(out, "wb") as fh:
                    fh.write(b"x")
        record_built(stamp, build.params(*key), 0.0)


def test_pending_follows_outputs_requests_and_upstream_jobs(sample):
    build = plan()
    fresh = Pending(build).outputs(["drafts"])
    assert fresh == {p for s in build.shots for p in build.draft(s).outputs()}
    built(build, *[("draft", s, None) for s in build.shots])
    assert Pending(plan()).outputs(["drafts"]) == set()
    changed = plan("draft.quality=low")  # every draft's request changed
    assert Pending(changed).outputs(["drafts"]) == fresh
    reviews = Pending(plan()).outputs(["review"])
    assert reviews == {p for s in build.shots for p in build.review(s).outputs()}


def test_the_spend_plan_prices_what_would_run_and_counts_unknown_inputs_as_paid(sample):
    build = plan("backend=openai")
    pending = Pending(build).outputs(["all"])
    planned = SpendPlanner(build).plan(pending)
    passes = sorted((p.shot, p.pass_) for p in planned if p.paid)
    assert ("s3", "edit2") in passes and ("s4", "draft") in passes
    # a hand-typed `lock: true` approves no image on the API: its final is not paid
    finals = [p for p in planned if p.pass_ == "final"]
    assert finals and all(not p.paid and p.note == "awaiting approval" for p in finals)
    unattended = plan("backend=openai", "final.approval=any")
    let_through = SpendPlanner(unattended).plan(Pending(unattended).outputs(["all"]))
    assert ("s1", "final") in [(p.shot, p.pass_) for p in let_through if p.paid]
    assert not any(p.cached for p in planned)
    edits = [p for p in planned if p.pass_.startswith("edit")]
    assert all(p.note == "inputs not built yet" and p.fingerprint is None for p in edits)
    assert total(planned) == pytest.approx(sum(p.price_usd for p in planned if p.paid))


def test_a_stale_pick_blocks_its_shot_in_the_spend_plan(sample):
    """Drafts that changed under a bound pick: the select job refuses, so nothing after it
    is counted as spend."""
    from stillmake.api.backends.preview import PreviewBackend
    from stillmake.artifacts.provenance import write_image
    from stillmake.files import sha256_bytes

    build = plan()
    stamp = build.request_stamp("draft", "s3")
    for k, png in enumerate(PreviewBackend().generate(build.draft("s3").request, {}).images, 1):
        write_image(paths.draft("s3", k), png, {"image_sha256": sha256_bytes(png), "k": k})
    record_built(stamp, build.params("draft", "s3"), 0.0)
    sel = sample / "runs/input/selections.yaml"
    sel.write_text(
        sel.read_text().replace("s3:\n  pick: 1", "s3:\n  pick: 1\n  drafts: 0123456789ab")
    )
    stale = plan()
    planned = SpendPlanner(stale).plan(Pending(stale).outputs(["all"]))
    s3 = {p.pass_: p for p in planned if p.shot == "s3"}
    assert "draft" not in s3 and {"edit1", "edit2", "final"} <= set(s3)
    assert all(s3[p].note == "blocked" and not s3[p].paid for p in ("edit1", "edit2", "final"))


def test_a_jobs_stamp_digests_exactly_its_params(sample):
    build = plan()
    stamp = sample / build.request_stamp("edit_step", "s3", 1)
    assert stamp.read_text() == params_digest(build.params("edit_step", "s3", 1))
    edit = dataclasses.replace(build.edit("s3", 1), keep="something else")
    assert params_digest(edit.params()) != stamp.read_text()
    assert isinstance(build.edit("s3", 1), EditJob)
