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

# finals without a person looking: the explicit opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]


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


def _reserve_and_die(path, cost, what, sent):
    ledger = Ledger(path, budget_usd=10)
    line = {"shot": what.split()[0], "pass": what.split()[1], "fingerprint": FINGERPRINT}
    with ledger.reserve(cost, what, line=line) as hold:
        if sent:
            hold.sending()  # the request left: the API may bill it
        os._exit(0)  # killed mid-request: the reservation is never released


FINGERPRINT = "f1e2d3c4b5a6978877665544"


def leave_dead_reservation(
    path, cost=0.3, what="s1 final (1× sunburst high 2560x1440)", *, sent=False
):
    """A reservation whose process died: before its request was sent (it holds nothing),
    or with it sent (`sent`: unsettled, it may have been billed)."""
    proc = mp.get_context("fork").Process(target=_reserve_and_die, args=(path, cost, what, sent))
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


# -- figures that cannot be counted ---------------------------------------------------------

BAD_FIGURES = [  # (the line as written, what the warning names)
    ('{"outcome": "paid", "shot": "s2", "cost_usd": NaN}', "cost_usd is NaN"),
    (line(record(3, cost=-100)).strip(), "cost_usd is -100"),
    (line({**record(4), "cost_usd": "lots"}).strip(), 'cost_usd is "lots", not a number'),
    ('{"outcome": "paid", "cost_usd": Infinity}', "cost_usd is inf"),
    (line({**record(6), "usage": {"output_tokens": -5}}).strip(), "usage.output_tokens is -5"),
    (
        '{"outcome": "paid", "cost_usd": 0.1, "usage": '
        '{"input_tokens_details": {"image_tokens": NaN}}}',
        "usage.input_tokens_details.image_tokens is NaN",
    ),
    (line({**record(8), "estimate_usd": True}).strip(), "estimate_usd is True, not a number"),
]


def bad_figures_ledger(path, first_cost=0.5):
    text = line(record(1, cost=first_cost)) + "".join(raw + "\n" for raw, _ in BAD_FIGURES)
    return write_ledger(path, text)


def test_figures_that_cannot_be_counted_are_refused_by_line_number(tmp_path):
    ledger = Ledger(bad_figures_ledger(tmp_path / "ledger.jsonl"), budget_usd=1.0)
    read = ledger.read()
    assert [e["shot"] for e in read.entries] == ["s1"]
    assert [(d.line, d.kind) for d in read.damaged] == [
        (n, "bad figure") for n in range(2, 2 + len(BAD_FIGURES))
    ]
    assert [d.detail for d in read.damaged] == [words for _, words in BAD_FIGURES]
    assert ledger.spent() == 0.5  # neither NaN nor -100 reaches the total
    # the ceiling holds: 0.5 spent + 0.6 > 1.0 (NaN would have let it through, -100 too)
    with pytest.raises(BudgetExceeded, match=r"spent \$0\.500"):
        with ledger.reserve(0.6, "s9 draft"):
            pass
    summary = build_summary(ledger, "2026-11-25T10:00:00")
    assert "ledger total $0.500 of budget $1.00" in summary and "$nan" not in summary
    assert "line 2: cost_usd is NaN, which is not a bill (edited by hand?): refused" in summary


def test_a_bad_figure_cannot_switch_the_budget_off_in_a_build(workflow, fake_openai):
    """The issue's case: with a NaN (or a -100) line in the ledger, plan says over budget
    and the build refuses the draft that would cross the ceiling; nothing is paid."""
    wf = workflow
    bad_figures_ledger(wf.path("runs/ledger.jsonl"), first_cost=0.95)
    env = wf.openai_env(fake_openai)
    proc = wf.stillmake("plan", "-C", "backend=openai", "-C", "budget_usd=1", env=env, check=False)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert "over budget: $0.950 spent + $" in proc.stderr
    assert "runs/ledger.jsonl line 2: cost_usd is NaN, which is not a bill" in proc.stderr
    assert "runs/ledger.jsonl line 3: cost_usd is -100" in proc.stderr
    build = wf.snakemake(
        "runs/drafts/s1/draft_1.png", *OPENAI, "budget_usd=1", env=env, check=False
    )
    assert build.returncode != 0 and fake_openai.count() == 0
    assert "would cost $0.1" in build.stderr and "spent $0.950" in build.stderr
    assert "ledger total $0.950 of budget $1.00" in build.stderr
    assert "$nan" not in build.stderr


