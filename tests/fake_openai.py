"""A loopback OpenAI-compatible Images server that speaks the real wire format.

JSON /v1/images/generations, multipart /v1/images/edits (`image[]` parts or a
single `image`, optional `mask` or `markup`), base64 PNGs of the requested size,
token `usage`, and error bodies in the API's shape. JSON /v1/responses for the
vision critique: `input_image` parts as data URLs, a strict `json_schema` text
format, and a `response` object whose message holds verdicts derived from the
first image's bytes, with Responses `usage` (reasoning tokens included). It knows each image model's
rules (sizes, qualities, `complexity`, `input_fidelity`, `markup`, shutdown
dates) and refuses what the real API would refuse. Faults (status codes,
retry-after, moderation refusals, latency, bad 200 bodies) can be injected in-process or
over HTTP (`POST /_control`), so a server in another process can be steered too. Like
the real API it bills every answer it generates (`billed()`, `GET /_requests`), whether
or not the client could read the body: the figure a ledger must add up to.

    python tests/fake_openai.py --port 8765 --latency 2 [--today 2026-11-25]
"""

from __future__ import annotations

import argparse
import base64
import datetime
import hashlib
import io
import json
import math
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
from PIL import Image

# A made-up key, shaped like a real one, for tests that check it is never written down.
FAKE_KEY = "sk-test-FAKEKEY-0123456789abcdefghijklmnop"

# -- token usage (deterministic; other tests import these to predict spend) -----------
# usage.input_tokens_details.text_tokens = max(1, round(len(prompt) / TEXT_CHARS_PER_TOKEN))
TEXT_CHARS_PER_TOKEN = 4
# usage.output_tokens per image = round(OUTPUT_TOKENS_PER_MP[quality] * family_factor(model)
#   * megapixels * (1 + output_jitter(model, prompt, k, size, quality))), summed over n images.
OUTPUT_TOKENS_PER_MP = {
    "low": 120,
    "medium": 800,
    "high": 3200,
    "xhigh": 6000,
    "max": 9000,
    "auto": 3200,
}
# each image's output tokens vary by at most this fraction either way (seeded, reproducible)
OUTPUT_JITTER = 0.06
# flare is the fast, lean variant, sunburst spends more; everything else is 1.0
FAMILY_FACTOR = {"flare": 0.85, "sunburst": 1.1}


def family_factor(model: str) -> float:
    """0.85 for flare models, 1.1 for sunburst models, 1.0 for gpt-image-2 and the 1.x models."""
    for key, factor in FAMILY_FACTOR.items():
        if key in model:
            return factor
    return 1.0


def input_image_tokens(w: int, h: int) -> int:
    """Input tokens for one input image of w x h pixels (each `image`/`image[]` part of an
    edit; `mask` and `markup` parts are free): 85 + 170 per 512-pixel tile."""
    return 85 + 170 * math.ceil(w / 512) * math.ceil(h / 512)


def text_tokens(prompt: str) -> int:
    return max(1, round(len(prompt) / TEXT_CHARS_PER_TOKEN))


def output_jitter(model: str, prompt: str, k: int, size: str, quality: str) -> float:
    """A uniform draw in [-OUTPUT_JITTER, +OUTPUT_JITTER) seeded by sha256 of the request."""
    digest = hashlib.sha256(f"{model}|{prompt}|{k}|{size}|{quality}".encode()).digest()
    u = int.from_bytes(digest[:8], "big") / 2**64
    return (2 * u - 1) * OUTPUT_JITTER


def output_image_tokens(model: str, prompt: str, k: int, size: str, quality: str) -> int:
    """Output tokens for image k (0-based) of a request; size is the actual 'WxH' output size."""
    w, h = (int(v) for v in size.split("x"))
    return round(
        OUTPUT_TOKENS_PER_MP[quality]
        * family_factor(model)
        * (w * h / 1e6)
        * (1 + output_jitter(model, prompt, k, size, quality))
    )


# -- vision critique (/v1/responses) ----------------------------------------------------
# usage.input_tokens = text_tokens(all input_text, joined) + per input_image:
#   RESPONSES_LOW_DETAIL_TOKENS at detail "low", else input_image_tokens(w, h)
# usage.output_tokens = REASONING_TOKENS[effort] + text_tokens(the JSON answer)
VISION_MODELS = ("gpt-6.1-terra",)
REASONING_TOKENS = {
    "none": 0,
    "minimal": 64,
    "low": 512,
    "medium": 1536,
    "high": 4096,
    "xhigh": 8192,
    "max": 12288,
}
RESPONSES_LOW_DETAIL_TOKENS = 85
RESPONSES_FIELDS = {
    "model",
    "input",
    "instructions",
    "reasoning",
    "text",
    "store",
    "max_output_tokens",
    "metadata",
    "user",
    "safety_identifier",
}


