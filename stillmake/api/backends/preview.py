"""Offline stand-in renderer: deterministic, labelled, $0.

Images are visibly previews (a banner says so) but carry the shot, pass, draft
number and a prompt digest, so the whole playbook can be exercised without a key.
Same request -> identical bytes; edits change only the editable (masked) pixels.
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from stillmake.api.backends.base import PREVIEW_IDENTITY, BackendResponse
from stillmake.api.pricing import image_sizes, synthetic_usage
from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.errors import BackendError

# (top colour, bottom colour, accent) per lighting tag, 0..255
PALETTES = {
    "fluorescent": ((176, 196, 178), (92, 112, 100), (226, 238, 222)),
    "red_emergency": ((120, 22, 24), (34, 8, 10), (236, 96, 80)),
    "daylight": ((214, 204, 186), (128, 116, 100), (246, 236, 214)),
    None: ((150, 160, 176), (70, 78, 92), (220, 226, 236)),
}


def _font(size: int) -> ImageFont.FreeTypeFont | ImageFont.ImageFont:
    return ImageFont.load_default(size=size)


def _seed(*parts: object) -> np.random.Generator:
    digest = hashlib.sha256("\x1f".join(map(str, parts)).encode("utf-8")).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "big"))


def _encode(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG", compress_level=1)
    return buf.getvalue()


def _background(w: int, h: int, lighting: str | None, rng: np.random.Generator) -> np.ndarray:
    top, bottom, _ = PALETTES.get(lighting, PALETTES[None])
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    grad = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    grad = np.broadcast_to(grad, (h, w, 3))
    # soft low-frequency texture: a small noise field upscaled
    small = rng.normal(0, 9, (h // 48 + 2, w // 48 + 2)).astype(np.float32)
    noise = (
        np.asarray(
            Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize(
                (w, h), Image.BILINEAR
            ),
            np.float32,
        )[..., None]
        - 128
    )
    x = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    vignette = 1.0 - 0.18 * x * x
    return np.clip((grad + noise) * vignette, 0, 250).astype(np.uint8)


def _figure(
    draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, lighting: str | None
) -> None:
    """A simple standing/crouching figure silhouette placed from the seed."""
    cx = int(w * rng.uniform(0.25, 0.7))
    base = int(h * rng.uniform(0.82, 0.95))
    scale = h * rng.uniform(0.45, 0.65)
    head = int(scale * 0.09)
    coat = (44, 70, 62) if lighting != "red_emergency" else (40, 16, 16)
    draw.polygon(
        [
            (cx - scale * 0.16, base),
            (cx - scale * 0.1, base - scale * 0.62),
            (cx + scale * 0.1, base - scale * 0.62),
            (cx + scale * 0.16, base),
        ],
        fill=coat,
    )
    hy = int(base - scale * 0.62 - head * 1.1)
    draw.ellipse([cx - head, hy - head, cx + head, hy + head], fill=(176, 138, 116))
    draw.pieslice(
        [cx - head - 4, hy - head - 6, cx + head + 4, hy + head], 180, 360, fill=(38, 28, 24)
    )


def _practicals(
    draw: ImageDraw.ImageDraw, w: int, h: int, rng: np.random.Generator, lighting: str | None
) -> None:
    _, _, accent = PALETTES.get(lighting, PALETTES[None])
    for _ in range(int(rng.integers(2, 5))):
        x, y = int(rng.uniform(0.05, 0.95) * w), int(rng.uniform(0.05, 0.45) * h)
        r = int(rng.uniform(0.012, 0.03) * w)
        draw.ellipse([x - r, y - r, x + r, y + r], fill=accent)
    # a floor reflection band: water
    y0 = int(h * rng.uniform(0.78, 0.88))
    draw.rectangle([0, y0, w, y0 + int(h * 0.01)], fill=tuple(min(245, c + 10) for c in accent))


def _banner(draw: ImageDraw.ImageDraw, w: int, h: int, lines: list[str]) -> None:
    pad = max(8, w // 96)
    big, small = _font(max(14, w // 40)), _font(max(11, w // 72))
    draw.rectangle([0, 0, w, pad * 2 + w // 40], fill=(16, 16, 18))
    draw.text((pad, pad), "PREVIEW - not a generated image", fill=(250, 200, 60), font=big)
    y = h - pad - len(lines) * (w // 64 + 4)
    draw.rectangle([0, y - pad, w, h], fill=(16, 16, 18))
    for line in lines:
        draw.text((pad, y), line, fill=(236, 236, 236), font=small)
        y += w // 64 + 4


def render_generation(request: ImageRequest, k: int, label: dict) -> bytes:
    w, h = request.width_height
    lighting = label.get("lighting")
    rng = _seed(request.prompt, k, request.size, request.quality, request.reroll, request.model)
    im = Image.fromarray(_background(w, h, lighting, rng), "RGB")
    draw = ImageDraw.Draw(im)
    _practicals(draw, w, h, rng, lighting)
    _figure(draw, w, h, rng, lighting)
    digest = hashlib.sha256(request.prompt.encode("utf-8")).hexdigest()[:8]
    _banner(
        draw,
        w,
        h,
        [
            f"{label.get('shot', '?')} · {label.get('pass', 'draft')} · draft {k}/{request.n}"
            f" · prompt {digest} · reroll {request.reroll}",
            f"{request.model} · {request.quality} · {request.size} · "
            f"{lighting or 'no lighting tag'}",
        ],
    )
    return _encode(im)


def _editable(
    mask: bytes | None, markup: bytes | None, size: tuple[int, int]
) -> Image.Image | None:
    """L image, 255 where the preview paints: a mask's transparent pixels, or what a
    markup's strokes cover (the region a model reads from them). None: neither."""
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as m:
            alpha = m.convert("RGBA").getchannel("A").resize(size, Image.NEAREST)
        return Image.eval(alpha, lambda a: 255 if a < 128 else 0)
    if markup is not None:
        with Image.open(io.BytesIO(markup)) as m:
            alpha = m.convert("RGBA").getchannel("A").resize(size, Image.NEAREST)
        box = Image.eval(alpha, lambda a: 255 if a >= 128 else 0).getbbox()
        area = Image.new("L", size, 0)
        if box:
            ImageDraw.Draw(area).rectangle(box, fill=255)
        return area
    return None


