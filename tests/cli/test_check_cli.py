"""`stillmake check`: the quality gate from the command line."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from PIL import Image, PngImagePlugin

from stillmake.cli.check import check
from stillmake.cli.main import cli


def frame(base=(120, 120, 120), seed=0, shape=(100, 150)):
    rng = np.random.default_rng(seed)
    return np.clip(np.asarray(base, float) + rng.normal(0, 30, shape + (1,)), 20, 235).astype(
        np.uint8
    )


def save(path, rgb, record=None):
    info = None
    if record is not None:
        info = PngImagePlugin.PngInfo()
        info.add_itxt("stillmake", json.dumps(record))
    Image.fromarray(np.asarray(rgb, np.uint8)).save(path, pnginfo=info)
    return str(path)


@pytest.fixture
def images(tmp_path):
    red = frame((90, 20, 20))
    red[:20, :] = (255, 60, 40)  # 20% of the frame
    mild_green = frame((116, 126, 116))
    return {
        "clean": save(tmp_path / "clean.png", frame()),
        "red": save(tmp_path / "red.png", red),
        "green": save(tmp_path / "green.png", mild_green),
        "red_tagged": save(
            tmp_path / "red_tagged.png", red, {"shot": "s4", "lighting": "red_emergency"}
        ),
    }


def run(*args):
    return CliRunner().invoke(cli, ["check", *args])


def test_clean_image_passes_with_a_table(images):
    r = run(images["clean"])
    assert r.exit_code == 0, r.output
    lines = r.output.splitlines()
    assert lines[0].startswith(images["clean"]) and "150x100" in lines[0] and "PASS" in lines[0]
    assert "lighting: default" in lines[0]
    table = {ln.split()[0]: ln.split() for ln in lines[1:] if ln.strip()}
    assert table["highlight_clip"][1:3] == ["0.00%", "pass"]
    assert table["mean_luma"][2] == "-"  # reported, not judged
    # the value column is right-aligned: every row ends its value at the same column
    ends = {
        ln.index(row[1]) + len(row[1])
        for ln, row in zip(lines[2:], list(table.values())[1:], strict=False)
    }
    assert len(ends) == 1


def test_failing_image_exits_1_and_says_why(images):
    r = run(images["clean"], images["red"], "--lighting", "red_emergency")
    assert r.exit_code == 1
    assert "red highlights clipped on 20.0% of pixels" in r.output
    assert "FAIL" in r.output and "2 images: 1 pass, 0 warn, 1 fail" in r.output


def test_warnings_do_not_fail_the_gate(images):
    assert run(images["green"], "-l", "fluorescent").exit_code == 0
    r = run(images["green"])  # default: a green cast is not the intent
    assert "green cast a*=" in r.output and "beyond the default allowance" in r.output
    assert r.exit_code == (1 if "FAIL" in r.output.splitlines()[0] else 0)


def test_json_output(images):
    r = run(images["red"], images["clean"], "--json", "-l", "red_emergency")
    assert r.exit_code == 1
    data = json.loads(r.stdout)
    assert [d["path"] for d in data] == [images["red"], images["clean"]]
    red = data[0]
    assert set(red) == {"path", "size", "lighting", "metrics", "identity", "flags", "worst"}
    assert red["identity"]["faces"] == 0 and not red["identity"]["measured"]  # no --ref
    assert (
        red["worst"] == "fail" and red["lighting"] == "red_emergency" and red["size"] == "150x100"
    )
    assert red["metrics"]["clip_r"] == 0.2
    flag = next(f for f in red["flags"] if f["metric"] == "clip_r")
    assert flag["level"] == "fail" and flag["value"] == 0.2
    assert data[1]["worst"] == "pass"


def test_lighting_from_provenance(images):
    r = run(images["red_tagged"], "--json")
    assert json.loads(r.stdout)[0]["lighting"] == "red_emergency" and r.exit_code == 1
    assert "lighting: red_emergency (from provenance)" in run(images["red_tagged"]).output
    # untagged, the same pixels are judged by the default gate: red clipping is not looked at
    untagged = json.loads(run(images["red"], "--json").stdout)[0]
    assert untagged["lighting"] is None
    assert "clip_r" not in {f["metric"] for f in untagged["flags"]}
    # --lighting wins over provenance
    forced = json.loads(run(images["red_tagged"], "--json", "-l", "default").stdout)[0]
    assert forced["lighting"] == "default"


def test_missing_or_unreadable_image_is_a_usage_error(images, tmp_path):
    r = run(images["clean"], str(tmp_path / "nope.png"))
    assert r.exit_code == 2 and "nope.png" in r.output and "no such file" in r.output
    (tmp_path / "text.png").write_text("not an image")
    r = run(str(tmp_path / "text.png"))
    assert r.exit_code == 2 and "text.png" in r.output and "not a readable image" in r.output
    (tmp_path / "folder.png").mkdir()
    assert run(str(tmp_path / "folder.png")).exit_code == 2
    assert run().exit_code == 2  # no IMAGE at all


def test_unknown_lighting_tag_is_a_usage_error(images):
    r = run(images["clean"], "--lighting", "red-emergency")
    assert r.exit_code == 2 and "unknown lighting tag 'red-emergency'" in r.output
    assert "red_emergency" in r.output


def test_config_overrides_apply(images, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(
        "prompts: p.json\nselections: s.yaml\n"
        "quality:\n  default:\n    sharpness: {warn: 1000000000, fail: 100000000}\n"
        "  tungsten:\n    cast_b: {warn: [0, 30], fail: [-5, 40]}\n",
        encoding="utf-8",
    )
    r = run(images["clean"])
    assert r.exit_code == 1 and "soft image" in r.output
    assert run(images["clean"], "-l", "tungsten").exit_code == 1  # a tag defined in config is known
    (tmp_path / "config.yaml").write_text(
        "prompts: p.json\nselections: s.yaml\nquality:\n  default:\n    sharp: {warn: 1}\n",
        encoding="utf-8",
    )
    r = run(images["clean"])
    assert r.exit_code == 2 and "unknown key 'sharp'; did you mean 'sharpness'?" in r.output


def test_help_teaches_metrics_and_tags():
    out = CliRunner().invoke(check, ["--help"]).output
    for word in (
        "highlight_clip",
        "clip_r",
        "shadow_crush",
        "cast_a",
        "cast_b",
        "midtone_separation",
        "sharpness",
        "fluorescent",
        "red_emergency",
        "daylight",
        "Exit status",
        "--json",
        "--lighting",
    ):
        assert word in out, word
    assert check.name == "check"


def test_ref_measures_identity_and_fails_another_person():
    from tests.artifacts.test_identity import PEOPLE

    same = run(str(PEOPLE["hopper"]), "--ref", str(PEOPLE["hopper"]), "--json")
    (result,) = json.loads(same.stdout)
    assert result["identity"]["characters"]["ref"]["distance"] == 0.0
    assert [f["level"] for f in result["flags"] if f["metric"] == "identity"] == ["pass"]
    other = run(str(PEOPLE["collins"]), "--ref", str(PEOPLE["hopper"]))
    assert other.exit_code == 1
    row = next(ln.split(None, 3) for ln in other.output.splitlines() if "identity" in ln[:12])
    assert row[0] == "identity" and row[1].startswith("0.6") and row[2] == "FAIL"
    assert row[3].startswith("ref: identity drift (distance 0.6")


def test_an_image_past_the_bomb_limit_is_refused_in_one_line(tmp_path):
    """A 48 KB PNG claiming 20000x20000 pixels: a DecompressionBombError traceback before."""
    from tests.bad_inputs import bomb_png

    bomb = tmp_path / "bomb.png"
    bomb_png(bomb)
    r = CliRunner().invoke(cli, ["check", str(bomb)])
    assert r.exit_code == 2 and isinstance(r.exception, SystemExit), r.output
    assert len(r.output.strip().splitlines()) == 1, r.output
    assert "is 20000x20000 (400,000,000 pixels), more than the" in r.output
    assert str(bomb) in r.output and "not checked" in r.output
