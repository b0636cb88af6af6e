"""Headless Chromium for the review board's browser tests and benchmarks: Debian's
`chromium` through Playwright (`executable_path`), since Playwright's own browser
download is unreachable here. `.ci/run` installs it with apt when it is missing."""

from __future__ import annotations

import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path

CHROMIUM = os.environ.get("STILLMAKE_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def launch(playwright):  # noqa: ANN001, ANN201
    if not Path(CHROMIUM).is_file():
        raise RuntimeError(
            f"no Chromium at {CHROMIUM}: `apt-get install -y chromium` (Debian), or set "
            "STILLMAKE_CHROMIUM to a Chromium binary"
        )
    return playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS, headless=True)


def wait_for(predicate: Callable[[], object], timeout: float = 10.0, step: float = 0.01) -> object:
    """Poll until predicate() is truthy; its value, or AssertionError after `timeout` s."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {predicate}")
        time.sleep(step)
