"""Region boxes and hand-made masks -> the API's alpha mask (transparent = editable).

The Images API edit endpoint takes a PNG mask the size of the first input image;
its FULLY TRANSPARENT pixels (alpha 0) mark where the model may paint. Everything
here speaks that convention: a mask is RGBA PNG bytes, opaque black where the
image must stay, alpha 0 where it may change. When reading alpha back, anything
below 128 counts as editable (`editable_area`), and `load_mask` snaps a
hand-painted soft edge to exactly 0/255 on that same line, so the mask the API
receives, the leak we measure and the area we composite are one and the same.
"""

from __future__ import annotations

import io
import math
import os
from collections.abc import Sequence
from numbers import Real
from pathlib import Path
from typing import TYPE_CHECKING, Any

from PIL import Image, ImageFilter

from stillmake.errors import InputError
from stillmake.images import pixel_problem

if TYPE_CHECKING:
    import numpy as np

ALPHA_EDITABLE_BELOW = 128
ASPECT_TOLERANCE = 0.01  # a mask within 1% of its image's aspect is scaled to it

__all__ = [
    "validate_region",
    "region_box",
    "region_mask",
    "check_mask",
    "load_mask",
    "check_aspect",
    "mismatch",
    "check_markup",
    "load_markup",
    "editable_area",
    "grow",
    "composite_outside",
]


def validate_region(
    region: object,
    *,
    file: str | os.PathLike[str] | None = None,
    shot: str | None = None,
    key: str = "region",
) -> tuple[float, float, float, float]:
    """A fractional box [x0, y0, x1, y1] inside [0, 1] with x0 < x1 and y0 < y1.

    Fractions of the frame width/height, top-left origin, so one box fits every size.
    """
    if (
        not isinstance(region, (list, tuple))
        or len(region) != 4
        or not all(isinstance(v, Real) and not isinstance(v, bool) for v in region)
    ):
        raise InputError(
            f"region must be four numbers [x0, y0, x1, y1] (fractions of the frame), "
            f"got {region!r}",
            file=file,
            shot=shot,
            key=key,
        )
    x0, y0, x1, y1 = (float(v) for v in region)
    shown = list(region)
    if not all(math.isfinite(v) and 0.0 <= v <= 1.0 for v in (x0, y0, x1, y1)):
        raise InputError(
            f"region {shown} is outside [0, 1] (fractions of the frame, "
            f"0 = left/top, 1 = right/bottom)",
            file=file,
            shot=shot,
            key=key,
        )
    if not (x0 < x1 and y0 < y1):
        raise InputError(
            f"region {shown} is empty or inverted (need x0 < x1 and y0 < y1)",
            file=file,
            shot=shot,
            key=key,
        )
    return (x0, y0, x1, y1)


def _round(v: float) -> int:
    return int(math.floor(v + 0.5))


