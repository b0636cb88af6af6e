"""Colour arithmetic shared by the gate's measures: sRGB pixels to CIE Lab and to the
Rec.709 luma/chroma plane a vectorscope draws. Vectorised float32 numpy, no per-pixel
Python."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:
    import numpy.typing as npt

LUMA = np.array([0.2126, 0.7152, 0.0722], np.float32)  # Rec.709 weights on sRGB values
D65 = np.array([0.95047, 1.0, 1.08883], np.float32)
SRGB_TO_XYZ = np.array(
    [
        [0.4124564, 0.3575761, 0.1804375],
        [0.2126729, 0.7151522, 0.0721750],
        [0.0193339, 0.1191920, 0.9503041],
    ],
    np.float32,
)
CB_SCALE, CR_SCALE = 1.8556, 1.5748  # Rec.709: Cb = (B - Y) / 1.8556, Cr = (R - Y) / 1.5748


def as_rgb(rgb: npt.ArrayLike) -> np.ndarray:
    """An HxWx3 uint8 view of an image array (grey is repeated, alpha dropped)."""
    rgb = np.asarray(rgb)
    if rgb.ndim == 2:
        rgb = np.repeat(rgb[..., None], 3, axis=2)
    if rgb.ndim != 3 or rgb.shape[2] < 3 or rgb.shape[0] == 0 or rgb.shape[1] == 0:
        raise ValueError(f"expected an HxWx3 image array, got shape {rgb.shape}")
    if rgb.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels (0-255), got {rgb.dtype}")
    return rgb[..., :3]


def linear(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) -> linear light float32 (..., 3), 0..1."""
    c = rgb.astype(np.float32)
    c *= np.float32(1 / 255)
    return np.where(
        c <= 0.04045,
        c * np.float32(1 / 12.92),
        ((c + np.float32(0.055)) * np.float32(1 / 1.055)) ** np.float32(2.4),
    )


def lab(rgb: np.ndarray) -> np.ndarray:
    """sRGB uint8 (..., 3) -> CIE Lab float32 (..., 3), D65 white."""
    return lab_of_linear(linear(rgb))


def lab_of_linear(lin: np.ndarray) -> np.ndarray:
    """Linear light (..., 3) -> CIE Lab float32 (..., 3), D65 white."""
    xyz = lin @ (SRGB_TO_XYZ.T / D65)  # normalised to the white point
    f = np.where(
        xyz > np.float32(216 / 24389),
        np.cbrt(xyz),
        xyz * np.float32(24389 / 27 / 116) + np.float32(16 / 116),
    )
    out = np.empty(f.shape, np.float32)
    out[..., 0] = 116 * f[..., 1] - 16
    out[..., 1] = 500 * (f[..., 0] - f[..., 1])
    out[..., 2] = 200 * (f[..., 1] - f[..., 2])
    return out


def ycbcr(rgb: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sRGB uint8 (..., 3) -> Rec.709 Y, Cb, Cr as float32 on a 0..1 scale (Cb, Cr in
    -0.5..0.5), on the gamma-encoded values, as a vectorscope reads them."""
    c = rgb.astype(np.float32) * np.float32(1 / 255)
    y = c @ LUMA
    return y, (c[..., 2] - y) / np.float32(CB_SCALE), (c[..., 0] - y) / np.float32(CR_SCALE)


def illuminant_gains(cast_a: float, cast_b: float, lightness: float = 60.0) -> np.ndarray:
    """The linear-light channel gains (green = 1) that turn a neutral grey into the colour
    a cast of (a*, b*) renders it: dividing by them takes the cast off (von Kries)."""
    fy = (lightness + 16) / 116
    f = np.array([fy + cast_a / 500, fy, fy - cast_b / 200], np.float64)
    xyz = np.where(f > 6 / 29, f**3, 3 * (6 / 29) ** 2 * (f - 4 / 29)) * D65
    lin = np.linalg.solve(SRGB_TO_XYZ.astype(np.float64), xyz)
    lin = np.clip(lin, 1e-4, None)
    return (lin / lin[1]).astype(np.float32)
