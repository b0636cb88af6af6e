"""Money under faults: for each fault a gateway, a crash or a hand produces, against the
loopback server, what the server billed next to what the ledger holds, whether the
budget refused the request that would have crossed it, and, for a stop, how many
requests reached the server after the signal and how long the wait lasted.

The server bills every answer it generates (tests/fake_openai.py), whether or not the
client could read it; `server $` prices those usages at the 2.x rates
(tests/conftest.py: token_bill), independently of stillmake's pricing code.

    python bench/bench_money.py
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from common import FAKE_KEY, REPO, FakeOpenAI, api_env, machine, snakemake, workflow_copy

from stillmake.api import calls
from stillmake.api.backends.factory import backend_identity
from stillmake.api.cache import Cache
from stillmake.api.ledger import Ledger
from stillmake.api.ratelimit import WINDOW_S, RateLimiter
from stillmake.api.requests import ImageRequest
from stillmake.api.retry import RetryPolicy
from stillmake.errors import StillmakeError
from stillmake.inputs.config import Config, load_config
from tests.conftest import config_for, server_billed

# whole builds, finals included, nobody looking: the opt-out for unattended runs
OPENAI = ["--config", "backend=openai", "final={approval: any}"]
ROWS: list[tuple[str, str, str, str, str]] = []  # fault, server $, ledger $, budget, more


def row(fault: str, server: float | None, ledger: float | None, budget: str, more: str = ""):
    shown = [f"{v:.4f}" if v is not None else "-" for v in (server, ledger)]
    ROWS.append((fault, *shown, budget, more))
    print(f"  {fault}: server {shown[0]}, ledger {shown[1]}, budget {budget} {more}", flush=True)


# -- in-process: the call path on the loopback server ----------------------------------


def settings_on(server: FakeOpenAI, root: Path, budget: float | str = 5.0) -> Config:
    os.environ["OPENAI_API_KEY"] = FAKE_KEY
    os.environ.pop("OPENAI_BASE_URL", None)
    return config_for(
        root,
        backend="openai",
        budget_usd=budget,
        openai={"base_url": server.url, "max_retries": 4},
    )


QUIET = logging.getLogger("bench.money")
QUIET.addHandler(logging.NullHandler())
QUIET.propagate = False


def draft(settings: Config, prompt: str = "a wet corridor at night") -> ImageRequest:
    return ImageRequest(
        "generate", "gpt-image-2.6-flare", prompt, 2, "1536x864", "medium",
        backend=backend_identity(settings),
    )  # fmt: skip


def ask(settings: Config, prompt: str = "a wet corridor at night") -> str | None:
    """Obtain one draft request; the name of the error that stopped it, or None."""
    try:
        calls.obtain(draft(settings, prompt), settings, shot="s1", pass_="draft", label={},
                     logger=QUIET)  # fmt: skip
    except StillmakeError as exc:
        return type(exc).__name__
    return None


def ceiling_row(fault: str, server: FakeOpenAI, settings: Config) -> None:
    """Ask once where the budget should refuse: the figures, and whether it did."""
    refused = ask(settings)
    verdict = f"refused ({refused})" if refused == "BudgetExceeded" else "NOT refused"
    spent = Ledger(settings.ledger_path).spent()
    row(fault, server_billed(server), spent, verdict, f"{server.count()} request(s) sent")


def refused_answers() -> None:
    calls.RetryPolicy = lambda **kw: RetryPolicy(**kw, base_s=0.01, cap_s=0.02)  # quick
    cases = [
        ("2 wrong-size answers, then a good one", "wrong_size", 2),
        ("5 JPEG answers in a row (gave up)", "jpeg", 5),
        ("a truncated PNG, then a good one", "truncated_png", 1),
        ("a body that is not JSON, then a good one", "broken_json", 1),
    ]
    for fault, kind, count in cases:
        with FakeOpenAI() as server:
            settings = settings_on(server, workflow_copy())
            server.corrupt_next(count, kind)
            ask(settings)
            note = "(unreadable usage: priced at the estimate)" if kind == "broken_json" else ""
            row(fault, server_billed(server), Ledger(settings.ledger_path).spent(), "-", note)
    with FakeOpenAI() as server:  # a gateway that keeps sending bad answers
        settings = settings_on(server, workflow_copy())
        estimate = calls.Estimator().estimate(draft(settings)).usd
        settings = dataclasses.replace(settings, budget_usd=round(estimate * 1.5, 6))  # one fits
        server.corrupt_next(5, "wrong_size")
        ceiling_row("wrong-size answers until the ceiling", server, settings)


def bad_figures_and_budget() -> None:
    with FakeOpenAI() as server:
        settings = settings_on(server, workflow_copy(), budget=1.0)
        settings.ledger_path.parent.mkdir(parents=True, exist_ok=True)
        real = {"time": "2026-11-25T10:00:00", "outcome": "paid", "cost_usd": 0.95}
        settings.ledger_path.write_text(
            json.dumps(real) + '\n{"outcome": "paid", "cost_usd": NaN}\n'
            '{"outcome": "paid", "cost_usd": -100}\n'
        )
        ceiling_row("NaN and -100 lines in a $0.95 ledger, budget $1", server, settings)
    wf = workflow_copy()
    refusals = []
    for given in ("", "abc", "nan", "-1"):
        try:
            load_config(overrides=[f"budget_usd={given}"], root=wf)
        except StillmakeError:
            refusals.append(repr(given))
    run = snakemake(wf, "--config", "budget_usd=", check=False)
    said = "empty (an unset shell variable" in run.text and run.proc.returncode != 0
    row(
        "budget_usd= '', abc, nan, -1 (-C) and --config budget_usd=",
        None,
        None,
        f"refused {len(refusals)}/4 + snakemake {'refused' if said else 'NOT refused'}",
    )


def swapped_cache() -> None:
    with FakeOpenAI() as server:
        settings = settings_on(server, workflow_copy())
        ask(settings, "s1: a wet corridor")
        ask(settings, "s2: a red stairwell")
        cache = Cache(settings.cache_dir)
        a, b = sorted(p for p in settings.cache_dir.glob("*/*") if p.parent.name != ".locks")
        a.rename(a.with_name("swap")), b.rename(a), a.with_name("swap").rename(b)
        before = server.count()
        ask(settings, "s1: a wet corridor")
        ask(settings, "s2: a red stairwell")
        aside = len(list((cache.root / ".corrupt").iterdir()))
        row(
            "two cache entries swapped on disk",
            server_billed(server),
            Ledger(settings.ledger_path).spent(),
            "-",
            f"{aside} moved aside, {server.count() - before} asked again, 0 served",
        )


# -- real snakemake processes ------------------------------------------------------------


def start(wf: Path, env: dict, *args: str) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, "-m", "snakemake", *args, *OPENAI],
        cwd=wf, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip


def wait_for(condition, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.02)


def kill_9() -> None:
    wf = workflow_copy()
    with FakeOpenAI(latency=0.6) as server:
        env = api_env(server)
        proc = start(wf, env)
        cached = lambda: len(list(wf.glob("runs/cache/*/*/response.json")))  # noqa: E731
        pending = lambda: sum(1 for r in list(server.requests) if r.status is None)  # noqa: E731
        wait_for(lambda: cached() >= 3 and pending() >= 2)
        time.sleep(0.1)
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        time.sleep(0.8)
        server.latency = 0.0
        snakemake(wf, "--unlock", env=env)
        snakemake(wf, *OPENAI, env=env)
        ledger = Ledger(wf / "runs/ledger.jsonl")
        held = [r for r in ledger.reservations() if r.unsettled]
        before = ledger.spent()
        billed = server.billed()
        for r in held:  # settled as the provider's usage page says
            prompt = Cache(wf / "runs/cache").load(r.fingerprint)[1]["request"]["prompt"]
            asked = sum(1 for rec, _ in billed if rec.prompt == prompt)
            paid = sum(1 for e in ledger.entries() if e.get("fingerprint") == r.fingerprint)
            ledger.release([r.rid], billed=asked > paid)
        row(
            "kill -9 with 2 in flight, resume, settle",
            server_billed(server),
            ledger.spent(),
            f"unsettled ${sum(r.cost_usd for r in held):.4f} counted",
            f"{len(billed)} answers billed; before settling ledger ${before:.4f} + "
            f"{len(held)} unsettled",
        )


def ledger_deleted() -> None:
    wf = workflow_copy()
    path = wf / "runs/ledger.jsonl"
    with FakeOpenAI(latency=0.4) as server:
        env = api_env(server)
        proc = start(wf, env)
        wait_for(lambda: path.exists() and len(path.read_text().splitlines()) >= 3)
        kept = path.read_bytes()
        path.unlink()
        proc.wait()
        stopped = server_billed(server)
        path.write_bytes(kept + (path.read_bytes() if path.exists() else b""))
        row(
            "ledger deleted mid-build, then put back",
            stopped,
            Ledger(path).spent(),
            "paid requests refused" if proc.returncode else "NOT refused",
        )


def signals() -> None:
    for wait, sig in (
        ("rate limiter (window +3600 s)", signal.SIGTERM),
        ("retry back-off (retry-after 45 s)", signal.SIGTERM),
        ("rate limiter (window +3600 s)", signal.SIGINT),
    ):
        wf = workflow_copy()
        with FakeOpenAI() as server:
            env = api_env(server)
            reserved = wf / "runs/.ledger.jsonl.inflight.json"
            if wait.startswith("rate"):
                (wf / "runs/.rate.json").write_text(json.dumps([[time.time() + 3600, 3]]))
                (wf / "extra.yaml").write_text("openai: {images_per_minute: 3}\n")
            else:
                server.fail_next(1, 429, retry_after=45)
                (wf / "extra.yaml").write_text("openai: {max_retries: 4}\n")
            proc = start(wf, env, "runs/drafts/s1/draft_1.png", "--configfile", "extra.yaml")
            wait_for(reserved.exists if wait.startswith("rate") else lambda: server.count() == 1)
            time.sleep(1.0)
            at = time.monotonic()
            os.killpg(proc.pid, sig) if sig == signal.SIGINT else os.kill(proc.pid, sig)
            code = proc.wait(timeout=120)
            took = time.monotonic() - at
            after = sum(1 for r in server.requests if r.time > at)
            left = Ledger(wf / "runs/ledger.jsonl").reservations()
            row(
                f"{sig.name} while waiting on the {wait}",
                server_billed(server),
                Ledger(wf / "runs/ledger.jsonl").spent(),
                "-",
                f"{after} request(s) after the signal, exit {code} in {took:.2f} s, "
                f"{len(left)} reservation(s) left",
            )


def stepped_clock() -> None:
    class Clock:
        now, slept = 1000.0, 0.0

        def time(self) -> float:
            return self.now

        def sleep(self, s: float) -> None:
            self.slept += s
            self.now += s - (100 if self.back else 0)

        back = False

    for label, ahead, back in (("window +3600 s", 3600, False), ("clock steps -100 s", 0, True)):
        clock = Clock()
        clock.back = back
        path = workflow_copy() / "rate.json"
        path.write_text(json.dumps([[clock.now + ahead, 3]]))
        waited = RateLimiter(path, 3).acquire(3, clock=clock.time, sleep=clock.sleep)
        row(
            f"rate limiter, {label}",
            None,
            None,
            "-",
            f"waited {waited:.1f} s (bound {WINDOW_S:.0f} s)",
        )


def main() -> None:
    print(machine())
    os.chdir(REPO)
    for part in (refused_answers, bad_figures_and_budget, swapped_cache, kill_9, ledger_deleted,
                 signals, stepped_clock):  # fmt: skip
        print(f"-- {part.__name__}", flush=True)
        part()
    width = max(len(r[0]) for r in ROWS)
    print(f"\n{'fault':<{width}}  {'server $':>9}  {'ledger $':>9}  budget / more")
    for fault, server, ledger, budget, more in ROWS:
        print(f"{fault:<{width}}  {server:>9}  {ledger:>9}  {budget}  {more}".rstrip())


if __name__ == "__main__":
    main()
