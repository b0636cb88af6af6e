"""Select, consistency edits and finals through real `snakemake` runs against the loopback API."""

from __future__ import annotations

import csv
import io
import json

import pytest
from PIL import Image
from ruamel.yaml import YAML

from stillmake.api.ledger import Ledger
from stillmake.files import sha256_bytes
from tests.conftest import token_bill

# finals without a person looking: the explicit opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]


def yaml_edit(wf, fn):
    path = wf.path("runs/input/selections.yaml")
    y = YAML()
    doc = y.load(path.read_text())
    fn(doc)
    with open(path, "w") as fh:
        y.dump(doc, fh)


def passes(server, since=0):
    out = {}
    for r in server.requests[since:]:
        kind = (
            "generate"
            if r.path.endswith("generations")
            else ("final" if r.param("quality") == "high" else "edit")
        )
        out[kind] = out.get(kind, 0) + 1
    return out


def test_whole_playbook_on_the_api(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake(*OPENAI, env=env)

    # sample: 5 shots drafted; s1 (1 step), s3 (2 steps), s5 (1 step, mask file) edited;
    # s1, s3, s5 locked -> finals
    assert passes(fake_openai) == {"generate": 5, "edit": 4, "final": 3}
    for shot in ("s1", "s2", "s3", "s5"):
        side = json.loads(wf.path(f"runs/selected/{shot}.json").read_text())
        assert side["pass"] == "select" and side["pick"] in (1, 2, 3)
    assert not wf.path("runs/selected/s4.png").exists()

    edits = [r for r in fake_openai.requests if r.path.endswith("/edits")]
    for r in edits:
        assert r.headers["content-type"].startswith("multipart/form-data")
        assert "image" not in r.files  # several images always go as image[]
    # s3 step 1: source first (the selected draft's bytes), then Leyla's reference; region mask
    s3_1 = next(r for r in edits if "plain white school clock" in r.prompt)
    selected = json.loads(wf.path("runs/selected/s3.json").read_text())
    parts = s3_1.files["image[]"]
    assert sha256_bytes(parts[0].data) == selected["image_sha256"]
    assert parts[1].data == wf.path("runs/input/refs/leyla_ref.png").read_bytes()
    mask = Image.open(io.BytesIO(s3_1.files["mask"][0].data))
    assert mask.format == "PNG" and mask.mode == "RGBA" and mask.size == (1536, 864)
    alpha = mask.getchannel("A")
    assert alpha.getpixel((int(0.7 * 1536), int(0.15 * 864))) == 0  # inside the box: editable
    assert alpha.getpixel((int(0.3 * 1536), int(0.6 * 864))) == 255  # outside: kept
    assert s3_1.prompt.startswith("Change: replace the wall clock")
    assert "Keep exactly as is: Leyla's face" in s3_1.prompt and "Constraints:" in s3_1.prompt
    # the 2.x family keeps reference detail itself: input_fidelity is omitted, as the API asks
    assert (s3_1.param("input_fidelity"), s3_1.param("quality"), s3_1.param("n")) == (
        None,
        "medium",
        "1",
    )
    assert s3_1.param("model") == "gpt-image-2.6-sunburst" and s3_1.param("moderation") is None
    # s3 step 2 edits step 1's result and has no mask (a reference-guided change)
    s3_2 = next(r for r in edits if "reference sheet" in r.prompt)
    step1 = json.loads(wf.path("runs/edits/s3/step_1.json").read_text())
    assert sha256_bytes(s3_2.files["image[]"][0].data) == step1["image_sha256"]
    assert "mask" not in s3_2.files
    step2 = json.loads(wf.path("runs/edits/s3/step_2.json").read_text())
    assert step2["inputs"][0] == step1["image_sha256"] and step2["mask"] is None
    assert step1["mask"] == sha256_bytes(s3_1.files["mask"][0].data)
    # s5's hand-made mask is resized/checked and sent
    s5 = next(r for r in edits if "window glare" in r.prompt)
    assert Image.open(io.BytesIO(s5.files["mask"][0].data)).size == (1536, 864)

    # finals: n=1, high, one size; the manifest is the seed's log
    finals = [r for r in edits if r.param("quality") == "high"]
    assert {r.param("n") for r in finals} == {"1"} and {r.param("size") for r in finals} == {
        "2560x1440"
    }
    rows = list(csv.DictReader(wf.path("runs/final/manifest.csv").open()))
    assert [r["shot"] for r in rows] == ["s1", "s3", "s5"]
    for row in rows:
        assert row["quality"] == "high" and row["size"] == "2560x1440" and row["mode"] == "edit"
        assert row["model"] == "gpt-image-2.6-sunburst" and row["negative"] and row["prompt"]
        side = json.loads(wf.path(f"runs/final/{row['shot']}.json").read_text())
        assert float(row["cost_usd"]) == round(token_bill(side["usage"]), 6) > 0.3
        assert len(row["fingerprint"]) == 24
        with Image.open(wf.path(f"runs/final/{row['shot']}.png")) as im:
            assert im.size == (2560, 1440)
    assert next(r for r in rows if r["shot"] == "s3")["source_chain"].endswith(
        "step 1 -> step 2 -> final"
    )
    ledger = Ledger(wf.path("runs/ledger.jsonl"))
    paid = [e for e in ledger.entries() if e["outcome"] == "paid"]
    assert ledger.spent() == pytest.approx(sum(token_bill(e["usage"]) for e in paid), abs=1e-5)

    # adding an edit step to s3: the `edits` target sends exactly one request;
    # the default target then re-renders s3's final from the new candidate: one more
    def add_step(doc):
        doc["s3"]["edits"].append(
            {"change": "close the curtain on the left", "keep": "everything else"}
        )

    yaml_edit(wf, add_step)
    before = fake_openai.count()
    wf.snakemake("edits", *OPENAI, env=env)
    assert fake_openai.count() - before == 1
    assert "close the curtain" in fake_openai.requests[-1].prompt
    wf.snakemake(*OPENAI, env=env)
    assert passes(fake_openai, before + 1) == {"final": 1}

    # editing step 2 of s3 rebuilds steps 2..3 (and its final) of s3 only
    def change_step2(doc):
        doc["s3"]["edits"][1]["change"] = "match Leyla's tie to the reference sheet"

    yaml_edit(wf, change_step2)
    dry = wf.snakemake("-n", *OPENAI, env=env).stdout
    assert "step=2" in dry and "step=3" in dry and "step=1" not in dry
    assert "shot=s1" not in dry and "shot=s5" not in dry
    before = fake_openai.count()
    wf.snakemake(*OPENAI, env=env)
    assert passes(fake_openai, before) == {"edit": 2, "final": 1}


def test_stale_pick_fails_that_shot_only(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake("review", *OPENAI, env=env)
    wf.stillmake("pick", "s2", "3", "-r", "1:identity drift", env=env, check=True)
    # a reroll gives s2 fresh drafts: the pick was made on the old ones
    yaml_edit(wf, lambda doc: doc["s2"].__setitem__("reroll", 1))
    proc = wf.snakemake(*OPENAI, env=env, check=False)
    assert proc.returncode != 0
    err = proc.stderr
    assert "shot s2: pick 3 was made on drafts" in err
    assert "runs/review/s2.png" in err and "stillmake pick s2 K" in err
    assert not wf.path("runs/selected/s2.png").exists()
    for shot in ("s1", "s3", "s5"):  # the others build on
        assert wf.path(f"runs/final/{shot}.png").exists()
    status = wf.stillmake("status", env=env).stdout
    assert "3 STALE" in status
    # re-pick on the new drafts and the shot goes through
    wf.stillmake("pick", "s2", "1", env=env)
    wf.snakemake(*OPENAI, env=env)
    assert wf.path("runs/selected/s2.png").exists()


def test_finals_target_names_unlocked_shots_before_any_call(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    proc = wf.snakemake("finals", *OPENAI, env=env, check=False)
    assert proc.returncode != 0
    assert "not locked: s2, s4" in proc.stderr
    assert fake_openai.count() == 0 and not wf.path("runs/drafts").exists()
    wf.snakemake("critical", *OPENAI, env=env)
    assert sorted(p.name for p in wf.path("runs/final").glob("s*.png")) == [
        "s1.png",
        "s3.png",
        "s5.png",
    ]