def verdict_for(image: bytes, criterion: str) -> str:
    """The fake's judgement: seeded by the image's bytes and the criterion (7:2:1)."""
    b = hashlib.sha256(image + criterion.encode("utf-8")).digest()[0] % 10
    return "pass" if b < 7 else ("warn" if b < 9 else "fail")


# -- models ----------------------------------------------------------------------------
CLASSIC_SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
SIZES = CLASSIC_SIZES  # kept for older imports
QUALITIES = ("low", "medium", "high", "auto")
QUALITIES_XMAX = ("low", "medium", "high", "xhigh", "max", "auto")
COMPLEXITIES = ("low", "medium", "high")
# flexible sizes (2.x): both sides divisible by SIZE_STEP, aspect within 1:3..3:1, each side
# at most MAX_EDGE, MIN_PIXELS <= w*h <= MAX_PIXELS
SIZE_STEP = 16
MAX_ASPECT = 3.0
MAX_EDGE = 3840
MAX_PIXELS = 3840 * 2160
MIN_PIXELS = 655_360
DEFAULT_MODEL = "gpt-image-2"
OLD_SHUTDOWN = "2026-12-01"


@dataclass(frozen=True)
class ModelSpec:
    name: str
    qualities: tuple = QUALITIES
    flexible_sizes: bool = True
    complexity: bool = False  # accepts `complexity` (2.6)
    markup: bool = False  # accepts a `markup` part on edits (2.5, 2.6)
    input_fidelity: tuple = ()  # accepted input_fidelity values (empty: refuse it)
    shutdown: str | None = None  # YYYY-MM-DD; refused on and after this day

    @property
    def factor(self) -> float:
        return family_factor(self.name)


def _specs():
    out = [ModelSpec("gpt-image-2"), ModelSpec("gpt-image-2-2026-04-21")]
    for v in ("2.5", "2.6"):
        for kind in ("flare", "sunburst"):
            names = [f"gpt-image-{v}-{kind}"] + (
                [f"gpt-image-{v}-{kind}-2026-09-08"] if v == "2.5" else []
            )
            out += [
                ModelSpec(n, qualities=QUALITIES_XMAX, complexity=v == "2.6", markup=True)
                for n in names
            ]
    old = dict(flexible_sizes=False, shutdown=OLD_SHUTDOWN)
    out += [
        ModelSpec("gpt-image-1.5", input_fidelity=("high", "low"), **old),
        ModelSpec("gpt-image-1.5-2025-12-16", input_fidelity=("high", "low"), **old),
        ModelSpec("gpt-image-1-mini", input_fidelity=("low",), **old),
        ModelSpec("chatgpt-image-latest", **old),
    ]
    return {m.name: m for m in out}


MODELS: dict[str, ModelSpec] = _specs()
# gone for good: always 404 model_not_found
RETIRED_MODELS = {"gpt-image-1": "2026-10-23", "dall-e-2": "2026-05-12", "dall-e-3": "2026-05-12"}

GEN_FIELDS = {
    "prompt",
    "model",
    "n",
    "size",
    "quality",
    "output_format",
    "moderation",
    "background",
    "output_compression",
    "user",
    "safety_identifier",
    "response_format",
    "stream",
    "partial_images",
    "style",
    "complexity",
}
EDIT_FIELDS = (GEN_FIELDS - {"moderation"}) | {
    "image",
    "image[]",
    "mask",
    "markup",
    "input_fidelity",
}


@dataclass
class RecordedFile:
    filename: str | None
    content_type: str | None
    data: bytes


@dataclass
class Recorded:
    path: str
    method: str
    headers: dict
    json: dict | None = None
    fields: dict = field(default_factory=dict)
    files: dict = field(default_factory=dict)
    status: int | None = None
    time: float = 0.0
    query: str = ""  # the URL's query string, if any
    # what the server billed for its answer: the usage of every 200 it produced, even when
    # a fault then cut it from the body (no_usage, broken_json) or the client never read it
    billed: dict | None = None

    @property
    def prompt(self) -> str | None:
        if self.json is not None:
            return self.json.get("prompt")
        return (self.fields.get("prompt") or [None])[0]

    def param(self, name):
        if self.json is not None:
            return self.json.get(name)
        values = self.fields.get(name)
        return values[0] if values else None


