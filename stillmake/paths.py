"""The build's output files: one table of path patterns, relative to the workflow directory.

The rules declare the same patterns as their literal `output:` and `log:` paths
(Snakemake reads them there); tests/inputs/test_paths.py pins the two together.
Everything in the library that names an output file takes it from here.
"""

from __future__ import annotations

import os
from pathlib import PurePath

CONFIG_FILE = "config.yaml"  # the workflow's config (the Snakefile's `configfile:`)

PATTERNS = {
    "draft": "runs/drafts/{shot}/draft_{k}.png",
    "draft_sidecar": "runs/drafts/{shot}/draft_{k}.json",
    "review_sheet": "runs/review/{shot}.png",
    "review_json": "runs/review/{shot}.json",
    "selected": "runs/selected/{shot}.png",
    "selected_sidecar": "runs/selected/{shot}.json",
    "edit_step": "runs/edits/{shot}/step_{step}.png",
    "edit_step_sidecar": "runs/edits/{shot}/step_{step}.json",
    "final": "runs/final/{shot}.png",
    "final_sidecar": "runs/final/{shot}.json",
    "manifest_csv": "runs/final/manifest.csv",
    "manifest_json": "runs/final/manifest.json",
    "gate": "runs/final/gate.json",
    "draft_log": "runs/logs/draft/{shot}.log",
    "review_log": "runs/logs/review/{shot}.log",
    "select_log": "runs/logs/select/{shot}.log",
    "edit_log": "runs/logs/edit/{shot}_step_{step}.log",
    "final_log": "runs/logs/final/{shot}.log",
    "manifest_log": "runs/logs/final/manifest.log",
}

MANIFEST_CSV = PATTERNS["manifest_csv"]
MANIFEST_JSON = PATTERNS["manifest_json"]
GATE = PATTERNS["gate"]


def draft(shot: str, k: int) -> str:
    """Draft k (1-based) of a shot."""
    return PATTERNS["draft"].format(shot=shot, k=k)


def drafts(shot: str, n: int) -> list[str]:
    """A shot's n drafts, in draft order (the order a pick's fingerprint is taken in)."""
    return [draft(shot, k) for k in range(1, n + 1)]


def review_sheet(shot: str) -> str:
    return PATTERNS["review_sheet"].format(shot=shot)


def review_json(shot: str) -> str:
    return PATTERNS["review_json"].format(shot=shot)


def selected(shot: str) -> str:
    return PATTERNS["selected"].format(shot=shot)


def edit_step(shot: str, step: int) -> str:
    """Edit step `step` (1-based) of a shot."""
    return PATTERNS["edit_step"].format(shot=shot, step=step)


def final(shot: str) -> str:
    return PATTERNS["final"].format(shot=shot)


def sidecar(image: str | os.PathLike[str]) -> str:
    """The JSON record written beside an image output (draft_1.png -> draft_1.json)."""
    return str(PurePath(image).with_suffix(".json"))


# Request stamps: one small file per job holding the digest of that job's params (its
# request), an input of the job, rewritten at DAG time only when the digest changes. So a
# changed request rebuilds its job by Snakemake's mtime rule alone, with or without the
# metadata in .snakemake/, and `snakemake -n` gives the reason as "Updated input files:
# runs/.params/s3/draft.json". Beside each, `.built` records what the outputs were built
# from. Not rule outputs, so not in PATTERNS.
REQUEST_STAMPS = "runs/.params"
PIXEL_DIGESTS = "runs/.params/pixels.json"  # built images' digests by file identity (digests.py)
_STAMP_NAMES = {
    "draft": "draft",
    "review_sheet": "review",
    "select": "select",
    "edit_step": "edit_{step}",
    "final": "final",
}


def request_stamp(rule: str, shot: str | None = None, step: int | None = None) -> str:
    """The request stamp of one job: runs/.params/{shot}/{pass}.json (manifest: no shot)."""
    if rule == "manifest":
        return f"{REQUEST_STAMPS}/manifest.json"
    return f"{REQUEST_STAMPS}/{shot}/{_STAMP_NAMES[rule].format(step=step)}.json"


def built_record(stamp: str) -> str:
    """Beside a request stamp: the stamp the job's current outputs were built from."""
    return stamp.removesuffix(".json") + ".built"


def clashing_shot_ids() -> dict[str, str]:
    """Shot ids whose files would be the build's own: {id: the build's file}. A shot
    `manifest` would write runs/final/manifest.json, the manifest's; `gate` the gate's;
    `manifest.json` would need a folder where the manifest's request stamp is a file.
    Worked out from the table above, so a new output can never clash unnoticed."""
    import re

    fixed = [p for p in PATTERNS.values() if "{shot}" not in p]
    fixed.append(request_stamp("manifest"))
    shot_paths = [p for p in PATTERNS.values() if "{shot}" in p]
    shot_paths.append(f"{REQUEST_STAMPS}/{{shot}}/x")
    clashes: dict[str, str] = {}
    for pattern in shot_paths:
        parts = pattern.split("/")
        cut = next(i for i, part in enumerate(parts) if "{shot}" in part)
        for end in range(cut + 1, len(parts) + 1):  # the file, and its folders below {shot}
            regex = re.escape("/".join(parts[:end])).replace(r"\{shot\}", "(?P<shot>[^/]+)")
            regex = re.sub(r"\\\{\w+\\\}", r"\\d+", regex)  # {k}, {step}: numbers
            for path in fixed:
                found = re.fullmatch(regex, path)
                if found:
                    clashes.setdefault(found["shot"], path)
    return clashes
