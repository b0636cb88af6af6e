"""The review board in a real headless Chromium (Debian's, through Playwright): the
named controls pick, reject with a reason, lock, unlock and add an edit step from a
drawn box, and selections.yaml on disk shows each with its comments intact; a hand
edit made while the page is open survives the next click; an invalid action is shown
and writes nothing; a browser without the session and cross-site requests change
nothing; the page follows the build. About 15 s (one `snakemake review`, one browser
for the module)."""

from __future__ import annotations

import os
import re

import pytest
from PIL import Image
from playwright.sync_api import expect, sync_playwright

from stillmake.board.app import create_app
from stillmake.board.server import Board
from stillmake.files import locked
from stillmake.inputs.selections import load_selections
from stillmake.inputs.selections.commit import lock_path
from tests.board_browser import launch, wait_for
from tests.conftest import Workflow

SHOTS = ["s1", "s2", "s3", "s4", "s5"]
HEADER = "# THE TRACE: the art director's decisions, one entry per shot."
S2_COMMENT = "pick: 1   # composition is right; wardrobe to be checked after s3 is final"


@pytest.fixture(scope="module")
def served(reviewed):
    wf, original = reviewed
    cwd = os.getcwd()
    os.chdir(wf.root)  # the library reads the project relative to it, as the CLI does
    board = Board(create_app(), 0).start()
    try:
        yield board, wf.path("runs/input/selections.yaml"), original
    finally:
        board.stop()
        os.chdir(cwd)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as p:
        chromium = launch(p)
        yield chromium
        chromium.close()


@pytest.fixture
def page(served, browser):
    board, selections, original = served
    put_back(selections, original)
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    errors = []
    page.on("pageerror", lambda exc: errors.append(exc))
    page.goto(board.open_url)  # the URL `stillmake review` prints: its token sets the session
    expect(page.get_by_role("button", name="Pick draft 1 of s1", exact=True)).to_be_visible()
    assert page.url == board.url  # the token is not kept in the address bar or history
    yield page, selections, board
    assert not errors, errors  # before closing: a closed page aborts its fetches
    context.close()
    put_back(selections, original)


def put_back(selections, text):
    """Put the sample back as a cooperating writer does: under the lock the board's
    writes hold (a click's write watches the file for a moment after it lands, and a
    save in that moment is taken for an editor's stale one)."""
    with locked(lock_path(selections)):
        selections.write_text(text, encoding="utf-8")


def decided(selections):
    return load_selections(selections, shots=SHOTS, draft_n=3, check_files=False)


def button(page, name):
    return page.get_by_role("button", name=name, exact=True)


def test_controls_pick_reject_lock_and_add_a_step_from_a_drawn_box(page):
    page, selections, _ = page
    button(page, "Pick draft 2 of s3").click()
    wait_for(lambda: decided(selections)["s3"].pick == 2)
    assert decided(selections)["s3"].drafts  # bound to the drafts shown
    # after the write, the page says what the next build rebuilds for that shot
    expect(page.locator("#shot-s3 [data-plan=ready]")).to_contain_text(
        "runs/selected/s3.png", timeout=30_000
    )

    reason = page.get_by_role("textbox", name="Reject reason for draft 3 of s3", exact=True)
    expect(reason).to_be_visible()
    reason.fill("soft focus on her face")
    button(page, "Reject draft 3 of s3").click()
    wait_for(lambda: decided(selections)["s3"].reject.get(3) == "soft focus on her face")

    button(page, "Unlock s3").click()  # the sample has s3 locked
    wait_for(lambda: not decided(selections)["s3"].lock)
    expect(button(page, "Lock s3")).to_be_visible()
    expect(button(page, "Unlock s3")).to_have_count(0)
    button(page, "Lock s3").click()  # a lock approves an image: s3's is not built here
    expect(page.get_by_role("alert")).to_contain_text("runs/edits/s3/step_2.png is not built")
    assert not decided(selections)["s3"].lock

    button(page, "Add edit step to s2").click()
    image = page.get_by_role("img", name="Edit region on s2", exact=True)
    expect(image).to_be_visible()
    wait_for(lambda: image.evaluate("i => i.complete && i.naturalWidth > 0"))
    box = image.bounding_box()
    # dragged from bottom right to top left: stored as [x0, y0, x1, y1] all the same
    page.mouse.move(box["x"] + 0.75 * box["width"], box["y"] + 0.60 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.4 * box["height"], steps=4)
    page.mouse.move(box["x"] + 0.25 * box["width"], box["y"] + 0.20 * box["height"], steps=4)
    page.mouse.up()
    page.get_by_role("textbox", name="Change", exact=True).fill("turn off the tap")
    page.get_by_role("textbox", name="Keep", exact=True).fill("the nurse and the sink")
    button(page, "Add step").click()
    step = wait_for(lambda: decided(selections)["s2"].edits)[0]
    assert step.change == "turn off the tap" and step.keep == "the nurse and the sink"
    assert step.region == pytest.approx((0.25, 0.20, 0.75, 0.60), abs=0.01)
    expect(page.get_by_role("dialog")).to_be_hidden()

    text = selections.read_text()
    assert text.startswith(HEADER) and S2_COMMENT in text
    assert "reroll: 0   # red emergency: still looking" in text
    assert re.search(r"s3:\n  pick: 2\n  drafts: [0-9a-f]{12}\n", text), text


