"""The call path: what the API answers, what the cache keeps, what gets written down.

Every answer is checked before it enters the cache (it decodes, it is the PNG asked
for, at the size asked for, as many as asked for); a bad answer is a failed attempt,
ledgered and retried, never a cached poison pill. Corrupt cache entries are moved
aside and fetched again; corrupt sidecars name themselves and the command that
rebuilds them; an unreachable server names its URL and the setting; credentials in a
URL are never written down; JPEG and WebP references are sent as what they are.
"""

from __future__ import annotations

import dataclasses
import errno
import functools
import io
import json
import logging
import multiprocessing as mp
import os
import socket

import pytest
from PIL import Image

from stillmake.api import calls
from stillmake.api.backends.factory import backend_identity
from stillmake.api.cache import Cache
from stillmake.api.endpoint import redact_url
from stillmake.api.ledger import Ledger
from stillmake.api.requests import ImageRequest
from stillmake.api.retry import RetryPolicy
from stillmake.artifacts.provenance import raw_image, read_sidecar
from stillmake.errors import BudgetExceeded, StillmakeError
from stillmake.files import sha256_bytes
from tests.conftest import FAKE_KEY, config_for, server_billed, token_bill
from tests.fake_openai import FakeOpenAI

OPENAI = ["--config", "backend=openai"]
SIZE = "1536x864"
PROMPTS = "runs/input/the_trace.image_prompts.refined.json"


# -- helpers ---------------------------------------------------------------------------
@pytest.fixture
def fast_retries(monkeypatch):
    """The normal retry policy, with millisecond waits."""
    monkeypatch.setattr(
        calls, "RetryPolicy", functools.partial(RetryPolicy, base_s=0.01, cap_s=0.02)
    )


@pytest.fixture
def api(tmp_path, fake_openai, monkeypatch, fast_retries):
    """Settings for the openai backend on the fake server, rooted in tmp_path."""
    monkeypatch.setenv("OPENAI_API_KEY", FAKE_KEY)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)

    def make(max_retries=2, base_url=None):
        return config_for(
            tmp_path,
            backend="openai",
            openai={"base_url": base_url or fake_openai.url, "max_retries": max_retries},
        )

    return make


def request_for(settings, n=2, size=SIZE, prompt="a wet corridor at night"):
    return ImageRequest(
        "generate",
        "gpt-image-2.6-flare",
        prompt,
        n,
        size,
        "medium",
        backend=backend_identity(settings),
    )


def obtain(settings, request, logger=None):
    return calls.obtain(
        request,
        settings,
        shot="s1",
        pass_="draft",
        label={"shot": "s1"},
        logger=logger or logging.getLogger("test.answers"),
    )


def ledger_lines(settings):
    return Ledger(settings.ledger_path).entries()


def last_line_with(text: str, words: str) -> str:
    """The last line of a job's output that says `words` (the final failure, after any
    retries): one line must carry the whole message (the shot's outcome at the end of the
    build only recalls its start)."""
    lines = [ln for ln in text.splitlines() if words in ln and not ln.endswith("(said above)")]
    assert lines, text[-3000:]
    return lines[-1]


