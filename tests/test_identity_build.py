"""Identity in real `snakemake` builds: references are inputs of the review, and drafts
without a face (the loopback server's synthetic images) warn, never crash."""

from __future__ import annotations

import json
import shutil

from tests.conftest import PROMPTS
from tests.test_identity import PEOPLE
from tests.test_rebuild_e2e import jobs_in_dry_run


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
    wf.snakemake("review", "--config", "backend=openai", env=env)

    review = json.loads(wf.path("runs/review/s2.json").read_text())
    for d in review["drafts"]:  # synthetic drafts: no face, and Leyla's ref is a drawing
        assert d["identity"]["measured"] and d["identity"]["faces"] == 0
        messages = {f["message"] for f in d["flags"] if f["metric"] == "identity"}
        assert messages == {
            "nurse: no face found",
            "leyla: identity not measured: reference runs/input/refs/leyla_ref.png shows no face",
        }
        assert all(f["level"] == "warn" for f in d["flags"] if f["metric"] == "identity")
    s1 = json.loads(wf.path("runs/review/s1.json").read_text())
    assert not s1["drafts"][0]["identity"]["measured"]  # leyla only, and no face in her ref

    args = ["-n", "review", "--config", "backend=openai"]
    assert jobs_in_dry_run(wf.snakemake(*args, env=env).stdout) == []
    shutil.copy(PEOPLE["collins"], wf.path(ref))  # the nurse is recast
    assert jobs_in_dry_run(wf.snakemake(*args, env=env).stdout) == [("review_sheet", "s2")]
