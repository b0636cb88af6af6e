"""A two-sided fuzz of selections.yaml: an editor saving (temp file renamed over it, as
editors do) over and over, against `stillmake pick/waive` (the CLI's own code, in
a process of its own), review board clicks (a real board server, over HTTP, in a third)
and the library's write in a tight loop (a fourth), for a bounded time. Every
hand-saved line must be in the file at the end, every board step and every reroll
exactly once, the CLI's last decisions in force. (A writer with the old check-then-
rename window loses hand-saved lines here.) About 25 s."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

from stillmake.inputs.selections import load_selections
from tests.bad_inputs import SELECTIONS
from tests.inputs.test_selections_safety import SHOTS, fake_drafts

SAVES = 700
# the editor saves in bursts (0-20 ms apart, 10 to 40 saves), then pauses 0.25-0.5 s: far
# faster than a person, and the pauses let writes of a file growing to 1000 lines land

# An editor with a careful save (vim's "file changed since reading"): it reads the file,
# adds its line, and renames its new file over the old one only if the old one is still
# what it read; otherwise it reads again.
EDITOR = r"""
import json, os, random, sys, time
path, saves, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
rng, times, burst = random.Random(22), [], 0
for i in range(saves):
    while True:
        with open(path, "rb") as fh:
            before = os.fstat(fh.fileno()); text = fh.read()
        tmp = path + ".swp"
        with open(tmp, "wb") as fh:
            fh.write(text + f"# hand {i}\n".encode())
        now = os.stat(path)
        same = lambda st: (st.st_ino, st.st_mtime_ns, st.st_size)
        if same(now) == same(before):
            os.rename(tmp, path); times.append(time.monotonic()); break
    burst -= 1
    if burst <= 0:
        time.sleep(rng.uniform(0.1, 0.4)); burst = rng.randint(5, 30)
    else:
        time.sleep(rng.random() * 0.02)
json.dump(times, open(out, "w"))
"""

# `stillmake pick s2 K` and `stillmake waive s1 identity WHY`, the CLI's code in-process.
CLI = r"""
import json, os, sys, time
from click.testing import CliRunner
from stillmake.cli.main import cli
stop, out = sys.argv[1], sys.argv[2]
runs, i = [], 0
while not os.path.exists(stop):
    waive = ["waive", "s1", "identity", f"fuzz {i}"]
    args = ["pick", "s2", str(1 + i % 3)] if i % 2 == 0 else waive
    started = time.monotonic()
    result = CliRunner().invoke(cli, args)
    runs.append({"args": args, "start": started, "end": time.monotonic(),
                 "ok": result.exit_code == 0, "out": result.output[-300:]})
    i += 1
json.dump(runs, open(out, "w"))
"""

# The library's one write path, called directly in a tight loop (more writes, so more
# of them meet a save): s4's reroll one up each time, so a write lost or made twice shows.
LIBRARY = r"""
import json, os, sys, time
from stillmake.inputs.selections.write import Author, update_selections
from stillmake.inputs.selections.write import reroll_change
stop, out = sys.argv[1], sys.argv[2]
path, runs = "runs/input/selections.yaml", []
while not os.path.exists(stop):
    started = time.monotonic()
    try:
        update_selections(path, reroll_change("s4", path), author=Author("cli", "reroll s4"))
        ok, why = True, ""
    except Exception as exc:
        ok, why = False, str(exc)
    runs.append({"start": started, "end": time.monotonic(), "ok": ok, "out": why})