def decoded(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    im.load()
    return im


def jpeg(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (90, 40, 20)).save(buf, "JPEG")
    return buf.getvalue()


def webp(size=(64, 48)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, (20, 40, 90)).save(buf, "WEBP")
    return buf.getvalue()


# What each bad answer is called in the failed attempt's reason.
BAD_ANSWERS = {
    "jpeg": "is a JPEG image, not the PNG asked for",
    "wrong_size": f"is 768x432, not the {SIZE} asked for",
    "truncated_png": "in the API's answer does not decode",
    "broken_base64": "in the API's answer is not valid base64",
    "broken_json": "the API's answer is not valid JSON",
    "missing_image": "asked for 2 images, got 1",
}


# -- 1, 2: a bad answer is a failed attempt, never a cache entry ------------------------
# bad answers whose usage reaches the client; a body that is not JSON carries none readable
USAGE_READ = ("jpeg", "wrong_size", "truncated_png", "broken_base64", "missing_image")


def assert_refused_bill(line: dict, refused: dict, kind: str) -> None:
    """A refused answer is priced like any other: from its usage, or at the estimate when
    the body could not be read (the API billed it all the same)."""
    if kind in USAGE_READ:
        assert refused["usage"]["output_tokens"] > 0
        assert refused["cost_usd"] == pytest.approx(token_bill(refused["usage"]), abs=1e-6)
    else:
        assert "usage" not in refused
        assert refused["cost_usd"] == line["estimate_usd"] > 0
        assert refused["cost_source"].startswith("estimate")


@pytest.mark.parametrize("kind", list(BAD_ANSWERS))
def test_bad_answer_is_a_failed_attempt_and_the_retry_is_kept(api, fake_openai, kind):
    settings = api(max_retries=2)
    request = request_for(settings)
    fake_openai.corrupt_next(1, kind)
    got = obtain(settings, request)
    assert fake_openai.count() == 2
    for data in got.images + Cache(settings.cache_dir).load(request.fingerprint())[0]:
        im = decoded(data)
        assert (im.format, f"{im.width}x{im.height}") == ("PNG", SIZE)
    (line,) = ledger_lines(settings)
    assert line["outcome"] == "paid" and line["attempts"] == 2
    refused = line["retries"][0]
    assert BAD_ANSWERS[kind] in refused["error"], line["retries"]
    assert_refused_bill(line, refused, kind)
    # billed means counted: the line is both answers' bills, the refused one itemised
    assert line["rejected_usd"] == refused["cost_usd"]
    good = token_bill(line["usage"])
    assert line["cost_usd"] == pytest.approx(refused["cost_usd"] + good, abs=1e-6)
    if kind in USAGE_READ:  # what the server billed, to the cent (and closer)
        assert line["cost_usd"] == pytest.approx(server_billed(fake_openai), abs=1e-6)
    assert Ledger(settings.ledger_path).spent() == line["cost_usd"]


@pytest.mark.parametrize("kind", list(BAD_ANSWERS))
def test_bad_answers_exhaust_retries_into_one_clear_line(api, fake_openai, kind):
    settings = api(max_retries=2)
    request = request_for(settings)
    fake_openai.corrupt_next(3, kind)
    with pytest.raises(StillmakeError) as err:
        obtain(settings, request)
    message = str(err.value)
    assert BAD_ANSWERS[kind] in message, message
    assert message.endswith("; gave up after 3 attempts (openai.max_retries: 2)"), message
    assert "\n" not in message
    (line,) = ledger_lines(settings)
    assert line["outcome"] == "failed" and line["attempts"] == 3
    assert BAD_ANSWERS[kind] in line["error"]
    assert [r["attempt"] for r in line["retries"]] == [1, 2, 3]
    for refused in line["retries"]:
        assert_refused_bill(line, refused, kind)
    # failed, and billed three times: all of it is in the line and in the spend total
    assert line["cost_usd"] == pytest.approx(sum(r["cost_usd"] for r in line["retries"]))
    assert line["cost_usd"] == line["rejected_usd"] > 0
    if kind in USAGE_READ:
        assert line["cost_usd"] == pytest.approx(server_billed(fake_openai), abs=1e-6)
    assert Ledger(settings.ledger_path).spent() == line["cost_usd"]
    assert not Cache(settings.cache_dir).has(request.fingerprint())
    # the next run asks again, and keeps what it gets
    got = obtain(settings, request)
    assert not got.cached and decoded(got.images[0]).format == "PNG"


def test_two_refused_answers_then_a_good_one_are_three_bills_on_one_line(api, fake_openai, caplog):
    """The issue's case: two answers at the wrong size, then a good one."""
    settings = api(max_retries=4)
    fake_openai.corrupt_next(2, "wrong_size")
    with caplog.at_level(logging.INFO, logger="test.answers"):
        obtain(settings, request_for(settings))
    (line,) = ledger_lines(settings)
    said = f"${line['cost_usd']:.3f} (${line['rejected_usd']:.3f} of it for refused answers)"
    assert said in caplog.text, caplog.text
    served = server_billed(fake_openai)
    assert len(fake_openai.billed()) == 3 and line["attempts"] == 3
    assert line["cost_usd"] == pytest.approx(served, abs=1e-6)
    assert round(line["cost_usd"], 2) == round(served, 2)
    assert line["rejected_usd"] == pytest.approx(
        sum(r["cost_usd"] for r in line["retries"]), abs=1e-9
    )
    print(f"\n2 refused + 1 good: server billed ${served:.6f}, ledger ${line['cost_usd']:.6f}")


def test_refused_answers_count_against_the_budget_before_a_retry(api, fake_openai):
    """Each retry after a billed refusal is checked against the ceiling: a gateway that
    keeps sending bad answers cannot spend past budget_usd."""
    settings = api(max_retries=4)
    request = request_for(settings)
    estimate = calls.Estimator().estimate(request).usd
    settings = dataclasses.replace(settings, budget_usd=round(estimate * 1.5, 6))  # one fits
    fake_openai.corrupt_next(5, "wrong_size")
    with pytest.raises(BudgetExceeded) as err:
        obtain(settings, request)
    message = str(err.value)
    assert "\n" not in message and "another attempt would cost" in message, message
    assert f"budget_usd ${settings.budget_usd:.2f}" in message
    assert fake_openai.count() == 1  # the second attempt never left
    (line,) = ledger_lines(settings)
    assert line["outcome"] == "over_budget" and line["attempts"] == 1
    assert line["cost_usd"] == pytest.approx(server_billed(fake_openai), abs=1e-6)
    assert Ledger(settings.ledger_path).reservations() == []  # released with its line


def _obtain_and_die_before_the_ledger(settings, request):
    """A build killed between keeping the answer in the cache and writing its line."""
    from stillmake.api import ledger as ledger_module

    ledger_module.Hold.settle = lambda self, entry: os._exit(0)
    obtain(settings, request)
    os._exit(1)  # not reached: settle ends the process


def test_an_answer_kept_by_a_build_that_died_is_billed_when_found(api, fake_openai):
    """Money that may have been spent stays spent, and is settled from the cache: the
    next build that asks for the request finds the answer and writes its bill."""
    settings = api()
    request = request_for(settings)
    child = mp.get_context("fork").Process(
        target=_obtain_and_die_before_the_ledger, args=(settings, request)
    )
    child.start()
    child.join(60)
    assert child.exitcode == 0
    ledger = Ledger(settings.ledger_path)
    assert ledger.entries() == []  # died before its line
    (held,) = ledger.reservations()
    assert held.unsettled and held.fingerprint == request.fingerprint()
    got = obtain(settings, request)  # the next build
    assert got.cached and fake_openai.count() == 1  # found, not asked again
    paid, hit = ledger.entries()
    assert (paid["outcome"], hit["outcome"]) == ("paid", "cache_hit")
    assert paid["recovered"].startswith("from the cache") and paid["reservation"] == held.rid
    assert paid["cost_usd"] == pytest.approx(server_billed(fake_openai), abs=1e-6)
    assert ledger.reservations() == []


def test_answer_without_usage_is_billed_at_the_estimate(api, fake_openai):
    settings = api()
    request = request_for(settings)
    fake_openai.corrupt_next(1, "no_usage")
    got = obtain(settings, request)
    (line,) = ledger_lines(settings)
    assert line["outcome"] == "paid" and line["attempts"] == 1 and line["usage"] is None
    assert line["cost_source"] == "estimate (no usage in the response)"
    assert line["cost_usd"] == line["estimate_usd"] > 0
    assert got.record["cost_usd"] == line["cost_usd"]
    assert got.record["cost_source"] == line["cost_source"]


def test_preview_answers_pass_the_same_check(tmp_path):
    """The check is on the call path, not in one backend: preview answers go through it."""
    settings = config_for(tmp_path)
    got = obtain(settings, request_for(settings, n=1, size="1024x1024"))
    assert decoded(got.images[0]).size == (1024, 1024)
    assert ledger_lines(settings)[0]["attempts"] == 1


# -- 3: corrupt cache entries and sidecars ----------------------------------------------
def _truncate(path, keep=0.5):
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])


