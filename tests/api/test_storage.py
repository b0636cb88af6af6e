"""Provenance chunks, the cache and the ledger: the files that make a build traceable."""

import hashlib
import io
import json
import multiprocessing as mp
from dataclasses import replace

import pytest
from PIL import Image

from stillmake.api.cache import Cache
from stillmake.api.ledger import Ledger
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.provenance import (
    read_png_record,
    read_sidecar,
    with_text_chunks,
    write_image,
)
from stillmake.errors import BudgetExceeded


def png(color=(10, 20, 30), size=(64, 32)):
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def test_write_image_keeps_pixels_and_adds_chunks(tmp_path):
    record = {
        "prompt": "Leyla — 走廊",
        "negative": "cgi",
        "model": "gpt-image-1.5",
        "size": "64x32",
        "quality": "medium",
        "n": 1,
        "fingerprint": "abc",
    }
    out = tmp_path / "d" / "x.png"
    write_image(out, png(), record)
    with Image.open(out) as im:
        assert im.getpixel((0, 0)) == (10, 20, 30)
        assert "Negative prompt: cgi" in im.text["parameters"]
        assert "Model: gpt-image-1.5" in im.text["parameters"]
    assert read_png_record(out) == record
    assert read_sidecar(out) == record
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]


def test_chunks_replace_not_duplicate():
    once = with_text_chunks(png(), {"stillmake": "1"})
    twice = with_text_chunks(once, {"stillmake": "2"})
    assert twice.count(b"stillmake") == 1
    with Image.open(io.BytesIO(twice)) as im:
        assert im.text["stillmake"] == "2"


def test_fingerprint_covers_every_field():
    base = ImageRequest("generate", "gpt-image-1.5", "p", 3, "1536x1024", "medium")
    variants = [
        ImageRequest("edit", "gpt-image-1.5", "p", 3, "1536x1024", "medium"),
        ImageRequest("generate", "gpt-image-1-mini", "p", 3, "1536x1024", "medium"),
        ImageRequest("generate", "gpt-image-1.5", "q", 3, "1536x1024", "medium"),
        ImageRequest("generate", "gpt-image-1.5", "p", 2, "1536x1024", "medium"),
        ImageRequest("generate", "gpt-image-1.5", "p", 3, "1024x1024", "medium"),
        ImageRequest("generate", "gpt-image-1.5", "p", 3, "1536x1024", "high"),
        ImageRequest("generate", "gpt-image-1.5", "p", 3, "1536x1024", "medium", reroll=1),
        ImageRequest(
            "generate", "gpt-image-1.5", "p", 3, "1536x1024", "medium", backend="openai@http://x"
        ),
        base.with_inputs(["aa"]),
        base.with_inputs([], mask="bb"),
        replace(base, complexity="high"),
    ]
    fps = {v.fingerprint() for v in variants}
    assert base.fingerprint() not in fps and len(fps) == len(variants)
    assert ImageRequest.from_dict(base.to_dict()) == base


def test_fingerprints_written_before_complexity_existed_are_kept():
    """A request paid for before a field was added keeps its cache entry: the digest of
    an unset new field is the digest the request had without it."""
    base = ImageRequest("generate", "gpt-image-1.5", "p", 3, "1536x1024", "medium")
    body = {k: v for k, v in base.to_dict().items() if k != "complexity"}
    old = hashlib.sha256(
        json.dumps({"v": 1, **body}, sort_keys=True, ensure_ascii=False).encode()
    ).hexdigest()[:24]
    assert base.fingerprint() == old


def test_cache_round_trip_and_corruption(tmp_path):
    cache = Cache(tmp_path)
    assert not cache.has("ab" * 12)
    cache.store("ab" * 12, [png(), png((1, 2, 3))], {"cost_usd": 0.1})
    images, record = cache.load("ab" * 12)
    assert images[1] == png((1, 2, 3)) and record["cost_usd"] == 0.1
    (cache.entry("ab" * 12) / "image_1.png").write_bytes(b"garbage")
    with pytest.raises(OSError, match="corrupt"):
        cache.load("ab" * 12)


def test_budget_refuses_and_counts_inflight(tmp_path):
    ledger = Ledger(tmp_path / "ledger.jsonl", budget_usd=0.10)
    with ledger.reserve(0.06, "s1 draft") as settle:
        with pytest.raises(BudgetExceeded, match=r"budget_usd \$0\.10"):
            with ledger.reserve(0.06, "s2 draft"):
                pass
        settle({"outcome": "paid", "cost_usd": 0.06})
    with pytest.raises(BudgetExceeded):
        with ledger.reserve(0.05, "s3 draft"):
            pass
    with ledger.reserve(0.04, "s3 draft") as settle:
        settle({"outcome": "paid", "cost_usd": 0.04})
    assert ledger.spent() == 0.10
    assert json.loads((tmp_path / ".ledger.jsonl.inflight.json").read_text()) == {}


def _reserve_and_pay(path, n):
    ledger = Ledger(path, budget_usd=0.50)
    paid = 0
    for _ in range(n):
        try:
            with ledger.reserve(0.05, "race") as settle:
                settle({"outcome": "paid", "cost_usd": 0.05})
                paid += 1
        except BudgetExceeded:
            pass
    return paid


def test_budget_holds_across_racing_processes(tmp_path):
    path = tmp_path / "ledger.jsonl"
    with mp.get_context("fork").Pool(4) as pool:
        paid = sum(pool.starmap(_reserve_and_pay, [(path, 6)] * 4))
    ledger = Ledger(path)
    assert paid == 10 and len(ledger.entries()) == 10
    assert ledger.spent() == pytest.approx(0.50)


def test_atomic_writes_keep_the_usual_file_mode(tmp_path):
    """mkstemp creates 0600 files; what a build writes gets the mode any new file would."""
    import os

    from stillmake.files import atomic_write_bytes

    atomic_write_bytes(tmp_path / "a.bin", b"x")
    (tmp_path / "b.bin").write_bytes(b"x")  # an ordinary new file, same umask
    mode = (tmp_path / "a.bin").stat().st_mode & 0o777
    assert mode == (tmp_path / "b.bin").stat().st_mode & 0o777
    assert mode & 0o044 or os.umask(os.umask(0)) & 0o044  # readable unless umask forbids
