"""The offline preview renderer and contact sheets."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from stillmake.api.backends.preview import PreviewBackend
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.gate import gate_image
from stillmake.artifacts.sheets import contact_sheet, strip
from stillmake.inputs.masks import region_mask


def request(prompt="Leyla opens a door", n=3, size="1536x1024", reroll=0, endpoint="generate"):
    return ImageRequest(endpoint, "gpt-image-1.5", prompt, n, size, "medium", reroll=reroll)


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as im:
        return np.asarray(im.convert("RGB"))


def test_same_request_same_bytes_and_variation():
    backend = PreviewBackend()
    label = {"shot": "s1", "lighting": "fluorescent"}
    a = backend.generate(request(), label).images
    assert a == backend.generate(request(), label).images
    assert len(a) == 3 and len({bytes(x) for x in a}) == 3  # drafts differ from each other
    assert a[0] != backend.generate(request("Leyla closes a door"), label).images[0]
    assert a[0] != backend.generate(request(reroll=1), label).images[0]


@pytest.mark.parametrize("size", ["1024x1024", "1536x1024", "1024x1536"])
def test_sizes(size):
    (png,) = PreviewBackend().generate(request(n=1, size=size), {}).images
    w, h = map(int, size.split("x"))
    assert pixels(png).shape == (h, w, 3)


def test_lighting_tints_differ():
    red = pixels(PreviewBackend().generate(request(n=1), {"lighting": "red_emergency"}).images[0])
    fluo = pixels(PreviewBackend().generate(request(n=1), {"lighting": "fluorescent"}).images[0])
    assert red[..., 0].mean() > 2 * red[..., 1].mean()
    assert fluo[..., 1].mean() > fluo[..., 0].mean()


def test_masked_edit_changes_only_the_editable_region():
    backend = PreviewBackend()
    (source,) = backend.generate(request(n=1), {"shot": "s3"}).images
    mask = region_mask((0.6, 0.05, 0.8, 0.3), (1536, 1024))
    (edited,) = backend.edit(
        request(n=1, endpoint="edit"), [source], mask, {"pass": "edit", "change": "plain clock"}
    ).images
    src, out = pixels(source), pixels(edited)
    editable = np.asarray(Image.open(io.BytesIO(mask)).getchannel("A")) < 128
    assert np.array_equal(src[~editable], out[~editable])
    assert (src[editable] != out[editable]).any()
    (unmasked,) = backend.edit(
        request(n=1, endpoint="edit", size="1024x1024"), [source], None, {"pass": "final"}
    ).images
    assert pixels(unmasked).shape == (1024, 1024, 3)


def test_contact_sheet_draws_flags():
    drafts = PreviewBackend().generate(request(size="1024x1024"), {}).images
    flags = [[{"level": "fail", "message": "red highlights clipped on 4.2% of pixels"}], [], []]
    sheet = pixels(
        contact_sheet(drafts, shot="s4", title="Drill", labels=["1", "2", "3"], flags=flags)
    )
    two = pixels(contact_sheet(drafts[:2], shot="s4", title="Drill"))
    assert sheet.shape[1] > two.shape[1]
    reds = (sheet[..., 0] > 200) & (sheet[..., 1] < 80) & (sheet[..., 2] < 80)
    assert reds[-60:].any()  # the fail marker under draft 1
    assert contact_sheet(drafts, shot="s4", title="Drill") == contact_sheet(
        drafts, shot="s4", title="Drill"
    )
    assert (
        pixels(strip(drafts, labels=["selected", "step 1", "final"], title="s4 chain")).shape[1]
        > 1000
    )


FLAW_METRICS = {
    "identity": {"identity"},
    "skin": {"skin_hue", "skin_chroma"},
    "highlights": {"highlight_detail", "practical_separation"},
    "wardrobe": {"wardrobe"},
    "cast": {"cast_a"},
}


@pytest.mark.parametrize("flaw", sorted(FLAW_METRICS))
def test_a_stand_in_carries_a_real_face_and_fails_only_what_it_is_drawn_to(tmp_path, flaw):
    """Draft 1 drawn to fail `flaw`, draft 2 clean, under fluorescent light, against the
    stand-in person's photo as the character's reference (as in the sample)."""
    ref = Path(__file__).parents[1] / "data" / "faces" / "hopper.jpg"
    req = ImageRequest(
        "generate", "gpt-image-2.6-flare", "Leyla", 2, "1536x864", "medium", preview=f"1:{flaw}"
    )
    drawn, clean = PreviewBackend().generate(req, {"shot": "s1", "lighting": "fluorescent"}).images
    judged = []
    for png in (drawn, clean):
        gated = gate_image(pixels(png), "fluorescent", None, {"leyla": [str(ref)]}, "preview")
        assert gated["identity"]["faces"] == 1  # the detector finds the stand-in's face
        judged.append({f["metric"] for f in gated["flags"] if f["level"] != "pass"})
    assert judged[0] and judged[0] <= FLAW_METRICS[flaw], judged[0]
    assert judged[1] == set()
    assert (
        drawn
        != PreviewBackend()
        .generate(
            ImageRequest("generate", "gpt-image-2.6-flare", "Leyla", 2, "1536x864", "medium"),
            {"shot": "s1", "lighting": "fluorescent"},
        )
        .images[0]
    )


def test_a_final_carries_its_own_labels_and_none_over_the_frame():
    """A final (an unmasked edit too) rewrites the bottom banner with its own pass, model,
    quality and size; nothing else of the frame changes, so labels never pile up."""
    backend = PreviewBackend()
    (draft,) = backend.generate(request(n=1, size="1536x864"), {"shot": "s3"}).images
    step = ImageRequest("edit", "gpt-image-2.6-sunburst", "p", 1, "1536x864", "medium")
    (edited,) = backend.edit(step, [draft], None, {"pass": "edit", "step": 1, "change": "x"}).images
    final = ImageRequest("edit", "gpt-image-2.6-sunburst", "p", 1, "2560x1440", "high")
    (png,) = backend.edit(final, [edited], None, {"pass": "final", "shot": "s3"}).images
    src = pixels(draft)
    with Image.open(io.BytesIO(edited)) as im:
        resized = np.asarray(im.convert("RGB").resize((2560, 1440), Image.BILINEAR))
    out = pixels(png)
    ground = np.abs(resized[:, 1].astype(int) - (16, 16, 18)).max(axis=1) <= 3
    footer = next(y for y in range(1440 // 2, 1440) if ground[y:].all())
    assert 1440 - footer < 1440 * 0.15  # a banner, not a band across the frame
    top = 2 * max(8, 2560 // 96) + 2560 // 40 + 1  # the "PREVIEW" banner, drawn again
    assert np.array_equal(out[top:footer], resized[top:footer])  # nothing over the frame
    assert not np.array_equal(out[footer:], resized[footer:])  # its own words
    ends = next(y for y in range(864 // 2, 864) if (src[y:, 1] == (16, 16, 18)).all())
    top = 2 * max(8, 1536 // 96) + 1536 // 40 + 1
    assert np.array_equal(pixels(edited)[top:ends], src[top:ends])  # the step's words: below