@pytest.mark.parametrize("what", ["response.json", "image_1.png", "jpeg_cached_by_an_old_version"])
def test_corrupt_cache_entry_is_moved_aside_and_fetched_again(api, fake_openai, caplog, what):
    settings = api()
    request = request_for(settings)
    cache = Cache(settings.cache_dir)
    fp = request.fingerprint()
    if what == "jpeg_cached_by_an_old_version":  # stored before answers were checked
        cache.store(fp, [jpeg(), jpeg()], {"cost_usd": 0.08, "created": "2026-11-01"})
    else:
        obtain(settings, request)
        _truncate(cache.entry(fp) / what)
    before = fake_openai.count()
    with caplog.at_level(logging.WARNING, logger="test.answers"):
        got = obtain(settings, request)
    assert fake_openai.count() == before + 1 and not got.cached
    entry = cache.entry(fp).relative_to(settings.root)
    warning = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert f"cache entry {entry} is corrupt" in warning, warning
    assert "moved aside to runs/cache/.corrupt/" in warning, warning
    aside = list((settings.cache_dir / ".corrupt").iterdir())
    assert len(aside) == 1 and aside[0].name.startswith(fp)
    images, _record = cache.load(fp)  # the refetched entry is whole
    assert all(decoded(i).format == "PNG" for i in images)
    assert obtain(settings, request).cached  # and answers the next run


