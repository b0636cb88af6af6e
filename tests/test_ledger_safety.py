"""The ledger and its budget reservations survive torn state: nothing recorded is lost
or rewritten, nothing crashes, and the user is told what is wrong and what to do."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import re
import socket

import pytest

from stillmake.api.ledger import Ledger, process_start
from stillmake.errors import BudgetExceeded, LedgerError
from stillmake.views.spend import build_summary

OPENAI = ["--config", "backend=openai"]


def record(i, cost=0.01, outcome="paid"):
    return {"time": f"2026-11-25T10:00:{i:02d}.000+00:00", "shot": f"s{i}", "outcome": outcome,
            "cost_usd": cost, "build": "b1"}  # fmt: skip


def line(entry):
    return json.dumps(entry, sort_keys=True) + "\n"


def torn(entry):
    """The first half of a ledger line: what a crash or a full disk leaves behind."""
    text = line(entry)
    return text[: len(text) // 2]


def write_ledger(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(text.encode("utf-8"))
    return path


# -- torn lines: readers ---------------------------------------------------------------


def test_torn_tail_is_reported_and_the_next_line_starts_fresh(tmp_path):
    path = write_ledger(
        tmp_path / "ledger.jsonl", line(record(1)) + line(record(2)) + torn(record(3))
    )
    before = path.read_bytes()
    ledger = Ledger(path)
    read = ledger.read()
    assert [e["shot"] for e in read.entries] == ["s1", "s2"]
    assert [(d.line, d.kind) for d in read.damaged] == [(3, "torn tail")]
    assert ledger.spent() == pytest.approx(0.02)

    ledger.append(record(4, cost=0.5))
    after = path.read_bytes()
    assert after.startswith(before)  # nothing recorded was lost or rewritten
    lines = after.decode().splitlines()
    assert len(lines) == 4 and json.loads(lines[3])["shot"] == "s4"  # not glued onto line 3
    read = ledger.read()
    assert [e["shot"] for e in read.entries] == ["s1", "s2", "s4"]
    # once a record follows it, the torn line is a torn line in the middle
    assert [(d.line, d.kind) for d in read.damaged] == [(3, "torn")]
    assert ledger.spent() == pytest.approx(0.52)


def test_torn_line_in_the_middle_is_skipped_and_named(tmp_path):
    path = write_ledger(
        tmp_path / "ledger.jsonl",
        line(record(1)) + torn(record(2)) + "\n" + line(record(3)) + "\x00\x00\x00\n"
        # an old writer glued a whole record onto a torn one: the record is kept
        + torn(record(4)) + line(record(5))
        + line({"shot": "s6", "outcome": "paid", "cost_usd": "lots"})  # not a ledger record
        + line(record(7)),
    )  # fmt: skip
    read = Ledger(path).read()
    assert [e["shot"] for e in read.entries] == ["s1", "s3", "s5", "s7"]
    assert [d.line for d in read.damaged] == [2, 4, 5, 6]
    assert read.damaged[2].salvaged  # line 5: the record written onto the torn one survives
    assert Ledger(path).spent() == pytest.approx(0.04)


def test_a_complete_last_line_without_newline_is_kept(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", line(record(1)) + line(record(2)).rstrip("\n"))
    ledger = Ledger(path)
    assert [e["shot"] for e in ledger.entries()] == ["s1", "s2"] and ledger.read().damaged == []
    ledger.append(record(3))
    assert [json.loads(x)["shot"] for x in path.read_text().splitlines()] == ["s1", "s2", "s3"]


def test_paid_request_and_end_of_build_summary_on_a_torn_ledger(tmp_path):
    path = write_ledger(tmp_path / "ledger.jsonl", line(record(1)) + torn(record(2)))
    ledger = Ledger(path, budget_usd=1.0)
    with ledger.reserve(0.2, "s3 draft") as settle:
        settle(record(3, cost=0.2))
    summary = build_summary(ledger, "2026-11-25T10:00:00")
    assert "ledger total $0.210" in summary
    assert re.search(r"ledger\.jsonl line 2: torn .*skipped", summary), summary
    assert "Traceback" not in summary


def test_a_write_that_fails_says_so_in_one_line(tmp_path, monkeypatch):
    path = write_ledger(tmp_path / "ledger.jsonl", line(record(1)))
    ledger = Ledger(path)
    real_write = os.write

    def full_disk(fd, data):  # the disk fills up half way through the line
        if len(data) > 10:
            return real_write(fd, data[: len(data) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(os, "write", full_disk)
    with pytest.raises(LedgerError) as err:
        ledger.append(record(2))
    monkeypatch.undo()
    msg = str(err.value)
    assert "\n" not in msg and "could not record s2" in msg
    assert "No space left on device. Free the disk or fix the permissions, then run again" in msg
    read = ledger.read()
    assert read.entries == [record(1)] and [(d.line, d.kind) for d in read.damaged] == [
        (2, "torn tail")
    ]
    ledger.append(record(3))  # space again: the next record starts on a fresh line
    assert [e["shot"] for e in ledger.entries()] == ["s1", "s3"]


# -- torn lines: the CLI and a real build ---------------------------------------------------


def test_status_and_plan_warn_about_a_torn_line_with_its_number(workflow):
    ledger = workflow.path("runs/ledger.jsonl")
    write_ledger(
        ledger, line(record(1)) + torn(record(2)) + "\n" + line(record(3)) + torn(record(4))
    )
    for command in (["status"], ["plan"], ["status", "--json"], ["plan", "--json"]):
        proc = workflow.stillmake(*command, check=False)
        assert proc.returncode == 0, proc.stderr
        assert "Traceback" not in proc.stderr
        for n in (2, 4):
            assert f"warning: runs/ledger.jsonl line {n}: torn" in proc.stderr, proc.stderr
        assert "line 2: torn (a write cut short by a crash or a full disk), skipped" in proc.stderr
        assert "line 4: torn tail (a write cut short" in proc.stderr
        assert "to silence this, delete line 2 of runs/ledger.jsonl while no build runs" in (
            proc.stderr
        )
    status = json.loads(workflow.stillmake("status", "--json").stdout)
    assert status["spent_usd"] == pytest.approx(0.02)
    assert [d["line"] for d in status["ledger_damaged"]] == [2, 4]


def test_build_against_the_api_goes_on_past_a_torn_ledger(workflow, fake_openai):
    wf = workflow
    env = wf.openai_env(fake_openai)
    wf.snakemake("runs/drafts/s1/draft_1.png", *OPENAI, env=env)
    path = wf.path("runs/ledger.jsonl")
    (first,) = path.read_text().splitlines()
    with open(path, "a", encoding="utf-8") as fh:  # a crash mid-write: half a line, no "\n"
        fh.write(first[: len(first) // 2])
    before = path.read_bytes()

    proc = wf.snakemake(*OPENAI, env=env, check=False)
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "Traceback" not in proc.stderr
    assert "runs/ledger.jsonl line 2: torn" in proc.stderr  # said by the end-of-build summary
    after = path.read_bytes()
    assert after.startswith(before)
    lines = after.decode().splitlines()
    assert lines[1] == first[: len(first) // 2]  # the torn line is left as it was
    records = [json.loads(x) for x in lines[:1] + lines[2:]]  # every other line parses
    paid = [e for e in records if e["outcome"] == "paid"]
    assert len(paid) == 12 and fake_openai.count() == 12
    status = wf.stillmake("status", env=env)
    assert "runs/ledger.jsonl line 2: torn" in status.stderr


# -- reservations ------------------------------------------------------------------------


def _reserve_and_die(path, cost, what):
    ledger = Ledger(path, budget_usd=10)
    with ledger.reserve(cost, what):
        os._exit(0)  # killed mid-request: the reservation is never released


def leave_dead_reservation(path, cost=0.3, what="s1 final (1× sunburst high 2560x1440)"):
    proc = mp.get_context("fork").Process(target=_reserve_and_die, args=(path, cost, what))
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0
    (rid,) = [
        rid for rid, r in inflight_file(path).items() if r["pid"] == proc.pid and r["what"] == what
    ]
    return rid, proc.pid


def inflight_file(path):
    return json.loads(path.with_name(f".{path.name}.inflight.json").read_text())


def edit_reservation(path, rid, new_rid=None, **changes):
    """Change a stored reservation (or, with `new_rid`, add a changed copy of it)."""
    data = inflight_file(path)
    data[new_rid or rid] = {**data[rid], **changes}
    path.with_name(f".{path.name}.inflight.json").write_text(json.dumps(data))


def test_a_reservation_records_who_made_it(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl", budget_usd=1)
    with ledger.reserve(0.2, "s1 draft"):
        (r,) = inflight_file(ledger.path).values()
        assert r["pid"] == os.getpid() and r["host"] == socket.gethostname()
        assert r["what"] == "s1 draft" and r["cost_usd"] == 0.2
        assert r["started"] == process_start(os.getpid()) is not None
        (res,) = ledger.reservations()
        assert res.state == "running" and res.counted


def test_a_reservation_whose_pid_was_reused_does_not_block(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3)
    # its pid now belongs to another live process: this one (or PID 1 in a container)
    edit_reservation(path, rid, pid=os.getpid())
    ledger = Ledger(path, budget_usd=0.5)
    (res,) = ledger.reservations()
    assert res.state == "pid reused" and not res.counted
    with ledger.reserve(0.4, "s2 final") as settle:  # 0.3 + 0.4 > 0.5 if it still counted
        settle(record(2, cost=0.4))
    assert ledger.reservations() == []  # a dead reservation is dropped by the next one
    # an old reservation without a start time, older than the process now holding its pid
    rid, _ = leave_dead_reservation(path, cost=0.3)
    edit_reservation(path, rid, pid=1, started=None, time=0.0)
    (res,) = ledger.reservations()
    assert res.state == "pid reused" and not res.counted


def test_a_reservation_of_a_dead_process_does_not_block(tmp_path):
    path = tmp_path / "ledger.jsonl"
    leave_dead_reservation(path, cost=0.3)
    ledger = Ledger(path, budget_usd=0.5)
    (res,) = ledger.reservations()
    assert res.state == "process gone" and not res.counted
    with ledger.reserve(0.4, "s2 final") as settle:
        settle(record(2, cost=0.4))


def test_budget_refusal_names_what_is_in_flight_and_how_to_clear_it(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3)
    # made on another machine sharing runs/ by a version without leases: its pid cannot be
    # judged from here
    edit_reservation(path, rid, host="render-node-7", lease_until=None, pid=os.getpid())
    ledger = Ledger(path, budget_usd=0.5)
    (res,) = ledger.reservations()
    assert res.state == "other host" and res.counted
    with pytest.raises(BudgetExceeded) as err:
        with ledger.reserve(0.4, "s2 final"):
            pass
    msg = str(err.value)
    assert "\n" not in msg
    assert "$0.300 in flight" in msg
    assert f"{rid[:8]} $0.300 s1 final" in msg and "on render-node-7" in msg
    assert f"stillmake release {rid[:8]} --force` clears it" in msg
    assert "If a request in flight is not running any more (a killed build)" in msg


# -- reservations: status, plan, release ----------------------------------------------------


def test_status_and_plan_list_reservations_in_flight(workflow):
    path = workflow.path("runs/ledger.jsonl")
    ledger = Ledger(path, budget_usd=5)
    with ledger.reserve(0.105, "s2 draft"):
        (live,) = [r.rid for r in ledger.reservations() if r.state == "running"]
        remote, _ = leave_dead_reservation(path, cost=0.2, what="s3 edit 1")
        edit_reservation(path, remote, host="render-node-7", lease_until=None)
        # (a new reservation drops the dead ones it finds: this one is made last)
        dead, dead_pid = leave_dead_reservation(path, cost=0.3, what="s1 final")
        # and one whose pid now belongs to another process (PID 1 in a container)
        reused = "ab" * 16
        edit_reservation(path, dead, new_rid=reused, pid=1, what="s5 final", cost_usd=0.4)
        for command in ("status", "plan"):
            out = workflow.stillmake(command).stdout
            assert re.search(
                rf"{live[:8]}\s+\$0\.105\s+s2 draft\s+{os.getpid()}\s+"
                rf"{re.escape(socket.gethostname())}\s+\d+s\s+running",
                out,
            ), out
            assert re.search(rf"{dead[:8]}\s+\$0\.300\s+s1 final\s+{dead_pid}\s.*process gone", out)
            assert re.search(
                rf"{remote[:8]}\s+\$0\.200\s+s3 edit 1\s.*render-node-7.*other host", out
            )
            assert re.search(r"abababab\s+\$0\.400\s+s5 final\s+1\s.*pid reused", out), out
            assert re.search(r"in flight \(budget held: \$0\.305\)", out), out  # live + remote
            assert "stillmake release --stale" in out and "stillmake release RID --force" in out
        status = json.loads(workflow.stillmake("status", "--json").stdout)
        assert {r["rid"]: r["state"] for r in status["inflight"]} == {
            live: "running",
            dead: "process gone",
            remote: "other host",
            reused: "pid reused",
        }
        assert status["inflight_usd"] == pytest.approx(0.305)


def test_release_clears_stale_reservations_and_refuses_live_ones(workflow):
    path = workflow.path("runs/ledger.jsonl")
    ledger = Ledger(path, budget_usd=5)
    assert "--stale" in workflow.stillmake("release", "--help").stdout
    with ledger.reserve(0.105, "s2 draft"):
        (live,) = [r.rid for r in ledger.reservations() if r.state == "running"]
        remote, _ = leave_dead_reservation(path, cost=0.2, what="s3 edit 1")
        edit_reservation(path, remote, host="render-node-7", lease_until=None)
        dead, _ = leave_dead_reservation(path, cost=0.3, what="s1 final")

        proc = workflow.stillmake("release", "--stale")
        assert f"released {dead[:8]}" in proc.stdout
        assert set(inflight_file(path)) == {live, remote}

        for rid, words in (
            (live, f"is held by pid {os.getpid()}, which is still running (a build in progress?)"),
            (remote, "which cannot be checked from here; if that request is not running there"),
        ):
            proc = workflow.stillmake("release", rid[:8], check=False)
            assert proc.returncode == 1 and "Traceback" not in proc.stderr
            assert words in proc.stderr and f"stillmake release {rid[:8]} --force" in proc.stderr
            assert len(proc.stderr.strip().splitlines()) == 1, proc.stderr
        assert set(inflight_file(path)) == {live, remote}

        proc = workflow.stillmake("release", "nope1234", check=False)
        assert proc.returncode == 1 and "no reservation nope1234" in proc.stderr

        workflow.stillmake("release", remote[:8], "--force")
        assert set(inflight_file(path)) == {live}
        workflow.stillmake("release", "--all", "--force")
        assert inflight_file(path) == {}
    # the live request settles normally after its reservation was cleared under it
    assert ledger.reservations() == []


def test_without_proc_a_pid_is_judged_by_whether_it_exists(tmp_path, monkeypatch):
    import stillmake.api.reservations as reservations_module

    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, budget_usd=1)
    with ledger.reserve(0.1, "s2 draft"):
        leave_dead_reservation(path, cost=0.3, what="s1 final")
        monkeypatch.setattr(reservations_module, "PROC", tmp_path / "no-proc")  # as on macOS
        assert process_start(os.getpid()) is None
        states = {r.what: r.state for r in ledger.reservations()}
        assert states == {"s2 draft": "running", "s1 final": "process gone"}


def test_plan_counts_the_budget_held_in_flight(workflow):
    path = workflow.path("runs/ledger.jsonl")
    remote, _ = leave_dead_reservation(path, cost=4.5, what="s1 final")
    edit_reservation(path, remote, host="render-node-7", lease_until=None)
    proc = workflow.stillmake("plan", "-C", "backend=openai", check=False)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert re.search(
        r"over budget: \$0\.000 spent \+ \$4\.500 in flight \+ \$\d+\.\d{3} planned > "
        r"budget_usd \$5\.00; see `stillmake status` for what is in flight",
        proc.stderr,
    ), proc.stderr
    assert "in flight $4.500" in proc.stdout