class ApiError(Exception):
    def __init__(
        self, status, message, *, type="invalid_request_error", param=None, code=None, headers=None
    ):
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict:
        return {
            "error": {
                "message": self.message,
                "type": self.type,
                "param": self.param,
                "code": self.code,
            }
        }


def make_png(seed: str, size: tuple[int, int], base: np.ndarray | None = None) -> bytes:
    """A deterministic real PNG: a seeded colour field (or a tint of `base`)."""
    w, h = size
    digest = hashlib.sha256(seed.encode("utf-8")).digest()
    rng = np.random.default_rng(int.from_bytes(digest[:8], "big"))
    if base is None:
        c0, c1 = rng.integers(30, 220, 3), rng.integers(30, 220, 3)
        t = np.linspace(0, 1, w, dtype=np.float32)[None, :, None]
        img = c0 * (1 - t) + c1 * t + rng.normal(0, 6, (h, 1, 3))
    else:
        img = base.astype(np.float32) * 0.85 + rng.integers(0, 60, 3)
    arr = np.clip(np.broadcast_to(img, (h, w, 3)), 0, 255).astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(arr, "RGB").save(buf, "PNG", compress_level=1)
    return buf.getvalue()


class FakeOpenAI:
    def __init__(
        self,
        latency: float = 0.0,
        port: int = 0,
        host: str = "127.0.0.1",
        today: str | None = None,
        basic_auth: tuple[str, str] | None = None,
    ):
        self.latency = latency
        # (user, password): stand behind a gateway that takes HTTP basic auth (credentials
        # in the base URL, which the client sends instead of the bearer key)
        self.basic_auth = basic_auth
        # models whose shutdown date is on or before `today` (YYYY-MM-DD) are refused
        self.today = _iso_day(today) if today else datetime.date.today().isoformat()
        self.host, self.port = host, port
        self.requests: list[Recorded] = []
        self._faults: list[dict] = []
        self._corrupt: list[str] = []
        self._blocked: list[str] = []
        self._served = 0
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> FakeOpenAI:
        server = _QuietServer((self.host, self.port), _handler(self))
        server.daemon_threads = True
        self._server, self.port = server, server.server_address[1]
        self._thread = threading.Thread(target=server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    # -- steering --------------------------------------------------------------
    def fail_next(
        self,
        count: int,
        status: int = 500,
        code: str | None = None,
        message: str = "The server had an error while processing your request.",
        retry_after: float | None = None,
        type: str | None = None,
    ) -> None:
        if type is None:
            type = (
                "requests"
                if status == 429
                else ("server_error" if status >= 500 else "invalid_request_error")
            )
        if status == 429 and code is None:
            code = "rate_limit_exceeded"
        with self._lock:
            self._faults += [
                dict(status=status, code=code, message=message, retry_after=retry_after, type=type)
            ] * count

    CORRUPTIONS = (
        "wrong_size",
        "jpeg",
        "truncated_png",
        "broken_base64",
        "broken_json",
        "no_usage",
        "missing_image",
        "bad_verdict",  # /v1/responses: JSON that breaks the schema it was given
        "refusal",  # /v1/responses: the model refuses (a `refusal` content part)
    )

    def corrupt_next(self, count: int, kind: str) -> None:
        """Answer the next `count` requests with HTTP 200 and a bad body: an image of
        another size, a JPEG, a truncated PNG, base64 that does not decode, a body that
        is not JSON, no usage, or one image fewer than asked for."""
        if kind not in self.CORRUPTIONS:
            raise ValueError(f"unknown corruption {kind!r}; one of {self.CORRUPTIONS}")
        with self._lock:
            self._corrupt += [kind] * count

    def block_prompts_containing(self, text: str) -> None:
        with self._lock:
            self._blocked.append(text)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._corrupt.clear()
            self._blocked.clear()
            self.latency = 0.0

    def count(self, path_suffix: str | None = None) -> int:
        with self._lock:
            return sum(
                1 for r in self.requests if path_suffix is None or r.path.endswith(path_suffix)
            )

    def billed(self) -> list[tuple[Recorded, dict]]:
        """(request, usage) of every answer the server billed (each 200 it generated)."""
        with self._lock:
            return [(r, r.billed) for r in self.requests if r.billed is not None]

    def control(self, body: dict) -> None:
        if "latency" in body:
            self.latency = float(body["latency"])
        if "today" in body:
            self.today = _iso_day(body["today"])
        if "fail_next" in body:
            self.fail_next(**body["fail_next"])
        if "corrupt_next" in body:
            self.corrupt_next(**body["corrupt_next"])
        if "block_prompts_containing" in body:
            self.block_prompts_containing(body["block_prompts_containing"])
        if body.get("reset"):
            self.reset()

    def summary(self) -> list[dict]:
        with self._lock:
            return [
                {
                    "path": r.path,
                    "status": r.status,
                    "prompt": r.prompt,
                    "n": r.param("n"),
                    "size": r.param("size"),
                    "model": r.param("model"),
                    "quality": r.param("quality"),
                    "complexity": r.param("complexity"),
                    "input_fidelity": r.param("input_fidelity"),
                    "moderation": r.param("moderation"),
                    "images": len(r.files.get("image[]", [])) + len(r.files.get("image", [])),
                    "mask": "mask" in r.files,
                    "markup": "markup" in r.files or "markup" in r.fields,
                    "billed": r.billed,
                }
                for r in self.requests
            ]

    # -- answering -------------------------------------------------------------
    def answer(self, rec: Recorded) -> dict | bytes:
        """The response body: a dict to send as JSON, or raw bytes (a broken body)."""
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            blocked = any(b in (rec.prompt or "") for b in self._blocked)
            corrupt = self._corrupt.pop(0) if (self._corrupt and not fault) else None
        started = time.monotonic()
        try:
            payload = self._respond(rec, fault, blocked)
            rec.billed = payload.get("usage")  # generated: billed, whatever reaches the client
            return _corrupted(payload, corrupt) if corrupt else payload
        finally:  # the latency is the whole time to answer, image encoding included
            time.sleep(max(0.0, self.latency - (time.monotonic() - started)))

    def _respond(self, rec: Recorded, fault, blocked) -> dict:
        if fault:
            headers = (
                {"retry-after": str(fault["retry_after"])}
                if fault["retry_after"] is not None
                else {}
            )
            raise ApiError(
                fault["status"],
                fault["message"],
                type=fault["type"],
                code=fault["code"],
                headers=headers,
            )
        if blocked:
            raise ApiError(
                400,
                "Your request was rejected by the safety system. If you believe "
                "this is an error, contact us at help.openai.com.",
                type="image_generation_user_error",
                code="moderation_blocked",
            )
        if rec.path.endswith("/responses"):
            return _critique(rec, self.today)
        edit = rec.path.endswith("/edits")
        p = _params(rec, edit, self.today)
        images = []
        base = None
        if edit:
            first = p["images"][0]
            size = first.size if p["size"] in (None, "auto") else _size(p["size"])
            base = np.asarray(
                first.convert("RGB").resize(size) if size != first.size else first.convert("RGB")
            )
        else:
            size = _size(p["size"] or "auto")
        with self._lock:
            self._served += 1
            call = self._served  # like the real API: asking again gives new pixels
        quality = p["quality"] or "auto"
        size_s = f"{size[0]}x{size[1]}"
        for k in range(p["n"]):
            images.append(
                make_png(f"{p['model']}|{p['prompt']}|{k}|{size}|{quality}|{call}", size, base)
            )
        text = text_tokens(p["prompt"])
        image_in = sum(input_image_tokens(*im.size) for im in p.get("images", []))
        out = sum(
            output_image_tokens(p["model"], p["prompt"], k, size_s, quality) for k in range(p["n"])
        )
        return {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(i).decode("ascii")} for i in images],
            "usage": {
                "input_tokens": text + image_in,
                "output_tokens": out,
                "total_tokens": text + image_in + out,
                "input_tokens_details": {"text_tokens": text, "image_tokens": image_in},
                "output_tokens_details": {"image_tokens": out, "text_tokens": 0},
            },
            "size": size_s,
            "quality": quality,
            "output_format": p["output_format"] or "png",
            "background": "transparent" if p["background"] == "transparent" else "opaque",
        }