def test_swapped_cache_entries_are_moved_aside_never_served(api, fake_openai, caplog):
    """The issue's case: two entries swapped on disk served each other's drafts."""
    settings = api()
    cache = Cache(settings.cache_dir)
    one = request_for(settings, prompt="s1: a wet corridor at night")
    two = request_for(settings, prompt="s2: a stairwell under red emergency light")
    first = {r.fingerprint(): obtain(settings, r).images for r in (one, two)}
    a, b = cache.entry(one.fingerprint()), cache.entry(two.fingerprint())
    a.rename(a.with_name("swap")), b.rename(a), a.with_name("swap").rename(b)
    before = fake_openai.count()
    with caplog.at_level(logging.WARNING, logger="test.answers"):
        again = {r.fingerprint(): obtain(settings, r) for r in (one, two)}
    assert fake_openai.count() == before + 2  # both asked for again, never served
    for fp, other in (
        (one.fingerprint(), two.fingerprint()),
        (two.fingerprint(), one.fingerprint()),
    ):
        assert not again[fp].cached and set(again[fp].images).isdisjoint(first[other])
        assert f"is corrupt (it holds the answer to request {other}, not {fp}" in caplog.text
    assert len(list((settings.cache_dir / ".corrupt").iterdir())) == 2
    assert obtain(settings, one).cached and obtain(settings, two).cached  # whole again


def test_an_edited_cache_entry_is_moved_aside_and_an_old_one_still_answers(api, caplog):
    settings = api()
    cache = Cache(settings.cache_dir)
    request = request_for(settings)
    obtain(settings, request)
    response = cache.entry(request.fingerprint()) / "response.json"
    record = json.loads(response.read_text())
    # an entry kept before entries named their fingerprint: its request still vouches for it
    response.write_text(json.dumps({k: v for k, v in record.items() if k != "fingerprint"}))
    assert obtain(settings, request).cached
    # the request it was kept for, edited: not the answer to this request any more
    record["request"]["prompt"] = "something else"
    response.write_text(json.dumps(record))
    with caplog.at_level(logging.WARNING, logger="test.answers"):
        assert not obtain(settings, request).cached
    assert "is corrupt (it was kept for request " in caplog.text
    assert f"not {request.fingerprint()} (edited?)" in caplog.text


def test_cache_load_names_a_corrupt_entry(tmp_path):
    cache = Cache(tmp_path / "runs" / "cache")
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    cache.store("cd" * 12, [png.getvalue()], {"cost_usd": 0.0})
    _truncate(cache.entry("cd" * 12) / "response.json", keep=0.3)
    with pytest.raises(StillmakeError, match=r"cache entry .*cdcd.* is corrupt"):
        cache.load("cd" * 12)


@pytest.mark.parametrize("broken", ["draft_2.json", "draft_2.png"])
def test_truncated_draft_or_sidecar_names_itself_and_the_command(workflow, broken):
    wf = workflow
    wf.snakemake("runs/drafts/s1/draft_1.png")
    _truncate(wf.path(f"runs/drafts/s1/{broken}"))
    proc = wf.snakemake("runs/review/s1.png", check=False)
    assert proc.returncode != 0
    what = "sidecar" if broken.endswith(".json") else "image"
    line = last_line_with(proc.stderr, f"runs/drafts/s1/{broken}: {what} is truncated or corrupt")
    command = "snakemake --forcerun runs/drafts/s1/draft_2.png"
    assert command in line, line
    assert not wf.path("runs/review/s1.png").exists()
    # the command it names rebuilds it (from the cache: nothing is asked for again)
    wf.snakemake(*command.split()[1:], "runs/review/s1.png")
    assert read_sidecar(wf.path("runs/drafts/s1/draft_2.png"))["cache_hit"] is True
    assert wf.path("runs/review/s1.png").exists()


