"""Region boxes and hand-made masks -> the API's alpha mask (alpha 0 = editable)."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from stillmake.errors import InputError
from stillmake.inputs.masks import (
    check_mask,
    composite_outside,
    editable_area,
    grow,
    load_markup,
    load_mask,
    mismatch,
    region_box,
    region_mask,
    validate_region,
)

W, H = 300, 200


def decode(png: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(png))
    im.load()
    return im


def png_bytes(a, mode=None) -> bytes:
    buf = io.BytesIO()
    Image.fromarray(a, mode).save(buf, "PNG") if mode else Image.fromarray(a).save(buf, "PNG")
    return buf.getvalue()


def save_mask(path, alpha: np.ndarray):
    rgba = np.zeros(alpha.shape + (4,), np.uint8)
    rgba[..., 3] = alpha
    Image.fromarray(rgba, "RGBA").save(path)
    return path


# ---------------------------------------------------------------- validate_region


def test_validate_region_accepts_fractions():
    assert validate_region([0.62, 0.05, 0.80, 0.30]) == (0.62, 0.05, 0.80, 0.30)
    assert validate_region((0, 0, 1, 1)) == (0.0, 0.0, 1.0, 1.0)
    assert all(isinstance(v, float) for v in validate_region([0, 0, 1, 1]))


@pytest.mark.parametrize(
    "region, words",
    [
        ([0.1, 0.2, 0.3], "four numbers"),
        ([0.1, 0.2, 0.3, 0.4, 0.5], "four numbers"),
        ("0.1,0.2,0.3,0.4", "four numbers"),
        (None, "four numbers"),
        ([0.1, "0.2", 0.3, 0.4], "four numbers"),
        ([True, 0.2, 0.3, 0.4], "four numbers"),
        ([0.5, 0.1, 1.3, 0.4], "outside [0, 1]"),
        ([-0.1, 0.1, 0.3, 0.4], "outside [0, 1]"),
        ([0.1, 0.1, float("nan"), 0.4], "outside [0, 1]"),
        ([0.8, 0.1, 0.2, 0.4], "inverted"),
        ([0.1, 0.5, 0.3, 0.4], "inverted"),
        ([0.3, 0.1, 0.3, 0.4], "empty"),
    ],
)
def test_validate_region_errors_name_file_shot_key(region, words):
    with pytest.raises(InputError) as exc:
        validate_region(region, file="runs/input/selections.yaml", shot="s3", key="edits[1].region")
    msg = str(exc.value)
    assert words in msg
    assert (
        "runs/input/selections.yaml" in msg and "shot s3" in msg and "key 'edits[1].region'" in msg
    )
    assert exc.value.key == "edits[1].region" and exc.value.shot == "s3"


# ---------------------------------------------------------------- region_mask


def test_region_mask_is_transparent_exactly_in_the_box():
    im = decode(region_mask([0.5, 0.2, 0.9, 0.8], (W, H)))
    assert im.format == "PNG" and im.mode == "RGBA" and im.size == (W, H)
    a = np.asarray(im)
    expected = np.full((H, W), 255, np.uint8)
    expected[40:160, 150:270] = 0
    assert (a[..., 3] == expected).all()
    assert (a[..., :3] == 0).all()  # opaque black elsewhere


def test_region_mask_rounds_to_pixels_and_never_vanishes():
    # 0.62*1536=952.3 -> 952, 0.05*1024=51.2 -> 51, 0.80*1536=1228.8 -> 1229, 0.30*1024=307.2 -> 307
    assert region_box([0.62, 0.05, 0.80, 0.30], (1536, 1024)) == (952, 51, 1229, 307)
    assert region_box([0.5, 0.5, 0.5001, 0.5001], (100, 100)) == (50, 50, 51, 51)
    assert region_box([0.9999, 0.9999, 1.0, 1.0], (100, 100)) == (99, 99, 100, 100)
    a = editable_area(region_mask([0.5, 0.5, 0.5001, 0.5001], (100, 100)))
    assert a.sum() == 1 and a[50, 50]
    assert editable_area(region_mask([0, 0, 1, 1], (W, H))).all()
    with pytest.raises(InputError, match="inverted"):
        region_mask([0.9, 0.1, 0.2, 0.5], (W, H))


# ---------------------------------------------------------------- load_mask


def test_load_mask_errors(tmp_path):
    where = dict(file="selections.yaml", shot="s5", key="edits[1].mask")
    cases = []
    cases.append((tmp_path / "none.png", "not found"))
    (tmp_path / "text.png").write_text("not an image")
    cases.append((tmp_path / "text.png", "is not a PNG"))
    Image.new("RGBA", (8, 8)).convert("RGB").save(tmp_path / "photo.jpg", "JPEG")
    cases.append((tmp_path / "photo.jpg", "is not a PNG"))
    Image.new("RGB", (8, 8)).save(tmp_path / "rgb.png")
    cases.append((tmp_path / "rgb.png", "mask needs an alpha channel: transparent = editable"))
    Image.new("L", (8, 8)).save(tmp_path / "grey.png")
    cases.append((tmp_path / "grey.png", "mask needs an alpha channel"))
    save_mask(tmp_path / "opaque.png", np.full((8, 8), 255, np.uint8))
    cases.append((tmp_path / "opaque.png", "marks nothing to edit"))
    save_mask(tmp_path / "faint.png", np.full((8, 8), 200, np.uint8))  # translucent is not editable
    cases.append((tmp_path / "faint.png", "marks nothing to edit"))
    (tmp_path / "dir.png").mkdir()
    cases.append((tmp_path / "dir.png", "is a directory"))
    for path, words in cases:
        with pytest.raises(InputError) as exc:
            load_mask(path, (W, H), **where)
        msg = str(exc.value)
        assert words in msg and "shot s5" in msg and "key 'edits[1].mask'" in msg, msg
        assert "selections.yaml" in msg and path.name in msg, msg
        with pytest.raises(InputError):
            check_mask(path)
    # without a file, the mask file itself is named
    with pytest.raises(InputError) as exc:
        load_mask(tmp_path / "none.png", (W, H))
    assert exc.value.file == str(tmp_path / "none.png") and exc.value.key == "mask"


def test_load_mask_resizes_nearest_and_snaps_alpha(tmp_path):
    alpha = np.full((100, 150), 255, np.uint8)
    alpha[20:60, 30:90] = 0
    alpha[20:60, 90:100] = 100  # a soft brush edge: < 128 counts as editable
    alpha[20:60, 100:110] = 180  # > 128 does not
    path = save_mask(tmp_path / "m.png", alpha)
    im = decode(load_mask(path, (W, H)))
    assert im.mode == "RGBA" and im.size == (W, H)
    a = np.asarray(im)[..., 3]
    assert set(np.unique(a)) == {0, 255}
    expected = np.full((H, W), 255, np.uint8)
    expected[40:120, 60:200] = 0
    assert (a == expected).all()
    # same size: no resize, same editable area
    same = decode(load_mask(path, (150, 100)))
    assert (editable_area(load_mask(path, (150, 100))) == (alpha < 128)).all() and same.size == (
        150,
        100,
    )


def test_load_mask_accepts_palette_and_grey_alpha(tmp_path):
    la = np.zeros((10, 10, 2), np.uint8)
    la[..., 1] = 255
    la[2:5, 2:5, 1] = 0
    Image.fromarray(la, "LA").save(tmp_path / "la.png")
    assert editable_area(load_mask(tmp_path / "la.png", (10, 10))).sum() == 9
    p = Image.new("P", (10, 10), 1)
    p.putpalette([0, 0, 0, 255, 255, 255] + [0] * 762)
    p.paste(0, (0, 0, 4, 4))
    p.save(tmp_path / "p.png", transparency=0)
    assert editable_area(load_mask(tmp_path / "p.png", (10, 10))).sum() == 16


def test_load_mask_whose_hole_vanishes_when_shrunk(tmp_path):
    alpha = np.full((1000, 1000), 255, np.uint8)
    alpha[501, 501] = 0
    path = save_mask(tmp_path / "dot.png", alpha)
    with pytest.raises(InputError, match="marks nothing to edit once resized to 10x10"):
        load_mask(path, (10, 10), shot="s1")


def test_a_mask_of_another_aspect_is_refused_not_stretched(tmp_path):
    """The sample's old window mask was 3:2 and was stretched onto the 16:9 drafts."""
    alpha = np.full((1024, 1536), 255, np.uint8)
    alpha[120:520, 980:1400] = 0
    path = save_mask(tmp_path / "window.png", alpha)
    where = dict(file="runs/input/selections.yaml", shot="s5", key="edits[1].mask")
    with pytest.raises(InputError) as refused:
        load_mask(path, (1536, 864), **where)
    said = str(refused.value)
    assert "shot s5, key 'edits[1].mask'" in said
    assert "is 1536x1024 (1.500:1) but the image it edits is 1536x864 (1.778:1)" in said
    assert "redraw it at 1536x864" in said
    # what `snakemake -n` and every run say before any job; the same for a markup
    (warned,) = mismatch("mask", path, (1536, 864), **where)
    assert warned.endswith("(its edit step refuses it)") and "1536x1024" in warned
    assert mismatch("mask", path, (768, 512), **where) == []  # 3:2 onto 3:2: scaled
    strokes = np.zeros((1024, 1536, 4), np.uint8)
    strokes[100:110, 100:400] = (255, 0, 0, 255)
    Image.fromarray(strokes, "RGBA").save(tmp_path / "markup.png")
    with pytest.raises(InputError, match="markup .* is 1536x1024"):
        load_markup(tmp_path / "markup.png", (1536, 864))
    # the same aspect at another size is scaled, within 1%
    assert decode(load_mask(path, (768, 512))).size == (768, 512)
    assert decode(load_mask(path, (1530, 1024))).size == (1530, 1024)


