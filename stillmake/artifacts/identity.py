"""Face identity against a character's reference images: the seed's first gate item.

dlib's HOG face detector, its 5-point landmarks and its ResNet face embedding (128-D;
two photos of one person are usually within 0.6 of each other). The weights ship in
the `face-recognition-models` package and the code in `dlib-bin`'s prebuilt wheel:
nothing is downloaded at run time. The package is never imported (its __init__ needs
pkg_resources, which current setuptools no longer ships): its `.dat` files are found
through its import spec.

Cost: the detector runs on a copy whose long side is at most DETECT_SIDE (1536, the
drafts' size: finals are shrunk to it, so a framing finds the same faces at draft and
final size) without upsampling, about 0.1-0.2 s an image on one core; faces smaller
than about 70 px at that scale (a far figure in a wide shot) are not found and say so.
The embedding is taken on the full-size image. The models are loaded once per process
and every call into them holds one lock: jobs run as threads of one process, and dlib's
objects shared across threads without one gave different distances. The faces of the
last few images are kept by content, so the chain's images (a draft that becomes the
selected image, an edit step that becomes the next step's source) are measured once.

Preview images carry a real stand-in face (stillmake/standins.py): a character whose
reference is that person is measured on them like on any image; any other character is
"not measured (preview ...)", never flagged for the stand-in being someone else.
"""

from __future__ import annotations

import hashlib
import importlib.util
import os
import threading
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from itertools import combinations
from pathlib import Path
from typing import Any, TypedDict

import numpy as np
from PIL import Image

from stillmake import standins
from stillmake.artifacts import face_store
from stillmake.artifacts.quality import Flag, FlagJson, evaluate, flags_to_json, load_rgb
from stillmake.artifacts.thresholds import Bounds, thresholds_for
from stillmake.errors import IdentityUnavailable
from stillmake.files import sha256_file
from stillmake.images import input_problem

DETECT_SIDE = 1536
JITTERS = 1  # embedding re-samples: 1 is deterministic and ~0.07 s a face
MODEL_FILES = {
    "landmarks": "shape_predictor_5_face_landmarks.dat",  # public domain (not the 68-point)
    "encoder": "dlib_face_recognition_resnet_model_v1.dat",  # public domain
}
MISSING = (
    "identity not measured: dlib-bin and face-recognition-models are not installed "
    "(pip install -e .)"
)
PREVIEW = "identity not measured (preview: its stand-in face is not {name}'s reference)"
REMEMBERED = 32  # images whose faces are kept, by content


@dataclass(frozen=True)
class _Models:
    """dlib's detector, landmark model and encoder (dlib ships no type information)."""

    detector: Any
    landmarks: Any
    encoder: Any
    rectangle: Any


_lock = threading.Lock()
_models: _Models | None = None
_ref_cache: dict[str, list[Face]] = {}  # reference sha256 -> its (largest) face
_seen: OrderedDict[str, list[Face]] = OrderedDict()  # image content digest -> its faces


def models_dir() -> Path:
    spec = importlib.util.find_spec("face_recognition_models")
    if spec is None or not spec.submodule_search_locations:
        raise IdentityUnavailable(MISSING)
    return Path(next(iter(spec.submodule_search_locations))) / "models"


def _load() -> _Models:
    """The detector, landmark model and encoder, loaded once (call with _lock held)."""
    global _models
    if _models is None:
        try:
            import dlib
        except ImportError:
            raise IdentityUnavailable(MISSING) from None
        where = models_dir()
        files = {k: where / name for k, name in MODEL_FILES.items()}
        missing = [str(p) for p in files.values() if not p.is_file()]
        if missing:
            raise IdentityUnavailable(f"{MISSING} (missing {', '.join(missing)})")
        _models = _Models(
            detector=dlib.get_frontal_face_detector(),
            landmarks=dlib.shape_predictor(str(files["landmarks"])),
            encoder=dlib.face_recognition_model_v1(str(files["encoder"])),
            rectangle=dlib.rectangle,
        )
    return _models


