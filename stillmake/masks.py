"""Region boxes and hand-made masks -> the API's alpha mask (transparent = editable)."""

from __future__ import annotations

import io
from numbers import Real
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

from stillmake.errors import InputError


def validate_region(region, *, file=None, shot=None, key="region"):
    """A fractional box [x0, y0, x1, y1] inside [0, 1] with x0 < x1 and y0 < y1."""
    if not isinstance(region, (list, tuple)) or len(region) != 4 or not all(
            isinstance(v, Real) and not isinstance(v, bool) for v in region):
        raise InputError(f"region must be four numbers [x0, y0, x1, y1], got {region!r}",
                         file=file, shot=shot, key=key)
    x0, y0, x1, y1 = (float(v) for v in region)
    if not all(0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        raise InputError(f"region {list(region)} is outside [0, 1] (fractions of the frame)",
                         file=file, shot=shot, key=key)
    if not (x0 < x1 and y0 < y1):
        raise InputError(f"region {list(region)} is empty or inverted (need x0 < x1, y0 < y1)",
                         file=file, shot=shot, key=key)
    return (x0, y0, x1, y1)


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def region_mask(region, size: tuple[int, int]) -> bytes:
    w, h = size
    x0, y0, x1, y1 = region
    alpha = np.full((h, w), 255, np.uint8)
    alpha[round(y0 * h):round(y1 * h), round(x0 * w):round(x1 * w)] = 0
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 3] = alpha
    return _png(Image.fromarray(rgba, "RGBA"))


def _open_mask(path, where) -> Image.Image:
    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask file {path} not found", **where)
    try:
        with Image.open(path) as im:
            im.load()
            fmt, mode, info = im.format, im.mode, im.info
            rgba = im.convert("RGBA")
    except (OSError, SyntaxError) as exc:
        raise InputError(f"mask file {path} is not a PNG ({exc})", **where) from None
    if fmt != "PNG":
        raise InputError(f"mask file {path} is not a PNG", **where)
    if mode not in ("RGBA", "LA") and not (mode == "P" and "transparency" in info):
        raise InputError(f"mask {path} needs an alpha channel: transparent = editable", **where)
    if rgba.getchannel("A").getextrema()[0] >= 128:
        raise InputError(f"mask {path} marks nothing to edit (no transparent pixel)", **where)
    return rgba


def check_mask(path, *, file=None, shot=None, key="mask") -> None:
    """Everything about a hand-made mask that can be known before its image exists."""
    _open_mask(path, dict(file=file or path, shot=shot, key=key))


def load_mask(path, size: tuple[int, int], *, file=None, shot=None, key="mask") -> bytes:
    rgba = _open_mask(path, dict(file=file or path, shot=shot, key=key))
    if rgba.size != tuple(size):
        rgba = rgba.resize(tuple(size), Image.NEAREST)
    return _png(rgba)


def editable_area(mask_png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(mask_png)) as im:
        return np.asarray(im.convert("RGBA").getchannel("A")) < 128


def composite_outside(source_png: bytes, result_png: bytes, mask_png: bytes,
                      feather_px: int = 8) -> bytes:
    """Paste the source back outside the editable area, feathered at the edge, so
    pixels farther than feather_px from the editable area are bit-identical to it."""
    with Image.open(io.BytesIO(source_png)) as s, Image.open(io.BytesIO(result_png)) as r:
        source, result = s.convert("RGB"), r.convert("RGB")
    if result.size != source.size:
        result = result.resize(source.size, Image.LANCZOS)
    editable = Image.fromarray((editable_area(mask_png) * 255).astype(np.uint8), "L")
    if editable.size != source.size:
        editable = editable.resize(source.size, Image.NEAREST)
    if feather_px > 0:
        # grow the editable area by feather_px, then blur within that band
        grown = editable.filter(ImageFilter.MaxFilter(2 * (feather_px // 2) + 1))
        soft = grown.filter(ImageFilter.BoxBlur(feather_px / 2))
        weight = np.maximum(np.asarray(soft), np.asarray(editable))
        weight[np.asarray(grown) == 0] = 0
        editable = Image.fromarray(weight.astype(np.uint8), "L")
    return _png(Image.composite(result, source, editable))