def test_stages_name_a_truncated_image_they_read(tmp_path, monkeypatch):
    """Every stage that reads a build output reads it strictly: the manifest's finals,
    the review's drafts, an edit's source (raw_image) all name the file and the command."""
    from stillmake.artifacts.provenance import write_image
    from stillmake.stages import manifest
    from stillmake.stages.review import review

    monkeypatch.chdir(tmp_path)
    png = io.BytesIO()
    Image.new("RGB", (64, 36), (40, 50, 60)).save(png, "PNG")
    final = "runs/final/s1.png"
    write_image(final, png.getvalue(), {"shot": "s1", "image_sha256": "x"})
    _truncate(tmp_path / final, keep=0.7)
    command = f"run `snakemake --forcerun {final}` to rebuild it"
    for read in (raw_image, lambda p: manifest.rows([p]), lambda p: review("s1", "", None, [p])):
        with pytest.raises(StillmakeError) as err:
            read(final)
        assert f"{final}: image is truncated or corrupt" in str(err.value), err.value
        assert command in str(err.value)


def test_an_answer_the_cache_cannot_keep_is_still_in_the_ledger(api, fake_openai, monkeypatch):
    """Paid for but not kept (disk full): the spend is written down, the user told in one line."""
    settings = api()

    def full(self, fingerprint, images, record):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Cache, "store", full)
    with pytest.raises(StillmakeError) as err:
        obtain(settings, request_for(settings))
    message = str(err.value)
    assert "could not be kept in runs/cache/: No space left on device" in message, message
    (line,) = ledger_lines(settings)
    assert line["outcome"] == "paid" and line["cost_usd"] > 0
    assert line["error"] == "not kept in the cache: No space left on device"
    assert f"billed ${line['cost_usd']:.3f}" in message


def test_an_image_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    from stillmake.artifacts import provenance

    def full(path, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(provenance, "atomic_write_bytes", full)
    png = io.BytesIO()
    Image.new("RGB", (8, 8)).save(png, "PNG")
    out = tmp_path / "runs" / "drafts" / "s1" / "draft_1.png"
    with pytest.raises(StillmakeError, match=r"cannot write .*draft_1\.png: No space left") as err:
        provenance.write_image(out, png.getvalue(), {"shot": "s1"})
    assert "answers already paid for come from runs/cache/ at $0" in str(err.value)
    assert not out.exists()


# -- 4: an unreachable server -----------------------------------------------------------
def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("where", ["config", "env"])
def test_unreachable_base_url_is_one_line_naming_the_url_and_the_setting(workflow, where):
    wf = workflow
    url = f"http://127.0.0.1:{_closed_port()}/v1"
    fast = (
        "openai: {max_retries: 1, timeout_s: 5"
        + (f", base_url: '{url}'" if where == "config" else "")
        + "}\n"
    )
    wf.path("fast.yaml").write_text(fast)
    env = wf.env(OPENAI_API_KEY=FAKE_KEY, OPENAI_BASE_URL=url if where == "env" else None)
    proc = wf.snakemake(
        "runs/drafts/s1/draft_1.png", "--configfile", "fast.yaml", *OPENAI, env=env, check=False
    )
    assert proc.returncode != 0
    line = last_line_with(proc.stderr, f"cannot reach the API at {url}")
    setting = "openai.base_url in config.yaml" if where == "config" else "OPENAI_BASE_URL"
    assert f"(set by {setting})" in line and "after 2 attempts" in line, line
    assert "Connection error." not in proc.stderr
    (entry,) = Ledger(wf.path("runs/ledger.jsonl")).entries()
    assert entry["outcome"] == "failed" and entry["attempts"] == 2
    assert "cannot reach the API" in entry["error"]


# -- 5: credentials in a URL are never written down --------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://api.openai.com/v1", "https://api.openai.com/v1"),
        ("http://user:s3cret@127.0.0.1:8080/v1", "http://127.0.0.1:8080/v1"),
        ("http://token@gw.example/v1", "http://gw.example/v1"),
        (
            "https://gw.example/v1?api-version=2025-04&api-key=s3cret",
            "https://gw.example/v1?api-version=2025-04&api-key=***",
        ),
        (
            "https://gw.example/v1?sig=s3cret&Token=x1&auth=y2",
            "https://gw.example/v1?sig=***&Token=***&auth=***",
        ),
        ("http://[::1]:9000/v1", "http://[::1]:9000/v1"),
    ],
)
def test_credentials_are_redacted_from_recorded_urls(url, shown):
    assert redact_url(url) == shown