def available() -> str | None:
    """None when identity can be measured, else the sentence every report shows."""
    try:
        with _lock:
            _load()
    except IdentityUnavailable as exc:
        return str(exc)
    return None


@dataclass(frozen=True)
class Face:
    box: tuple[int, int, int, int]  # left, top, right, bottom in the image's pixels
    descriptor: np.ndarray  # 128 floats
    score: float = 0.0  # the detector's confidence (a face about 1.5, a false find near 0)

    @property
    def area(self) -> int:
        return (self.box[2] - self.box[0]) * (self.box[3] - self.box[1])


def find_faces(rgb: np.ndarray) -> list[Face]:
    """Every frontal face in an HxWx3 uint8 image, with its 128-D descriptor (the faces
    of an image seen lately are remembered by its content; on disk too: face_store)."""
    rgb = np.ascontiguousarray(rgb[..., :3], dtype=np.uint8)
    digest = hashlib.sha256(rgb.data)
    digest.update(f"{rgb.shape}|{DETECT_SIDE}|{JITTERS}|{sorted(MODEL_FILES.items())}".encode())
    key = digest.hexdigest()
    with _lock:
        if key in _seen:
            _seen.move_to_end(key)
            return list(_seen[key])
    kept = face_store.load(key)
    faces = _faces_from(kept) if kept is not None else None
    if faces is None:
        faces = _detect(rgb)
        face_store.keep(key, [_face_json(f) for f in faces])
    with _lock:
        _seen[key] = faces
        while len(_seen) > REMEMBERED:
            _seen.popitem(last=False)
    return list(faces)


def _face_json(face: Face) -> dict[str, Any]:
    return {"box": list(face.box), "descriptor": face.descriptor.tolist(), "score": face.score}


def _faces_from(kept: list[dict[str, Any]]) -> list[Face] | None:
    """Faces as face_store kept them; None if an entry is not whole."""
    try:
        return [
            Face(
                (int(b[0]), int(b[1]), int(b[2]), int(b[3])),
                np.array(f["descriptor"], dtype=np.float64).reshape(128),
                float(f["score"]),
            )
            for f in kept
            for b in [f["box"]]
        ]
    except (KeyError, TypeError, ValueError, IndexError):
        return None


def _detect(rgb: np.ndarray) -> list[Face]:
    h, w = rgb.shape[:2]
    scale = min(1.0, DETECT_SIDE / max(h, w))
    small = rgb
    if scale < 1.0:
        size = (max(1, round(w * scale)), max(1, round(h * scale)))
        small = np.asarray(Image.fromarray(rgb).resize(size, Image.Resampling.BILINEAR))
    faces = []
    with _lock:
        m = _load()
        rects, scores, _ = m.detector.run(small, 0, 0.0)
        for r, score in zip(rects, scores, strict=True):
            box = (
                max(0, round(r.left() / scale)),
                max(0, round(r.top() / scale)),
                min(w - 1, round(r.right() / scale)),
                min(h - 1, round(r.bottom() / scale)),
            )
            shape = m.landmarks(rgb, m.rectangle(*box))
            vec = m.encoder.compute_face_descriptor(rgb, shape, JITTERS)
            faces.append(Face(box, np.array(vec, dtype=np.float64), round(float(score), 3)))
    return faces


def distance(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.linalg.norm(a - b))


def reference_faces(path: str | os.PathLike[str]) -> list[Face]:
    """The largest face of a reference image (a ref sheet's main portrait), cached by
    content so every job of a build reads each reference once; [] when it has none."""
    key = sha256_file(path)
    if key not in _ref_cache:
        faces = sorted(find_faces(load_rgb(path)), key=lambda f: f.area, reverse=True)
        _ref_cache[key] = faces[:1]
    return _ref_cache[key]


def reference_descriptors(path: str | os.PathLike[str]) -> list[np.ndarray]:
    return [f.descriptor for f in reference_faces(path)]


