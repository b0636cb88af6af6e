"""The review board: page load at N shots, and time from a click to selections.yaml.

    python bench/bench_board.py [--shots 100] [--clicks 10]

Builds a generated N-shot production's drafts and review on the preview backend
(`snakemake review`), serves the board on 127.0.0.1 in this process, and drives it
from headless Chromium (Debian's, through Playwright; see tests/board_browser.py):

* page load, cold (thumbnails not made yet) and warm (reload): DOMContentLoaded,
  the first render of every shot, the first screen's draft thumbnails loaded (they
  load lazily), and all of them loaded (as if scrolled through);
* `/api/board` alone (median of 5): the server's share of a load or live update;
* click to file: `Pick draft K of sI` clicked, until selections.yaml on disk has
  changed (median and worst of --clicks), polled every millisecond;
* the plan of the next build (`snakemake --summary` + spend), made in the background.
"""

from __future__ import annotations

import argparse
import http.cookiejar
import os
import statistics
import time
import urllib.request
from pathlib import Path

from common import REPO, generate_production, machine, snakemake, workflow_copy  # noqa: F401

from stillmake.board.app import create_app
from stillmake.board.server import Board
from tests.board_browser import launch, wait_for

SHOTS_RENDERED = "n => document.querySelectorAll('section.shot').length === n"
# thumbnails load lazily: those on the first screen, then (scrolled through) all of them
SCREEN_LOADED = """() => {
  const imgs = [...document.querySelectorAll('main .draft img')]
    .filter(i => i.getBoundingClientRect().top < innerHeight);
  return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""
ALL_LOADED = """n => {
  const imgs = [...document.querySelectorAll('main .draft img')];
  imgs.forEach(i => { i.loading = 'eager'; });
  return imgs.length === 3 * n && imgs.every(i => i.complete && i.naturalWidth > 0);
}"""


def page_load(page, url: str, n: int) -> dict:
    started = time.perf_counter()
    page.goto(url, wait_until="domcontentloaded")
    dcl = time.perf_counter() - started
    page.wait_for_function(SHOTS_RENDERED, arg=n, timeout=120_000, polling=10)
    rendered = time.perf_counter() - started
    page.wait_for_function(SCREEN_LOADED, timeout=120_000, polling=10)
    screen = time.perf_counter() - started
    page.wait_for_function(ALL_LOADED, arg=n, timeout=300_000, polling=20)
    images = time.perf_counter() - started
    return {"dcl": dcl, "rendered": rendered, "screen": screen, "images": images}


def click_to_file(page, selections, clicks: int) -> list[float]:
    times = []
    for i in range(clicks):
        shot, k = f"s{1 + i % 5}", 1 + (i + 1) % 3
        before = selections.read_bytes()
        button = page.get_by_role("button", name=f"Pick draft {k} of {shot}", exact=True)
        page.wait_for_timeout(300)  # let the previous write's refresh settle
        started = time.perf_counter()
        button.click()
        wait_for(lambda b=before: selections.read_bytes() != b, timeout=30, step=0.001)
        times.append(time.perf_counter() - started)
    return times


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--shots", type=int, default=100)
    ap.add_argument("--clicks", type=int, default=10)
    ap.add_argument(
        "--built",
        type=Path,
        help="a workflow copy already built with `snakemake review` (its clicks change its "
        "selections.yaml): skips generating and building one",
    )
    args = ap.parse_args(argv)
    print(machine())
    if args.built:
        wf = args.built.resolve()
        args.shots = len(list((wf / "runs/drafts").iterdir()))
    else:
        wf = workflow_copy()
        generate_production(wf, args.shots, picks=False)
        run = snakemake(wf, "review")
        print(
            f"`snakemake review`, {args.shots} generated shots ({3 * args.shots} drafts): "
            f"{run.wall:.1f} s"
        )
    os.chdir(wf)
    board = Board(create_app(), 0).start()
    try:
        # the board serves only a browser that came in through its printed URL (a cookie)
        jar = urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar())
        browser_ = urllib.request.build_opener(jar)
        browser_.open(board.open_url, timeout=60).read()
        times = []
        for _ in range(5):
            t = time.perf_counter()
            browser_.open(board.url + "api/board", timeout=60).read()
            times.append(time.perf_counter() - t)
        print(
            f"/api/board, {args.shots} shots: median {statistics.median(times) * 1000:.0f} ms (5 requests)"
        )
        from playwright.sync_api import sync_playwright

        with sync_playwright() as p:
            browser = launch(p)
            # the page's CSP forbids eval, which Playwright's wait_for_function uses
            page = browser.new_page(viewport={"width": 1400, "height": 1000}, bypass_csp=True)
            page.goto(board.open_url)  # the session cookie, as `stillmake review` lets one in
            cold = page_load(page, board.url, args.shots)
            warm = page_load(page, board.url, args.shots)
            print(
                f"page load, {args.shots} shots       DOMContentLoaded  all shots rendered  "
                f"first screen's drafts  all {3 * args.shots} drafts (scrolled through)"
            )
            for name, t in (("cold (thumbnails made)", cold), ("warm (reload)", warm)):
                print(
                    f"  {name:26s} {t['dcl'] * 1000:10.0f} ms {t['rendered'] * 1000:16.0f} ms "
                    f"{t['screen'] * 1000:18.0f} ms {t['images'] * 1000:25.0f} ms"
                )
            selections = wf / "runs/input/selections.yaml"
            clicks = click_to_file(page, selections, args.clicks)
            print(
                f"click `Pick draft K of sI` -> selections.yaml changed on disk, {len(clicks)} clicks: "
                f"median {statistics.median(clicks) * 1000:.0f} ms, worst {max(clicks) * 1000:.0f} ms"
            )
            wait_for(
                lambda: board.worker.latest is not None and not board.worker.busy,
                timeout=300,
                step=0.1,
            )
            plan = board.worker.latest
            print(
                f"plan of the next build in the background (snakemake --summary + spend): {plan.seconds:.1f} s"
                + (f" (error: {plan.error})" if plan.error else "")
            )
            browser.close()
    finally:
        board.stop()


if __name__ == "__main__":
    main()