# ---------------------------------------------------------------- editable_area, grow


def test_editable_area_threshold_and_no_alpha():
    alpha = np.array([[0, 127, 128, 255]], np.uint8)
    rgba = np.zeros((1, 4, 4), np.uint8)
    rgba[..., 3] = alpha
    assert editable_area(png_bytes(rgba, "RGBA")).tolist() == [[True, True, False, False]]
    assert not editable_area(png_bytes(np.zeros((3, 3, 3), np.uint8))).any()


def test_grow_is_a_square_dilation():
    rng = np.random.default_rng(3)
    area = rng.random((40, 50)) > 0.98
    for px in (0, 1, 3, 7):
        brute = np.zeros_like(area)
        for y, x in zip(*np.nonzero(area), strict=True):
            brute[max(0, y - px) : y + px + 1, max(0, x - px) : x + px + 1] = True
        assert (grow(area, px) == brute).all(), px
    assert not grow(np.zeros((5, 5), bool), 3).any()


# ---------------------------------------------------------------- composite_outside


def scene(seed=0):
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (H, W, 3), dtype=np.uint8)


@pytest.mark.parametrize("feather", [0, 1, 5, 8, 16])
def test_composite_outside_bit_identical_beyond_the_feather(feather):
    src, res = scene(0), scene(1)
    mask = region_mask([0.3, 0.25, 0.6, 0.7], (W, H))
    editable = editable_area(mask)
    out = np.asarray(decode(composite_outside(png_bytes(src), png_bytes(res), mask, feather)))
    far = ~grow(editable, feather)
    assert (out[far] == src[far]).all()
    assert (out[editable] == res[editable]).all()
    band = grow(editable, feather) & ~editable
    if feather > 1:
        # in the band the two blend: most pixels differ from both source and result
        mixed = (out[band] != src[band]).any(axis=-1) & (out[band] != res[band]).any(axis=-1)
        assert mixed.mean() > 0.5
    elif feather == 0:
        assert not band.any()


def test_composite_outside_feather_ramps_down_with_distance():
    src = np.zeros((H, W, 3), np.uint8)
    res = np.full((H, W, 3), 200, np.uint8)
    mask = region_mask([0.0, 0.0, 0.5, 1.0], (W, H))  # left half editable: columns < 150
    out = np.asarray(decode(composite_outside(png_bytes(src), png_bytes(res), mask, 8)))
    row = out[100, 145:162, 0].astype(int)
    assert (row[:5] == 200).all()  # inside
    assert (np.diff(row) <= 0).all()  # fades monotonically into the source
    assert row[-1] == 0 and (out[100, 158:, 0] == 0).all()


def test_composite_outside_resizes_result_and_mask():
    src, res = scene(0), scene(1)
    small_result = np.asarray(Image.fromarray(res).resize((150, 100)))
    small_mask = region_mask([0.3, 0.25, 0.6, 0.7], (150, 100))
    out = np.asarray(
        decode(composite_outside(png_bytes(src), png_bytes(small_result), small_mask, 4))
    )
    assert out.shape == src.shape
    editable = np.asarray(Image.fromarray(editable_area(small_mask)).resize((W, H), Image.NEAREST))
    far = ~grow(editable, 4)
    assert (out[far] == src[far]).all()
