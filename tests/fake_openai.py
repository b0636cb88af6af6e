"""A loopback OpenAI-compatible Images server that speaks the real wire format.

JSON /v1/images/generations, multipart /v1/images/edits (`image[]` parts or a
single `image`, optional `mask`), base64 PNGs of the requested size, `usage`,
and error bodies in the API's shape. Faults (status codes, retry-after,
moderation refusals, latency) can be injected in-process or over HTTP
(`POST /_control`), so a server in another process can be steered too.

    python tests/fake_openai.py --port 8765 --latency 2
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import io
import json
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

MODELS = {"gpt-image-1.5": ("high", "low"), "gpt-image-1-mini": ("low",), "gpt-image-2": ("high", "low")}
SIZES = ("1024x1024", "1536x1024", "1024x1536", "auto")
QUALITIES = ("low", "medium", "high", "auto")
GEN_FIELDS = {"prompt", "model", "n", "size", "quality", "output_format", "moderation",
              "background", "output_compression", "user", "response_format", "stream",
              "partial_images", "style"}
EDIT_FIELDS = GEN_FIELDS | {"image", "image[]", "mask", "input_fidelity"}
OUTPUT_TOKENS = {"low": 272, "medium": 1056, "high": 4160, "auto": 4160}


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
    def __init__(self, status, message, *, type="invalid_request_error", param=None, code=None,
                 headers=None):
        self.status, self.message, self.type = status, message, type
        self.param, self.code, self.headers = param, code, headers or {}

    def body(self) -> dict:
        return {"error": {"message": self.message, "type": self.type, "param": self.param,
                          "code": self.code}}


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
    def __init__(self, latency: float = 0.0, port: int = 0, host: str = "127.0.0.1"):
        self.latency = latency
        self.host, self.port = host, port
        self.requests: list[Recorded] = []
        self._faults: list[dict] = []
        self._blocked: list[str] = []
        self._served = 0
        self._lock = threading.Lock()
        self._server = None
        self._thread = None

    # -- lifecycle -------------------------------------------------------------
    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/v1"

    def start(self) -> "FakeOpenAI":
        server = ThreadingHTTPServer((self.host, self.port), _handler(self))
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
    def fail_next(self, count: int, status: int = 500, code: str | None = None,
                  message: str = "The server had an error while processing your request.",
                  retry_after: float | None = None, type: str | None = None) -> None:
        if type is None:
            type = "requests" if status == 429 else ("server_error" if status >= 500
                                                     else "invalid_request_error")
        if status == 429 and code is None:
            code = "rate_limit_exceeded"
        with self._lock:
            self._faults += [dict(status=status, code=code, message=message,
                                  retry_after=retry_after, type=type)] * count

    def block_prompts_containing(self, text: str) -> None:
        with self._lock:
            self._blocked.append(text)

    def reset(self) -> None:
        with self._lock:
            self.requests.clear()
            self._faults.clear()
            self._blocked.clear()
            self.latency = 0.0

    def count(self, path_suffix: str | None = None) -> int:
        with self._lock:
            return sum(1 for r in self.requests if path_suffix is None or r.path.endswith(path_suffix))

    def control(self, body: dict) -> None:
        if "latency" in body:
            self.latency = float(body["latency"])
        if "fail_next" in body:
            self.fail_next(**body["fail_next"])
        if "block_prompts_containing" in body:
            self.block_prompts_containing(body["block_prompts_containing"])
        if body.get("reset"):
            self.reset()

    def summary(self) -> list[dict]:
        with self._lock:
            return [{"path": r.path, "status": r.status, "prompt": r.prompt, "n": r.param("n"),
                     "size": r.param("size"), "model": r.param("model"),
                     "quality": r.param("quality"),
                     "images": len(r.files.get("image[]", [])) + len(r.files.get("image", [])),
                     "mask": "mask" in r.files} for r in self.requests]

    # -- answering -------------------------------------------------------------
    def answer(self, rec: Recorded) -> dict:
        with self._lock:
            fault = self._faults.pop(0) if self._faults else None
            blocked = any(b in (rec.prompt or "") for b in self._blocked)
        started = time.monotonic()
        try:
            return self._respond(rec, fault, blocked)
        finally:  # the latency is the whole time to answer, image encoding included
            time.sleep(max(0.0, self.latency - (time.monotonic() - started)))

    def _respond(self, rec: Recorded, fault, blocked) -> dict:
        if fault:
            headers = {"retry-after": str(fault["retry_after"])} if fault["retry_after"] is not None else {}
            raise ApiError(fault["status"], fault["message"], type=fault["type"],
                           code=fault["code"], headers=headers)
        if blocked:
            raise ApiError(400, "Your request was rejected by the safety system. If you believe "
                                "this is an error, contact us at help.openai.com.",
                           type="image_generation_user_error", code="moderation_blocked")
        edit = rec.path.endswith("/edits")
        p = _params(rec, edit)
        images = []
        base = None
        if edit:
            first = p["images"][0]
            base = np.asarray(first.convert("RGB"))
            size = first.size if p["size"] in (None, "auto") else _size(p["size"])
            if size != first.size:
                base = np.asarray(first.convert("RGB").resize(size))
        else:
            size = _size(p["size"] or "auto")
        with self._lock:
            self._served += 1
            call = self._served  # like the real API: asking again gives new pixels
        for k in range(p["n"]):
            images.append(make_png(f"{p['model']}|{p['prompt']}|{k}|{size}|{p['quality']}|{call}",
                                   size, base))
        text_tokens = max(1, len(p["prompt"]) // 4)
        image_tokens = 323 * len(p.get("images", []))
        out_tokens = OUTPUT_TOKENS[p["quality"] or "auto"] * p["n"]
        return {
            "created": int(time.time()),
            "data": [{"b64_json": base64.b64encode(i).decode("ascii")} for i in images],
            "usage": {"input_tokens": text_tokens + image_tokens, "output_tokens": out_tokens,
                      "total_tokens": text_tokens + image_tokens + out_tokens,
                      "input_tokens_details": {"text_tokens": text_tokens,
                                               "image_tokens": image_tokens}},
            "size": f"{size[0]}x{size[1]}", "quality": p["quality"] or "auto",
            "output_format": p["output_format"] or "png", "background": "opaque",
        }


def _size(s: str) -> tuple[int, int]:
    if s == "auto":
        return (1024, 1024)
    w, h = s.split("x")
    return int(w), int(h)


def _params(rec: Recorded, edit: bool) -> dict:
    allowed = EDIT_FIELDS if edit else GEN_FIELDS
    present = set(rec.json or {}) | set(rec.fields) | set(rec.files)
    for name in sorted(present):
        if name not in allowed:
            raise ApiError(400, f"Unknown parameter: '{name}'.", param=name, code="unknown_parameter")
    prompt = rec.param("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        raise ApiError(400, "Missing required parameter: 'prompt'.", param="prompt",
                       code="missing_required_parameter")
    model = rec.param("model") or "gpt-image-1.5"
    if model not in MODELS:
        raise ApiError(404, f"The model `{model}` does not exist or you do not have access to it.",
                       code="model_not_found")
    n = rec.param("n")
    n = 1 if n is None else int(n)
    if not 1 <= n <= 10:
        raise ApiError(400, f"Invalid 'n': {n} (1 to 10).", param="n", code="invalid_value")
    checks = {"size": SIZES, "quality": QUALITIES, "output_format": ("png", "jpeg", "webp"),
              "moderation": ("low", "auto"), "background": ("transparent", "opaque", "auto")}
    values = {}
    for name, ok in checks.items():
        v = rec.param(name)
        if v is not None and v not in ok:
            raise ApiError(400, f"Invalid value: '{v}'. Supported values are: "
                                f"{', '.join(repr(o) for o in ok)}.", param=name, code="invalid_value")
        values[name] = v
    out = {"prompt": prompt, "model": model, "n": n, **values}
    if edit:
        parts = rec.files.get("image[]", []) + rec.files.get("image", [])
        if not parts:
            raise ApiError(400, "Missing required parameter: 'image'.", param="image",
                           code="missing_required_parameter")
        if len(parts) > 16:
            raise ApiError(400, "Too many images (at most 16).", param="image", code="invalid_value")
        images = []
        for part in parts:
            try:
                im = Image.open(io.BytesIO(part.data))
                im.load()
            except Exception:
                raise ApiError(400, "Invalid image file or mode for image.", param="image",
                               code="invalid_image_file") from None
            images.append(im)
        out["images"] = images
        fidelity = rec.param("input_fidelity")
        if fidelity is not None and fidelity not in MODELS[model]:
            raise ApiError(400, f"Invalid value: '{fidelity}' for input_fidelity with {model}.",
                           param="input_fidelity", code="invalid_value")
        if "mask" in rec.files:
            try:
                mask = Image.open(io.BytesIO(rec.files["mask"][0].data))
                mask.load()
            except Exception:
                raise ApiError(400, "Invalid mask image.", param="mask",
                               code="invalid_image_file") from None
            if mask.format != "PNG" or mask.mode not in ("RGBA", "LA"):
                raise ApiError(400, "The mask must be a PNG with an alpha channel.", param="mask",
                               code="invalid_value")
            if mask.size != images[0].size:
                raise ApiError(400, f"Invalid mask: size {mask.size[0]}x{mask.size[1]} does not "
                                    f"match image size {images[0].size[0]}x{images[0].size[1]}.",
                               param="mask", code="invalid_value")
    return out


def _parse_multipart(content_type: str, body: bytes) -> tuple[dict, dict]:
    msg = BytesParser(policy=HTTP).parsebytes(
        b"Content-Type: " + content_type.encode("latin-1") + b"\r\n\r\n" + body)
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


def _handler(fake: FakeOpenAI):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args):  # quiet
            pass

        def _send(self, status: int, body, headers=None):
            data = json.dumps(body).encode("utf-8")
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
            rec = Recorded(path=self.path, method="POST",
                           headers={k.lower(): v for k, v in self.headers.items()},
                           time=time.monotonic())
            try:
                ctype = self.headers.get("Content-Type", "")
                if ctype.startswith("multipart/form-data"):
                    rec.fields, rec.files = _parse_multipart(ctype, body)
                else:
                    try:
                        rec.json = json.loads(body or b"{}")
                    except ValueError:
                        raise ApiError(400, "We could not parse the JSON body of your request.") from None
                with fake._lock:
                    fake.requests.append(rec)
                auth = self.headers.get("Authorization", "")
                if not auth.startswith("Bearer ") or not auth[7:].strip():
                    raise ApiError(401, "You didn't provide an API key.", code="invalid_api_key")
                if self.path not in ("/v1/images/generations", "/v1/images/edits"):
                    raise ApiError(404, f"Invalid URL (POST {self.path})")
                payload = fake.answer(rec)
                rec.status = 200
                self._send(200, payload)
            except ApiError as err:
                rec.status = err.status
                self._send(err.status, err.body(), err.headers)

    return Handler


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--latency", type=float, default=0.0)
    args = ap.parse_args(argv)
    fake = FakeOpenAI(latency=args.latency, port=args.port).start()
    print(fake.url, flush=True)
    try:
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        fake.stop()


if __name__ == "__main__":
    sys.exit(main())
