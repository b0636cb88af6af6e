"""The README's main job: the THE TRACE sample end to end on the offline preview backend."""

from __future__ import annotations

import csv
import json
import re

from PIL import Image

from stillmake.stages.review import sheet_lines

OPENAI = ["--config", "backend=openai"]
PROMPTS = "runs/input/the_trace.image_prompts.refined.json"
# what each flaw the preview draws on purpose is flagged as
FLAW_METRICS = {
    "identity": {"identity"},
    "skin": {"skin_hue", "skin_chroma"},
    "highlights": {"highlight_detail", "practical_separation", "clip_r", "highlight_clip"},
    "wardrobe": {"wardrobe"},
    "cast": {"cast_a", "cast_b"},
}


# the most lines a build of the sample may print (issue 24: a person reads it)
FIRST_BUILD_LINES = 60
NOOP_LINES = 15


def build_output_reads_at_a_glance(first: str, noop: str) -> None:
    """The sample's first build: what is made, progress per job and per stage, what was
    paid and what is left, each shot's outcome, what waits on the person; a no-op says
    the same in a few lines."""
    lines = first.splitlines()
    assert len(lines) <= FIRST_BUILD_LINES, first
    assert "stillmake: 22 job(s) to run: draft 5, review 5, select 4, edit 4, final 3" in first
    assert "budget $5.00: $0.000 spent so far, $5.000 left" in first
    done = [line for line in lines if line.startswith("[")]
    assert len(done) == 22 and done[-1].startswith("[22/22 · "), done
    assert any(re.match(r"\[ ?\d+/22 · draft \d/5\] s3 draft: 3 image\(s\)", d) for d in done)
    assert "ledger total $0.000 of budget $5.00 ($5.000 left)" in first
    stands = lines[lines.index("stillmake: where each shot stands:") + 1 :][:5]
    assert [line.split()[0] for line in stands] == ["s1", "s2", "s3", "s4", "s5"], stands
    assert "s1  made: runs/final/s1.png (gate pass)" in stands[0]
    assert "s2  awaiting approval: look at runs/selected/s2.png, then stillmake lock s2" in first
    assert "s4  awaiting a pick: look at runs/review/s4.png, then stillmake pick s4 K" in first
    assert "stillmake: next: pick s4; approve s2" in first
    for snakemakes in ("localrule ", "Finished jobid", "steps (", "SNAKEMAKE", "Job stats"):
        assert snakemakes not in first, snakemakes
    assert len(noop.splitlines()) <= NOOP_LINES, noop
    assert "Nothing to be done" in noop and "stillmake: next: pick s4; approve s2" in noop


def test_sample_end_to_end_on_preview(workflow):
    wf = workflow
    proc = wf.snakemake()
    build_output_reads_at_a_glance(proc.stderr, wf.snakemake().stderr)
    for shot in ("s1", "s2", "s3", "s4", "s5"):
        review = json.loads(wf.path(f"runs/review/{shot}.json").read_text())
        assert len(review["drafts"]) == 3 and review["worst"] in ("pass", "warn", "fail")
        assert {"highlight_clip", "cast_a", "sharpness"} <= set(review["drafts"][0]["metrics"])
        with Image.open(wf.path(f"runs/review/{shot}.png")) as sheet:
            assert sheet.width > 3 * 400
    sample_flags_only_where_drawn(wf)
    # preview edits change only the masked region: zero leak outside it
    for path in (
        "runs/edits/s3/step_1.json",
        "runs/edits/s5/step_1.json",
        "runs/edits/s1/step_1.json",
    ):
        leak = json.loads(wf.path(path).read_text())["edit_leak"]
        assert leak["leak_max"] == 0 and leak["changed_fraction_outside"] == 0
    assert json.loads(wf.path("runs/edits/s3/step_2.json").read_text())["edit_leak"] is None
    rows = list(csv.DictReader(wf.path("runs/final/manifest.csv").open()))
    assert [r["shot"] for r in rows] == ["s1", "s3", "s5"]
    # one physical line per row (a spreadsheet opens it as a table); the JSON keeps the text
    text = wf.path("runs/final/manifest.csv").read_text(encoding="utf-8")
    assert len(text.splitlines()) == 1 + len(rows)
    kept = json.loads(wf.path("runs/final/manifest.json").read_text())["finals"][0]["prompt"]
    assert "\n" in kept and rows[0]["prompt"] == kept.replace("\n", "\\n")
    gate = json.loads(wf.path("runs/final/gate.json").read_text())
    assert gate["one_size"] and gate["sizes"] == ["2560x1440"]
    assert {r["gate"] for r in rows} <= {"pass", "warn", "fail"}
    assert all(r["gate"] == gate["shots"][r["shot"]]["worst"] for r in rows)
    assert "fluorescent" in gate["consistency"]
    status = wf.stillmake("status").stdout
    assert "final" in status and "spent $0.00" in status
    # the HTML report collects sheets, finals, manifest and gate
    wf.snakemake("--report", "report.html")
    html = wf.path("report.html").read_text(errors="replace")
    for word in ("1. Review", "2. Finals", "3. Manifest", "manifest.csv", "gate.json"):
        assert word in html
    # same requests -> identical preview pixels: --forceall changes nothing
    before = {
        p: json.loads(p.read_text())["image_sha256"] for p in wf.path("runs").rglob("draft_*.json")
    }
    # Snakemake's own per-job blocks are one flag away
    full = wf.snakemake("--forceall", "--config", "console=snakemake")
    assert "localrule draft:" in full.stderr, full.stderr[-3000:]
    assert "[stillmake] s3 draft: cache hit" in full.stderr
    after = {
        p: json.loads(p.read_text())["image_sha256"] for p in wf.path("runs").rglob("draft_*.json")
    }
    assert before == after