json.dump(runs, open(out, "w"))
"""

# Board clicks: a real board on 127.0.0.1 and a client adding numbered edit steps to s3.
BOARD = r"""
import http.cookiejar, json, os, sys, time, urllib.error, urllib.request
from stillmake.board.app import create_app
from stillmake.board.server import Board
stop, out = sys.argv[1], sys.argv[2]
board = Board(create_app(token="fuzz"), 0).start()
jar = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
browser = urllib.request.build_opener(jar)
browser.open(board.open_url, timeout=30).read()
runs, i = [], 0
while not os.path.exists(stop):
    body = json.dumps({"shot": "s3", "change": f"fuzz step {i}"}).encode()
    req = urllib.request.Request(board.url + "api/edit", data=body,
                                 headers={"Content-Type": "application/json"})
    started = time.monotonic()
    try:
        answer = json.loads(browser.open(req, timeout=60).read()); ok = True
    except urllib.error.HTTPError as exc:
        answer = json.loads(exc.read()); ok = False
    runs.append({"step": i, "start": started, "end": time.monotonic(), "ok": ok,
                 "out": answer.get("error", "")})
    i += 1
board.stop()
json.dump(runs, open(out, "w"))
"""


def test_editor_saves_against_cli_and_board_writes_lose_nothing(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    fake_drafts(workflow.root, SHOTS)
    sel = workflow.path(SELECTIONS)
    names = ("editor", "cli", "board", "library")
    results = {name: workflow.root / f"{name}.json" for name in names}
    stop = workflow.root / "stop"
    env = workflow.env(PYTHONPATH=str(os.getcwd()))
    started = time.monotonic()
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", code, str(stop), str(results[name])],
            cwd=workflow.root,
            env=env,
        )
        for name, code in (("cli", CLI), ("board", BOARD), ("library", LIBRARY))
    ]
    time.sleep(1.0)  # both writers under way before the first save
    editor = subprocess.run(
        [sys.executable, "-c", EDITOR, str(sel), str(SAVES), str(results["editor"])],
        timeout=120,
    )
    stop.touch()
    for proc in writers:
        assert proc.wait(timeout=120) == 0
    elapsed = time.monotonic() - started
    assert editor.returncode == 0
    saves = json.loads(results["editor"].read_text())
    cli = json.loads(results["cli"].read_text())
    board = json.loads(results["board"].read_text())
    library = json.loads(results["library"].read_text())
    writes = cli + board + library
    # interleavings: (save, write) pairs, the save landing while the write was running
    racing = sum(w["start"] <= t <= w["end"] for w in writes for t in saves)
    refused = [w["out"] for w in writes if not w["ok"]]
    print(
        f"\nfuzz: {len(saves)} editor saves; {racing} interleavings (a save landing while a "
        f"write ran); {sum(w['ok'] for w in cli)} CLI, {sum(w['ok'] for w in board)} board and "
        f"{sum(w['ok'] for w in library)} library writes landed, {len(refused)} gave up (file "
        f"kept changing); {elapsed:.1f} s"
    )

    text = sel.read_text(encoding="utf-8")
    lost = [i for i in range(SAVES) if f"# hand {i}\n" not in text]
    got = load_selections(SELECTIONS, shots=SHOTS, draft_n=3)
    steps = [e.change for e in got["s3"].edits if e.change.startswith("fuzz step")]
    landed = [f"fuzz step {w['step']}" for w in board if w["ok"]]
    last_pick = next(int(w["args"][2]) for w in reversed(cli) if w["ok"] and w["args"][0] == "pick")
    last_waiver = next(w["args"][3] for w in reversed(cli) if w["ok"] and w["args"][0] == "waive")
    print(
        f"fuzz: hand-saved lines lost {len(lost)}, board steps lost or doubled "
        f"{len(set(landed) ^ set(steps)) + len(steps) - len(set(steps))}"
    )
    assert lost == []
    assert steps == landed  # every landed click once, in order; none that was refused
    assert (got["s2"].pick, got["s1"].waive["identity"]) == (last_pick, last_waiver)
    assert got["s4"].reroll == sum(w["ok"] for w in library)  # each once, none lost
    assert all("kept changing" in why for why in refused), refused[:3]
    assert racing >= 1000 and min(sum(w["ok"] for w in ws) for ws in (cli, board, library)) >= 3
    assert elapsed < 90
