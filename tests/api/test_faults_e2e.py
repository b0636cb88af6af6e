"""Spend you can predict and faults that lose nothing, through real snakemake runs.

Every loop here is bounded: a handful of shots, sub-second latencies, and
subprocess timeouts on every run.
"""

from __future__ import annotations

import base64
import json
import os
import re
import signal
import subprocess
import sys
import time

import pytest
from PIL import Image

from stillmake.api.cache import Cache
from stillmake.api.ledger import Ledger
from tests.conftest import FAKE_KEY, server_billed
from tests.fake_openai import FakeOpenAI

# finals without a person looking: the explicit opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]
PLAN_OPENAI = ["-C", "backend=openai", "-C", "final.approval=any"]


def ledger(wf):
    return Ledger(wf.path("runs/ledger.jsonl"))


def test_plan_equals_ledger_request_for_request(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    plan = json.loads(wf.stillmake("plan", "--json", *PLAN_OPENAI, env=env).stdout)
    planned = sorted((r["shot"], r["pass"], r["model"]) for r in plan["requests"] if r["paid"])
    wf.snakemake(*OPENAI, env=env)
    entries = ledger(wf).entries()
    paid = sorted((e["shot"], e["pass"], e["model"]) for e in entries if e["outcome"] == "paid")
    assert planned == paid and len(paid) == 12
    spent = ledger(wf).spent()
    # a fresh project's plan comes from the model table's prior: within 50% of the bill
    assert 0.5 * spent <= plan["total_usd"] <= 1.5 * spent, (plan["total_usd"], spent)
    assert all(e["estimate_usd"] > 0 for e in entries)
    # after the build everything is cached: a forced rebuild is planned at $0 and costs $0
    plan = json.loads(wf.stillmake("plan", "--json", *PLAN_OPENAI, env=env).stdout)
    assert plan["requests"] == [] and plan["total_usd"] == 0
    wf.snakemake("review", "--forcerun", "draft", *OPENAI, env=env, check=False)
    assert ledger(wf).spent() == spent


def test_plan_exit_status_2_over_budget(workflow):
    proc = workflow.stillmake("plan", *PLAN_OPENAI, "-C", "budget_usd=1.0", check=False)
    assert proc.returncode == 2
    assert re.search(
        r"over budget: \$0\.000 spent \+ \$1\.\d{3} planned > budget_usd \$1\.00", proc.stderr
    ), proc.stderr


def test_budget_ceiling_holds_under_racing_jobs(workflow, fake_openai):
    wf = workflow
    fake_openai.latency = 0.5
    env = wf.openai_env(fake_openai)
    # each shot's drafts are reserved at the prior's $0.105 and billed about $0.083:
    # $0.25 admits two in flight, and never a third (0.166 billed + 0.105 > 0.25),
    # however the 4 jobs race
    proc = wf.snakemake(
        "drafts",
        "-c",
        "4",
        "--resources",
        "api=4",
        *OPENAI,
        "budget_usd=0.25",
        env=env,
        check=False,
    )
    assert proc.returncode != 0
    # (job threads share stderr, so count the refused shots, not whole lines)
    refused = set(
        re.findall(
            r"(s\d) draft \(3× gpt-image-2\.6-flare medium 1536x864\) would "
            r"cost \$0\.1\d\d",
            proc.stderr,
        )
    )
    assert len(refused) == 3, proc.stderr[-3000:]
    spent = ledger(wf).spent()
    assert 0 < spent <= 0.25
    assert fake_openai.count() == 2
    starts = sorted(r.time for r in fake_openai.requests)
    assert starts[1] - starts[0] < 0.5  # the two paid calls really were in flight together


def test_retries_are_counted_and_bounded(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    fake_openai.fail_next(2, 429, retry_after=0.1)
    fake_openai.fail_next(1, 500)
    wf.snakemake("runs/drafts/s1/draft_1.png", *OPENAI, env=env)
    (line,) = ledger(wf).entries()
    assert line["outcome"] == "paid" and line["attempts"] == 4
    assert [r["status"] for r in line["retries"]] == [429, 429, 500]
    assert all(r["wait_s"] >= 0.1 for r in line["retries"][:2])  # retry-after honoured

    # a 400 is not retried; it fails that job with the API's message
    fake_openai.fail_next(1, 400, code="invalid_value", message="Invalid value for size.")
    proc = wf.snakemake("runs/drafts/s2/draft_1.png", *OPENAI, env=env, check=False)
    assert proc.returncode != 0 and "Invalid value for size." in proc.stderr
    assert ledger(wf).entries()[-1]["attempts"] == 1
    assert ledger(wf).entries()[-1]["outcome"] == "failed"


def test_timeouts_retry_then_fail_that_shot(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    fake_openai.latency = 1.5
    wf.path("fast.yaml").write_text("openai: {timeout_s: 0.3, max_retries: 1}\n")
    proc = wf.snakemake(
        "runs/drafts/s3/draft_1.png",
        "--configfile",
        "fast.yaml",
        *OPENAI,
        env=env,
        check=False,
        timeout=60,
    )
    assert proc.returncode != 0 and "timed out" in proc.stderr
    line = ledger(wf).entries()[-1]
    assert line["attempts"] == 2 and line["cost_usd"] == 0 and line["outcome"] == "failed"
    assert not wf.path("runs/drafts/s3/draft_1.png").exists()


def test_moderation_refusal_fails_one_shot_and_the_rest_go_on(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    s4 = json.loads(wf.path("runs/input/the_trace.image_prompts.refined.json").read_text())[
        "shots"
    ][3]
    fake_openai.block_prompts_containing(s4["prompt"][:40])
    proc = wf.snakemake("review", *OPENAI, env=env, check=False)
    assert proc.returncode != 0
    assert "s4 draft failed: moderation refused the request" in proc.stderr
    assert "rejected by the safety system" in proc.stderr
    for shot in ("s1", "s2", "s3", "s5"):
        assert wf.path(f"runs/review/{shot}.png").exists()
    assert not wf.path("runs/drafts/s4").exists() or not any(
        wf.path("runs/drafts/s4").glob("*.png")
    )
    refused = [e for e in ledger(wf).entries() if e["outcome"] == "moderation_blocked"]
    assert len(refused) == 1 and refused[0]["shot"] == "s4" and refused[0]["cost_usd"] == 0
    assert sum(1 for r in fake_openai.requests if s4["prompt"][:40] in r.prompt) == 1  # not retried


def test_kill_9_mid_build_then_resume(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    fake_openai.latency = 0.6
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", *OPENAI],
        cwd=wf.root,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.monotonic() + 60

    def in_flight():  # received by the server, not answered yet
        return sum(1 for r in list(fake_openai.requests) if r.status is None)

    while time.monotonic() < deadline and not (
        len(list(Cache(wf.path("runs/cache")).root.glob("*/*/response.json"))) >= 3
        and in_flight() >= 2
    ):
        time.sleep(0.02)
    time.sleep(0.1)
    os.killpg(proc.pid, signal.SIGKILL)  # with two requests in flight
    proc.wait(timeout=30)
    killed_at = max((e["time"] for e in ledger(wf).entries()), default="")
    before = fake_openai.count()
    received = {p.parent.name for p in wf.path("runs/cache").glob("*/*/response.json")}
    assert before >= 3 and len(received) >= 3

    time.sleep(0.8)  # the server finishes (and bills) what was in flight at the kill
    unsettled = [r for r in ledger(wf).reservations() if r.unsettled]
    assert all(r.state == "process gone" and r.fingerprint for r in unsettled)

    fake_openai.latency = 0.0
    wf.snakemake("--unlock", *OPENAI, env=env)  # Snakemake's own lock outlives a kill -9
    resumed = wf.snakemake(*OPENAI, env=env)
    after = fake_openai.count() - before
    entries = ledger(wf).entries()  # every line parses
    paid = [e["fingerprint"] for e in entries if e["outcome"] == "paid"]
    assert len(paid) == len(set(paid))  # no request paid twice
    repaid = {e["fingerprint"] for e in entries if e["outcome"] == "paid" and e["time"] > killed_at}
    assert not repaid & received  # nothing received before the kill was asked for again
    assert after == 12 - len(received)  # only what never arrived is asked for again
    # nothing partial or corrupt anywhere
    for png in wf.path("runs").rglob("*.png"):
        with Image.open(png) as im:
            im.load()
    assert not list(wf.path("runs").rglob("*.tmp"))
    assert wf.path("runs/final/manifest.csv").exists()

    # money that may have been spent stays spent: what the dead build had sent is still
    # counted (unsettled, shown by the summary) until the user says whether it was billed
    held = {r.rid: r for r in ledger(wf).reservations() if r.unsettled}
    assert held and set(held) == {r.rid for r in unsettled}  # killed with requests in flight
    warning = [ln for ln in resumed.stderr.splitlines() if "warning: unsettled $" in ln]
    assert len(warning) == 1 and "count as spent until settled" in warning[0], resumed.stderr
    assert all(r.short_fingerprint in warning[0] for r in held.values())
    served, billed = server_billed(fake_openai), fake_openai.billed()
    paid_lines = [e for e in ledger(wf).entries() if e["outcome"] == "paid"]
    cache = Cache(wf.path("runs/cache"))
    for r in held.values():  # what the provider's usage page would say for each
        prompt = cache.load(r.fingerprint)[1]["request"]["prompt"]
        asked = sum(1 for rec, _ in billed if rec.prompt == prompt)
        was = asked > sum(1 for e in paid_lines if e["fingerprint"] == r.fingerprint)
        wf.stillmake("release", r.short, "--billed" if was else "--not-billed", env=env)
    entries = ledger(wf).entries()
    counted = [e for e in entries if e["cost_usd"] > 0]
    spent = ledger(wf).spent()
    print(
        f"kill/resume: {before} requests before the kill ({len(received)} received), "
        f"{after} after; 12 in a clean build. Server billed {len(billed)} answers "
        f"${served:.4f}; ledger {len(paid_lines)} paid + {len(held)} unsettled, settled: "
        f"{len(counted)} lines ${spent:.4f}"
    )
    assert len(counted) == len(billed)  # every answer the server billed, once
    assert spent == pytest.approx(served, abs=1e-6) and round(spent, 2) == round(served, 2)
    assert ledger(wf).reservations() == []


def test_a_ledger_deleted_during_a_build_stops_paid_requests_not_the_count(workflow, fake_openai):
    """The issue's case: deleting runs/ledger.jsonl mid-build restarted the budget ("this
    run 6 paid" while the server answered 10). Now the next paid request stops with one
    line naming the file, and nothing the server billed is missing once it is put back."""
    wf = workflow
    env = wf.openai_env(fake_openai)
    fake_openai.latency = 0.4
    path = wf.path("runs/ledger.jsonl")
    log = wf.path("build.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "drafts", *OPENAI],
        cwd=wf.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (
            not path.exists() or sum(1 for e in ledger(wf).entries() if e["cost_usd"]) < 2
        ):
            time.sleep(0.02)
        kept = path.read_bytes()
        path.unlink()
        returncode = proc.wait(timeout=180)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        log.close()
    out = wf.path("build.log").read_text()
    assert returncode != 0
    refusals = [ln for ln in out.splitlines() if "while a build was writing it" in ln]
    assert refusals and all("runs/ledger.jsonl was " in ln for ln in refusals), out[-3000:]
    assert "so no paid request goes out. Put the file back" in refusals[0]
    assert "stillmake: warning: runs/ledger.jsonl was " in out  # and the summary says so
    assert "Traceback" not in out
    stopped_at = len(fake_openai.billed())
    written_since = path.read_bytes() if path.exists() else b""
    path.write_bytes(kept + written_since)  # put back, the lines written since at its end
    restored = ledger(wf).spent()
    served = server_billed(fake_openai)
    assert restored == pytest.approx(served, abs=1e-6)  # every answer billed is in it
    wf.snakemake("drafts", *OPENAI, env=env)  # and the count goes on from there
    final, served_all = ledger(wf).spent(), server_billed(fake_openai)
    print(
        f"\nledger deleted mid-build: paid requests stopped after {stopped_at} billed answers "
        f"(${served:.4f}); restored ledger ${restored:.4f}; after the rerun server "
        f"${served_all:.4f} ({len(fake_openai.billed())} answers), ledger ${final:.4f}"
    )
    assert final == pytest.approx(served_all, abs=1e-6)
    assert len([e for e in ledger(wf).entries() if e["outcome"] == "paid"]) == 5


# a made-up password and gateway key, for the credentials a base URL may carry
URL_USER, URL_PASSWORD, URL_KEY = "stills-usr", "pw-FAKEPASS-7c2e91", "gk-FAKEGWKEY-40d1aa"


@pytest.mark.parametrize("url", ["plain", "credentials"])
def test_api_key_never_written(workflow, url):
    """Neither the key nor a password or key in OPENAI_BASE_URL is written anywhere: the
    build (paid, with a failed request and a retry among them), its logs, the cache, the
    ledger, sidecars, PNG chunks, `stillmake status` and `.snakemake/`."""
    wf = workflow
    secrets = [FAKE_KEY]
    if url == "credentials":
        # a gateway that takes basic auth (the client sends the URL's user info) and a
        # key in the query; the client connects with the full URL
        server = FakeOpenAI(basic_auth=(URL_USER, URL_PASSWORD)).start()
        base = server.url.replace("http://", f"http://{URL_USER}:{URL_PASSWORD}@")
        base += f"?api-version=2026-10&api-key={URL_KEY}"
        secrets += [URL_USER, URL_PASSWORD, URL_KEY]
    else:
        server = FakeOpenAI().start()
        base = server.url
    try:
        env = wf.env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=base)
        server.fail_next(1, 500, message=f"upstream {base} failed")  # a server echoing the URL
        wf.snakemake(*OPENAI, env=env)
        wf.stillmake("status", env=env)
        wf.stillmake("plan", "-C", "backend=openai", env=env)
    finally:
        server.stop()
    assert len(server.requests) == 13  # 12 answers and one 500, retried
    auth = {r.headers["authorization"] for r in server.requests}
    if url == "credentials":  # connected with the full URL: user info and query sent
        assert all(r.query == f"api-version=2026-10&api-key={URL_KEY}" for r in server.requests)
        assert auth == {"Basic " + base64.b64encode(f"{URL_USER}:{URL_PASSWORD}".encode()).decode()}
    else:
        assert auth == {f"Bearer {FAKE_KEY}"}
    hits = []
    for path in wf.root.rglob("*"):
        if path.is_file():
            data = path.read_bytes()
            hits += [f"{path.relative_to(wf.root)}: {s}" for s in secrets if s.encode() in data]
    assert hits == []
    assert any(wf.path(".snakemake").rglob("*")), "the metadata dir was searched"
    shown = server.url + ("?api-version=2026-10&api-key=***" if url == "credentials" else "")
    sidecar = json.loads(wf.path("runs/drafts/s1/draft_1.json").read_text())
    assert sidecar["backend"] == f"openai@{shown}"  # the URL is still recorded, redacted


def test_missing_key_fails_before_any_job(workflow):
    proc = workflow.snakemake(*OPENAI, check=False)
    assert proc.returncode != 0
    assert "backend 'openai' needs an API key: export OPENAI_API_KEY" in proc.stderr
    assert not workflow.path("runs/drafts").exists()
    # a dry run pays nothing and needs no key
    assert workflow.snakemake("-n", *OPENAI).returncode == 0


# -- stop means stop: a real signal to a real `snakemake` while a job waits -------------------


def _hold_fingerprint_lock(wf, env, fake):
    """Hold the lock of s1's draft request, as another job asking for it would; returns
    the open file (closing it releases the lock)."""
    import fcntl

    plan = json.loads(
        wf.stillmake(
            "plan", "--json", "-C", "backend=openai", "runs/drafts/s1/draft_1.png", env=env
        ).stdout
    )
    (fingerprint,) = [r["fingerprint"] for r in plan["requests"] if r["shot"] == "s1"]
    lock = Cache(wf.path("runs/cache")).lock_path(fingerprint)
    lock.parent.mkdir(parents=True, exist_ok=True)
    fh = open(lock, "a+")  # noqa: SIM115 - held across the build, closed by the test
    fcntl.flock(fh.fileno(), fcntl.LOCK_EX)
    return fh


def _waiting_on(wait, wf, fake):
    """Is the build's one job waiting where the case wants it?"""
    if wait == "back-off":
        return fake.count() == 1
    if wait == "rate limiter":  # reserved, not sent
        reservations = wf.path("runs/.ledger.jsonl.inflight.json")
        return reservations.exists() and json.loads(reservations.read_text() or "{}") != {}
    return wf.path("runs/logs/draft/s1.log").exists()  # the job started: the lock is next


@pytest.mark.parametrize(
    ("wait", "sig"),
    [
        ("rate limiter", signal.SIGTERM),
        ("back-off", signal.SIGTERM),
        ("another job's request", signal.SIGINT),
    ],
    ids=["limiter-SIGTERM", "backoff-SIGTERM", "lock-SIGINT"],
)
def test_a_signal_ends_a_waiting_job_at_once_and_sends_nothing(workflow, fake_openai, wait, sig):
    """SIGTERM or SIGINT (Ctrl-C) while the one job waits: the wait ends at once, no
    request reaches the server after the signal, the reservation is released, and
    Snakemake exits as it does for that signal."""
    wf = workflow
    env = wf.openai_env(fake_openai)
    held = None
    if wait == "rate limiter":  # a window file written by a host whose clock is an hour ahead
        wf.path("runs/.rate.json").write_text(json.dumps([[time.time() + 3600, 3]]))
        wf.path("rate.yaml").write_text("openai: {images_per_minute: 3}\n")
    elif wait == "back-off":
        fake_openai.fail_next(1, 429, retry_after=45)
        wf.path("rate.yaml").write_text("openai: {max_retries: 4}\n")
    else:
        held = _hold_fingerprint_lock(wf, env, fake_openai)
        wf.path("rate.yaml").write_text("openai: {max_retries: 4}\n")
    log = wf.path("build.log").open("w")
    proc = subprocess.Popen(
        [sys.executable, "-m", "snakemake", "runs/drafts/s1/draft_1.png", "--configfile",
         "rate.yaml", *OPENAI],
        cwd=wf.root, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True,
    )  # fmt: skip
    try:
        deadline = time.monotonic() + 60
        while not _waiting_on(wait, wf, fake_openai) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(1.0)  # well into the wait
        assert proc.poll() is None, wf.path("build.log").read_text()[-3000:]
        signalled = time.monotonic()
        if sig == signal.SIGINT:
            os.killpg(proc.pid, sig)  # Ctrl-C: the terminal signals the whole group
        else:
            os.kill(proc.pid, sig)  # `kill PID`
        returncode = proc.wait(timeout=30)
        took = time.monotonic() - signalled
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        if held is not None:
            held.close()
        log.close()
    out = wf.path("build.log").read_text()
    after = [r for r in fake_openai.requests if r.time > signalled]
    print(f"\n{wait}, {sig.name}: exit {returncode} {took:.2f} s after the signal; "
          f"{len(after)} request(s) after it")  # fmt: skip
    assert after == []  # nothing reached the server after the signal
    assert fake_openai.count() == (1 if wait == "back-off" else 0)
    assert took < 10, out[-3000:]
    assert returncode == 1, out[-3000:]  # Snakemake's exit status for a stopped build
    assert f"s1 draft failed: stopped by {sig.name} while waiting" in out, out[-3000:]
    assert "Traceback" not in out
    assert ledger(wf).reservations() == []  # released
    assert not wf.path("runs/drafts/s1/draft_1.png").exists()
    if wait == "back-off":  # the attempt made before the signal is in the ledger, at $0
        (line,) = ledger(wf).entries()
        assert line["outcome"] == "stopped" and line["attempts"] == 1 and line["cost_usd"] == 0
