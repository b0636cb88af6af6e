"""The board's data: every shot as the page shows it, read fresh from the project.

Read-only, like `stillmake status` (whose rows it reuses): drafts with their flags
and metrics from runs/review/{shot}.json, the stage, the pick (stale or not, and why),
rejects, edit steps, the candidate the final renders (its gate verdict, waivers and
approval) and the final, spend so far, and the plan of the next build when ready.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.api.ledger import Ledger
from stillmake.artifacts.digests import PixelDigests
from stillmake.artifacts.picks import changed_since_drafted
from stillmake.board.files import tree_signature
from stillmake.inputs.config import ONLY_CONFIG_YAML, Config, ConfigSources
from stillmake.inputs.selections import entry_digest
from stillmake.inputs.selections.read import parse, read_text
from stillmake.paths import CONFIG_FILE
from stillmake.views.status import status_rows

if TYPE_CHECKING:
    from stillmake.board.planner import Plan
    from stillmake.planner.build import Build

BUILT = ("runs/drafts", "runs/review", "runs/selected", "runs/edits", "runs/final")


def load_build(sources: ConfigSources = ONLY_CONFIG_YAML) -> Build:
    """The project in the current directory, as `stillmake` commands load it."""
    from stillmake.planner.load import load_build as plan

    return plan(sources.load())


def notice(selections: Path) -> None:
    """Keep a hand save of selections.yaml made since the last version kept (and put back
    decisions a stale editor save undid): the board sees saves as they happen. Best
    effort: a file being written, or a history that cannot be written, waits for the
    next write, which refuses in words if it must."""
    from stillmake.errors import StillmakeError
    from stillmake.inputs.selections.write import Author, update_selections

    try:
        update_selections(selections, None, author=Author("board"), patience=0.5)
    except StillmakeError:
        pass


def _stamp(path: Path) -> list:
    try:
        st = path.stat()
        return [st.st_mtime_ns, st.st_size]
    except OSError:
        return [None, None]


def version(root: Path, config: Config | None) -> str:
    """Changes whenever a decision, an input or a built file changes (cheap: stats only).
    `config` None: it does not load (the config file's own stamp still changes)."""
    parts = [_stamp(root / CONFIG_FILE)]
    if config is not None:
        parts += [_stamp(config.selections_path), _stamp(config.prompts_path)]
    parts.append(tree_signature(root, BUILT))
    if config is not None:
        parts.append(_stamp(config.ledger_path))
    return hashlib.sha256(json.dumps(parts, default=str).encode()).hexdigest()[:16]


def image_url(path: str) -> str:
    """The board's URL of a file under runs/, with its mtime so a rebuilt image reloads."""
    stamp = _stamp(Path(path))[0]
    return f"/{path}?v={stamp}"


def _read_json(path: str) -> dict:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}


def _stale(build: Build, shot: str, current: str | None) -> str | None:
    """Why the shot's pick no longer names the drafts it was made on (None if it does)."""
    sel = build.selections[shot]
    bound = build.bound_drafts(shot)
    if sel.pick is None or not bound or current is None or current == bound:
        return None
    drafts = paths.drafts(shot, build.draft_n)
    retouched = [str(p) for p in changed_since_drafted(drafts)]
    why = (
        f"{', '.join(retouched)} changed since drafted (retouched by hand?)"
        if retouched
        else "the drafts were rebuilt (a reroll, a prompt edit, another model or backend)"
    )
    return (
        f"pick {sel.pick} was made on drafts {bound}; the drafts are now {current}: "
        f"{why}. Look again and pick."
    )


def _drafts(build: Build, shot: str) -> list[dict]:
    review = {d.get("k"): d for d in _read_json(paths.review_json(shot)).get("drafts", [])}
    sel = build.selections[shot]
    out = []
    for k, path in enumerate(paths.drafts(shot, build.draft_n), start=1):
        r = review.get(k, {})
        out.append(
            {
                "k": k,
                "url": image_url(path) if Path(path).is_file() else None,
                "worst": r.get("worst"),
                "flags": [f for f in r.get("flags", []) if f.get("level") != "pass"],
                "metrics": r.get("metrics", {}),
                "picked": sel.pick == k,
                "rejected": sel.reject.get(k),
            }
        )
    return out


