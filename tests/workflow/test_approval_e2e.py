"""Approval bound to what the art director saw, against the loopback API (issue 19).

One workflow copy walks the whole story through real `snakemake` and `stillmake` runs:
the sample's first API build pays for no final; `stillmake lock s1` then sends exactly
s1's final; a prompt edit on the locked, finalled s1 costs one draft request; a re-pick
costs an edit and no final until a new lock (the final job refuses on its own too); a
candidate that fails the gate is not locked without a waiver, and with one its final is
paid and the manifest shows the waiver. Each step's requests and spend are printed.
"""

from __future__ import annotations

import csv
import json
import re

from stillmake.api.ledger import Ledger
from tests.conftest import edit_prompt

# The loopback server's images are seeded colour fields: their casts mean nothing, and
# its edits repaint the whole frame. So casts are not judged, masked edits keep what is
# outside the mask, and under red lamps (s4) every image fails `sharpness`: a candidate
# that fails the gate on purpose.
APPROVAL_CONFIG = """\
edit: {protect_unmasked: true}
quality:
  default: {cast_a: null, cast_b: null}
  fluorescent: {cast_a: null}
  daylight: {cast_b: null}
  red_emergency:
    cast_a: null
    cast_b: null
    midtone_separation: null
    sharpness: {warn: 1000000000.0, fail: 1000000000.0}
"""
CONFIG = ["--configfile", "approval.yaml", "--config", "backend=openai"]
C = ["--configfile", "approval.yaml", "-C", "backend=openai"]


def kinds(requests) -> dict[str, int]:
    out: dict[str, int] = {}
    for r in requests:
        kind = "draft" if r.path.endswith("generations") else "edit"
        if r.param("quality") == "high":
            kind = "final"
        out[kind] = out.get(kind, 0) + 1
    return out


class Steps:
    """Requests the server saw and dollars the ledger gained, step by step."""

    def __init__(self, wf, server):
        self.wf, self.server, self.seen, self.spent, self.rows = wf, server, 0, 0.0, []

    def took(self, step: str) -> dict[str, int]:
        new = self.server.requests[self.seen :]
        self.seen = len(self.server.requests)
        spent = Ledger(self.wf.path("runs/ledger.jsonl")).spent()
        self.rows.append((step, kinds(new), round(spent - self.spent, 4)))
        self.spent = spent
        return kinds(new)


def manifest(wf) -> dict[str, dict]:
    rows = csv.DictReader(wf.path("runs/final/manifest.csv").open(encoding="utf-8"))
    return {r["shot"]: r for r in rows}


def test_money_follows_an_approval_of_what_was_seen(workflow, fake_openai):
    wf = workflow
    wf.path("approval.yaml").write_text(APPROVAL_CONFIG, encoding="utf-8")
    env = wf.openai_env(fake_openai)
    steps = Steps(wf, fake_openai)

    # 1. the sample's first build: drafts, sheets, picks, edits; no final, no `high`
    first = wf.snakemake(*CONFIG, env=env)
    assert steps.took("first build") == {"draft": 5, "edit": 4}
    assert not list(wf.path("runs").glob("final/*.png"))
    for shot in ("s1", "s2", "s3", "s4", "s5"):
        assert wf.path(f"runs/review/{shot}.png").is_file()
    tail = first.stderr.split("stillmake: this run")[1]  # said after the build
    for shot, candidate in (("s1", "edits/s1/step_1"), ("s3", "edits/s3/step_2")):
        assert re.search(rf"\b{shot}\s+awaits approval", tail) and f"runs/{candidate}.png" in tail
        assert f"`stillmake lock {shot}`" in tail
    assert re.search(r"\bs5\s+awaits approval", tail)
    assert "`lock: true` approves no particular image on the openai backend" in tail

    # 2. approve s1's candidate: exactly s1's final is sent
    locked = wf.stillmake("lock", "s1", *C, env=env).stdout
    assert "s1: locked on its candidate runs/edits/s1/step_1.png (" in locked
    again = wf.stillmake("lock", "s1", *C, env=env).stdout
    assert "s1: already locked on its candidate" in again
    wf.snakemake(*CONFIG, env=env)
    assert steps.took("stillmake lock s1; snakemake") == {"final": 1}
    assert "s1.png" in [p.name for p in wf.path("runs/final").glob("*.png")]
    approved = wf.path("runs/input/selections.yaml").read_text().split("s1:")[1]
    fp = approved.split("lock: ")[1].split()[0].strip("'")
    assert manifest(wf)["s1"]["approval"] == f"lock {fp}"

    # 3. a prompt edit on the locked, finalled s1: one draft, then the stale pick stops it
    edit_prompt(wf, "s1", "Leyla crouches by the wet footprints, the corridor darker")
    proc = wf.snakemake(*CONFIG, env=env, check=False)
    assert steps.took("prompt edit on s1") == {"draft": 1}
    assert proc.returncode != 0 and "shot s1: pick 2 was made on drafts" in proc.stderr
    assert "Traceback" not in proc.stderr

    # 4. a re-pick: its edit is paid, its final waits for a new lock
    wf.stillmake("pick", "s1", "1", *C, env=env)
    dry = wf.snakemake("-n", *CONFIG, env=env).stdout
    assert "rule edit_step" in dry and "rule final:" not in dry
    proc = wf.snakemake(*CONFIG, env=env)
    assert steps.took("re-pick s1") == {"edit": 1}
    assert re.search(r"\bs1\s+awaits approval: the lock approved candidate", proc.stderr)
    assert "a new pick: draft 2, now draft 1" in proc.stderr
    status = wf.stillmake("status", *C, env=env).stdout
    assert " yes     AWAITING " in status.splitlines()[1], status
    plan = json.loads(wf.stillmake("plan", "--json", *C, env=env).stdout)
    s1_final = [r for r in plan["requests"] if (r["shot"], r["pass"]) == ("s1", "final")]
    assert [r["note"] for r in s1_final] == ["awaiting approval"] and plan["total_usd"] == 0
    # the final job refuses from its own params, asked for by name
    forced = wf.snakemake("runs/final/s1.png", *CONFIG, env=env, check=False)
    assert forced.returncode != 0 and steps.took("final of s1 asked for by name") == {}
    assert "s1 final failed: s1 awaits approval: the lock approved candidate" in forced.stderr

    # 5. a candidate failing the gate: no lock without a waiver; with one, its final
    wf.stillmake("pick", "s4", "2", *C, env=env)
    wf.snakemake(*CONFIG, env=env)
    assert steps.took("pick s4") == {}
    refused = wf.stillmake("lock", "s4", *C, env=env, check=False)
    assert refused.returncode == 1 and "candidate runs/selected/s4.png fails the gate" in (
        refused.stderr
    )
    assert "fails the gate: sharpness" in refused.stderr
    assert "stillmake waive s4 sharpness" in refused.stderr
    why = "the alarm strobe is meant to smear"
    wf.stillmake("waive", "s4", "sharpness", why, *C, env=env)
    assert "sharpness waived" in wf.stillmake("lock", "s4", *C, env=env).stdout
    wf.snakemake(*CONFIG, env=env)
    assert steps.took("waive, lock s4; snakemake") == {"final": 1}
    assert manifest(wf)["s4"]["waived"] == f"sharpness: {why}"
    assert f"s4: sharpness waived ({why})" in wf.stillmake("status", *C, env=env).stdout

    print("\nstep                                 requests            ledger $")
    for step, took, usd in steps.rows:
        print(f"{step:36} {json.dumps(took):19} {usd:.4f}")