def region_box(region: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Pixel box (left, top, right, bottom; right/bottom exclusive) of a fractional region.

    Edges are rounded to the nearest pixel; a box thinner than one pixel still
    covers one, so a valid region never yields a mask with nothing to edit.
    """
    x0, y0, x1, y1 = validate_region(region)
    w, h = (int(v) for v in size)
    if w <= 0 or h <= 0:
        raise ValueError(f"image size must be positive, got {size!r}")
    left, top = min(_round(x0 * w), w - 1), min(_round(y0 * h), h - 1)
    right, bottom = max(_round(x1 * w), left + 1), max(_round(y1 * h), top + 1)
    return left, top, right, bottom


def _png(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def region_mask(region: Sequence[float], size: tuple[int, int]) -> bytes:
    """RGBA PNG of `size` (w, h): opaque black everywhere, alpha 0 inside the box."""
    import numpy as np  # only where pixels are worked on: the build's plan needs none

    left, top, right, bottom = region_box(region, size)
    w, h = size
    rgba = np.zeros((h, w, 4), np.uint8)
    rgba[..., 3] = 255
    rgba[top:bottom, left:right, 3] = 0
    return _png(Image.fromarray(rgba, "RGBA"))


def _has_alpha(mode: str, info: dict) -> bool:
    return mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in info


def _open_png(path: str | os.PathLike[str], what: str, where: dict[str, Any]) -> tuple:
    """(RGBA image, mode, info) of a PNG a person made (a mask, a markup), or InputError."""
    path = Path(path)
    if not path.is_file():
        why = "is a directory, not a PNG" if path.is_dir() else "not found"
        raise InputError(f"{what} file {path} {why}", **where)
    too_large = pixel_problem(path)
    if too_large:
        raise InputError(f"{what} file {path} {too_large}", **where)
    try:
        with Image.open(path) as im:
            fmt, mode, info = im.format, im.mode, dict(im.info)
            im.load()
            rgba = im.convert("RGBA")
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError) as exc:
        raise InputError(f"{what} file {path} is not a PNG ({exc})", **where) from None
    if fmt != "PNG":
        raise InputError(f"{what} file {path} is not a PNG (it is {fmt})", **where)
    return rgba, mode, info


def _open_mask(path: str | os.PathLike[str], where: dict[str, Any]) -> Image.Image:
    rgba, mode, info = _open_png(path, "mask", where)
    if not _has_alpha(mode, info):
        raise InputError(
            f"mask needs an alpha channel: transparent = editable ({path} is "
            f"{mode} without transparency; paint the area to change fully "
            f"transparent on an opaque layer)",
            **where,
        )
    if rgba.getchannel("A").getextrema()[0] >= ALPHA_EDITABLE_BELOW:
        raise InputError(
            f"mask marks nothing to edit ({path} has no transparent pixel; alpha 0 = editable)",
            **where,
        )
    return rgba


def _open_markup(path: str | os.PathLike[str], where: dict[str, Any]) -> Image.Image:
    rgba, mode, info = _open_png(path, "markup", where)
    if not _has_alpha(mode, info):
        raise InputError(
            f"markup needs an alpha channel ({path} is {mode} without transparency): "
            "strokes drawn on a transparent layer the size of the image",
            **where,
        )
    if rgba.getchannel("A").getextrema()[1] < ALPHA_EDITABLE_BELOW:
        raise InputError(f"markup has nothing drawn on it ({path} is all transparent)", **where)
    return rgba


def check_markup(
    path: str | os.PathLike[str],
    *,
    file: str | os.PathLike[str] | None = None,
    shot: str | None = None,
    key: str = "markup",
) -> None:
    """A markup (models that take one: strokes drawn over the image to show what to
    change): a PNG with alpha and something drawn on it."""
    _open_markup(path, dict(file=file or path, shot=shot, key=key))


def check_aspect(
    what: str, path: str | os.PathLike[str], found: tuple[int, int], size: tuple[int, int], **where
) -> None:
    """A mask or markup must have its image's aspect: scaled to it, not stretched onto it
    (a 3:2 mask on a 16:9 draft would mark the wrong pixels)."""
    fw, fh = found
    w, h = size
    if abs(fw * h - w * fh) > ASPECT_TOLERANCE * w * fh:
        raise InputError(
            f"{what} {path} is {fw}x{fh} ({fw / fh:.3f}:1) but the image it edits is "
            f"{w}x{h} ({w / h:.3f}:1): it would be stretched onto the wrong pixels; redraw "
            f"it at {w}x{h} (or any size of that aspect)",
            **where,
        )


def mismatch(
    what: str, path: str | os.PathLike[str], size: tuple[int, int], **where: Any
) -> list[str]:
    """Before any job: a mask or markup file of another aspect than the images it will
    edit (read from its header only), as the warning `snakemake -n` and every run print;
    its edit step refuses it when it loads it (`check_aspect`). [] when it fits."""
    try:
        with Image.open(path) as im:
            found = im.size
        check_aspect(what, path, found, size, **where)
    except InputError as exc:
        return [f"{exc} (its edit step refuses it)"]
    except (OSError, SyntaxError, ValueError, Image.DecompressionBombError):
        pass  # not an image: check_mask / check_markup say so, naming the file
    return []


def load_markup(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    *,
    file: str | os.PathLike[str] | None = None,
    shot: str | None = None,
    key: str = "markup",
) -> bytes:
    """A markup PNG -> RGBA PNG bytes at `size` (w, h): the API wants it the size of the
    first image; one of another aspect is refused."""
    where: dict[str, Any] = dict(file=file or path, shot=shot, key=key)
    rgba = _open_markup(path, where)
    wanted = (int(size[0]), int(size[1]))
    check_aspect("markup", path, rgba.size, wanted, **where)
    if rgba.size != wanted:
        rgba = rgba.resize(wanted, Image.Resampling.LANCZOS)
    return _png(rgba)


def check_mask(
    path: str | os.PathLike[str],
    *,
    file: str | os.PathLike[str] | None = None,
    shot: str | None = None,
    key: str = "mask",
) -> None:
    """Everything about a hand-made mask that can be known before its image exists."""
    _open_mask(path, dict(file=file or path, shot=shot, key=key))


def load_mask(
    path: str | os.PathLike[str],
    size: tuple[int, int],
    *,
    file: str | os.PathLike[str] | None = None,
    shot: str | None = None,
    key: str = "mask",
) -> bytes:
    """A hand-made PNG mask -> RGBA PNG bytes at `size` (w, h), alpha snapped to 0/255.

    Missing file, not a PNG, no alpha channel, another aspect than `size` (both sizes
    said), or nothing transparent (also after a nearest-neighbour resize to `size`) ->
    InputError naming file/shot/key.
    """
    where: dict[str, Any] = dict(file=file or path, shot=shot, key=key)
    rgba = _open_mask(path, where)
    size = (int(size[0]), int(size[1]))
    check_aspect("mask", path, rgba.size, size, **where)
    if rgba.size != size:
        rgba = rgba.resize(size, Image.Resampling.NEAREST)
    alpha = rgba.getchannel("A").point(lambda a: 0 if a < ALPHA_EDITABLE_BELOW else 255)
    if alpha.getextrema()[0] != 0:
        raise InputError(
            f"mask marks nothing to edit once resized to {size[0]}x{size[1]} "
            f"({path}: its transparent area is too small)",
            **where,
        )
    rgba.putalpha(alpha)
    return _png(rgba)


def editable_area(mask_png: bytes) -> np.ndarray:
    """Bool HxW: True where the mask lets the edit paint (alpha < 128)."""
    import numpy as np  # only where pixels are worked on: the build's plan needs none

    with Image.open(io.BytesIO(mask_png)) as im:
        if im.mode not in ("RGBA", "LA", "PA") and "transparency" not in im.info:
            return np.zeros((im.size[1], im.size[0]), bool)  # no alpha: nothing editable
        return np.asarray(im.convert("RGBA").getchannel("A")) < ALPHA_EDITABLE_BELOW


def _grow_axis(m: np.ndarray, px: int, axis: int) -> np.ndarray:
    import numpy as np  # only where pixels are worked on: the build's plan needs none

    m = np.moveaxis(m, axis, 0)
    n = m.shape[0]
    c = np.zeros((n + 1,) + m.shape[1:], np.int32)
    np.cumsum(m, axis=0, dtype=np.int32, out=c[1:])
    i = np.arange(n)
    window = c[np.minimum(i + px + 1, n)] - c[np.maximum(i - px, 0)]
    return np.moveaxis(window > 0, 0, axis)


def grow(area: np.ndarray, px: int) -> np.ndarray:
    """Dilate a bool HxW area by `px` pixels (square neighbourhood), in O(pixels)."""
    import numpy as np  # only where pixels are worked on: the build's plan needs none

    area = np.asarray(area, bool)
    if px <= 0 or not area.any():
        return area.copy()
    return _grow_axis(_grow_axis(area, int(px), 1), int(px), 0)


def composite_outside(
    source_png: bytes, result_png: bytes, mask_png: bytes, feather_px: int = 8
) -> bytes:
    """Paste the source back outside the editable area, feathered at the edge.

    Inside the editable area the result is kept as is; from its edge the result
    fades linearly (a Pillow BoxBlur of the area grown by half the feather) into
    the source, and every pixel farther than `feather_px` (square distance) from
    the editable area is bit-identical to the source. feather_px=0: hard edge.
    A result of another size is resized (Lanczos) to the source first.
    """
    import numpy as np  # only where pixels are worked on: the build's plan needs none

    with Image.open(io.BytesIO(source_png)) as s, Image.open(io.BytesIO(result_png)) as r:
        source, result = s.convert("RGB"), r.convert("RGB")
    if result.size != source.size:
        result = result.resize(source.size, Image.Resampling.LANCZOS)
    editable = editable_area(mask_png)
    if editable.shape != (source.size[1], source.size[0]):
        editable = np.asarray(
            Image.fromarray(editable).resize(source.size, Image.Resampling.NEAREST)
        )
    feather_px = max(0, int(feather_px))
    if feather_px == 0:
        weight = editable.astype(np.uint8) * 255
    else:
        half = (feather_px + 1) // 2
        inner = Image.fromarray(grow(editable, half).astype(np.uint8) * 255, "L")
        soft = np.asarray(inner.filter(ImageFilter.BoxBlur(feather_px - half)))
        weight = np.where(editable, np.uint8(255), soft)
        weight[~grow(editable, feather_px)] = 0  # exact, whatever the blur rounds to
    return _png(Image.composite(result, source, Image.fromarray(weight, "L")))
