"""The one planner: config + prompts + selections -> every job's typed request.

`load_build` reads the inputs once and checks them before any job (preflight.py);
`Build` then answers, per job, what it asks for (jobs.py), memoised, so the rules'
params, the stages, `stillmake plan`, `status` and the review board all read the same
requests: nothing downstream re-derives them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import Any

from stillmake import paths
from stillmake.api.backends.factory import backend_identity
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.thresholds import layers_for
from stillmake.errors import StillmakeError
from stillmake.files import sha256_file
from stillmake.inputs import compose
from stillmake.inputs.config import Config
from stillmake.inputs.guardrail import require_shortlist
from stillmake.inputs.models import best_fidelity, lookup
from stillmake.inputs.prompts import Production, Shot
from stillmake.inputs.selections import Selection
from stillmake.planner.approval import TRUST_ANY, TRUST_PREVIEW, Approval
from stillmake.planner.jobs import (
    JOB_TYPES,
    Characters,
    CritiqueSpec,
    DraftJob,
    EditJob,
    FinalJob,
    JobRequest,
    ManifestJob,
    ReviewJob,
    SelectJob,
)
from stillmake.rubric import RUBRIC_VERSION, brief

JobKey = tuple[str, str | None, int | None]  # (rule, shot, step)


@dataclass
class Build:
    """Every shot's jobs, planned from the inputs as they were read."""

    config: Config
    production: Production
    selections: dict[str, Selection]
    warnings: list[str] = field(default_factory=list)
    _jobs: dict[JobKey, JobRequest] = field(default_factory=dict, repr=False)
    _params: dict[JobKey, dict[str, Any]] = field(default_factory=dict, repr=False)
    _edit_prompts: dict[tuple[str, int], str] = field(default_factory=dict, repr=False)
    _rels: dict[str, str] = field(default_factory=dict, repr=False)
    _refs_found: dict[str, bool] = field(default_factory=dict, repr=False)
    _layers: dict[str | None, dict[str, Any]] = field(default_factory=dict, repr=False)
    _ref_digests: dict[str, str | None] = field(default_factory=dict, repr=False)

    # -- shots and decisions ----------------------------------------------------------
    @cached_property
    def shots(self) -> list[str]:
        return self.production.shot_ids

    def shot(self, shot: str) -> Shot:
        return self.production.shot(shot)

    @property
    def draft_n(self) -> int:
        return self.config.draft.n

    def draft_size(self, shot: str) -> str:
        """A shot's own size, else draft.size: its drafts' and edits' size."""
        return self.shot(shot).size or self.config.draft.size

    def reroll(self, shot: str) -> int:
        return self.selections[shot].reroll

    def picked(self, shot: str) -> bool:
        return self.selections[shot].pick is not None

    def locked(self, shot: str) -> bool:
        return self.selections[shot].lock

    def edit_count(self, shot: str) -> int:
        return len(self.selections[shot].edits)

    @cached_property
    def picked_shots(self) -> list[str]:
        return [s for s in self.shots if self.picked(s)]

    @cached_property
    def locked_shots(self) -> list[str]:
        return [s for s in self.shots if self.locked(s)]

    def unlocked(self, shots: Iterable[str]) -> list[str]:
        return [s for s in shots if not self.locked(s)]

    def require_locked(self, shots: Iterable[str], target: str) -> None:
        """A finals target names locked shots only: refused before any paid call, naming
        every shot that is not locked."""
        shots = list(shots)
        unknown = [s for s in shots if s not in self.shots]
        if unknown:
            raise StillmakeError(
                f"target '{target}' names shots not in the prompts file: {', '.join(unknown)}"
            )
        unlocked = self.unlocked(shots)
        if unlocked:
            raise StillmakeError(
                f"target '{target}' needs locked shots; not locked: {', '.join(unlocked)}: "
                f"{'; '.join(self._unlocked_because(s) for s in unlocked)}. {self._instead(target)}"
            )
        waiting = [self.approvals[s] for s in shots if not self.approvals[s].wanted]
        if waiting:
            raise StillmakeError(
                f"target '{target}' needs approved candidates; "
                + " | ".join(a.why for a in waiting)
            )

    def _unlocked_because(self, shot: str) -> str:
        """Which of the two causes holds for one shot, and what fixes it."""
        if self.picked(shot):
            return f"{shot} is picked, not locked (stillmake lock {shot} approves it)"
        return (
            f"{shot} has no pick (look at {paths.review_sheet(shot)}, "
            f"then stillmake pick {shot} K and stillmake lock {shot})"
        )

    def _instead(self, target: str) -> str:
        """What builds now, never the target that was just refused."""
        where = " (or take them out of `critical` in config.yaml)" if target == "critical" else ""
        if self.locked_shots:
            return (
                f"Plain `snakemake` builds the finals of the locked shots "
                f"({', '.join(self.locked_shots)}){where}"
            )
        return f"Plain `snakemake` builds every shot as far as its selection allows{where}"

    def model_for(self, pass_: str) -> str:
        return self.config.model_for(pass_)  # type: ignore[arg-type]

    @property
    def takes_markup(self) -> bool:
        """Whether the edit pass's model takes a markup (strokes drawn over the source)."""
        return lookup(self.model_for("edit")).markup

    @cached_property
    def backend(self) -> str:
        """The backend's identity: part of every request, so a preview never stands in
        for an API image."""
        return backend_identity(self.config)

    # -- files the inputs name ----------------------------------------------------------
    def rel(self, path: Path) -> str:
        """A file the inputs name, relative to the project (resolved once per build: the
        same references are named by many jobs)."""
        key = str(path)
        rel = self._rels.get(key)
        if rel is None:
            try:
                rel = str(Path(path).resolve().relative_to(self.config.root.resolve()))
            except ValueError:
                rel = key
            self._rels[key] = rel
        return rel

    def character_refs(self, shot: str) -> list[Path]:
        return self.production.refs_for(self.shot(shot))

    def characters(self, shot: str) -> Characters:
        """{character: its reference images} for the shot: what identity is measured against."""
        return {
            cid: [self.rel(r) for r in self.production.characters[cid].refs]
            for cid in self.shot(shot).characters
        }

    def existing_refs(self, *shots: str) -> list[str]:
        """The shots' character references that exist: inputs of their review (and of the
        manifest's gate), so a changed reference re-measures identity (a missing one is
        reported, not a missing input)."""
        refs = dict.fromkeys(r for s in shots for rs in self.characters(s).values() for r in rs)
        return [r for r in refs if self._ref_exists(r)]

    def references(self, shot: str) -> dict[str, str | None]:
        """The content digest of each of the shot's character references (None: missing),
        read once per build."""
        refs = dict.fromkeys(r for rs in self.characters(shot).values() for r in rs)
        return {r: self._ref_digest(r) for r in refs}

    def _ref_digest(self, ref: str) -> str | None:
        if ref not in self._ref_digests:
            path = self.config.root / ref
            self._ref_digests[ref] = sha256_file(path) if path.is_file() else None
        return self._ref_digests[ref]

    def _ref_exists(self, ref: str) -> bool:
        found = self._refs_found.get(ref)
        if found is None:
            found = self._refs_found[ref] = (self.config.root / ref).is_file()
        return found

    # -- the jobs ---------------------------------------------------------------------
    def job(self, rule: str, shot: str | None = None, step: int | None = None) -> JobRequest:
        """One job's typed request (planned once per build)."""
        key = (rule, shot, step)
        job = self._jobs.get(key)
        if job is None:
            job = self._jobs[key] = self._plan(rule, shot, step)
        return job

    def params(self, rule: str, shot: str | None = None, step: int | None = None) -> dict[str, Any]:
        """One job's params, as its rule hands them to Snakemake (made once per build)."""
        key = (rule, shot, step)
        params = self._params.get(key)
        if params is None:
            params = self._params[key] = self.job(rule, shot, step).params()
        return params

    @staticmethod
    def job_type(rule: str) -> type[JobRequest]:
        return JOB_TYPES[rule]

    def _plan(self, rule: str, shot: str | None, step: int | None) -> JobRequest:
        if rule == "manifest":
            return self._manifest()
        assert shot is not None
        if rule == "edit_step":
            assert step is not None
            return self._edit(shot, step)
        planners = {
            "draft": self._draft,
            "review_sheet": self._review,
            "select": self._select,
            "final": self._final,
        }
        return planners[rule](shot)

    def draft(self, shot: str) -> DraftJob:
        return self.job("draft", shot)  # type: ignore[return-value]

    def review(self, shot: str) -> ReviewJob:
        return self.job("review_sheet", shot)  # type: ignore[return-value]

    def select(self, shot: str) -> SelectJob:
        return self.job("select", shot)  # type: ignore[return-value]

    def edit(self, shot: str, step: int) -> EditJob:
        return self.job("edit_step", shot, step)  # type: ignore[return-value]

    def final(self, shot: str) -> FinalJob:
        return self.job("final", shot)  # type: ignore[return-value]

    def manifest(self) -> ManifestJob:
        return self.job("manifest")  # type: ignore[return-value]

    def thresholds(self, shot: str) -> dict[str, Any]:
        """The `quality:` layers that judge the shot (`default`, then its lighting tag's,
        config's over the built-in ones): what its review and edit jobs judge with, so a
        change to another tag's thresholds reruns nothing of this shot."""
        lighting = self.shot(shot).lighting
        layers = self._layers.get(lighting)
        if layers is None:  # once per lighting tag: the same layers for all its shots
            layers = self._layers[lighting] = layers_for(lighting, dict(self.config.quality))
        return layers

    def _image_request(self, pass_: str, **fields: Any) -> ImageRequest:
        cfg = self.config.pass_config(pass_)  # type: ignore[arg-type]
        return ImageRequest(
            model=self.model_for(pass_),
            quality=cfg.quality,
            output_format=self.config.output_format,
            moderation=self.config.moderation,
            backend=self.backend,
            complexity=cfg.complexity,
            **fields,
        )

    def _context(self, shot: str) -> dict[str, Any]:
        s = self.shot(shot)
        return {"negative": compose.negative(self.production, s), "lighting": s.lighting}

    def _draft(self, shot: str) -> DraftJob:
        request = self._image_request(
            "draft",
            endpoint="generate",
            prompt=compose.shot_prompt(self.production, self.shot(shot)),
            n=self.draft_n,
            size=self.draft_size(shot),
            reroll=self.reroll(shot),
            # the preview's stand-ins drawn to fail on purpose; other backends ignore it
            preview=self.shot(shot).preview if self.config.backend == "preview" else None,
        )
        return DraftJob(shot=shot, request=request, **self._context(shot))

    def _review(self, shot: str) -> ReviewJob:
        s = self.shot(shot)
        return ReviewJob(
            shot=shot,
            title=s.title,
            lighting=s.lighting,
            thresholds=self.thresholds(shot),
            characters=self.characters(shot),
            references=self.references(shot),
            pick=self.selections[shot].pick,
            rejects={str(k): v for k, v in self.selections[shot].reject.items()},
            critique=self._critique(shot, "draft"),
        )

    def _critique(self, shot: str, kind: str) -> CritiqueSpec | None:
        """The critique a job asks for, when enabled: turning it on or off reruns the
        jobs that judge (images come from the cache at $0)."""
        return self.critique_spec(shot, kind) if self.config.critique.enabled else None

    def critique_spec(self, shot: str, kind: str = "draft") -> CritiqueSpec:
        """What a job needs to ask a vision model about one of the shot's images: each
        draft (review), an edit step's result (`candidate`) or the final."""
        s, cfg = self.shot(shot), self.config.critique
        return CritiqueSpec(
            model=cfg.model,
            reasoning=cfg.reasoning,
            blocking=cfg.blocking,
            fail_on=list(cfg.fail_on),
            rubric=RUBRIC_VERSION,
            backend=self.backend,
            brief=brief(
                project=self.production.project,
                shot=shot,
                title=s.title,
                prompt=compose.shot_prompt(self.production, s),
                beat=s.beat,
                refs=len(self.character_refs(shot)),
                kind=kind,
            ),
            refs=self.review_refs(shot),
        )

    def review_refs(self, shot: str) -> list[str]:
        """The character references a critique sends with each draft: inputs of the review."""
        if not self.config.critique_active:
            return []
        return [self.rel(r) for r in self.character_refs(shot)]

    def _select(self, shot: str) -> SelectJob:
        sel = self.selections[shot]  # a hand-typed pick: bound by the select job itself
        return SelectJob(
            shot=shot,
            pick=sel.pick,
            drafts=sel.drafts,
            rejects={str(k): v for k, v in sel.reject.items()},
        )

    def edit_prompt(self, shot: str, step: int) -> str:
        """The step's prompt as sent (the pre-flight check and the job read it: made once)."""
        prompt = self._edit_prompts.get((shot, step))
        if prompt is None:
            prompt = self._edit_prompts[(shot, step)] = compose.edit_prompt(
                self.production, self.shot(shot), self.selections[shot].edits[step - 1]
            )
        return prompt

    def _edit(self, shot: str, step: int) -> EditJob:
        e = self.selections[shot].edits[step - 1]
        cfg = self.config.edit
        request = self._image_request(
            "edit",
            endpoint="edit",
            prompt=self.edit_prompt(shot, step),
            n=1,
            size=self.draft_size(shot),
            input_fidelity=self._fidelity("edit", cfg.input_fidelity),
        )
        return EditJob(
            shot=shot,
            step=step,
            request=request,
            change=e.change,
            keep=e.keep,
            region=list(e.region) if e.region else None,
            mask=self.rel(e.mask) if e.mask else None,
            markup=self.rel(e.markup) if e.markup else None,
            refs=[self.rel(r) for r in e.refs],
            character_refs=[self.rel(r) for r in self.character_refs(shot)],
            protect_unmasked=cfg.protect_unmasked,
            feather_px=cfg.feather_px,
            refuse_weak=cfg.refuse_weak,
            characters=self.characters(shot),
            thresholds=self.thresholds(shot),
            critique=self._critique(shot, "candidate"),
            **self._context(shot),
        )

    def _final(self, shot: str) -> FinalJob:
        """n=1, high quality, the one final size; mode edit renders the candidate."""
        cfg = self.config.final
        require_shortlist(cfg.quality, shortlisted=self.picked(shot), shot=shot, pass_="final")
        edit = cfg.mode == "edit"
        request = self._image_request(
            "final",
            endpoint="edit" if edit else "generate",
            prompt=compose.final_prompt(self.production, self.shot(shot), cfg.mode),
            n=1,
            size=cfg.size,
            input_fidelity=self._fidelity("final", "high") if edit else None,
        )
        return FinalJob(
            shot=shot,
            request=request,
            mode=cfg.mode,
            pick=self.selections[shot].pick,
            steps=self.edit_count(shot),
            title=self.shot(shot).title,
            refs=[self.rel(r) for r in self.character_refs(shot)] if edit else [],
            critique=self._critique(shot, "final"),
            **self._context(shot),
            locked=self.locked(shot),
            approved=self.selections[shot].approved,
            trust=self.trust,
            waive=dict(self.selections[shot].waive),
        )

    @property
    def trust(self) -> str | None:
        """Why a bare `lock: true` may stand in for approving a candidate: the config
        opted out (unattended pipelines), or the backend is the $0 preview; else None."""
        if self.config.final.approval == "any":
            return TRUST_ANY
        return TRUST_PREVIEW if self.config.backend == "preview" else None

    def bound_drafts(self, shot: str) -> str | None:
        """The drafts the shot's pick applies to: `drafts:` as written, else the drafts the
        build first applied a hand-typed pick to; None before it was ever applied."""
        from stillmake.artifacts.picks import build_binding

        sel = self.selections[shot]
        return sel.drafts or build_binding(self.config.root, shot, sel.pick)

    # -- approval: the one verdict on every locked shot's final --------------------------
    @cached_property
    def approvals(self) -> dict[str, Approval]:
        """Each shot's verdict as things stand (planner/approval.py): what the targets,
        `stillmake plan`, `status`, `lock` and the board all read."""
        from stillmake.planner.approval import judge_all

        return judge_all(self)

    @cached_property
    def final_shots(self) -> list[str]:
        """The locked shots whose finals the build renders: approved (or to be checked by
        their job once the candidate is built), not awaiting approval or stopped by the gate."""
        return [s for s in self.locked_shots if self.approvals[s].wanted]

    def _manifest(self) -> ManifestJob:
        return ManifestJob(
            size=self.config.final.size,
            thresholds=dict(self.config.quality),
            shots=list(self.final_shots),
            characters={s: self.characters(s) for s in self.final_shots},
        )

    def _fidelity(self, pass_: str, wanted: str | None) -> str | None:
        """The wanted input_fidelity where the pass's model takes it; omitted for the 2.x
        family, which keeps reference detail on its own and refuses the parameter."""
        model = self.model_for(pass_)
        if wanted in lookup(model).input_fidelity:
            return wanted
        return best_fidelity(model)

    # -- request stamps ---------------------------------------------------------------
    def request_stamp(self, rule: str, shot: str | None = None, step: int | None = None) -> str:
        """The job's request stamp (runs/.params/...), brought up to date: an input of the
        job, so a changed request reruns exactly that job, .snakemake/ or not."""
        from stillmake.planner.stamps import sync_stamp

        stamp = paths.request_stamp(rule, shot, step)
        sync_stamp(os.path.join(self.config.root, stamp), self.params(rule, shot, step))
        return stamp