def test_backend_identity_and_errors_carry_no_password(api):
    user, secret = "usr-Kq3", "pw-Zq81-secret"
    with FakeOpenAI(basic_auth=(user, secret)) as gateway:
        url = gateway.url.replace("http://", f"http://{user}:{secret}@") + f"?api-key={secret}x"
        settings = api(base_url=url, max_retries=0)
        identity = backend_identity(settings)
        assert identity == f"openai@{gateway.url}?api-key=***"
        # a server that echoes what it was sent, secrets and all
        gateway.fail_next(1, 404, message=f"no route for ?api-key={secret}x (user {user})")
        with pytest.raises(StillmakeError) as err:
            obtain(settings, request_for(settings))
        assert gateway.requests[0].query == f"api-key={secret}x"  # sent with every request
        assert gateway.requests[0].headers["authorization"].startswith("Basic ")
        obtain(settings, request_for(settings))  # and a build through it works
    message = str(err.value)
    assert secret not in message and user not in message and "no route for" in message
    text = settings.ledger_path.read_text()
    assert secret not in text and user not in text
    for path in settings.cache_dir.rglob("*"):
        assert not path.is_file() or secret.encode() not in path.read_bytes()


# -- 6: JPEG and WebP references --------------------------------------------------------
def test_raw_image_takes_jpeg_and_webp_as_they_are(tmp_path):
    for name, data in (("ref.jpg", jpeg()), ("ref.webp", webp())):
        (tmp_path / name).write_bytes(data)
        assert raw_image(tmp_path / name) == data


def test_raw_image_refuses_a_file_that_is_not_an_image(tmp_path):
    path = tmp_path / "ref.png"
    path.write_text("not an image")
    with pytest.raises(StillmakeError, match=r"ref\.png: not a PNG, JPEG or WebP image"):
        raw_image(path)


@pytest.mark.parametrize("fmt", ["jpeg", "webp"])
def test_jpeg_and_webp_references_are_sent_as_what_they_are(workflow, fake_openai, fmt):
    wf = workflow
    ext, mime, data = {
        "jpeg": (".jpg", "image/jpeg", jpeg((512, 512))),
        "webp": (".webp", "image/webp", webp((512, 512))),
    }[fmt]
    wf.path(f"runs/input/refs/leyla_ref{ext}").write_bytes(data)
    prompts = json.loads(wf.path(PROMPTS).read_text(encoding="utf-8"))
    prompts["characters"]["leyla"]["refs"] = [f"refs/leyla_ref{ext}"]
    wf.path(PROMPTS).write_text(json.dumps(prompts), encoding="utf-8")
    env = wf.openai_env(fake_openai)
    plan = wf.stillmake("plan", "runs/edits/s3/step_1.png", "-C", "backend=openai", env=env)
    assert "edit1" in plan.stdout
    wf.snakemake("runs/edits/s3/step_1.png", *OPENAI, env=env)
    (edit,) = [r for r in fake_openai.requests if r.path.endswith("/edits")]
    parts = edit.files["image[]"]
    assert [(p.content_type, p.filename.rsplit(".", 1)[-1]) for p in parts] == [
        ("image/png", "png"),
        (mime, ext[1:]),
    ]
    assert parts[1].data == data  # sent byte for byte
    side = read_sidecar(wf.path("runs/edits/s3/step_1.png"))
    assert side["inputs"][1] == sha256_bytes(data)


def test_fake_refuses_an_image_sent_under_another_type(fake_openai):
    """The fake checks what the edit endpoint is sent (so the test above means something)."""
    import openai

    client = openai.OpenAI(base_url=fake_openai.url, api_key=FAKE_KEY, max_retries=0)
    with pytest.raises(openai.BadRequestError, match="does not match"):
        client.images.edit(
            model="gpt-image-2.6-sunburst",
            prompt="x",
            image=("image_1.png", jpeg((512, 512)), "image/png"),
        )