def standin_descriptor() -> np.ndarray | None:
    """The face the preview draws into every stand-in (None if the detector misses it)."""
    key = "standin:portrait"
    if key not in _ref_cache:
        _ref_cache[key] = find_faces(np.asarray(standins.image("portrait")))[:1]
    faces = _ref_cache[key]
    return faces[0].descriptor if faces else None


def _reference(path: Path) -> tuple[list[np.ndarray], str | None]:
    """A reference's face descriptors, or why it has none usable (None: no face in it)."""
    if not path.is_file():
        return [], "not found"
    problem = input_problem(path)
    if problem:
        return [], problem
    try:
        return reference_descriptors(path), None
    except (OSError, ValueError, SyntaxError) as exc:  # a JPEG cut short passes verify()
        return [], f"is not a whole image ({exc})"


class CharacterMatch(TypedDict):
    """A character's best-matching face: its distance to the nearest reference, its box
    (left, top, right, bottom) and how many references had a face."""

    distance: float
    box: list[int]
    refs: int


class IdentityRecord(TypedDict):
    """What review JSON, sidecars and the gate keep of an identity judgement (`to_json`)."""

    measured: bool
    note: str  # why not measured, or what was left out ("" when nothing)
    faces: int | None  # faces found; None when not looked for
    characters: dict[str, CharacterMatch]


class EditIdentity(IdentityRecord):
    """An edit step's result's identity, its identity flags, and each character's
    distance in the step's source: the face's drift, step by step."""

    flags: list[FlagJson]
    source_distance: dict[str, float]


class Judged(IdentityRecord):
    """`judge`'s whole answer: the record, its flags, and (not JSON) the faces: each
    character's best face's descriptor, every face found, the references with a face."""

    flags: list[Flag]
    descriptors: dict[str, np.ndarray]
    found: list[Face]
    references: dict[str, list[Path]]


def not_measured(note: str, found: list[Face] | None = None) -> Judged:
    """Identity not judged, and why (`found`: the faces, when they were looked for)."""
    return Judged(
        measured=False,
        note=note,
        faces=None if found is None else len(found),
        characters={},
        flags=[],
        descriptors={},
        found=found or [],
        references={},
    )


def _stands_in(name: str, descriptors: list[np.ndarray], thresholds: Mapping[str, Bounds]) -> bool:
    """On a preview image: is the character's reference the stand-in person (within the
    identity pass bound), so measuring the stand-in against it means something?"""
    standin = standin_descriptor()
    warn = (thresholds.get("identity") or {}).get("warn")
    bound = warn if isinstance(warn, float | int) and warn else 0.45  # identity is judged by max
    return standin is not None and min(distance(standin, d) for d in descriptors) <= bound