# -- budget_usd: a number, or refused ------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "words"),
    [
        ("", "empty (an unset shell variable in --config budget_usd=$VAR?)"),
        ("abc", "'abc' is not a number"),
        ("nan", "'nan' is not a number"),
        (".nan", "nan is not a finite number"),
        (".inf", "inf is not a finite number"),
        ("-1", "-1 is less than the minimum of 0"),
        ("null", "empty"),
        ("true", "True is not a number"),
    ],
)
def test_budget_usd_is_a_number_or_one_line(tmp_path, given, words):
    from stillmake.errors import InputError
    from stillmake.inputs.config import load_config

    config = tmp_path / "config.yaml"
    config.write_text("prompts: p.json\nselections: s.yaml\n")
    with pytest.raises(InputError) as err:  # from the command line (-C / --config)
        load_config(overrides=[f"budget_usd={given}"], root=tmp_path)
    message = str(err.value)
    assert "\n" not in message and "key 'budget_usd'" in message and words in message, message
    assert "budget_usd=unlimited for none" in message
    config.write_text(f"prompts: p.json\nselections: s.yaml\nbudget_usd: {given}\n")
    with pytest.raises(InputError, match="key 'budget_usd'"):  # from config.yaml
        load_config(root=tmp_path)


def test_no_ceiling_is_only_the_word_unlimited(tmp_path):
    from stillmake.inputs.config import load_config

    config = tmp_path / "config.yaml"
    config.write_text("prompts: p.json\nselections: s.yaml\n")
    assert load_config(root=tmp_path).budget_usd == 5.0  # the schema's default
    assert load_config(overrides=["budget_usd=unlimited"], root=tmp_path).budget_usd is None


def test_an_empty_budget_on_the_command_line_stops_the_build(workflow):
    """`snakemake --config budget_usd=$UNSET` used to remove the ceiling silently."""
    proc = workflow.snakemake("--config", "budget_usd=", check=False, timeout=60)
    assert proc.returncode != 0 and "Traceback" not in proc.stderr
    assert "key 'budget_usd': empty (an unset shell variable" in proc.stderr, proc.stderr
    assert not workflow.path("runs/drafts").exists()
    cli = workflow.stillmake("plan", "-C", "budget_usd=abc", check=False)
    assert cli.returncode == 1 and "key 'budget_usd': 'abc' is not a number" in cli.stderr
    assert len(cli.stderr.strip().splitlines()) == 1, cli.stderr


# -- money that may have been spent stays spent -----------------------------------------------


def test_a_request_sent_by_a_process_that_died_stays_counted(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3, what="s1 final (1× high)", sent=True)
    ledger = Ledger(path, budget_usd=0.5)
    (res,) = ledger.reservations()
    assert res.state == "process gone" and res.unsettled and res.counted
    assert res.fingerprint == FINGERPRINT and res.shown_state == "process gone, unsettled"
    with pytest.raises(BudgetExceeded) as err:
        with ledger.reserve(0.4, "s2 final"):
            pass
    msg = str(err.value)
    assert "+ $0.000 in flight + $0.300 unsettled of budget_usd $0.50" in msg, msg
    assert f"`stillmake release {rid[:8]} --billed` (or --not-billed) settles it" in msg
    with ledger.reserve(0.1, "s3 draft") as settle:  # a new reservation keeps it
        settle(record(3, cost=0.1))
    assert [r.rid for r in ledger.reservations()] == [rid]
    # `release --stale` alone never lowers the total: it says how much either way
    released, refusals = ledger.release(stale=True)
    assert released == [] and len(refusals) == 1
    assert "is unsettled: its process died with the request sent" in refusals[0]
    assert f"`stillmake release {rid[:8]} --billed` writes $0.300 into the ledger" in refusals[0]
    assert "`--not-billed` lowers the spend total by $0.300" in refusals[0]
    assert ledger.spent() == 0.1
    released, refusals = ledger.release(stale=True, billed=False)
    assert [r.rid for r in released] == [rid] and refusals == []
    (settled,) = [e for e in ledger.entries() if e["outcome"] == "settled"]
    assert settled["settled_as"] == "not billed" and settled["cost_usd"] == 0
    assert settled["fingerprint"] == FINGERPRINT and settled["shot"] == "s1"
    assert ledger.reservations() == [] and ledger.spent() == 0.1


