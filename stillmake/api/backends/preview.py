"""Offline stand-in renderer: deterministic, labelled, $0.

Images are visibly previews (a banner says so) but carry the shot, pass, draft
number and a prompt digest, so the whole playbook can be exercised without a key.
Same request -> identical bytes; edits change only the editable (masked) pixels.

The figure in every stand-in is a real face (public-domain photos shipped in the
package, stillmake/standins.py), lit like the scene but with natural skin, so the
gate's face checks (identity, skin, wardrobe) work offline, and a stand-in earns a
flag only where it is drawn to show one: a request's `preview` names its drafts'
flaws (from the shot's `preview` key in the prompts file, e.g. {"1": "identity"}),
each drawn on purpose and written on the stand-in: `identity` (another person),
`skin` (the face pushed green), `highlights` (a blown practical), `wardrobe` (the
jacket another colour), `cast` (the scene's cast missing, or a strong magenta one).
"""

from __future__ import annotations

import hashlib
import io

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from stillmake import standins
from stillmake.api.backends.base import PREVIEW_IDENTITY, BackendResponse, Label
from stillmake.api.pricing import image_sizes, synthetic_usage
from stillmake.api.requests import CritiqueRequest, ImageRequest
from stillmake.errors import BackendError

# (top colour, bottom colour, accent) per lighting tag, 0..255: fluorescent a slight
# green (a* about -5, inside its allowance), the others about neutral for their intent
PALETTES = {
    "fluorescent": ((178, 188, 182), (94, 104, 98), (226, 238, 222)),
    "red_emergency": ((120, 22, 24), (34, 8, 10), (236, 96, 80)),
    "daylight": ((214, 204, 186), (128, 116, 100), (246, 236, 214)),
    None: ((160, 162, 168), (76, 78, 84), (220, 226, 236)),
}
NEUTRAL = ((168, 168, 168), (88, 88, 88), (230, 230, 230))  # the `cast` flaw under fluorescent
MAGENTA = ((196, 150, 190), (104, 70, 100), (240, 220, 236))  # the `cast` flaw elsewhere
FIGURE_GAIN = 0.9  # the photos' white shirts are clipped in places: never at full level
RED_LIGHT = (0.9, 0.54, 0.52)  # red lamps on the figure: its face red, still a face
FACE_WIDTH = 0.085  # of the frame's width: about 130 px on a draft, found by the detector
BANNER = (16, 16, 18)  # the banners' ground
FLAW_TEXT = {
    "identity": "another person's face",
    "skin": "the face pushed green",
    "highlights": "a blown practical",
    "wardrobe": "the jacket another colour",
    "cast": "the scene's cast changed",
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


def flaws(request: ImageRequest) -> dict[int, str]:
    """{draft number: flaw} from the request's `preview` ("1:identity,3:highlights")."""
    out = {}
    for item in filter(None, (request.preview or "").split(",")):
        k, _, flaw = item.partition(":")
        out[int(k)] = flaw
    return out


def _palette(lighting: str | None, flaw: str | None) -> tuple:
    if flaw == "cast":
        return NEUTRAL if lighting == "fluorescent" else MAGENTA
    return PALETTES.get(lighting, PALETTES[None])


def _background(w: int, h: int, palette: tuple, rng: np.random.Generator) -> np.ndarray:
    top, bottom, _ = palette
    t = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None, None]
    grad = np.asarray(top, np.float32) * (1 - t) + np.asarray(bottom, np.float32) * t
    grad = np.broadcast_to(grad, (h, w, 3))
    # soft low-frequency texture: a small noise field upscaled
    small = rng.normal(0, 9, (h // 48 + 2, w // 48 + 2)).astype(np.float32)
    noise = (
        np.asarray(
            Image.fromarray(np.clip(small + 128, 0, 255).astype(np.uint8)).resize(
                (w, h), Image.Resampling.BILINEAR
            ),
            np.float32,
        )[..., None]
        - 128
    )
    x = np.linspace(-1, 1, w, dtype=np.float32)[None, :, None]
    vignette = 1.0 - 0.18 * x * x
    return np.clip((grad + noise) * vignette, 0, 250).astype(np.uint8)


def _glow(im: Image.Image, x: int, y: int, r: int, colour: tuple, blown: bool) -> None:
    """A practical light: a core that falls off into the wall around it (keeps its
    detail), or, blown, a flat 255 disc in a flat glow (what the gate must catch)."""
    w, h = im.size
    box = (max(0, x - 4 * r), max(0, y - 4 * r), min(w, x + 4 * r), min(h, y + 4 * r))
    if box[2] <= box[0] or box[3] <= box[1]:
        return
    patch = np.asarray(im.crop(box), np.float32)
    yy, xx = np.mgrid[box[1] : box[3], box[0] : box[2]].astype(np.float32)
    d = np.hypot(xx - x, yy - y) / r
    c = np.asarray(colour, np.float32)
    if blown:  # the lamp's own channels clip, and bleed into a flat glow around it
        core = np.where(c >= 200, 255.0, c)
        weight = np.where(d <= 1, 1.0, np.where(d <= 3.6, 0.75, 0.0))[..., None]
        glow = np.where(d[..., None] <= 1, core, c * 0.85)
    else:  # a lamp that shades from its centre, and a glow that fades into the wall
        weight = np.where(d <= 1, 1.0, np.clip(1 - (d - 1) / 2.5, 0, 1) ** 2)[..., None]
        glow = c * np.where(d <= 1, 1.03 - 0.05 * d, 0.85)[..., None]
    out = patch * (1 - weight) + glow * weight
    im.paste(Image.fromarray(np.clip(out, 0, 255).astype(np.uint8)), box[:2])


def _practicals(im: Image.Image, rng: np.random.Generator, palette: tuple, blown: bool) -> None:
    w, h = im.size
    _, _, accent = palette
    draw = ImageDraw.Draw(im)
    # a floor reflection band: water
    y0 = int(h * rng.uniform(0.78, 0.88))
    draw.rectangle([0, y0, w, y0 + int(h * 0.01)], fill=tuple(min(245, c + 10) for c in accent))
    for i in range(int(rng.integers(2, 5))):  # lamps well below the banner
        x, y = int(rng.uniform(0.6, 0.92) * w), int(rng.uniform(0.22, 0.42) * h)
        r = int(rng.uniform(0.012, 0.02) * w)
        _glow(im, x, y, r * 2 if blown and i == 0 else r, accent, blown and i == 0)


def _silhouette(size: tuple[int, int], face: tuple[int, int, int, int]) -> Image.Image:
    """Alpha of a head-and-shoulders cut from a portrait: the head, the neck, the body
    across the full width below the chin, softly edged."""
    w, h = size
    left, top, right, bottom = face
    fw, fh = right - left, bottom - top
    cx = (left + right) / 2
    alpha = Image.new("L", size, 0)
    draw = ImageDraw.Draw(alpha)
    draw.ellipse([cx - 0.6 * fw, top - 0.5 * fh, cx + 0.6 * fw, bottom + 0.05 * fh], fill=255)
    draw.polygon(
        [
            (cx - 0.35 * fw, bottom - 0.1 * fh),
            (cx + 0.35 * fw, bottom - 0.1 * fh),
            (w, bottom + 0.25 * fh),
            (w, h),
            (0, h),
            (0, bottom + 0.25 * fh),
        ],
        fill=255,
    )
    return alpha.filter(ImageFilter.GaussianBlur(3))


def _light(lighting: str | None, flaw: str | None) -> np.ndarray:
    """Channel gains of the scene's light on the figure: half its palette's cast (the
    light on the walls falls on the face and the clothes too; the grade keeps skin near
    natural), all of it for the `cast` flaw; never above FIGURE_GAIN, so the stand-in
    carries no blown highlight of its own."""
    if lighting == "red_emergency" and flaw != "cast":
        return np.asarray(RED_LIGHT, np.float32)
    top = np.asarray(_palette(lighting, flaw)[0], np.float32)
    tint = top / top.max()
    if flaw != "cast":
        tint = (1 + tint) / 2
    return FIGURE_GAIN * tint / tint.max()


def _portrait(which: str, lighting: str | None, flaw: str | None) -> tuple[Image.Image, tuple]:
    """The stand-in photo as the scene lights it, with the drawn flaw if any."""
    im = standins.image(which)
    face = standins.face_box(which)
    a = np.asarray(im, np.float32) * _light(lighting, flaw)
    left, top, right, bottom = face
    if flaw == "skin":  # the face, and only the face, pushed green
        yy, xx = np.mgrid[0 : a.shape[0], 0 : a.shape[1]]
        cx, cy = (left + right) / 2, (top + bottom) / 2
        inside = ((xx - cx) / (0.55 * (right - left))) ** 2 + (
            (yy - cy) / (0.6 * (bottom - top))
        ) ** 2 <= 1
        a[inside] *= np.asarray((0.7, 1.0, 0.74), np.float32)
    if flaw == "wardrobe":  # the dark jacket below the chin, dyed maroon
        body = a[bottom + (bottom - top) // 10 :]
        dark = body.max(axis=2) < 110
        body[dark] = body[dark].mean(axis=1, keepdims=True) * np.asarray(
            (4.0, 0.7, 0.9), np.float32
        ) + np.asarray((28, 4, 8), np.float32)
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8)), face


def _figure(
    im: Image.Image, rng: np.random.Generator, lighting: str | None, flaw: str | None, floor: int
) -> None:
    """The stand-in figure: a real head and shoulders, standing on `floor` (the banner)."""
    w, _ = im.size
    which = "other" if flaw == "identity" else "portrait"
    portrait, face = _portrait(which, lighting, flaw)
    scale = FACE_WIDTH * w * rng.uniform(0.95, 1.1) / (face[2] - face[0])
    size = (round(portrait.width * scale), round(portrait.height * scale))
    face = tuple(round(v * scale) for v in face)
    portrait = portrait.resize(size, Image.Resampling.LANCZOS)
    if rng.uniform() < 0.5:
        portrait = portrait.transpose(Image.Transpose.FLIP_LEFT_RIGHT)
        face = (size[0] - face[2], face[1], size[0] - face[0], face[3])
    x = int(w * rng.uniform(0.2, 0.5)) - size[0] // 2
    im.paste(portrait, (x, floor - size[1]), _silhouette(size, face))


def _banner_height(w: int, lines: int) -> int:
    pad = max(8, w // 96)
    return 2 * pad + lines * (w // 64 + 4)


def _banner(draw: ImageDraw.ImageDraw, w: int, h: int, lines: list[str], note: str = "") -> None:
    pad = max(8, w // 96)
    big, small = _font(max(14, w // 40)), _font(max(11, w // 72))
    draw.rectangle([0, 0, w, _top_banner(w)], fill=BANNER)
    # banner text below 230: the labels are never a highlight region of the frame
    draw.text((pad, pad), "PREVIEW - not a generated image", fill=(228, 184, 56), font=big)
    rows = [(line, (224, 224, 224)) for line in lines]
    if note:
        rows.append((note, (228, 128, 84)))
    y = h - _banner_height(w, len(rows)) + pad
    draw.rectangle([0, y - pad, w, h], fill=BANNER)
    for line, colour in rows:
        draw.text((pad, y), line, fill=colour, font=small)
        y += w // 64 + 4


def render_generation(request: ImageRequest, k: int, label: Label) -> bytes:
    w, h = request.width_height
    lighting = label.get("lighting")
    flaw = flaws(request).get(k)
    rng = _seed(request.prompt, k, request.size, request.quality, request.reroll, request.model)
    palette = _palette(lighting, flaw)
    im = Image.fromarray(_background(w, h, palette, rng), "RGB")
    _practicals(im, rng, palette, blown=flaw == "highlights")
    _figure(im, rng, lighting, flaw, floor=h - _banner_height(w, 3 if flaw else 2))
    digest = hashlib.sha256(request.prompt.encode("utf-8")).hexdigest()[:8]
    _banner(
        ImageDraw.Draw(im),
        w,
        h,
        [
            f"{label.get('shot', '?')} · {label.get('pass', 'draft')} · draft {k}/{request.n}"
            f" · prompt {digest} · reroll {request.reroll}",
            f"{request.model} · {request.quality} · {request.size} · "
            f"{lighting or 'no lighting tag'}",
        ],
        note=f"drawn to fail on purpose: {flaw} ({FLAW_TEXT[flaw]})" if flaw else "",
    )
    return _encode(im)


def _editable(
    mask: bytes | None, markup: bytes | None, size: tuple[int, int]
) -> Image.Image | None:
    """L image, 255 where the preview paints: a mask's transparent pixels, or what a
    markup's strokes cover (the region a model reads from them). None: neither."""
    if mask is not None:
        with Image.open(io.BytesIO(mask)) as m:
            alpha = m.convert("RGBA").getchannel("A").resize(size, Image.Resampling.NEAREST)
        return Image.eval(alpha, lambda a: 255 if a < 128 else 0)
    if markup is not None:
        with Image.open(io.BytesIO(markup)) as m:
            alpha = m.convert("RGBA").getchannel("A").resize(size, Image.Resampling.NEAREST)
        box = Image.eval(alpha, lambda a: 255 if a >= 128 else 0).getbbox()
        area = Image.new("L", size, 0)
        if box:
            ImageDraw.Draw(area).rectangle(box, fill=255)
        return area
    return None


def _top_banner(w: int) -> int:
    """Height of the "PREVIEW" banner across the top."""
    return max(8, w // 96) * 2 + w // 40


def _footer_top(im: Image.Image) -> int:
    """Where the bottom banner the source was drawn with starts (its ground runs from the
    left edge, where no text is), or where a two-line one would start."""
    w, h = im.size
    column = np.asarray(im.crop((1, 0, 2, h)).convert("RGB"), np.int16)[:, 0]
    plain = np.all(np.abs(column - np.asarray(BANNER, np.int16)) <= 3, axis=1)
    top = h
    while top > h // 2 and plain[top - 1]:
        top -= 1
    return top if h - top >= _banner_height(w, 2) // 2 else h - _banner_height(w, 2)


def _relabel(im: Image.Image, lines: list[str]) -> None:
    """The image's own labels in place of its source's: the bottom banner cleared and
    written again (one place for every label: none is ever drawn over another)."""
    w, h = im.size
    draw = ImageDraw.Draw(im)
    top = _footer_top(im)
    draw.rectangle([0, top, w, h], fill=BANNER)
    _banner(draw, w, h, [line[:120] for line in lines])


def _masked_edit_label(box: tuple, w: int) -> tuple[int, int]:
    """Where a masked edit writes its change: inside its region, below the top banner."""
    y = max(box[1] + 8, _top_banner(w) + 8)
    return box[0] + 8, y if y < box[3] - 16 else box[1] + 8


def render_edit(
    request: ImageRequest,
    images: list[bytes],
    mask: bytes | None,
    label: Label,
    index: int = 1,
    markup: bytes | None = None,
) -> bytes:
    w, h = request.width_height
    with Image.open(io.BytesIO(images[0])) as src:
        source = src.convert("RGB")
    if source.size != (w, h):  # bilinear: Lanczos rings past 255 at every bright edge
        source = source.resize((w, h), Image.Resampling.BILINEAR)
    rng = _seed(request.prompt, index, *[hashlib.sha256(i).hexdigest() for i in images[1:]])
    edited = source.copy()
    change = label.get("change") or request.prompt.splitlines()[0]
    editable = _editable(mask, markup, (w, h))
    if editable is not None:  # only the editable pixels change: the label goes inside them
        tint = Image.new("RGB", (w, h), tuple(int(c) for c in rng.integers(120, 220, 3)))
        overlay = Image.blend(source, tint, 0.45)
        od = ImageDraw.Draw(overlay)
        box = editable.getbbox() or (0, 0, w, h)
        for x in range(box[0] - h, box[2], max(12, w // 80)):
            od.line([(x, box[3]), (x + (box[3] - box[1]), box[1])], fill=(224, 224, 224), width=2)
        od.text(
            _masked_edit_label(box, w),
            f"EDIT: {change}"[:60],
            fill=(16, 16, 16),
            font=_font(max(12, w // 70)),
        )
        edited = Image.composite(overlay, source, editable)
    else:  # the whole frame is the edit's: its own labels in the bottom banner
        shot, lighting = label.get("shot", "?"), label.get("lighting") or "no lighting tag"
        what = (
            f"{shot} · FINAL · {label.get('title') or ''}".rstrip(" ·")
            if label.get("pass") == "final"
            else f"{shot} · edit step {label.get('step', '?')}: {change}"
        )
        _relabel(
            edited, [what, f"{request.model} · {request.quality} · {request.size} · {lighting}"]
        )
    return _encode(edited)


class PreviewBackend:
    name = "preview"
    identity = PREVIEW_IDENTITY

    def generate(self, request: ImageRequest, label: Label) -> BackendResponse:
        images = [render_generation(request, k, label) for k in range(1, request.n + 1)]
        return BackendResponse(
            images=images, usage=synthetic_usage(request), meta=self._meta(request)
        )

    def edit(
        self,
        request: ImageRequest,
        images: list[bytes],
        mask: bytes | None,
        label: Label,
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
