"""The review board's API (Flask test client): each decision lands in selections.yaml as
the CLI writes it, invalid ones write nothing, a stale page never overwrites the file,
and requests without the session the printed URL's token sets, cross-site and traversal
requests are refused. About 10 s (one `snakemake review` for the module, one
`snakemake --summary` for the plan test)."""

from __future__ import annotations

import json
import os
import time

import pytest
from click.testing import CliRunner

from stillmake.board.app import create_app
from stillmake.cli.main import cli
from stillmake.inputs.selections import load_selections
from tests.board_access import as_other, serving
from tests.conftest import Workflow

TOKEN = "test-token-123"
SHOTS = ["s1", "s2", "s3", "s4", "s5"]


@pytest.fixture
def board(reviewed, monkeypatch):
    wf, original = reviewed
    selections = wf.path("runs/input/selections.yaml")
    selections.write_text(original, encoding="utf-8")
    monkeypatch.chdir(wf.root)
    app = create_app(token=TOKEN)
    client = app.test_client()
    assert client.get(f"/?token={TOKEN}").status_code == 303  # the printed URL: a session
    yield client, selections
    selections.write_text(original, encoding="utf-8")


def shots(client) -> dict:
    data = client.get("/api/board").get_json()
    assert "error" not in data, data
    return {s["id"]: s for s in data["shots"]}


def post(client, action, body, **headers):
    return client.post(f"/api/{action}", json=body, headers=headers)


def decided(selections):
    return load_selections(selections, shots=SHOTS, draft_n=3, check_files=False)


