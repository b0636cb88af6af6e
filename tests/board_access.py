"""Helpers for the board's access tests: a `stillmake review` process and its printed
URL, a browser (urllib with cookies) of the account that started it, and a probe run
as another real local account (`nobody`, through `runuser`)."""

from __future__ import annotations

import contextlib
import http.cookiejar
import json
import subprocess
import sys
import urllib.request
from collections.abc import Iterator

OTHER = "nobody"
# run as the other account with the system's Python (the venv lives under /root)
PROBE = r"""
import json, sys, urllib.error, urllib.request
base, token = sys.argv[1], sys.argv[2]
out = {}
def get(path, data=None, headers={}):
    req = urllib.request.Request(base + path, data=data, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, resp.read().decode("utf-8", "replace")
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode("utf-8", "replace")
    except OSError as exc:
        return None, str(exc)
for path in ("", "static/app.js", "api/board", "api/version", "runs/review/s3.json",
             "runs/input/selections.yaml", "?token=" + token):
    out[path or "/"] = get(path)
out["POST reroll"] = get("api/reroll", json.dumps({"shot": "s2"}).encode(),
                         {"Content-Type": "application/json"})
print(json.dumps(out))
"""


@contextlib.contextmanager
def serving(wf) -> Iterator[tuple[str, urllib.request.OpenerDirector]]:
    """`stillmake review --no-open --port 0` in the workflow: the URL it printed, and a
    browser (urllib with a cookie jar) of the account that started it."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "stillmake", "review", "--no-open", "--port", "0"],
        cwd=wf.root,
        env=wf.env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        line = proc.stdout.readline()
        assert line.startswith("review board on http://127.0.0.1:"), line + proc.stderr.read()
        jar = http.cookiejar.CookieJar()
        yield line.split()[3], urllib.request.build_opener(urllib.request.HTTPCookieProcessor(jar))
    finally:
        proc.terminate()
        proc.wait(timeout=10)


def as_other(base: str, token: str) -> dict:
    proc = subprocess.run(
        ["runuser", "-u", OTHER, "--", "/usr/bin/python3", "-c", PROBE, base, token],
        capture_output=True,
        text=True,
        timeout=60,
        cwd="/",
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)
