"""State shared by jobs that cannot see each other's processes: budget reservations
judged by lease, and one paid request per fingerprint however many processes ask."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import os
import shutil
import subprocess
import sys
import textwrap
import time

import pytest

from stillmake.api import calls
from stillmake.api.backends.factory import backend_identity
from stillmake.api.ledger import Ledger, pid_namespace
from stillmake.api.requests import ImageRequest
from stillmake.errors import BudgetExceeded
from tests.api.test_ledger_safety import edit_reservation, inflight_file, leave_dead_reservation
from tests.conftest import config_for

UNSHARE = shutil.which("unshare")


def test_a_reservation_from_another_pid_namespace_holds_until_its_lease_runs_out(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3)
    # its pid was recorded in another pid namespace (a container, a cluster job): the
    # process that has that pid here is not the one that made it
    edit_reservation(path, rid, pidns="pid:[1]", lease_until=time.time() + 30)
    ledger = Ledger(path, budget_usd=0.5)
    (res,) = ledger.reservations()
    assert res.state == "leased" and res.counted
    with pytest.raises(BudgetExceeded, match=r"\$0\.300 in flight"):
        with ledger.reserve(0.4, "s2 final"):
            pass
    edit_reservation(path, rid, lease_until=time.time() - 1)
    (res,) = ledger.reservations()
    assert res.state == "lease expired" and not res.counted
    with ledger.reserve(0.4, "s2 final"):  # the dead one no longer holds budget
        assert list(inflight_file(path)) != [rid] and rid not in inflight_file(path)


def test_a_reservation_from_another_host_is_judged_by_its_lease(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3)
    edit_reservation(path, rid, host="render-node-7", pid=os.getpid())
    assert Ledger(path).reservations()[0].state == "leased"
    proc_refusal = Ledger(path).release([rid[:8]])[1]
    assert len(proc_refusal) == 1 and "lease" in proc_refusal[0] and "--force" in proc_refusal[0]
    edit_reservation(path, rid, lease_until=time.time() - 5)
    (res,) = Ledger(path).reservations()
    assert res.state == "lease expired" and not res.counted


def test_a_request_in_flight_renews_its_lease(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl", budget_usd=1, lease_s=0.6)
    with ledger.reserve(0.1, "s1 draft", "openai@http://127.0.0.1:9/v1"):
        (first,) = inflight_file(ledger.path).values()
        assert first["pidns"] == pid_namespace() is not None
        assert first["lease_until"] == pytest.approx(first["time"] + 0.6, abs=0.05)
        time.sleep(1.0)  # longer than the lease: renewed every 0.2 s meanwhile
        (now,) = inflight_file(ledger.path).values()
        assert now["lease_until"] > first["lease_until"] + 0.5
        assert now["lease_until"] > time.time()
        (res,) = ledger.reservations()  # `stillmake status` names where the request went
        assert res.backend == "openai@http://127.0.0.1:9/v1" and res.state == "running"
    assert inflight_file(ledger.path) == {}


HOLDER = textwrap.dedent(
    """
    import sys, time
    from stillmake.api.ledger import Ledger
    ledger = Ledger(sys.argv[1], budget_usd=10, lease_s=float(sys.argv[2]))
    with ledger.reserve(0.3, "s1 draft (in a namespace)"):
        print("held", flush=True)
        time.sleep(60)
    """
)


@pytest.mark.skipif(UNSHARE is None, reason="needs util-linux unshare (Linux)")
def test_a_live_request_in_its_own_pid_namespace_is_never_dropped(tmp_path):
    """The issue's failure: a job in its own pid namespace reserved budget; a job outside
    judged its pid (1 there) by this host's processes and dropped it."""
    path = tmp_path / "ledger.jsonl"
    holder = subprocess.Popen(
        [
            UNSHARE,
            "--pid",
            "--fork",
            "--kill-child",
            sys.executable,
            "-c",
            HOLDER,
            str(path),
            "1.5",
        ],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "held"
        (made,) = inflight_file(path).values()
        assert made["pid"] == 1 and made["pidns"] != pid_namespace()
        ledger = Ledger(path, budget_usd=0.5)
        time.sleep(2.5)  # past its first lease: only renewals keep it
        (res,) = ledger.reservations()
        assert res.state == "leased" and res.counted
        with pytest.raises(BudgetExceeded):
            with ledger.reserve(0.4, "s2 final"):
                pass
    finally:
        holder.kill()  # --kill-child: the namespace dies with it
        holder.wait()
    time.sleep(2.0)  # a lease later
    (res,) = Ledger(path).reservations()
    assert res.state == "lease expired"
    with Ledger(path, budget_usd=0.5).reserve(0.4, "s2 final"):
        pass


# -- one request, paid once -------------------------------------------------------------


def _settings(root, url):
    return config_for(root, backend="openai", openai={"base_url": url, "max_retries": 0})


def _ask(root, url, out):
    os.environ["OPENAI_API_KEY"] = "sk-test-not-a-real-key"
    settings = _settings(root, url)
    request = ImageRequest(
        "generate",
        "gpt-image-2.6-flare",
        "a wet corridor at night",
        1,
        "1024x1024",
        "medium",
        backend=backend_identity(settings),
    )
    got = calls.obtain(
        request,
        settings,
        shot="s1",
        pass_="draft",
        label={"shot": "s1"},
        logger=logging.getLogger("test"),
    )
    out.put(got.cached)


def test_processes_asking_for_one_request_at_once_pay_once(tmp_path, fake_openai):
    fake_openai.latency = 1.0  # every asker arrives while the first is being answered
    ctx = mp.get_context("fork")
    out = ctx.Queue()
    askers = [ctx.Process(target=_ask, args=(tmp_path, fake_openai.url, out)) for _ in range(3)]
    for p in askers:
        p.start()
    for p in askers:
        p.join(60)
        assert p.exitcode == 0
    assert sorted(out.get() for _ in askers) == [False, True, True]
    assert fake_openai.count("/images/generations") == 1
    lines = [json.loads(x) for x in (tmp_path / "runs/ledger.jsonl").read_text().splitlines()]
    assert sorted(e["outcome"] for e in lines) == ["cache_hit", "cache_hit", "paid"]


# -- shared storage paths -----------------------------------------------------------------


def test_cache_and_ledger_live_where_storage_says_for_the_build_and_the_cli(workflow, tmp_path):
    wf = workflow
    shared = tmp_path / "shared"
    config = wf.path("config.yaml")
    config.write_text(
        config.read_text()
        .replace("cache: runs/cache", f"cache: {shared}/cache")
        .replace("ledger: runs/ledger.jsonl", f"ledger: {shared}/ledger.jsonl")
    )
    wf.snakemake("drafts")
    assert not wf.path("runs/cache").exists() and not wf.path("runs/ledger.jsonl").exists()
    lines = [json.loads(x) for x in (shared / "ledger.jsonl").read_text().splitlines()]
    assert [e["outcome"] for e in lines] == ["paid"] * 5
    assert len(list((shared / "cache").glob("*/*/response.json"))) == 5
    # the CLI reads the same ledger: a paid line there is what status adds up
    Ledger(shared / "ledger.jsonl").append(
        {"outcome": "paid", "shot": "s1", "pass": "final", "cost_usd": 0.5, "time": "now"}
    )
    status = json.loads(wf.stillmake("status", "--json").stdout)
    assert status["spent_usd"] == 0.5, status
    again = wf.snakemake("drafts", "-F")  # from the shared cache at $0
    assert "5 cache hit(s)" in again.stderr