def test_page_holds_no_secret_and_serves_its_own_assets(board):
    client, _ = board
    page = client.get("/")
    assert page.status_code == 200
    assert TOKEN not in page.text and "token" not in page.text
    assert "default-src 'none'" in page.headers["Content-Security-Policy"]
    for asset in ("app.js", "app.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    assert client.get("/static/../app.py").status_code == 404
    assert client.get("/static/index.html").status_code == 404  # only through `/`


def test_board_shows_every_shot_in_prompt_order_with_flags_stage_and_spend(board):
    client, _ = board
    data = client.get("/api/board").get_json()
    assert [s["id"] for s in data["shots"]] == SHOTS
    s3 = {s["id"]: s for s in data["shots"]}["s3"]
    assert s3["status"]["stage"] == "review" and s3["status"]["pick"] == "1 (unbound)"
    assert [d["k"] for d in s3["drafts"]] == [1, 2, 3]
    assert s3["drafts"][0]["metrics"]["sharpness"] > 0
    assert s3["drafts"][1]["rejected"] == "skin pushed green"
    assert all(f["level"] != "pass" for d in s3["drafts"] for f in d["flags"])
    assert s3["spend_usd"] == 0.0 and data["spent_usd"] == 0.0
    assert data["plan_state"] == "computing"  # the plan is made in the background
    for d in s3["drafts"]:
        image = client.get(d["url"])
        assert image.status_code == 200 and image.data[:8] == b"\x89PNG\r\n\x1a\n"
        thumb = client.get(d["url"] + "&thumb=1")
        assert thumb.mimetype == "image/jpeg" and len(thumb.data) < len(image.data) / 4


def test_pick_writes_what_the_cli_writes(board):
    client, selections = board
    original = selections.read_text()
    s3 = shots(client)["s3"]
    resp = post(
        client, "pick", {"shot": "s3", "k": 2, "seen": s3["seen"], "drafts": s3["drafts_fp"]}
    )
    assert resp.status_code == 200, resp.get_json()
    by_board = selections.read_text()
    selections.write_text(original)
    assert CliRunner().invoke(cli, ["pick", "s3", "2"]).exit_code == 0
    assert by_board == selections.read_text()
    assert "# THE TRACE: the art director's decisions" in by_board
    assert f"  pick: 2\n  drafts: {s3['drafts_fp']}\n" in by_board
    assert shots(client)["s3"]["status"]["pick"] == "2"


def test_reject_lock_unlock_reroll_and_edit_step_land_in_the_file(board):
    client, selections = board
    seen = lambda shot: shots(client)[shot]["seen"]  # noqa: E731
    assert (
        post(
            client, "reject", {"shot": "s2", "k": 3, "reason": " too  dark ", "seen": seen("s2")}
        ).status_code
        == 200
    )
    assert decided(selections)["s2"].reject == {3: "too dark"}
    assert post(client, "unlock", {"shot": "s3", "seen": seen("s3")}).status_code == 200
    assert not decided(selections)["s3"].lock
    assert post(client, "reroll", {"shot": "s4", "seen": seen("s4")}).status_code == 200
    assert decided(selections)["s4"].reroll == 1
    resp = post(
        client,
        "edit",
        {
            "shot": "s2",
            "change": "close the tap",
            "keep": "the nurse",
            "region": [0.6, 0.5, 0.2, 0.1],
            "seen": seen("s2"),
        },
    )
    assert resp.status_code == 200 and "edit step 1 added" in resp.get_json()["message"]
    step = decided(selections)["s2"].edits[0]
    assert step.region == (0.2, 0.1, 0.6, 0.5) and step.change == "close the tap"
    text = selections.read_text()
    assert "pick: 1   # composition is right; wardrobe to be checked after s3 is final" in text
    assert "region: [0.2, 0.1, 0.6, 0.5]" in text
    assert "  reroll: 1   # red emergency" in text
    # the board shows the step; the next one is drawn on its output, once built
    s2 = shots(client)["s2"]
    assert s2["edits"][0]["region"] == [0.2, 0.1, 0.6, 0.5]
    assert s2["edit_source"]["url"] is None and "step 1" in s2["edit_source"]["what"]


def test_lock_approves_the_candidate_the_page_shows(board):
    client, selections = board
    wf = Workflow(selections.parents[2])
    wf.snakemake("runs/selected/s2.png")  # s2 has no edit step: its candidate
    try:
        s2 = shots(client)["s2"]
        shown = s2["candidate"]
        assert shown["candidate"] == "runs/selected/s2.png" and shown["url"].startswith(
            "/runs/selected/s2.png"
        )
        assert shown["state"] == "not locked" and shown["final"] is None
        # the candidate changed since the page showed it: nothing is written
        before = selections.read_bytes()
        resp = post(client, "lock", {"shot": "s2", "seen": s2["seen"], "candidate": "0123456789ab"})
        assert resp.status_code == 409 and "changed since it was shown" in resp.get_json()["error"]
        assert selections.read_bytes() == before
        body = {"shot": "s2", "seen": s2["seen"], "candidate": shown["fingerprint"]}
        resp = post(client, "lock", body)
        assert resp.status_code == 200, resp.get_json()
        assert (
            f"locked on its candidate runs/selected/s2.png ({shown['fingerprint']})"
            in (resp.get_json()["message"])
        )
        assert decided(selections)["s2"].approved == shown["fingerprint"]
        s2 = shots(client)["s2"]
        assert s2["candidate"]["state"] == "approved" and s2["status"]["approval"] == "approved"
        again = post(client, "lock", {"shot": "s2", "seen": s2["seen"]}).get_json()
        assert "already locked on" in again["message"]
        resp = post(client, "waive", {"shot": "s2", "check": "identity", "reason": "a profile"})
        assert resp.status_code == 200 and "unused" in resp.get_json()["message"]
        assert shots(client)["s2"]["candidate"]["unused_waivers"] == {"identity": "a profile"}
    finally:
        for name in ("s2.png", "s2.json"):
            wf.path(f"runs/selected/{name}").unlink(missing_ok=True)


@pytest.mark.parametrize(
    "action, body, words",
    [
        ("pick", {"shot": "s3", "k": 4}, "pick 4 is outside 1..3 (draft.n)"),
        ("pick", {"shot": "s3", "k": "2"}, "k must be a whole number"),
        ("pick", {"shot": "s9", "k": 1}, "unknown shot(s) s9"),
        ("lock", {"shot": "s4"}, "cannot lock s4: no pick yet"),
        ("lock", {"shot": "s1"}, "runs/edits/s1/step_1.png is not built yet"),
        ("waive", {"shot": "s1", "check": "sharp", "reason": "x"}, "'sharp' is not a gate check"),
        ("reject", {"shot": "s3", "k": 1, "reason": "meh"}, "draft 1 of s3 is the pick"),
        ("reject", {"shot": "s3", "k": 2, "reason": "  "}, "say why draft 2 of s3 is rejected"),
        ("reroll", {"shot": "s3"}, "s3 is locked"),
        ("edit", {"shot": "s4", "change": "x"}, "s4 has no pick yet"),
        ("edit", {"shot": "s2", "change": " "}, "say what step 1 of s2 changes"),
        (
            "edit",
            {"shot": "s2", "change": "x", "region": [0.5, 0.1, 1.3, 0.4]},
            "shot s2, key 'edits[1].region': region [0.5, 0.1, 1.3, 0.4] is outside [0, 1]",
        ),
        ("edit", {"shot": "s2", "change": "x", "region": [0.5, 0.1]}, "four numbers"),
    ],
)
def test_invalid_action_says_why_and_writes_nothing(board, action, body, words):
    client, selections = board
    before = selections.read_bytes()
    resp = post(client, action, body)
    assert resp.status_code == 400, resp.get_json()
    assert words in resp.get_json()["error"]
    assert selections.read_bytes() == before


def test_the_file_on_disk_wins_over_a_stale_page(board):
    client, selections = board
    page = shots(client)  # what the page read
    # a hand edit elsewhere (another shot, a comment): applied around, kept
    text = selections.read_text().replace("s4:\n", "# hand note\ns4:\n  pick: 3\n")
    selections.write_text(text)
    resp = post(
        client,
        "pick",
        {"shot": "s2", "k": 2, "seen": page["s2"]["seen"], "drafts": page["s2"]["drafts_fp"]},
    )
    assert resp.status_code == 200, resp.get_json()
    after = selections.read_text()
    assert "# hand note\ns4:\n  pick: 3\n" in after and decided(selections)["s2"].pick == 2
    # a hand edit of the same shot: refused, never overwritten
    selections.write_text(after.replace("s3:\n  pick: 1\n", "s3:\n  pick: 3\n"))
    before = selections.read_bytes()
    resp = post(client, "unlock", {"shot": "s3", "seen": page["s3"]["seen"]})
    assert resp.status_code == 409 and resp.get_json()["reload"] is True
    assert (
        "shot s3 changed in runs/input/selections.yaml since this page read it (by hand, by a "
        "stillmake command or from another tab); nothing was written" in resp.get_json()["error"]
    )
    assert selections.read_bytes() == before
    # drafts rebuilt since they were shown: no pick bound to pictures nobody saw
    resp = post(client, "pick", {"shot": "s2", "k": 1, "drafts": "0123456789ab"})
    assert (
        resp.status_code == 409
        and "the drafts of s2 changed since they were shown" in resp.get_json()["error"]
    )
    assert selections.read_bytes() == before


def test_a_broken_file_is_shown_not_overwritten(board):
    client, selections = board
    selections.write_text(selections.read_text() + "s3: {pick: 2}\n")  # s3 twice
    data = client.get("/api/board").get_json()
    assert "key 's3' appears twice" in data["error"]
    before = selections.read_bytes()
    resp = post(client, "pick", {"shot": "s2", "k": 2})
    assert resp.status_code == 400 and "appears twice" in resp.get_json()["error"]
    assert selections.read_bytes() == before


@pytest.mark.parametrize(
    "headers, status",
    [
        ({"Origin": "http://evil.example"}, 403),  # another site, even with the session
        ({"Host": "evil.example:80"}, 403),  # DNS rebinding
        ({"Origin": "http://localhost"}, 200),  # the page itself
    ],
)
def test_writes_from_another_site_are_refused(board, headers, status):
    client, selections = board
    before = selections.read_bytes()
    resp = post(client, "unlock", {"shot": "s3"}, **headers)
    assert resp.status_code == status, resp.get_json()
    assert (selections.read_bytes() == before) == (status == 403)


def test_nothing_is_served_without_the_session_the_printed_url_sets(board):
    """The token is only in the URL `stillmake review` prints: a browser without the
    session it sets gets no page, asset, file or answer, and a wrong token sets none."""
    client, selections = board
    stranger = client.application.test_client()
    before = selections.read_bytes()
    for url in ("/", "/static/app.js", "/api/board", "/api/version", "/runs/review/s3.json"):
        resp = stranger.get(url)
        assert resp.status_code == 403, url
        assert "open the link `stillmake review` printed" in resp.get_json()["error"]
        assert b"s3" not in resp.data and b"pick" not in resp.data
    assert stranger.post("/api/lock", json={"shot": "s2"}).status_code == 403
    assert stranger.get("/?token=wrong").status_code == 403
    assert stranger.get("/?token=" + TOKEN[:-1]).status_code == 403
    assert selections.read_bytes() == before
    # the right token: a session cookie no script reads and no other site sends
    login = stranger.get(f"/?token={TOKEN}")
    assert login.status_code == 303 and login.headers["Location"] == "/"
    cookie = login.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and TOKEN not in cookie
    assert stranger.get("/").status_code == 200


def test_a_form_post_is_refused(board):
    client, selections = board
    before = selections.read_bytes()
    resp = client.post("/api/lock", data={"shot": "s2"})
    assert resp.status_code == 400 and selections.read_bytes() == before
    assert client.get("/", headers={"Host": "attacker.example"}).status_code == 403


def test_only_files_under_runs_are_served(board, tmp_path):
    client, _ = board
    secret = tmp_path / "outside.txt"
    secret.write_text("outside secret")
    link = "runs/review/leak.png"
    os.symlink(secret, link)
    os.symlink(tmp_path, "runs/review/leakdir")
    try:
        for url in (
            "/runs/review/leak.png",
            "/runs/review/leakdir/outside.txt",
            "/runs/../config.yaml",
            "/runs/%2e%2e/config.yaml",
            "/runs/review/..%2f..%2fconfig.yaml",
            "/runs//etc/passwd",
            "/runs/%2fetc%2fpasswd",
            "/runs/review",
            "/config.yaml",
            "/runs/nope.png",
        ):
            resp = client.get(url)
            assert resp.status_code in (403, 404), url
            assert b"outside secret" not in resp.data and b"backend:" not in resp.data, url
        assert client.get("/runs/review/s3.json").status_code == 200
    finally:
        os.unlink(link)
        os.unlink("runs/review/leakdir")


def test_no_key_or_connection_secret_reaches_the_page(board, monkeypatch):
    client, _ = board
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test-secret")
    config = open("config.yaml").read()
    try:
        with open("config.yaml", "a") as fh:
            fh.write("\nopenai: {base_url: 'https://user:hunter2@api.example/v1?api-key=k3y'}\n")
        s3 = shots(client)["s3"]
        bodies = [
            client.get("/").data,
            client.get("/api/board").data,
            client.get("/api/version").data,
            client.get("/static/app.js").data,
            post(client, "pick", {"shot": "s3", "k": 4}).data,
            post(client, "reject", {"shot": "s3", "k": 3, "reason": "x", "seen": s3["seen"]}).data,
            client.get("/runs/review/s3.json").data,
        ]
    finally:
        open("config.yaml", "w").write(config)
    for body in bodies:
        for secret in (b"sk-test-secret", b"hunter2", b"k3y"):
            assert secret not in body


def test_version_moves_when_the_build_writes(board):
    client, _ = board
    first = client.get("/api/version").get_json()["version"]
    assert client.get("/api/version").get_json()["version"] == first
    sheet = "runs/review/s3.png"
    st = os.stat(sheet)
    os.utime(sheet, ns=(st.st_atime_ns, st.st_mtime_ns + 1_000_000))
    assert client.get("/api/version").get_json()["version"] != first


def test_after_a_write_the_board_says_what_snakemake_would_rebuild(board):
    client, _ = board
    app = client.application
    worker = app.extensions["stillmake_plan"]
    worker.start()
    try:
        s4 = shots(client)["s4"]
        assert (
            post(
                client,
                "pick",
                {"shot": "s4", "k": 2, "seen": s4["seen"], "drafts": s4["drafts_fp"]},
            ).status_code
            == 200
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            data = client.get("/api/board").get_json()
            if data["plan_state"] != "computing":
                break
            time.sleep(0.2)
        assert data["plan_state"] == "ready", data.get("plan_error")
        s4 = {s["id"]: s for s in data["shots"]}["s4"]
        # the sheet marks the pick (and whether it is weak): the review is redrawn, $0
        assert s4["plan"]["rebuild"] == [
            "runs/review/s4.png",
            "runs/review/s4.json",
            "runs/selected/s4.png",
        ]
        s1 = {s["id"]: s for s in data["shots"]}["s1"]
        assert s1["plan"]["rebuild"] == [
            "runs/selected/s1.png",
            "runs/edits/s1/step_1.png",
            "runs/final/s1.png",
        ]
        assert [r["pass"] for r in s1["plan"]["requests"]] == ["edit1", "final"]
    finally:
        worker.stop()


def test_review_command_help_and_serving(reviewed):
    out = CliRunner().invoke(cli, ["review", "--help"])
    assert out.exit_code == 0 and "--no-open" in out.output and "--port" in out.output
    assert "stillmake review" in CliRunner().invoke(cli, ["--help"]).output

    wf, _ = reviewed
    with serving(wf) as (url, browser):
        assert "?token=" in url
        page = browser.open(url, timeout=10).read().decode()  # the printed URL lets it in
        assert "stillmake review board" in page and "token" not in page
        board = json.loads(browser.open(url.split("?")[0] + "api/board", timeout=30).read())
        assert [s["id"] for s in board["shots"]] == SHOTS


def test_a_stale_pick_is_shown_as_stale_with_why(board):
    client, _ = board
    s2 = shots(client)["s2"]
    assert s2["stale"] is None
    resp = post(
        client, "pick", {"shot": "s2", "k": 1, "seen": s2["seen"], "drafts": s2["drafts_fp"]}
    )
    assert resp.status_code == 200 and shots(client)["s2"]["stale"] is None
    draft = "runs/drafts/s2/draft_2.png"
    kept = open(draft, "rb").read()
    try:
        from PIL import Image

        with Image.open(draft) as im:
            im = im.convert("RGB")
            im.putpixel((5, 5), (255, 0, 255))
            im.save(draft)  # retouched by hand
        s2 = shots(client)["s2"]
        assert s2["status"]["pick"] == "1 STALE"
        assert "pick 1 was made on drafts" in s2["stale"]
        assert "runs/drafts/s2/draft_2.png changed since drafted" in s2["stale"]
    finally:
        open(draft, "wb").write(kept)
    assert shots(client)["s2"]["stale"] is None


def markup_png(size=(1536, 864), drawn=True) -> str:
    """A canvas's strokes as the page sends them: a data URL of a transparent PNG."""
    import base64
    import io

    from PIL import Image, ImageDraw

    im = Image.new("RGBA", size, (0, 0, 0, 0))
    if drawn:
        ImageDraw.Draw(im).line([(300, 200), (700, 500)], fill=(255, 45, 45, 255), width=12)
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def test_an_edit_step_marked_with_strokes_saves_a_markup_beside_the_selections(board):
    client, selections = board
    s2 = shots(client)["s2"]
    assert client.get("/api/board").get_json()["takes_markup"] is True
    data = markup_png()
    resp = post(
        client,
        "edit",
        {"shot": "s2", "change": "close the tap", "markup": data, "seen": s2["seen"]},
    )
    assert resp.status_code == 200, resp.get_json()
    step = decided(selections)["s2"].edits[0]
    assert step.region is None and step.markup.parent.name == "markup"
    assert step.markup.name.startswith("s2_") and step.markup.is_file()
    assert f"markup: markup/{step.markup.name}" in selections.read_text()
    import base64

    assert step.markup.read_bytes() == base64.b64decode(data.split(",", 1)[1])
    assert shots(client)["s2"]["edits"][0]["markup"].endswith(step.markup.name)
    step.markup.unlink()


@pytest.mark.parametrize(
    "body, words",
    [
        (
            {"markup": markup_png((800, 450))},
            "must be a PNG of 1536x864 (the image it is drawn on)",
        ),
        ({"markup": markup_png(drawn=False)}, "markup has nothing drawn on it"),
        (
            {"markup": markup_png(), "region": [0.1, 0.1, 0.2, 0.2]},
            "a box or with strokes, not both",
        ),
        ({"markup": "data:image/jpeg;base64,AAAA"}, "data:image/png;base64 URL"),
        ({"markup": "data:image/png;base64,@@@"}, "not valid base64"),
    ],
)
def test_a_bad_markup_writes_nothing(board, body, words):
    client, selections = board
    before = selections.read_bytes()
    resp = post(client, "edit", {"shot": "s2", "change": "close the tap", **body})
    assert resp.status_code == 400 and words in resp.get_json()["error"]
    assert selections.read_bytes() == before
    assert not list(selections.parent.glob("markup/*.png"))  # no stray file either


def test_strokes_need_an_edit_model_that_takes_a_markup(board):
    client, selections = board
    config = open("config.yaml").read()
    try:
        with open("config.yaml", "a") as fh:
            fh.write("\nedit: {model: gpt-image-2}\n")
        assert client.get("/api/board").get_json()["takes_markup"] is False
        before = selections.read_bytes()
        resp = post(client, "edit", {"shot": "s2", "change": "x", "markup": markup_png()})
        assert resp.status_code == 400
        assert "edit model 'gpt-image-2' does not take a markup" in resp.get_json()["error"]
        assert selections.read_bytes() == before
    finally:
        open("config.yaml", "w").write(config)


def test_a_change_the_build_would_refuse_is_refused_at_the_click(board):
    """A 40,000-character change: the board wrote it and every build, `status` and the
    board itself stayed blocked on it. Now the click is refused with the build's words."""
    client, selections = board
    before = selections.read_bytes()
    resp = post(client, "edit", {"shot": "s2", "change": "paint it over " * 2900})
    assert resp.status_code == 400
    error = resp.get_json()["error"]
    from tests.bad_inputs import CASES

    words = next(c[4] for c in CASES if c[0] == "L5").replace("shot s1", "shot s2")
    assert words in error and "nothing was written" in error, error
    assert selections.read_bytes() == before
    assert "error" not in client.get("/api/board").get_json()


@pytest.mark.parametrize(
    "action, body, status, words",
    [
        (
            "lock",
            '{"shot": "s2", "x": "' + "a" * 70_000 + '"}',
            413,
            "a lock request is at most 65,536 bytes",
        ),
        ("lock", '{"shot": "s2", "x": ' + "[" * 200_000 + "]" * 200_000 + "}", 413, "at most"),
        ("lock", '{"shot": "s2", "x": ' + "[" * 5_000 + "]" * 5_000 + "}", 400, "nested 5,001"),
        ("edit", '{"shot": "s2", "x": ' + "[" * 200_000 + "]" * 200_000 + "}", 400, "nested"),
        ("lock", '{"shot": "s2", ', 400, "not JSON"),
    ],
)
def test_oversized_or_deep_bodies_are_refused_in_words(board, action, body, status, words):
    client, selections = board
    before = selections.read_bytes()
    resp = client.post(f"/api/{action}", data=body, content_type="application/json")
    assert resp.status_code == status, resp.data[:300]
    assert words in resp.get_json()["error"]
    assert selections.read_bytes() == before


def test_an_image_past_the_bomb_limit_is_a_placeholder_naming_it(board):
    from PIL import Image

    client, _ = board
    from tests.bad_inputs import bomb_png

    bomb = os.path.join("runs", "review", "bomb.png")
    bomb_png(__import__("pathlib").Path(bomb))
    try:
        assert os.path.getsize(bomb) < 100_000
        for url in ("/runs/review/bomb.png", "/runs/review/bomb.png?thumb=1"):
            resp = client.get(url)
            assert resp.status_code == 200 and resp.mimetype == "image/png", url
            said = resp.headers["X-Stillmake-Not-Shown"]
            assert said.startswith("runs/review/bomb.png is 20000x20000 (400,000,000 pixels)")
            import io

            with Image.open(io.BytesIO(resp.data)) as im:
                assert im.size[0] <= 480  # a small picture, not the file
    finally:
        os.unlink(bomb)


@pytest.mark.skipif(os.getuid() != 0, reason="runuser needs root to act as another account")
def test_another_account_gets_nothing_even_with_the_token(reviewed):
    wf, _ = reviewed
    selections = wf.path("runs/input/selections.yaml")
    before = selections.read_bytes()
    with serving(wf) as (url, browser):
        base, token = url.split("?token=")
        answers = as_other(base, token)
        # the owner's browser, through the printed URL, is in
        assert b"stillmake review board" in browser.open(url, timeout=10).read()
        board = json.loads(browser.open(base + "api/board", timeout=30).read())
        assert [s["id"] for s in board["shots"]][:2] == ["s1", "s2"]
    for what, (status, body) in answers.items():
        assert status == 403, (what, status, body[:200])
        assert "belongs to another account" in body, (what, body[:200])
        for secret in ('"shots"', "pick", "Leyla", token):
            assert secret not in body, (what, body[:200])
    assert selections.read_bytes() == before  # the reroll (a paid draft) never happened