def test_protect_unmasked_composites_the_source_back(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake("edits", *OPENAI, env=env)
    leaky = json.loads(wf.path("runs/edits/s3/step_1.json").read_text())["edit_leak"]
    assert leaky["leak_mean"] > 1  # the fake API, like the real one, touches the whole frame
    wf.path("protect.yaml").write_text("edit: {protect_unmasked: true, feather_px: 8}\n")
    before = fake_openai.count()
    wf.snakemake("edits", "--configfile", "protect.yaml", *OPENAI, env=env)
    # masked steps come from the cache (protection is applied locally); only s3's step 2,
    # whose source pixels changed, is a new request
    assert fake_openai.count() == before + 1
    assert "reference sheet" in fake_openai.requests[-1].prompt
    side = json.loads(wf.path("runs/edits/s3/step_1.json").read_text())
    assert side["protect_unmasked"] and side["edit_leak"]["leak_max"] == 0


def sample_flags_only_where_drawn(wf):
    """The sample's sheets: every draft's identity distance and skin reading, a flag only
    on the drafts the prompts file's `preview:` draws to fail (and for what was drawn),
    the pick and the rejects marked with why; the finals pass the gate."""
    prompts = json.loads(wf.path(PROMPTS).read_text(encoding="utf-8"))
    drawn = {s["id"]: {int(k): v for k, v in s["preview"].items()} for s in prompts["shots"]}
    assert "identity" in drawn["s1"].values()  # one draft drawn to fail identity
    for shot, flaws in drawn.items():
        review = json.loads(wf.path(f"runs/review/{shot}.json").read_text())
        lines = sheet_lines(review)
        for d, said in zip(review["drafts"], lines, strict=True):
            leyla = d["identity"]["characters"]["leyla"]
            assert d["identity"]["measured"] and 0 <= leyla["distance"] < 1
            assert "leyla" in d["faces"]["skin"]
            shown = [line["message"] for line in said]
            assert any(m.startswith("leyla: ") and "(distance" in m for m in shown), shown
            flagged = {f["metric"] for f in d["flags"] if f["level"] != "pass"}
            flaw = flaws.get(d["k"])
            if flaw is None:
                assert flagged == set(), (shot, d["k"], d["flags"])
                assert any(m.startswith("leyla: skin on the skin-tone line") for m in shown)
            else:
                assert flagged and flagged <= FLAW_METRICS[flaw], (shot, d["k"], flagged)
            reason = review["reject"].get(str(d["k"]))
            if reason:
                assert f"rejected: {reason}" in shown
    s1 = sheet_lines(json.loads(wf.path("runs/review/s1.json").read_text()))
    assert s1[0][0]["message"] == "rejected: identity drift"
    assert s1[1][0]["message"] == "picked"
    gate = json.loads(wf.path("runs/final/gate.json").read_text())
    for shot, judged in gate["shots"].items():
        assert [f for f in judged["flags"] if f["level"] != "pass"] == [], shot
        assert judged["identity"]["characters"]["leyla"]["distance"] <= 0.45