def _edits(build: Build, shot: str) -> list[dict]:
    """Each declared step, and once built its flags (its leak outside the mask, the gate
    on its result, the critique's verdicts) from its record."""
    steps = []
    for j, step in enumerate(build.selections[shot].edits, start=1):
        out = paths.edit_step(shot, j)
        record = _read_json(paths.sidecar(out)) if Path(out).is_file() else {}
        steps.append(
            {
                "step": j,
                **{k: v for k, v in step.as_written().items() if v},
                "url": image_url(out) if Path(out).is_file() else None,
                "worst": record.get("worst"),
                "flags": [f for f in record.get("flags", []) if f.get("level") != "pass"],
            }
        )
    return steps


def edit_source(build: Build, shot: str) -> dict:
    """The image the next edit step is drawn on: the picked draft for step 1, else the
    last step's output (once it is built)."""
    sel = build.selections[shot]
    n = build.edit_count(shot)
    if sel.pick is None:
        return {"url": None, "what": "no pick yet"}
    path = paths.draft(shot, sel.pick) if n == 0 else paths.edit_step(shot, n)
    what = f"draft {sel.pick}" if n == 0 else f"the output of step {n}"
    if not Path(path).is_file():
        return {
            "url": None,
            "what": f"{what} is not built yet ({path}): run `snakemake edits` to draw on it",
        }
    return {"url": image_url(path), "what": what}


def candidate(build: Build, shot: str) -> dict:
    """The image the shot's final is rendered from, as the art director approves it: the
    file, its fingerprint, its gate verdict (failing checks, waivers) and the approval's
    state with what to do; and the final, once built."""
    approval = build.approvals[shot]
    path = approval.candidate
    final = paths.final(shot)
    return {
        **approval.to_dict(),
        "url": image_url(path) if build.picked(shot) and Path(path).is_file() else None,
        "final": image_url(final) if Path(final).is_file() else None,
        "final_path": final,
    }


def board(build: Build, plan: Plan | None, basis: str, busy: bool, digests: PixelDigests) -> dict:
    """The whole page's data. `plan` is shown only if it was made for `basis` (now)."""
    ledger = Ledger(build.config.ledger_path, build.config.budget_usd)
    entries = ledger.entries()
    rows = {r["shot"]: r for r in status_rows(build, entries, digests.fingerprint)}
    path = Path(build.config.selections_path)
    doc = parse(read_text(path), path)  # libyaml: the page's `seen`, as the writes digest it
    current_plan = plan if plan is not None and plan.basis == basis else None
    shots = []
    for shot in build.shots:
        s = build.production.shot(shot)
        sel = build.selections[shot]
        current = digests.fingerprint(paths.drafts(shot, build.draft_n))
        item = {
            "id": shot,
            "title": s.title,
            "beat": s.beat,
            "lighting": s.lighting,
            "status": rows[shot],
            "pick": sel.pick,
            "bound": sel.drafts,
            "stale": _stale(build, shot, current),
            "drafts_fp": current,
            "review_sheet": image_url(paths.review_sheet(shot))
            if Path(paths.review_sheet(shot)).is_file()
            else None,
            "drafts": _drafts(build, shot),
            "reroll": sel.reroll,
            "edits": _edits(build, shot),
            "edit_source": edit_source(build, shot),
            "lock": sel.lock,
            "candidate": candidate(build, shot),
            "waive": dict(sel.waive),
            "seen": entry_digest(doc, shot),
            "spend_usd": rows[shot]["spend_usd"],
            "plan": None,
        }
        if current_plan is not None and current_plan.error is None:
            requests = current_plan.requests.get(shot, [])
            item["plan"] = {
                "rebuild": current_plan.rebuild.get(shot, []),
                "requests": requests,
                "pay_usd": round(sum(r["price_usd"] for r in requests if r["paid"]), 4),
            }
        shots.append(item)
    return {
        "project": build.production.project,
        "backend": build.config.backend,
        "models": {p: build.model_for(p) for p in ("draft", "edit", "final")},
        "draft_n": build.draft_n,
        "takes_markup": build.takes_markup,
        "selections": str(build.config.selections_path),
        "spent_usd": round(ledger.spent(entries), 4),
        "budget_usd": build.config.budget_usd,
        "plan_state": (
            "error"
            if current_plan is not None and current_plan.error
            else "ready"
            if current_plan is not None
            else "computing"
        ),
        "plan_error": current_plan.error if current_plan is not None else None,
        "plan_seconds": current_plan.seconds if current_plan is not None else None,
        "plan_busy": busy,
        "shots": shots,
    }
