import json

import numpy as np
from click.testing import CliRunner
from PIL import Image

from stillmake.cli import cli


def save(path, rgb):
    Image.fromarray(np.asarray(rgb, np.uint8)).save(path)
    return str(path)


def test_check_exit_codes_and_json(tmp_path):
    rng = np.random.default_rng(0)
    clean = save(tmp_path / "clean.png", np.clip(120 + rng.normal(0, 25, (100, 150, 1)).repeat(3, 2), 0, 255))
    red = np.clip(np.array([90, 20, 20]) + rng.normal(0, 20, (100, 150, 1)), 0, 255)
    red[:20, :] = (255, 60, 40)
    red = save(tmp_path / "red.png", red)
    runner = CliRunner()
    ok = runner.invoke(cli, ["check", clean])
    assert ok.exit_code == 0 and "PASS" in ok.output
    bad = runner.invoke(cli, ["check", clean, red, "--lighting", "red_emergency"])
    assert bad.exit_code == 1 and "red highlights clipped on 20.0% of pixels" in bad.output
    data = json.loads(runner.invoke(cli, ["check", red, "--json", "-l", "red_emergency"]).output)
    assert data[0]["worst"] == "fail" and data[0]["metrics"]["clip_r"] == 0.2
    missing = runner.invoke(cli, ["check", str(tmp_path / "nope.png")])
    assert missing.exit_code == 2 and "nope.png" in missing.output
    (tmp_path / "text.png").write_text("not an image")
    assert runner.invoke(cli, ["check", str(tmp_path / "text.png")]).exit_code == 2
    assert "midtone_separation" in runner.invoke(cli, ["check", "--help"]).output
