"""Face identity on real photographs: the same person through grading, flips, crops and
resizes passes; two different people fail. tests/data/faces/README.md names the photos."""

from __future__ import annotations

import io
import json
import logging
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from stillmake.api.requests import ImageRequest
from stillmake.artifacts import identity
from stillmake.artifacts.provenance import write_image
from stillmake.artifacts.sheets import contact_sheet
from stillmake.artifacts.thresholds import thresholds_for
from stillmake.errors import GuardrailError
from stillmake.planner.jobs import EditJob
from stillmake.stages.edit import drift, gate_source
from stillmake.stages.job import Job
from stillmake.stages.manifest import gate
from stillmake.stages.review import review, sheet_lines
from tests.conftest import config_for

FACES = Path(__file__).parents[1] / "data" / "faces"
PEOPLE = {"collins": FACES / "collins.jpg", "hopper": FACES / "hopper.jpg"}


def regrade(im: Image.Image) -> Image.Image:
    """A colourist's pass: gamma lift and a warm shift."""
    a = np.asarray(im, np.float32) / 255
    a = a**0.8 * np.array([1.08, 1.0, 0.88], np.float32)
    return Image.fromarray((np.clip(a, 0, 1) * 255).astype(np.uint8))


def in_frame(im: Image.Image, size=(1536, 864)) -> Image.Image:
    """The photo as a still at film size: scaled to the frame's height, centred."""
    frame = Image.new("RGB", size, (46, 46, 46))
    h = size[1]
    scaled = im.resize((round(im.width * h / im.height), h), Image.LANCZOS)
    frame.paste(scaled, ((size[0] - scaled.width) // 2, 0))
    return frame


VARIANTS = {
    "regraded": regrade,
    "darker": lambda im: Image.eval(im, lambda v: int(v * 0.6)),
    "flipped": ImageOps.mirror,
    "cropped": lambda im: im.crop(
        (im.width * 0.15, im.height * 0.05, im.width * 0.75, im.height * 0.7)
    ),
    "smaller": lambda im: im.resize(
        (round(im.width * 0.75), round(im.height * 0.75)), Image.LANCZOS
    ),
    "draft_size": in_frame,
    "final_size": lambda im: in_frame(im, (2560, 1440)),
}


def photo(who: str) -> Image.Image:
    with Image.open(PEOPLE[who]) as im:
        return im.convert("RGB")


def rgb(im: Image.Image) -> np.ndarray:
    return np.asarray(im)


@pytest.fixture(scope="module")
def thresholds():
    return thresholds_for(None)


@pytest.mark.parametrize("variant", sorted(VARIANTS))
@pytest.mark.parametrize("who", sorted(PEOPLE))
def test_same_person_passes_and_another_fails(who, variant, thresholds):
    image = rgb(VARIANTS[variant](photo(who)))
    other = next(p for p in PEOPLE if p != who)
    same = identity.judge(image, {who: [PEOPLE[who]]}, thresholds)
    assert same["measured"] and same["faces"] >= 1
    assert same["characters"][who]["distance"] <= 0.45, same["characters"]
    assert [f.level for f in same["flags"]] == ["pass"]
    assert same["flags"][0].message.startswith(f"{who}: same face (distance ")
    different = identity.judge(image, {other: [PEOPLE[other]]}, thresholds)
    assert different["characters"][other]["distance"] > 0.6, different["characters"]
    (flag,) = different["flags"]
    assert flag.level == "fail" and flag.metric == "identity"
    assert (
        f"{other}: identity drift (distance " in flag.message
        and "allowed up to 0.45" in flag.message
    )


def test_thresholds_come_from_quality_config():
    image = rgb(regrade(photo("hopper")))
    loose = thresholds_for(None, {"default": {"identity": {"warn": 0.7, "fail": 0.8}}})
    judged = identity.judge(image, {"collins": [PEOPLE["collins"]]}, loose)
    assert [f.level for f in judged["flags"]] == ["pass"]  # 0.6-0.7 apart: loosened to pass
    strict = thresholds_for(None, {"default": {"identity": {"warn": 0.01, "fail": 0.05}}})
    judged = identity.judge(image, {"hopper": [PEOPLE["hopper"]]}, strict)
    assert [f.level for f in judged["flags"]] == ["fail"]


def test_no_face_is_a_warning_and_preview_measures_only_its_stand_in_person(thresholds):
    blank = np.full((864, 1536, 3), 128, np.uint8)
    judged = identity.judge(blank, {"leyla": [PEOPLE["hopper"]]}, thresholds)
    assert judged["measured"] and judged["faces"] == 0
    assert [(f.level, f.message) for f in judged["flags"]] == [("warn", "leyla: no face found")]
    # the preview draws Hopper (stillmake/data/standins): a reference of her is measured...
    preview = identity.judge(blank, {"leyla": [PEOPLE["hopper"]]}, thresholds, backend="preview")
    assert preview["measured"] and [f.message for f in preview["flags"]] == ["leyla: no face found"]
    # ...one of anyone else is not: the stand-in is not them, and that is no flag
    other = identity.judge(blank, {"leyla": [PEOPLE["collins"]]}, thresholds, backend="preview")
    note = "identity not measured (preview: its stand-in face is not leyla's reference)"
    assert not other["measured"] and other["note"] == note and other["flags"] == []
    assert identity.judge(blank, {}, thresholds)["flags"] == []  # no characters: nothing to say


def test_a_reference_without_a_face_missing_or_broken_says_so(tmp_path, thresholds):
    faceless = tmp_path / "stand_in.png"
    Image.new("RGB", (512, 768), (200, 160, 140)).save(faceless)
    image = rgb(photo("hopper"))
    judged = identity.judge(image, {"leyla": [faceless]}, thresholds)
    assert not judged["measured"]
    assert [f.level for f in judged["flags"]] == ["warn"]
    assert f"reference {faceless} shows no face" in judged["flags"][0].message
    judged = identity.judge(image, {"leyla": [tmp_path / "gone.png"]}, thresholds)
    assert "gone.png not found" in judged["note"]
    broken = tmp_path / "broken.png"
    broken.write_bytes(PEOPLE["hopper"].read_bytes()[:5000])  # a JPEG cut short
    judged = identity.judge(image, {"leyla": [broken]}, thresholds)  # said, not a crash
    assert f"reference {broken} is not a whole image" in judged["flags"][0].message


def test_threads_share_the_models_and_get_the_same_distances(thresholds):
    image = rgb(in_frame(photo("collins")))
    expected = identity.judge(image, {"c": [PEOPLE["collins"]]}, thresholds)["characters"]
    got = []

    def measure():
        got.append(identity.judge(image, {"c": [PEOPLE["collins"]]}, thresholds)["characters"])

    threads = [threading.Thread(target=measure) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert got == [expected] * 4


def test_across_shots_names_the_outlier(thresholds):
    faces = {
        name: identity.find_faces(rgb(im))[0].descriptor
        for name, im in {
            "s1": photo("hopper"),
            "s2": regrade(photo("hopper")),
            "s3": photo("collins"),
        }.items()
    }
    report = identity.across_shots({s: {"leyla": d} for s, d in faces.items()}, thresholds)
    leyla = report["leyla"]
    assert leyla["outlier"] == "s3" and set(leyla["pairs"]) == {"s1 vs s2", "s1 vs s3", "s2 vs s3"}
    assert leyla["pairs"]["s1 vs s2"] < 0.45 < 0.6 < leyla["pairs"]["s1 vs s3"]
    (flag,) = leyla["flags"]
    assert flag["level"] == "fail" and "outlier s3" in flag["message"]


def draft(path: Path, im: Image.Image, backend: str = "openai@http://127.0.0.1") -> Path:
    """A draft as the draft stage leaves it: the image and its provenance sidecar."""
    record = {
        "fingerprint": "f" * 16,
        "model": "gpt-image-2.6-flare",
        "size": f"{im.width}x{im.height}",
        "quality": "medium",
        "backend": backend,
        "cost_usd": 0.0,
        "cache_hit": False,
        "image_sha256": "",
    }
    write_image(path, png_bytes(im), record)
    return path


def test_review_flags_a_drifted_face_with_its_distance_and_a_weak_pick(tmp_path):
    """The issue's done-when: a draft whose face drifted is flagged with its distance on
    its contact sheet's lines and in its JSON; picking it warns of a weak candidate."""
    ref = PEOPLE["hopper"]
    drafts = [
        draft(tmp_path / "draft_1.png", in_frame(regrade(photo("hopper")))),
        draft(tmp_path / "draft_2.png", in_frame(photo("collins"))),  # the face drifted
    ]
    # Hopper's navy uniform reads as a cool cast, and the photo's white shirt is blown
    no_cast = {"default": {"cast_b": None, "highlight_detail": None}}
    report = review("s1", "Corridor", "fluorescent", drafts, no_cast, {"leyla": [str(ref)]}, pick=2)
    one, two = report["drafts"]
    assert one["identity"]["characters"]["leyla"]["distance"] <= 0.45
    assert two["identity"]["faces"] >= 1
    drifted = [f for f in two["flags"] if f["metric"] == "identity"]
    distance = two["identity"]["characters"]["leyla"]["distance"]
    assert drifted == [
        {
            "level": "fail",
            "metric": "identity",
            "value": distance,
            "message": f"leyla: identity drift (distance {distance:.2f}); allowed up to 0.45",
        }
    ]
    assert two["worst"] == "fail" and report["worst"] == "fail"
    assert report["weak_pick"].startswith("picked draft 2 fails the gate (")
    assert "leyla: identity drift" in report["weak_pick"]
    lines = sheet_lines(report)
    assert lines[1][0] == {"level": "fail", "message": report["weak_pick"]}
    assert drifted[0] in lines[1]  # what the sheet draws under draft 2
    sheet = np.asarray(
        Image.open(io.BytesIO(contact_sheet(drafts, shot="s1", title="", flags=lines)))
    )
    red = (sheet[..., 0] > 200) & (sheet[..., 1] < 80) & (sheet[..., 2] < 80)
    below = red[56 + 288 :]  # the lines under the 512x288 thumbnails, not the photos
    assert not below[:, :528].any() and below[:, 544:560].any()  # draft 2's fail markers only
    assert (
        review("s1", "", None, drafts, no_cast, {"leyla": [str(ref)]}, pick=1)["weak_pick"] is None
    )


def test_review_of_preview_drafts_of_another_person_says_not_measured(tmp_path):
    im = in_frame(photo("hopper"))
    drafts = [draft(tmp_path / "draft_1.png", im, backend="preview")]
    report = review("s1", "", None, drafts, None, {"leyla": [str(PEOPLE["collins"])]})
    (d,) = report["drafts"]
    note = "identity not measured (preview: its stand-in face is not leyla's reference)"
    assert d["identity"]["note"] == note
    assert not any(f["metric"] in ("identity", "wardrobe") for f in d["flags"])
    assert {"level": "note", "message": note} in sheet_lines(report)[0]


def png_bytes(im: Image.Image) -> bytes:
    buf = io.BytesIO()
    im.save(buf, "PNG")
    return buf.getvalue()


def edit_job(source: Path, refuse_weak: bool) -> Job:
    edit = EditJob(
        shot="s1",
        step=1,
        request=ImageRequest("edit", "gpt-image-2.6-sunburst", "p", 1, "1536x864", "medium"),
        change="a change",
        keep="",
        region=None,
        mask=None,
        markup=None,
        refs=[],
        character_refs=[],
        protect_unmasked=False,
        feather_px=8,
        refuse_weak=refuse_weak,
        characters={"leyla": [str(PEOPLE["hopper"])]},
        # Hopper's navy uniform reads cool, and the photo's white shirt is blown
        thresholds={"default": {"cast_b": None, "highlight_detail": None}},
        critique=None,
        negative="",
        lighting=None,
    )
    log = logging.getLogger("test.edit")
    config = config_for(source.parent)
    return Job("edit", "s1", config, edit, {"source": str(source)}, {}, None, log)


def test_edits_on_a_weak_pick_warn_or_are_refused_and_record_face_drift(tmp_path, caplog):
    weak = draft(tmp_path / "weak.png", in_frame(photo("collins")))
    with pytest.raises(GuardrailError) as refused:
        gate_source(edit_job(weak, refuse_weak=True))
    message = str(refused.value)
    assert f"shot s1 edit step 1: its source {weak} fails the gate (" in message
    assert "leyla: identity drift (distance 0." in message and "edit.refuse_weak is on" in message
    with caplog.at_level(logging.WARNING, logger="test.edit"):
        gate_source(edit_job(weak, refuse_weak=False))  # warned, not refused
    assert "a weak candidate (edit.refuse_weak: true refuses it)" in caplog.text

    good = draft(tmp_path / "good.png", in_frame(photo("hopper")))
    job = edit_job(good, refuse_weak=True)
    gated = gate_source(job)  # the same face: edited without a word
    record = drift(job, png_bytes(in_frame(photo("collins"))), gated, "openai@http://127.0.0.1")
    assert record["source_distance"]["leyla"] <= 0.45  # the edit drifted the face:
    assert record["characters"]["leyla"]["distance"] > 0.6
    assert [f["level"] for f in record["flags"]] == ["fail"]


def test_gate_compares_each_characters_finals_and_names_the_outlier(tmp_path):
    finals = {
        "s1": photo("hopper"),
        "s2": regrade(photo("hopper")),
        "s3": photo("collins"),  # identity drift across shots
    }
    entries = []
    for shot, im in finals.items():
        path = tmp_path / f"{shot}.png"
        in_frame(im, (2560, 1440)).save(path)
        entries.append(
            {
                "shot": shot,
                "path": str(path),
                "lighting": None,
                "backend": "openai@x",
                "pixels": "2560x1440",
            }
        )
    refs = {"leyla": [str(PEOPLE["hopper"])]}
    report = gate(entries, {"default": {"cast_b": None}}, {s: refs for s in finals})
    leyla = report["identity"]["leyla"]
    assert leyla["outlier"] == "s3" and leyla["pairs"]["s1 vs s2"] <= 0.45
    assert report["shots"]["s1"]["identity"]["characters"]["leyla"]["distance"] <= 0.45
    s3 = {f["metric"]: f for f in report["shots"]["s3"]["flags"]}
    assert s3["identity"]["level"] == "fail" and s3["identity_across_shots"]["level"] == "fail"
    assert "outlier s3" in s3["identity_across_shots"]["message"]
    assert report["shots"]["s3"]["worst"] == "fail" and report["worst"] == "fail"
    assert "identity_across_shots" not in {f["metric"] for f in report["shots"]["s1"]["flags"]}
    json.dumps(report)  # what gate.json holds: no descriptors left in it


def test_without_dlib_every_report_says_identity_was_not_measured():
    """An install without the identity packages (pip --no-deps): said, never skipped."""
    code = (
        "import sys; sys.modules['dlib'] = None\n"  # what `import dlib` meets when absent
        "import numpy as np\n"
        "from stillmake.artifacts import identity\n"
        "r = identity.judge(np.zeros((64, 64, 3), np.uint8), {'leyla': ['x.png']})\n"
        "print(r['note'])\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == identity.MISSING
    assert identity.MISSING.startswith("identity not measured: ")