def judge(
    image: str | os.PathLike[str] | np.ndarray,
    characters: Mapping[str, Iterable[str | os.PathLike[str]]],
    thresholds: Mapping[str, Bounds] | None = None,
    *,
    backend: str | None = None,
) -> Judged:
    """Identity of one image against each character's references.

    Per character (`Judged.characters`), the
    distance of the best-matching face to the nearest of its references, judged by the
    `identity` thresholds (pass <= 0.45, warn <= 0.6, fail above). No face where a
    character should be is a warn, never an error; a shot without characters, a missing
    install, or on a preview image a character who is not the stand-in person is "not
    measured", never a warning.
    """
    if not characters:
        return not_measured("no characters in this shot")
    unavailable = available()
    if unavailable:
        return not_measured(unavailable)
    if thresholds is None:
        thresholds = thresholds_for(None)
    refs: dict[str, list[np.ndarray]] = {}
    with_face: dict[str, list[Path]] = {}
    unusable: list[Flag] = []  # a character whose references show no face: said, not judged
    for name, given in characters.items():
        paths = [Path(p) for p in given]
        problems: dict[Path, str | None] = {}
        descriptors: list[np.ndarray] = []
        for p in paths:
            found, problems[p] = _reference(p)
            descriptors += found
            if found:
                with_face.setdefault(name, []).append(p)
        if descriptors:
            refs[name] = descriptors
        elif paths:
            why = "; ".join(f"{p} {problem or 'shows no face'}" for p, problem in problems.items())
            note = f"identity not measured: reference {why}"
            unusable.append(Flag("warn", "identity", None, f"{name}: {note}"))
    notes = []
    if backend == "preview":
        for name in [n for n in refs if not _stands_in(n, refs[n], thresholds)]:
            notes.append(PREVIEW.format(name=name))
            del refs[name]
    if not refs:
        if unusable:
            return {**not_measured(unusable[0].message.partition(": ")[2]), "flags": unusable}
        return not_measured("; ".join(notes) or "no character references in the prompts file")
    rgb = image if isinstance(image, np.ndarray) else load_rgb(image)
    faces = find_faces(rgb)
    result = Judged(
        measured=True,
        note="; ".join(notes),
        faces=len(faces),
        characters={},
        flags=unusable,
        descriptors={},
        found=faces,
        references={n: with_face[n] for n in refs},
    )
    for name, descriptors in refs.items():
        if not faces:
            result["flags"].append(Flag("warn", "identity", None, f"{name}: no face found"))
            continue
        best = min(faces, key=lambda f: min(distance(f.descriptor, d) for d in descriptors))
        d = round(min(distance(best.descriptor, r) for r in descriptors), 4)
        result["characters"][name] = CharacterMatch(
            distance=d, box=list(best.box), refs=len(descriptors)
        )
        result["descriptors"][name] = best.descriptor
        for flag in evaluate({"identity": d}, None, thresholds):
            result["flags"].append(replace(flag, message=f"{name}: {flag.message}"))
    return result


def to_json(result: Judged) -> IdentityRecord:
    """The record of `judge` as review JSON, sidecars and the gate keep it (its flags go
    with the image's other flags: `flags_json`)."""
    return IdentityRecord(
        measured=result["measured"],
        note=result["note"],
        faces=result["faces"],
        characters=result["characters"],
    )


def flags_json(result: Judged) -> list[FlagJson]:
    return flags_to_json(result["flags"])


class AcrossShots(TypedDict):
    """One character across the finals (`across_shots`)."""

    shots: list[str]
    pairs: dict[str, float]  # "s1 vs s2" -> face distance
    outlier: str | None  # three finals or more: the shot farthest from the others
    flags: list[FlagJson]


def across_shots(
    descriptors: Mapping[str, Mapping[str, np.ndarray]], thresholds: Mapping[str, Bounds]
) -> dict[str, AcrossShots]:
    """Each character's pairwise distances between the finals it appears in
    ({shot: {character: descriptor}}), the largest judged like one image against its
    reference, and the outlier (three finals or more): the shot farthest on average
    from the others. The seed: identity identical across shots."""
    out: dict[str, AcrossShots] = {}
    for name in sorted({n for per in descriptors.values() for n in per}):
        shots = {s: per[name] for s, per in sorted(descriptors.items()) if name in per}
        pairs = {
            f"{a} vs {b}": round(distance(shots[a], shots[b]), 4) for a, b in combinations(shots, 2)
        }
        entry = AcrossShots(shots=list(shots), pairs=pairs, outlier=None, flags=[])
        if pairs:
            widest = max(pairs, key=lambda pair: pairs[pair])
            text = f"{name} across finals: largest face distance {pairs[widest]:.2f} ({widest})"
            if len(shots) > 2:
                mean = {
                    s: sum(distance(v, w) for t, w in shots.items() if t != s) / (len(shots) - 1)
                    for s, v in shots.items()
                }
                outlier = max(mean, key=lambda shot: mean[shot])
                entry["outlier"] = outlier
                text += f"; outlier {outlier} (mean {mean[outlier]:.2f})"
            for flag in evaluate({"identity": pairs[widest]}, None, thresholds):
                allowed = flag.message.partition("; ")[2]
                message = f"{text}; {allowed}" if flag.level != "pass" and allowed else text
                entry["flags"] += flags_to_json(
                    [replace(flag, metric="identity_across_shots", message=message)]
                )
        out[name] = entry
    return out
