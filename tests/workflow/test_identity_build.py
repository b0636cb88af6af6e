"""Identity in real `snakemake` builds: references are inputs of the review, and drafts
without a face (the loopback server's synthetic images) warn, never crash."""

from __future__ import annotations

import json
import shutil

from PIL import Image

from stillmake.files import atomic_write_json
from stillmake.stages.review import review
from tests.artifacts.test_identity import PEOPLE, draft, in_frame, photo
from tests.conftest import PROMPTS
from tests.workflow.test_rebuild_e2e import jobs_in_dry_run


def add_character(wf, name: str, shot: str, photo: str) -> str:
    """A second character, with a real photo as reference, in one shot only."""
    ref = f"refs/{name}.jpg"
    shutil.copy(PEOPLE[photo], wf.path(f"runs/input/{ref}"))
    path = wf.path(PROMPTS)
    data = json.loads(path.read_text(encoding="utf-8"))
    data["characters"][name] = {"description": f"{name}, the night nurse", "refs": [ref]}
    for s in data["shots"]:
        if s["id"] == shot:
            s["characters"] = [*s.get("characters", []), name]
    path.write_text(json.dumps(data, indent=2), encoding="utf-8")
    return f"runs/input/{ref}"


def test_a_changed_reference_rebuilds_only_its_characters_reviews(workflow, fake_openai):
    wf = workflow
    ref = add_character(wf, "nurse", "s2", "hopper")
    env = wf.openai_env(fake_openai)
    targets = ["runs/review/s1.json", "runs/review/s2.json"]  # two shots keep it quick
    wf.snakemake(*targets, "--config", "backend=openai", env=env)

    review = json.loads(wf.path("runs/review/s2.json").read_text())
    for d in review["drafts"]:  # the fake server's synthetic drafts have no face
        assert d["identity"]["measured"] and d["identity"]["faces"] == 0
        messages = {f["message"] for f in d["flags"] if f["metric"] == "identity"}
        assert messages == {"nurse: no face found", "leyla: no face found"}
        assert all(f["level"] == "warn" for f in d["flags"] if f["metric"] == "identity")
    s1 = json.loads(wf.path("runs/review/s1.json").read_text())
    assert s1["drafts"][0]["identity"]["measured"]  # leyla's reference is a real face

    args = ["-n", *targets, "--config", "backend=openai"]
    assert jobs_in_dry_run(wf.snakemake(*args, env=env).stdout) == []
    shutil.copy(PEOPLE["collins"], wf.path(ref))  # the nurse is recast
    assert jobs_in_dry_run(wf.snakemake(*args, env=env).stdout) == [("review_sheet", "s2")]


def test_status_and_plan_warn_of_a_weak_pick_before_its_edits(workflow):
    """s3 is picked (draft 1) with two edit steps to pay for; its draft 1 is not Leyla."""
    wf = workflow
    with Image.open(PEOPLE["hopper"]) as im:
        im.convert("RGB").save(wf.path("runs/input/refs/leyla_ref.png"))  # Leyla, recast
    drafts = [
        draft(wf.path(f"runs/drafts/s3/draft_{k}.png"), in_frame(photo(who)))
        for k, who in ((1, "collins"), (2, "hopper"), (3, "hopper"))
    ]
    refs = {"leyla": [str(wf.path("runs/input/refs/leyla_ref.png"))]}
    report = review("s3", "", "fluorescent", drafts, None, refs, pick=1)
    atomic_write_json(wf.path("runs/review/s3.json"), report)

    warned = wf.stillmake("status").stderr
    line = next(ln for ln in warned.splitlines() if ln.startswith("warning: s3: "))
    assert "picked draft 1 fails the gate (" in line and "leyla: identity drift" in line
    assert "its 2 edit step(s) are paid on it (edit.refuse_weak: true refuses them)" in line
    rows = {r["shot"]: r for r in json.loads(wf.stillmake("status", "--json").stdout)["shots"]}
    assert rows["s3"]["weak_pick"] in line and rows["s1"]["weak_pick"] is None
    refused = wf.stillmake("status", "-C", "edit.refuse_weak=true").stderr
    assert "edit.refuse_weak is on: its 2 edit step(s) will be refused" in refused
    planned = wf.stillmake("plan").stderr
    assert "warning: s3: picked draft 1 fails the gate (" in planned
    assert not any(ln.startswith("warning: s1: ") for ln in planned.splitlines())