def test_an_answer_kept_before_its_process_died_settles_it_from_the_cache(tmp_path):
    path = tmp_path / "ledger.jsonl"
    rid, _ = leave_dead_reservation(path, cost=0.3, sent=True)
    ledger = Ledger(path, budget_usd=5)
    kept = {"reservation": rid, "cost_usd": 0.27, "usage": {"output_tokens": 9000}}
    # an answer kept by another reservation (a later build paid again) settles nothing
    other = {**kept, "reservation": "f" * 32}
    assert ledger.recover(lambda fp: other if fp == FINGERPRINT else None) == []
    (res,) = ledger.recover(lambda fp: kept if fp == FINGERPRINT else None)
    assert res.rid == rid and ledger.reservations() == []
    (paid,) = ledger.entries()
    assert paid["outcome"] == "paid" and paid["cost_usd"] == 0.27
    assert paid["fingerprint"] == FINGERPRINT and paid["recovered"].startswith("from the cache")


def test_status_plan_and_release_show_and_settle_an_unsettled_request(workflow):
    path = workflow.path("runs/ledger.jsonl")
    rid, pid = leave_dead_reservation(path, cost=0.3, what="s1 final (1× high)", sent=True)
    for command in ("status", "plan"):
        proc = workflow.stillmake(command)
        assert re.search(
            rf"{rid[:8]}\s+\$0\.300\s+s1 final \(1× high\)\s+{pid}\s.*process gone, unsettled"
            rf"\s+\S+\s+{FINGERPRINT[:12]}",
            proc.stdout,
        ), proc.stdout
        assert "in flight (budget held: $0.300)" in proc.stdout
        assert "`unsettled`: its process died with the request sent" in proc.stdout
        assert (
            f"warning: unsettled $0.300: 1 request(s) a dead process had in flight ({rid[:8]} "
            f"s1 final request {FINGERPRINT[:12]}) count as spent until settled" in proc.stderr
        ), proc.stderr
    status = json.loads(workflow.stillmake("status", "--json").stdout)
    assert status["unsettled_usd"] == 0.3 and status["inflight"][0]["unsettled"] is True
    plan = json.loads(workflow.stillmake("plan", "--json").stdout)
    assert plan["unsettled_usd"] == 0.3 and plan["inflight_usd"] == 0.3

    proc = workflow.stillmake("release", "--stale", check=False)
    assert proc.returncode == 1 and len(proc.stderr.strip().splitlines()) == 1
    assert "lowers the spend total by $0.300" in proc.stderr
    proc = workflow.stillmake("release", "--stale", "--billed")
    assert f"released {rid[:8]}" in proc.stdout
    assert "settled as billed, $0.300 written to runs/ledger.jsonl" in proc.stdout
    status = json.loads(workflow.stillmake("status", "--json").stdout)
    assert status["spent_usd"] == 0.3 and status["inflight"] == []


# -- a ledger swapped from under a build ---------------------------------------------------


def test_a_ledger_deleted_replaced_or_cut_short_stops_the_next_paid_request(tmp_path):
    path = tmp_path / "ledger.jsonl"
    ledger = Ledger(path, budget_usd=5)
    ledger.anchor()  # a build starts
    for i in (1, 2, 3):
        with ledger.reserve(0.1, f"s{i} draft") as settle:
            settle(record(i, cost=0.1))
    kept = path.read_bytes()

    def refused(words, held="3 line(s), $0.300"):
        with pytest.raises(LedgerError) as err:
            with ledger.reserve(0.1, "s9 draft"):
                pass
        message = str(err.value)
        assert "\n" not in message and f"{ledger.shown} was {words}" in message, message
        assert f"it held {held}" in message, message
        assert "no paid request goes out. Put the file back" in message
        return message

    path.unlink()
    assert "and now is missing" in refused("deleted while a build was writing it")
    ledger.append(record(4, cost=0.0, outcome="cache_hit"))  # a $0 line: still refused
    refused("cut short or replaced")
    path.write_bytes(kept + path.read_bytes())  # put back, the line written since at its end
    with ledger.reserve(0.1, "s5 draft") as settle:
        settle(record(5, cost=0.1))
    grown = path.read_bytes()
    path.write_bytes(grown.replace(b'"s1"', b'"s7"'))  # replaced: same size, other lines
    refused("replaced", held="5 line(s), $0.400")
    path.write_bytes(grown[: len(grown) // 2])
    assert "holds" in refused("cut short or replaced", held="5 line(s), $0.400")
    ledger.anchor()  # the next build counts from the ledger as it is now
    with ledger.reserve(0.1, "s6 draft"):
        pass