def render_edit(
    request: ImageRequest,
    images: list[bytes],
    mask: bytes | None,
    label: dict,
    index: int = 1,
    markup: bytes | None = None,
) -> bytes:
    w, h = request.width_height
    with Image.open(io.BytesIO(images[0])) as src:
        source = src.convert("RGB")
    if source.size != (w, h):
        source = source.resize((w, h), Image.LANCZOS)
    rng = _seed(request.prompt, index, *[hashlib.sha256(i).hexdigest() for i in images[1:]])
    edited = source.copy()
    draw = ImageDraw.Draw(edited)
    change = label.get("change") or request.prompt.splitlines()[0]
    editable = _editable(mask, markup, (w, h))
    if editable is not None:
        tint = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(120, 220, 3)))
        overlay = Image.blend(source, tint, 0.45)
        od = ImageDraw.Draw(overlay)
        box = editable.getbbox() or (0, 0, w, h)
        for x in range(box[0] - h, box[2], max(12, w // 80)):
            od.line([(x, box[3]), (x + (box[3] - box[1]), box[1])], fill=(250, 250, 250), width=2)
        od.text(
            (box[0] + 8, box[1] + 8),
            f"EDIT: {change}"[:60],
            fill=(16, 16, 16),
            font=_font(max(12, w // 70)),
        )
        edited = Image.composite(overlay, source, editable)
    else:
        pass_ = label.get("pass", "edit")
        text = (
            f"FINAL · {label.get('shot', '')} · {request.quality} · {request.size}"
            if pass_ == "final"
            else f"EDIT step {label.get('step', '?')}: {change}"
        )
        band = int(h * 0.06)
        draw.rectangle([0, h // 2 - band // 2, w, h // 2 + band // 2], fill=(20, 20, 24))
        draw.text(
            (max(8, w // 96), h // 2 - band // 4),
            text[:110],
            fill=(250, 220, 120),
            font=_font(max(12, w // 64)),
        )
    return _encode(edited)


class PreviewBackend:
    name = "preview"
    identity = PREVIEW_IDENTITY

    def generate(self, request: ImageRequest, label: dict) -> BackendResponse:
        images = [render_generation(request, k, label) for k in range(1, request.n + 1)]
        return BackendResponse(
            images=images, usage=synthetic_usage(request), meta=self._meta(request)
        )

    def edit(
        self,
        request: ImageRequest,
        images: list[bytes],
        mask: bytes | None,
        label: dict,
        markup: bytes | None = None,
    ) -> BackendResponse:
        out = [
            render_edit(request, images, mask, label, k, markup) for k in range(1, request.n + 1)
        ]
        return BackendResponse(
            images=out,
            usage=synthetic_usage(request, image_sizes(images)),
            meta=self._meta(request),
        )

    def critique(self, request: CritiqueRequest, images: list[bytes]) -> BackendResponse:
        """No opinion on a stand-in: the review stage does not ask (it says "not run")."""
        raise BackendError("the preview backend does not critique images")

    @staticmethod
    def _meta(request: ImageRequest) -> dict:
        return {"size": request.size, "quality": request.quality, "output_format": "png"}