def _iso_day(value) -> str:
    return datetime.date.fromisoformat(str(value)).isoformat()


def _corrupted(payload: dict, kind: str) -> dict | bytes:
    """A 200 answer gone wrong in one of the ways a proxy or a bad deploy can."""
    if kind == "broken_json":
        return json.dumps(payload).encode("utf-8")[:200]
    if kind == "no_usage":
        return {k: v for k, v in payload.items() if k != "usage"}
    if kind in ("bad_verdict", "refusal"):
        part = (
            {"type": "refusal", "refusal": "I'm sorry, I can't help with that."}
            if kind == "refusal"
            else {
                "type": "output_text",
                "text": '{"anatomy": {"verdict": "great"}}',
                "annotations": [],
            }
        )
        output = [
            {**item, "content": [part]} if item["type"] == "message" else item
            for item in payload["output"]
        ]
        return {**payload, "output": output}
    if kind == "missing_image":
        return {**payload, "data": payload["data"][:-1]}
    data = []
    for item in payload["data"]:
        png = base64.b64decode(item["b64_json"])
        with Image.open(io.BytesIO(png)) as im:
            im.load()
            if kind == "wrong_size":
                buf = io.BytesIO()
                im.resize((im.width // 2, im.height // 2)).save(buf, "PNG")
                out = buf.getvalue()
            elif kind == "jpeg":
                buf = io.BytesIO()
                im.convert("RGB").save(buf, "JPEG")
                out = buf.getvalue()
            else:
                out = png[: len(png) // 3]
        b64 = base64.b64encode(out).decode("ascii")
        data.append({"b64_json": "%%not base64%%" + b64[:40] if kind == "broken_base64" else b64})
    return {**payload, "data": data}


def _size(s: str) -> tuple[int, int]:
    if s == "auto":
        return (1024, 1024)
    w, h = s.split("x")
    return int(w), int(h)


def _bad_size(size: str, why: str) -> ApiError:
    return ApiError(400, f"Invalid size '{size}': {why}", param="size", code="invalid_value")


def check_size(spec: ModelSpec, size: str) -> None:
    """Raise the API's 400 if `size` is not allowed for the model."""
    if size in CLASSIC_SIZES:
        return
    if not spec.flexible_sizes:
        raise ApiError(
            400,
            f"Invalid size '{size}' for model {spec.name}. Supported values are: "
            f"{', '.join(repr(o) for o in CLASSIC_SIZES)}.",
            param="size",
            code="invalid_value",
        )
    m = re.fullmatch(r"(\d+)x(\d+)", size)
    if not m:
        raise _bad_size(size, "expected 'auto' or WIDTHxHEIGHT, for example '1536x864'.")
    w, h = int(m[1]), int(m[2])
    if w == 0 or h == 0 or w % SIZE_STEP or h % SIZE_STEP:
        raise _bad_size(size, f"width and height must be divisible by {SIZE_STEP}.")
    if max(w, h) > MAX_ASPECT * min(w, h):
        raise _bad_size(size, "the aspect ratio must be between 1:3 and 3:1.")
    if w * h > MAX_PIXELS:
        raise _bad_size(
            size, f"too many pixels ({w * h}); at most {MAX_PIXELS} (3840x2160) are supported."
        )
    if w > MAX_EDGE or h > MAX_EDGE:
        raise _bad_size(size, f"width and height must be at most {MAX_EDGE}.")
    if w * h < MIN_PIXELS:
        raise _bad_size(size, f"too few pixels ({w * h}); at least {MIN_PIXELS} are required.")


def _model(rec: Recorded, today: str) -> ModelSpec:
    name = rec.param("model") or DEFAULT_MODEL
    if name in RETIRED_MODELS:
        raise ApiError(
            404,
            f"The model `{name}` has been deprecated, learn more here: "
            f"https://platform.openai.com/docs/deprecations",
            code="model_not_found",
        )
    spec = MODELS.get(name)
    if spec is None:
        raise ApiError(
            404,
            f"The model `{name}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    if spec.shutdown and spec.shutdown <= today:
        raise ApiError(
            404,
            f"The model `{name}` has been deprecated, learn more here: "
            f"https://platform.openai.com/docs/deprecations (shut down "
            f"{spec.shutdown}).",
            code="model_not_found",
        )
    return spec


def _load_png(part: RecordedFile, param: str, what: str):
    try:
        im = Image.open(io.BytesIO(part.data))
        im.load()
    except Exception:
        raise ApiError(400, f"Invalid {what}.", param=param, code="invalid_image_file") from None
    return im


IMAGE_TYPES = {"PNG": "image/png", "JPEG": "image/jpeg", "WEBP": "image/webp"}


def _load_image(part: RecordedFile):
    """An `image` part: png, webp or jpg, sent under its own MIME type (the API refuses
    other types; this fake also refuses a part whose bytes are another format than its
    type says, so a client that labels everything image/png is caught)."""
    if part.content_type not in IMAGE_TYPES.values():
        raise ApiError(
            400,
            f"Invalid file 'image': unsupported mimetype ('{part.content_type}'). Supported "
            "file formats are 'image/jpeg', 'image/png', and 'image/webp'.",
            param="image",
            code="unsupported_file_mimetype",
        )
    im = _load_png(part, "image", "image file or mode for image")
    if IMAGE_TYPES.get(im.format) != part.content_type:
        raise ApiError(
            400,
            f"Invalid image file: a {im.format} image sent as '{part.content_type}' does not "
            "match its type.",
            param="image",
            code="invalid_image_file",
        )
    return im


def _alpha(im) -> np.ndarray | None:
    if im.format != "PNG":
        return None
    if im.mode in ("RGBA", "LA", "PA"):
        return np.asarray(im.getchannel("A"))
    if im.mode in ("P", "L", "RGB") and "transparency" in im.info:
        return np.asarray(im.convert("RGBA").getchannel("A"))
    return None


def _params(rec: Recorded, edit: bool, today: str) -> dict:
    allowed = EDIT_FIELDS if edit else GEN_FIELDS
    present = set(rec.json or {}) | set(rec.fields) | set(rec.files)
    for name in sorted(present):
        if name not in allowed:
            raise ApiError(
                400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )
    prompt = rec.param("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(
            400,
            "Missing required parameter: 'prompt'.",
            param="prompt",
            code="missing_required_parameter",
        )
    spec = _model(rec, today)
    model = spec.name
    n = rec.param("n")
    n = 1 if n is None else int(n)
    if not 1 <= n <= 10:
        raise ApiError(400, f"Invalid 'n': {n} (1 to 10).", param="n", code="invalid_value")
    checks = {
        "quality": spec.qualities,
        "output_format": ("png", "jpeg", "webp"),
        "moderation": ("low", "auto"),
        "background": ("transparent", "opaque", "auto"),
    }
    values = {}
    for name, ok in checks.items():
        v = rec.param(name)
        if v is not None and v not in ok:
            where = f" for model {model}" if name == "quality" else ""
            raise ApiError(
                400,
                f"Invalid value: '{v}'. Supported values{where} are: "
                f"{', '.join(repr(o) for o in ok)}.",
                param=name,
                code="invalid_value",
            )
        values[name] = v
    values["size"] = rec.param("size")
    if values["size"] is not None:
        check_size(spec, values["size"])
    complexity = rec.param("complexity")
    if complexity is not None:
        if not spec.complexity:
            raise ApiError(
                400,
                f"complexity is not supported for model {model}.",
                param="complexity",
                code="unsupported_parameter",
            )
        if complexity not in COMPLEXITIES:
            raise ApiError(
                400,
                f"Invalid value: '{complexity}'. Supported values are: "
                f"{', '.join(repr(o) for o in COMPLEXITIES)}.",
                param="complexity",
                code="invalid_value",
            )
    out = {"prompt": prompt, "model": model, "n": n, "complexity": complexity, **values}
    if edit:
        parts = rec.files.get("image[]", []) + rec.files.get("image", [])
        if not parts:
            raise ApiError(
                400,
                "Missing required parameter: 'image'.",
                param="image",
                code="missing_required_parameter",
            )
        if len(parts) > 16:
            raise ApiError(
                400, "Too many images (at most 16).", param="image", code="invalid_value"
            )
        images = [_load_image(part) for part in parts]
        out["images"] = images
        fidelity = rec.param("input_fidelity")
        if fidelity is not None:
            if not spec.input_fidelity:
                raise ApiError(
                    400,
                    f"input_fidelity is not supported for model {model}; omit it.",
                    param="input_fidelity",
                    code="invalid_value",
                )
            if fidelity not in spec.input_fidelity:
                raise ApiError(
                    400,
                    f"Invalid value: '{fidelity}' for input_fidelity with {model}. "
                    f"Supported values are: "
                    f"{', '.join(repr(o) for o in spec.input_fidelity)}.",
                    param="input_fidelity",
                    code="invalid_value",
                )
        w0, h0 = images[0].size
        if "mask" in rec.fields:
            raise ApiError(
                400, "'mask' must be sent as a file.", param="mask", code="invalid_value"
            )
        if "mask" in rec.files:
            mask = _load_png(rec.files["mask"][0], "mask", "mask image")
            if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
                raise ApiError(
                    400,
                    "The mask must be a PNG with an alpha channel.",
                    param="mask",
                    code="invalid_value",
                )
            if mask.size != images[0].size:
                raise ApiError(
                    400,
                    f"Invalid mask: size {mask.size[0]}x{mask.size[1]} does not "
                    f"match image size {w0}x{h0}.",
                    param="mask",
                    code="invalid_value",
                )
        if "markup" in rec.files or "markup" in rec.fields:
            if not spec.markup:
                raise ApiError(
                    400,
                    f"markup is not supported for model {model}.",
                    param="markup",
                    code="unsupported_parameter",
                )
            if "mask" in rec.files:
                raise ApiError(
                    400,
                    "markup cannot be combined with mask; send one or the other.",
                    param="markup",
                    code="invalid_value",
                )
            if "markup" not in rec.files:
                raise ApiError(
                    400,
                    "'markup' must be sent as a file (a PNG image).",
                    param="markup",
                    code="invalid_value",
                )
            markup = _load_png(rec.files["markup"][0], "markup", "markup image")
            alpha = _alpha(markup)
            if alpha is None:
                raise ApiError(
                    400,
                    "The markup must be a PNG with an alpha channel.",
                    param="markup",
                    code="invalid_value",
                )
            if markup.size != images[0].size:
                raise ApiError(
                    400,
                    f"Invalid markup: size {markup.size[0]}x{markup.size[1]} does "
                    f"not match image size {w0}x{h0}.",
                    param="markup",
                    code="invalid_value",
                )
            if not (alpha == 0).any():
                raise ApiError(
                    400,
                    "Invalid markup: it has no transparent pixels; draw on a transparent canvas.",
                    param="markup",
                    code="invalid_value",
                )
    return out


def _critique(rec: Recorded, today: str) -> dict:
    """POST /v1/responses: check the request as the API would, answer a `response`."""
    body = rec.json or {}
    for name in sorted(body):
        if name not in RESPONSES_FIELDS:
            raise ApiError(
                400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter"
            )
    model = body.get("model")
    if model not in VISION_MODELS:
        raise ApiError(
            404,
            f"The model `{model}` does not exist or you do not have access to it.",
            code="model_not_found",
        )
    effort = (body.get("reasoning") or {}).get("effort") or "medium"
    if effort not in REASONING_TOKENS:
        raise ApiError(
            400,
            f"Invalid value: '{effort}'. Supported values are: "
            f"{', '.join(repr(e) for e in REASONING_TOKENS)}.",
            param="reasoning.effort",
            code="invalid_value",
        )
    fmt = ((body.get("text") or {}).get("format")) or {}
    schema = fmt.get("schema")
    if fmt.get("type") != "json_schema" or not isinstance(schema, dict) or not fmt.get("name"):
        raise ApiError(
            400,
            "text.format must be a json_schema with a name and a schema.",
            param="text.format",
            code="invalid_value",
        )
    if fmt.get("strict") and schema.get("additionalProperties") is not False:
        raise ApiError(
            400,
            "Invalid schema: In strict mode, 'additionalProperties' must be false.",
            param="text.format.schema",
            code="invalid_json_schema",
        )
    texts, images, image_tokens = [], [], 0
    messages = body.get("input")
    if isinstance(messages, str):
        messages = [{"role": "user", "content": [{"type": "input_text", "text": messages}]}]
    for message in messages or []:
        for part in message.get("content") or []:
            if part.get("type") == "input_text":
                texts.append(part.get("text") or "")
            elif part.get("type") == "input_image":
                data, im = _data_url_image(part.get("image_url") or "")
                images.append(data)
                detail = part.get("detail", "auto")
                image_tokens += (
                    RESPONSES_LOW_DETAIL_TOKENS if detail == "low" else input_image_tokens(*im.size)
                )
            else:
                raise ApiError(
                    400,
                    f"Invalid content type: '{part.get('type')}'.",
                    param="input",
                    code="invalid_value",
                )
    if not texts and not images:
        raise ApiError(
            400,
            "Missing required parameter: 'input'.",
            param="input",
            code="missing_required_parameter",
        )
    first = images[0] if images else b""
    tag = hashlib.sha256(first).hexdigest()[:6]
    answer = {
        name: {
            "verdict": (v := verdict_for(first, name)),
            "reason": f"{name} judged {v} by the fake for image {tag}",
        }
        for name in schema.get("properties", {})
    }
    text = json.dumps(answer)
    text_in = text_tokens("\n".join(texts))
    reasoning = REASONING_TOKENS[effort]
    out = reasoning + text_tokens(text)
    rid = hashlib.sha256(f"{time.time()}{text}".encode()).hexdigest()[:24]
    return {
        "id": f"resp_{rid}",
        "object": "response",
        "created_at": int(time.time()),
        "status": "completed",
        "model": model,
        "error": None,
        "incomplete_details": None,
        "reasoning": {"effort": effort, "summary": None},
        "output": [
            {"type": "reasoning", "id": f"rs_{rid}", "summary": []},
            {
                "type": "message",
                "id": f"msg_{rid}",
                "role": "assistant",
                "status": "completed",
                "content": [{"type": "output_text", "text": text, "annotations": []}],
            },
        ],
        "usage": {
            "input_tokens": text_in + image_tokens,
            "input_tokens_details": {"cached_tokens": 0},
            "output_tokens": out,
            "output_tokens_details": {"reasoning_tokens": reasoning},
            "total_tokens": text_in + image_tokens + out,
        },
    }


def _data_url_image(url: str):
    """An `input_image` part's data URL, decoded: (bytes, the opened image)."""
    head, _, b64 = url.partition(",")
    if not (head.startswith("data:image/") and head.endswith(";base64")):
        raise ApiError(
            400,
            "Invalid image_url: expected a base64 data URL.",
            param="input",
            code="invalid_value",
        )
    try:
        data = base64.b64decode(b64, validate=True)
        im = Image.open(io.BytesIO(data))
        im.load()
    except Exception:
        raise ApiError(
            400, "Invalid image data in image_url.", param="input", code="invalid_image"
        ) from None
    return data, im


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict, dict]:
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body
    )
    fields, files = {}, {}
    for part in msg.iter_parts():
        name = part.get_param("name", header="content-disposition")
        filename = part.get_filename()
        data = part.get_payload(decode=True) or b""
        if filename is not None:
            files.setdefault(name, []).append(RecordedFile(filename, part.get_content_type(), data))
        else:
            fields.setdefault(name, []).append(data.decode("utf-8"))
    return fields, files


def _authorized(auth: str, basic: tuple[str, str] | None) -> bool:
    if basic is not None:
        token = base64.b64encode(f"{basic[0]}:{basic[1]}".encode()).decode("ascii")
        return auth == f"Basic {token}"
    return auth.startswith("Bearer ") and bool(auth[7:].strip())


class _QuietServer(ThreadingHTTPServer):
    """A client killed mid-request (a test's kill -9) is not the server's error."""

    def handle_error(self, request, client_address):
        if not isinstance(sys.exc_info()[1], ConnectionError):
            super().handle_error(request, client_address)


def _handler(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body, headers=None):
            data = body if isinstance(body, bytes) else json.dumps(body).encode("utf-8")
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)

        def do_GET(self):
            if self.path == "/_requests":
                return self._send(200, fake.summary())
            self._send(404, ApiError(404, "Not found").body())

        def do_POST(self):
            length = int(self.headers.get("Content-Length") or 0)
            body = self.rfile.read(length)
            if self.path == "/_control":
                fake.control(json.loads(body or b"{}"))
                return self._send(200, {"ok": True})
            path, _, query = self.path.partition("?")
            rec = Recorded(
                path=path,
                query=query,
                method="POST",
                headers={k.lower(): v for k, v in self.headers.items()},
                time=time.monotonic(),
            )
            try:
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("multipart/form-data"):
                    rec.fields, rec.files = _parse_multipart(ctype, body)
                else:
                    try:
                        rec.json = json.loads(body or b"{}")
                    except ValueError:
                        raise ApiError(
                            400, "We could not parse the JSON body of your request."
                        ) from None
                with fake._lock:
                    fake.requests.append(rec)
                auth = self.headers.get("Authorization", "")
                if not _authorized(auth, fake.basic_auth):
                    raise ApiError(401, "You didn't provide an API key.", code="invalid_api_key")
                # routed by path: query parameters (api-version, a gateway's key) do not route
                if rec.path not in ("/v1/images/generations", "/v1/images/edits", "/v1/responses"):
                    raise ApiError(404, f"Invalid URL (POST {self.path})")
                payload = fake.answer(rec)
                rec.status = 200
                self._send(200, payload)
            except ApiError as err:
                rec.status = err.status
                self._send(err.status, err.body(), err.headers)

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    ap.add_argument("--today", default=None, help="YYYY-MM-DD for model shutdowns (default: today)")
    args = ap.parse_args(argv)
    fake = FakeOpenAI(latency=args.latency, port=args.port, today=args.today).start()
    print(fake.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
