"""Select pass: copy the picked draft, refusing a pick made on drafts that have changed.

A draft changed by hand after it was drafted (a retouch) makes the pick stale, as a
new draft would: the pick was made on other pixels. Picking again after looking at
the review sheet (rebuilt from the drafts as they are) takes the retouched draft as
an intended input; the selected image's provenance then names it under `retouched`.

A pick typed without `drafts:` is bound to the drafts the job first applies it to
(artifacts/picks.keep_binding): drafts that change later make it stale the same way.
The selected image's record carries the picked draft's gate verdict from its review, so
a lock on it is judged as a lock on an edit step is (planner/approval.py).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake.api.calls import RESULT
from stillmake.artifacts.picks import (
    build_binding,
    changed_since_drafted,
    current_drafts_fingerprint,
    keep_binding,
)
from stillmake.artifacts.provenance import raw_image, read_record, sidecar_path, write_image
from stillmake.errors import StalePick, StillmakeError
from stillmake.files import sha256_bytes

if TYPE_CHECKING:
    from stillmake.artifacts.records import Provenance
    from stillmake.planner.jobs import SelectJob
    from stillmake.stages.job import Job


def _retouch_message(
    select: SelectJob, changed: list[Path], current: str | None, bound: str | None
) -> str:
    shot, pick, review = select.shot, select.pick, select.review
    files = ", ".join(str(p) for p in changed)
    side = sidecar_path(changed[0])
    if bound:
        made = f"pick {pick} was made on drafts {bound}, they are now {current}"
    else:
        made = f"pick {pick} is not bound to drafts (typed by hand)"
    return (
        f"shot {shot}: {files} changed since it was drafted (its pixels no longer match "
        f"{side}), so {made}. A draft changed by hand is built on only once you pick again: "
        f"look at {review} and re-pick with `stillmake pick {shot} K` to use the drafts as "
        f"they are now, or delete the changed file and run `snakemake` to restore it "
        f"(from the cache, $0)."
    )


def check_pick(select: SelectJob, drafts: list[str], bound: str | None = None) -> str | None:
    """Return the current drafts fingerprint (from the pixels on disk); raise StalePick if
    the pick is bound to other drafts (`drafts:`, else `bound`: the drafts the build first
    applied a hand-typed pick to), or if a draft was changed by hand since the pick."""
    shot, pick = select.shot, select.pick
    bound = select.drafts or bound
    if pick is None:
        raise StillmakeError(
            f"shot {shot} has no pick yet: look at {select.review} and run "
            f"`stillmake pick {shot} K`"
        )
    current = current_drafts_fingerprint(drafts)
    if bound == current and bound:
        return current  # picked on the drafts exactly as they are, retouched or not
    changed = changed_since_drafted(drafts)
    if changed:
        raise StalePick(_retouch_message(select, changed, current, bound))
    if bound and bound != current:
        raise StalePick(
            f"shot {shot}: pick {pick} was made on drafts {bound}, but the drafts are "
            f"now {current} (prompt, reroll, model or backend changed). Look at "
            f"{select.review} and re-pick with `stillmake pick {shot} K`."
        )
    return current


def gate_of(review: str, k: int, sha: str) -> dict:
    """The picked draft's gate verdict from its review (flags, worst), as an edit step's
    record carries its own: what a lock on the selected draft is judged by."""
    report = json.loads(Path(review).read_text(encoding="utf-8"))
    draft = next((d for d in report.get("drafts", []) if d.get("k") == k), None)
    if draft is None or draft.get("image_sha256") != sha:
        raise StillmakeError(
            f"{review} does not describe draft {k} as it is now; run `snakemake --forcerun "
            f"{review}` to review the drafts again"
        )
    return {"flags": draft.get("flags", []), "worst": draft.get("worst")}


def run(job: Job[SelectJob]) -> None:
    select = job.planned
    drafts = job.input["drafts"]
    root = job.config.root
    bound = build_binding(root, select.shot, select.pick)
    current = check_pick(select, drafts, bound)
    k = select.pick
    assert k is not None and current is not None  # check_pick refused an unpicked shot
    if not select.drafts and not bound:
        job.logger.warning(
            "%s: pick %d typed by hand is now bound to drafts %s (the drafts it was first "
            "applied to): if they change, the pick is stale",
            select.shot,
            k,
            current,
        )
    retouched = [str(p) for p in changed_since_drafted(drafts)]
    if retouched:
        job.logger.warning(
            "%s: building on drafts changed by hand since they were drafted: %s",
            select.shot,
            ", ".join(retouched),
        )
    png = raw_image(drafts[k - 1])
    sha = sha256_bytes(png)
    record: Provenance = {
        **read_record(drafts[k - 1]),
        "pass": "select",
        "pick": k,
        "drafts": current,
        # who bound the pick to these drafts: `drafts:` (stillmake pick, the board, by
        # hand), or the build, first applying a pick typed without it
        "bound_by": "drafts:" if select.drafts else "build",
        "source": str(drafts[k - 1]),
        "rejects": select.rejects,
        "image_sha256": sha,  # the pixels selected, retouched or not
        **gate_of(job.input["review"], k, sha),
    }
    if retouched:
        record["retouched"] = retouched
    write_image(job.output["image"], png, record)
    keep_binding(root, select.shot, k, current)
    job.logger.info("%s: selected draft %d of drafts %s", select.shot, k, current, extra=RESULT)
