"""Select pass: copy the picked draft, refusing a pick made on drafts that have changed."""

from __future__ import annotations

from typing import TYPE_CHECKING

from stillmake.artifacts.picks import current_drafts_fingerprint
from stillmake.artifacts.provenance import raw_image, read_sidecar, write_image
from stillmake.errors import StalePick, StillmakeError

if TYPE_CHECKING:
    from stillmake.bridge import Job


def check_pick(spec: dict, drafts: list) -> str | None:
    """Return the current drafts fingerprint; raise StalePick if the pick is bound elsewhere."""
    shot, pick = spec["shot"], spec["pick"]
    if pick is None:
        raise StillmakeError(
            f"shot {shot} has no pick yet: look at {spec['review']} and run "
            f"`stillmake pick {shot} K`"
        )
    current = current_drafts_fingerprint(drafts)
    if spec.get("drafts") and spec["drafts"] != current:
        raise StalePick(
            f"shot {shot}: pick {pick} was made on drafts {spec['drafts']}, but the drafts are "
            f"now {current} (prompt, reroll, model or backend changed). Look at "
            f"{spec['review']} and re-pick with `stillmake pick {shot} K`."
        )
    return current


def run(job: Job) -> None:
    spec = job.params["spec"]
    drafts = job.input["drafts"]
    current = check_pick(spec, drafts)
    k = spec["pick"]
    if not spec.get("drafts"):
        job.logger.warning(
            "%s: pick %d is not bound to drafts %s; `stillmake pick` binds it",
            spec["shot"],
            k,
            current,
        )
    record = {
        **read_sidecar(drafts[k - 1]),
        "pass": "select",
        "pick": k,
        "drafts": current,
        "source": str(drafts[k - 1]),
        "rejects": spec.get("reject") or {},
    }
    write_image(job.output["image"], raw_image(drafts[k - 1]), record)
    job.logger.info("%s: selected draft %d of drafts %s", spec["shot"], k, current)
