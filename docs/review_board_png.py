"""Make docs/review-board.png: the review board on the THE TRACE sample.

    python docs/review_board_png.py

Builds the sample on the preview backend in a scratch copy (`snakemake`: drafts,
review, picks, edits and finals of the locked shots; offline, $0), serves the board
there and photographs it in headless Chromium at 1400x1000 (tests/board_browser.py).
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from playwright.sync_api import sync_playwright  # noqa: E402

from stillmake.board.app import create_app  # noqa: E402
from stillmake.board.server import Board  # noqa: E402
from tests.board_browser import launch  # noqa: E402
from tests.conftest import copy_workflow  # noqa: E402

OUT = REPO / "docs" / "review-board.png"


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="stillmake-shot-") as tmp:
        wf = copy_workflow(Path(tmp) / "wf")
        env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
        subprocess.run([sys.executable, "-m", "snakemake", "-q"], cwd=wf, env=env, check=True)
        os.chdir(wf)
        board = Board(create_app(), 0).start()
        try:
            with sync_playwright() as p:
                browser = launch(p)
                # bypass_csp: Playwright's wait_for_function evaluates a string, which the
                # page's CSP forbids
                page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
                page.goto(board.url)
                page.locator("#shot-s3 [data-plan=ready]").wait_for(timeout=60_000)
                page.get_by_role("button", name="Pick draft 2 of s1", exact=True).click()
                page.get_by_text("s1: picked draft 2 of drafts").wait_for()
                page.locator("#shot-s1 [data-plan=ready]", has_text="rebuilds").wait_for(
                    timeout=60_000
                )
                page.wait_for_function(
                    "[...document.images].every(i => !i.src || i.complete)", timeout=30_000
                )
                page.screenshot(path=str(OUT))
                browser.close()
        finally:
            board.stop()
    print(f"wrote {OUT}")


if __name__ == "__main__":
    main()