def test_strokes_drawn_on_the_picked_draft_become_the_steps_markup(page):
    page, selections, _ = page
    button(page, "Add edit step to s2").click()
    image = page.get_by_role("img", name="Edit region on s2", exact=True)
    wait_for(lambda: image.evaluate("i => i.complete && i.naturalWidth > 0"))
    button(page, "Draw strokes").click()
    expect(button(page, "Draw strokes")).to_have_attribute("aria-pressed", "true")
    box = image.bounding_box()
    page.mouse.move(box["x"] + 0.2 * box["width"], box["y"] + 0.3 * box["height"])
    page.mouse.down()
    page.mouse.move(box["x"] + 0.5 * box["width"], box["y"] + 0.5 * box["height"], steps=8)
    page.mouse.up()
    page.get_by_role("textbox", name="Change", exact=True).fill("turn off the tap")
    button(page, "Add step").click()
    step = wait_for(lambda: decided(selections)["s2"].edits)[0]
    try:
        assert step.region is None and step.markup.is_file()
        with Image.open(step.markup) as im:
            assert im.size == (1536, 864)  # the draft's own pixels, not the page's
            alpha = im.getchannel("A")
            assert alpha.getpixel((int(0.35 * 1536), int(0.4 * 864))) > 128  # on the stroke
            assert alpha.getpixel((int(0.8 * 1536), int(0.8 * 864))) == 0
        assert S2_COMMENT.replace("pick: 1   ", "") in selections.read_text()
    finally:
        step.markup.unlink()


def test_a_hand_edit_made_while_the_page_is_open_survives_the_next_click(page):
    page, selections, _ = page
    text = selections.read_text()
    hand = text.replace("s4:\n  reroll: 0", "# hand edit: try a wider lens\ns4:\n  reroll: 2")
    assert hand != text
    selections.write_text(hand)  # the page has not polled since
    button(page, "Pick draft 3 of s2").click()
    wait_for(lambda: decided(selections)["s2"].pick == 3)
    after = selections.read_text()
    assert "# hand edit: try a wider lens\ns4:\n  reroll: 2" in after
    assert after.startswith(HEADER) and "# composition is right" in after


def test_lock_approves_the_candidate_shown_beside_the_final(page):
    page, selections, _ = page
    wf = Workflow(selections.parents[2])
    wf.snakemake("runs/selected/s2.png")  # s2's candidate: its picked draft
    try:
        candidate = page.get_by_role("img", name="candidate of s2", exact=True)
        expect(candidate).to_be_visible(timeout=10_000)  # the page follows the build
        button(page, "Lock s2").click()
        wait_for(lambda: decided(selections)["s2"].approved is not None)
        expect(button(page, "Unlock s2")).to_be_visible()
        expect(page.locator("#shot-s2 .approval-state")).to_have_text("approved")
        expect(button(page, "Lock s2")).to_have_count(0)
    finally:
        for name in ("s2.png", "s2.json"):
            wf.path(f"runs/selected/{name}").unlink(missing_ok=True)


def test_an_invalid_action_is_shown_on_the_page_and_writes_nothing(page):
    page, selections, _ = page
    before = selections.read_bytes()
    button(page, "Lock s4").click()
    expect(page.get_by_role("alert")).to_contain_text("cannot lock s4: no pick yet")
    button(page, "Reroll s3").click()
    expect(page.get_by_role("alert")).to_contain_text("s3 is locked")
    # a hand edit of the same shot since the page read it: refused, the page reloads
    changed = selections.read_text().replace("s2:\n  pick: 1", "s2:\n  pick: 2")
    selections.write_text(changed)
    button(page, "Lock s2").click()
    expect(page.get_by_role("alert")).to_contain_text("shot s2 changed in")
    assert selections.read_text() == changed
    selections.write_bytes(before)
    page.wait_for_timeout(300)
    assert selections.read_bytes() == before


def test_forged_and_cross_site_requests_change_nothing(page):
    page, selections, board = page
    before = selections.read_bytes()
    # a browser without the session (another profile, or the URL without its token)
    other = page.context.browser.new_context()
    try:
        assert other.request.get(board.url).status == 403
        assert other.request.get(board.url + "api/board").status == 403
        assert other.request.post(board.url + "api/lock", data={"shot": "s2"}).status == 403
        lost = other.new_page()
        lost.goto(board.url)
        expect(lost.locator("body")).to_contain_text("open the link `stillmake review` printed")
    finally:
        other.close()
    # another site: a form posted at the board, and a no-cors fetch, from its own page
    evil = f"""<html><body><form id=f method=post action="{board.url}api/lock"
      enctype="text/plain"><input name='{{"shot":"s2","x":"' value='"}}'></form>
      <script>
      fetch("{board.url}api/lock", {{method: "POST", mode: "no-cors",
        headers: {{"Content-Type": "text/plain"}}, body: '{{"shot": "s2"}}'}}).catch(() => null);
      document.getElementById("f").submit();
      </script></body></html>"""
    page.context.route(
        "http://evil.test/**", lambda route: route.fulfill(body=evil, content_type="text/html")
    )
    page.goto("http://evil.test/")
    page.wait_for_timeout(800)
    assert selections.read_bytes() == before
    for url in ("runs/%2e%2e/config.yaml", "runs/..%2fconfig.yaml", "static/..%2fapp.py"):
        assert page.request.get(board.url + url).status == 404


def test_the_page_follows_the_build(page):
    page, selections, _ = page
    img = page.get_by_role("img", name="draft 1 of s5", exact=True)
    src = img.get_attribute("src")
    draft = "runs/drafts/s5/draft_1.png"
    st = os.stat(draft)
    os.utime(draft, ns=(st.st_atime_ns, st.st_mtime_ns + 5_000_000_000))  # a rebuild
    try:
        expect(img).not_to_have_attribute("src", src, timeout=6000)
    finally:
        os.utime(draft, ns=(st.st_atime_ns, st.st_mtime_ns))
