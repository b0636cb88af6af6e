"""Edit steps marked with strokes (`markup:`), for edit models that take one (2.5 and
later): the loader checks the file, the build refuses a model without markup before
any job, and the step sends the markup to images.edit instead of a mask. About 10 s
(one draft-and-edit build on the loopback server)."""

from __future__ import annotations

import io
import json

import pytest
from PIL import Image, ImageDraw

from stillmake.errors import InputError
from stillmake.inputs.config import load_config
from stillmake.inputs.selections import load_selections
from stillmake.planner.load import load_build

SHOTS = ["s1", "s2", "s3", "s4", "s5"]


def strokes(path, size=(1536, 864), drawn=True, mode="RGBA"):
    im = Image.new(mode, size, (0, 0, 0, 0) if mode == "RGBA" else (0, 0, 0))
    if drawn:
        ImageDraw.Draw(im).line([(300, 200), (700, 500)], fill=(255, 45, 45, 255), width=12)
    path.parent.mkdir(parents=True, exist_ok=True)
    im.save(path, "PNG")
    return path


def selections(tmp_path, step: str):
    p = tmp_path / "selections.yaml"
    p.write_text(f"s2:\n  pick: 1\n  edits:\n    - {step}\n", encoding="utf-8")
    return p


def with_markup_step(wf, change):
    """The sample with one step on s2 marked by strokes (runs/input/markup/s2.png)."""
    strokes(wf.path("runs/input/markup/s2.png"))
    sel = wf.path("runs/input/selections.yaml")
    sel.write_text(
        sel.read_text().replace(
            "s2:\n  pick: 1   # composition is right; wardrobe to be checked after s3 is final\n",
            f"s2:\n  pick: 1\n  edits:\n    - {{change: {change}, markup: markup/s2.png}}\n",
        )
    )


@pytest.mark.parametrize(
    "make, step, words",
    [
        (None, "{change: x, markup: markup/none.png}", "markup file"),
        (
            dict(drawn=False),
            "{change: x, markup: markup/m.png}",
            "markup has nothing drawn on it",
        ),
        (dict(mode="RGB"), "{change: x, markup: markup/m.png}", "markup needs an alpha channel"),
        (
            {},
            "{change: x, markup: markup/m.png, region: [0.1, 0.1, 0.2, 0.2]}",
            "give markup, or a region or mask, not both",
        ),
        ({}, "{change: x, markup: ../../outside.png}", "is outside the workflow directory"),
    ],
)
def test_loader_checks_a_markup(tmp_path, make, step, words):
    if make is not None:
        strokes(tmp_path / "markup/m.png", **make)
    path = selections(tmp_path, step)
    with pytest.raises(InputError) as exc:
        load_selections(path, shots=SHOTS, draft_n=3, root=tmp_path)
    assert words in str(exc.value) and "key 'edits[1]" in str(exc.value)


def test_a_markup_needs_an_edit_model_that_takes_one(workflow, monkeypatch):
    monkeypatch.chdir(workflow.root)
    with_markup_step(workflow, "close the tap")
    build = load_build(load_config())
    assert build.selections["s2"].edits[0].markup.name == "s2.png"
    assert build.edit("s2", 1).inputs()["markup"] == "runs/input/markup/s2.png"
    with pytest.raises(InputError) as exc:
        load_build(load_config(overrides=["edit.model=gpt-image-2"]))
    assert "shot s2, key 'edits[1].markup': edit model 'gpt-image-2' does not take a markup" in str(
        exc.value
    )


def test_a_markup_step_sends_the_markup_and_no_mask(workflow, fake_openai):
    wf = workflow
    with_markup_step(wf, "turn off the tap")
    wf.snakemake(
        "runs/edits/s2/step_1.png", "--config", "backend=openai", env=wf.openai_env(fake_openai)
    )
    edit = next(r for r in fake_openai.requests if r.path.endswith("/edits"))
    assert "Change: turn off the tap" in edit.prompt
    assert "mask" not in edit.files
    sent = Image.open(io.BytesIO(edit.files["markup"][0].data))
    assert sent.format == "PNG" and sent.size == (1536, 864)
    assert sent.getchannel("A").getpixel((500, 350)) == 255  # on the stroke
    assert sent.getchannel("A").getpixel((1200, 700)) == 0  # nothing drawn there
    record = json.loads(wf.path("runs/edits/s2/step_1.json").read_text())
    assert record["markup_file"] == "runs/input/markup/s2.png" and record["region"] is None
    # built again unchanged: nothing sent; strokes redrawn: sent again, at the source's size
    before = fake_openai.count()
    wf.snakemake(
        "runs/edits/s2/step_1.png", "--config", "backend=openai", env=wf.openai_env(fake_openai)
    )
    assert fake_openai.count() == before  # nothing changed: nothing sent again
    strokes(wf.path("runs/input/markup/s2.png"), drawn=True, size=(768, 432))  # redrawn smaller
    wf.snakemake(
        "runs/edits/s2/step_1.png", "--config", "backend=openai", env=wf.openai_env(fake_openai)
    )
    again = [r for r in fake_openai.requests if r.path.endswith("/edits")][-1]
    assert Image.open(io.BytesIO(again.files["markup"][0].data)).size == (1536, 864)  # resized
