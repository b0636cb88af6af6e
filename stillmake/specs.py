"""What each shot's jobs ask for, derived once from config + prompts (+ selections).

The Snakefile, `stillmake plan` and `stillmake status` all read requests from
here, so the plan of spend is the build, request for request.

Each job's params (its request) are also kept on disk as a request stamp, an input of
the job (`request_stamp`): a changed request rebuilds that job by Snakemake's mtime
rule alone, whether or not Snakemake's metadata in .snakemake/ exists.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Iterable
from pathlib import Path

from stillmake import paths
from stillmake.api.backends.factory import backend_identity
from stillmake.api.requests import ImageRequest
from stillmake.artifacts.quality import thresholds_for
from stillmake.errors import InputError, ModelError
from stillmake.files import atomic_write_text
from stillmake.images import input_problem
from stillmake.inputs import compose
from stillmake.inputs.guardrail import require_shortlist
from stillmake.inputs.masks import load_mask, mismatch
from stillmake.inputs.models import (
    MAX_EDIT_IMAGES,
    MAX_MASK_BYTES,
    MAX_PROMPT_CHARS,
    best_fidelity,
    check_request,
    lookup,
    parse_size,
)
from stillmake.inputs.prompts import Production, load_prompts
from stillmake.inputs.selections import Selection, load_selections
from stillmake.inputs.settings import CONFIG_FILE, Settings
from stillmake.rubric import RUBRIC_VERSION, brief

STAMPED_RULES = ("draft", "review_sheet", "select", "edit_step", "final", "manifest")


def params_digest(params: dict) -> str:
    """The content of a request stamp: a digest of one job's params, as the rule passes
    them (`run_job` in rules/common.smk digests the params the job ran with the same way)."""
    body = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:24] + "\n"


def sync_stamp(stamp: str | os.PathLike[str], digest: str) -> None:
    """Make the stamp hold `digest`, touching it only when that changes something.

    Unchanged: left alone (its mtime too), so the job does not rerun. Changed: rewritten,
    so it is newer than the job's outputs and the job reruns; unless the outputs were
    built from exactly this digest (an undone edit, a what-if `snakemake -n --config`):
    then its mtime goes back to when that job started, older than what it wrote.
    """
    stamp = Path(stamp)
    try:
        if stamp.read_text(encoding="utf-8") == digest:
            return
    except FileNotFoundError:
        pass
    _replace_quickly(stamp, digest)
    built = Path(paths.built_record(str(stamp)))
    try:
        if built.read_text(encoding="utf-8") == digest:
            started = built.stat().st_mtime
            os.utime(stamp, (started, started))
    except FileNotFoundError:
        pass


def _replace_quickly(path: Path, text: str) -> None:
    """Write-and-rename without fsync: a thousand shots' stamps are written at DAG time in
    well under a second, not one disk flush each. A stamp a crash leaves empty or old only
    differs from the request: it is rewritten and its job reruns (from the cache, $0)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def record_built(stamp: str | os.PathLike[str], params: dict, started: float) -> None:
    """After a job succeeded: its outputs were built from these params (the `.built`
    record beside its stamp, dated when the job started)."""
    built = paths.built_record(str(stamp))
    atomic_write_text(built, params_digest(params))
    os.utime(built, (started, started))


class BuildSpecs:
    def __init__(self, config: dict, root: str | os.PathLike[str] | None = None):
        self.config = config
        self.root = Path(root) if root else Path.cwd()
        self._rels: dict[str, str] = {}  # memos: files the inputs name, resolved once
        self._refs_found: dict[str, bool] = {}
        self.settings = Settings.from_config(config, self.root)
        # relative to the workflow directory, as the user wrote them (errors quote them)
        base = Path(root) if root else Path()
        self.prompts_path = base / config["prompts"]
        self.production: Production = load_prompts(self.prompts_path)
        self._backend_identity = backend_identity(self.settings)
        # config checks first (models, sizes, qualities); warnings are printed when the
        # config loads, so `snakemake -n` shows them
        self.warnings: list[str] = self.settings.check()
        self._check_shot_sizes()
        self.selections_path = base / config["selections"]
        self.selections: dict[str, Selection] = load_selections(
            self.selections_path, shots=self.shots, draft_n=self.draft_n
        )
        self._check_refs()
        self._check_limits()
        self._check_thresholds()
        self._params: dict[tuple, dict] = {}

    # -- shots ---------------------------------------------------------------
    @property
    def shots(self) -> list[str]:
        return self.production.shot_ids

    def reroll(self, shot: str) -> int:
        return self.selections[shot].reroll

    def picked(self, shot: str) -> bool:
        return self.selections[shot].pick is not None

    def locked(self, shot: str) -> bool:
        return self.selections[shot].lock

    def edit_count(self, shot: str) -> int:
        return len(self.selections[shot].edits)

    @property
    def picked_shots(self) -> list[str]:
        return [s for s in self.shots if self.picked(s)]

    @property
    def locked_shots(self) -> list[str]:
        return [s for s in self.shots if self.locked(s)]

    # -- models --------------------------------------------------------------
    def model_for(self, pass_: str) -> str:
        return self.settings.model_for(pass_)

    def _complexity(self, pass_: str) -> str | None:
        return self.config[pass_].get("complexity")

    # -- drafts --------------------------------------------------------------
    @property
    def draft_n(self) -> int:
        return int(self.config["draft"]["n"])

    def draft_size(self, shot: str) -> str:
        return self.production.shot(shot).size or self.config["draft"]["size"]

    def draft_request(self, shot: str) -> ImageRequest:
        s = self.production.shot(shot)
        return ImageRequest(
            endpoint="generate",
            model=self.model_for("draft"),
            prompt=compose.shot_prompt(self.production, s),
            n=self.draft_n,
            size=self.draft_size(shot),
            quality=self.config["draft"]["quality"],
            output_format=self.config.get("output_format", "png"),
            moderation=self.config.get("moderation", "auto"),
            reroll=self.reroll(shot),
            backend=self._backend_identity,
            complexity=self._complexity("draft"),
            preview=s.preview if self.settings.backend == "preview" else None,
        )

    def context(self, shot: str, pass_: str) -> dict:
        """Display and log facts a job needs besides the request itself."""
        s = self.production.shot(shot)
        return {
            "shot": shot,
            "pass": pass_,
            "negative": compose.negative(self.production, s),
            "lighting": s.lighting,
        }

    def review_context(self, shot: str) -> dict:
        s = self.production.shot(shot)
        context = {
            "shot": shot,
            "title": s.title,
            "lighting": s.lighting,
            "thresholds": self.config.get("quality") or {},
            "characters": self.characters(shot),
            "pick": self.selections[shot].pick,  # the sheet marks a weak pick before its edits
            "reject": {str(k): v for k, v in self.selections[shot].reject.items()},
        }
        if self.settings.critique["enabled"]:  # only then: turning it on reruns reviews only
            context["critique"] = self.critique_spec(shot)
        return context

    # -- vision critique (opt-in) ----------------------------------------------
    @property
    def critique_active(self) -> bool:
        """Enabled, on a backend that can judge: the preview's stand-ins get no opinion."""
        return self.settings.critique["enabled"] and self.settings.backend != "preview"

    def critique_spec(self, shot: str, kind: str = "draft") -> dict:
        """What a job needs to ask a vision model about one of the shot's images: each
        draft (review), an edit step's result (`candidate`) or the final."""
        s, cfg = self.production.shot(shot), self.settings.critique
        return {
            "model": cfg["model"],
            "reasoning": cfg["reasoning"],
            "blocking": cfg["blocking"],
            "fail_on": list(cfg["fail_on"]),
            "rubric": RUBRIC_VERSION,
            "backend": self._backend_identity,
            "brief": brief(
                project=self.production.project,
                shot=shot,
                title=s.title,
                prompt=compose.shot_prompt(self.production, s),
                beat=s.beat,
                refs=len(self.character_refs(shot)),
                kind=kind,
            ),
            "refs": self.review_refs(shot),
        }

    def review_refs(self, shot: str) -> list[str]:
        """The character references a critique sends with each draft: inputs of the review."""
        if not self.critique_active:
            return []
        return [self._rel(r) for r in self.character_refs(shot)]

    def characters(self, shot: str) -> dict[str, list[str]]:
        """{character: its reference images} for the shot: what identity is measured against."""
        return {
            cid: [self._rel(r) for r in self.production.characters[cid].refs]
            for cid in self.production.shot(shot).characters
        }

    def existing_refs(self, *shots: str) -> list[str]:
        """The shots' character references that exist: inputs of their review (and of the
        manifest's gate), so a changed reference re-measures identity (a missing one is
        reported, not a missing input)."""
        refs = dict.fromkeys(r for s in shots for rs in self.characters(s).values() for r in rs)
        return [r for r in refs if self._ref_exists(r)]

    def _ref_exists(self, ref: str) -> bool:
        """Asked once per reference per build, not once per job that reads it."""
        found = self._refs_found.get(ref)
        if found is None:
            found = self._refs_found[ref] = (self.root / ref).is_file()
        return found

    # -- selection -----------------------------------------------------------
    def select_spec(self, shot: str) -> dict:
        sel = self.selections[shot]
        return {
            "shot": shot,
            "pick": sel.pick,
            "drafts": sel.drafts,
            "reject": {str(k): v for k, v in sel.reject.items()},
            "review": paths.review_sheet(shot),
        }

    # -- edits ---------------------------------------------------------------
    def edit_prompt(self, shot: str, step: int) -> str:
        return compose.edit_prompt(
            self.production, self.production.shot(shot), self.selections[shot].edits[step - 1]
        )

    def edit_request(self, shot: str, step: int) -> ImageRequest:
        cfg = self.config["edit"]
        return ImageRequest(
            endpoint="edit",
            model=self.model_for("edit"),
            prompt=self.edit_prompt(shot, step),
            n=1,
            size=self.draft_size(shot),
            quality=cfg["quality"],
            output_format=self.config.get("output_format", "png"),
            input_fidelity=self._fidelity("edit", cfg.get("input_fidelity")),
            moderation=self.config.get("moderation", "auto"),
            backend=self._backend_identity,
            complexity=self._complexity("edit"),
        )

    def edit_step_spec(self, shot: str, step: int) -> dict:
        e = self.selections[shot].edits[step - 1]
        spec = e.spec()
        spec["mask"] = self._rel(e.mask) if e.mask else None
        if e.markup:
            spec["markup"] = self._rel(e.markup)
        spec["refs"] = [self._rel(r) for r in e.refs]
        spec["character_refs"] = [self._rel(r) for r in self.character_refs(shot)]
        spec["step"] = step
        spec["protect_unmasked"] = bool(self.config["edit"].get("protect_unmasked"))
        spec["feather_px"] = int(self.config["edit"].get("feather_px", 8))
        spec["refuse_weak"] = bool(self.config["edit"].get("refuse_weak"))
        spec["characters"] = self.characters(shot)
        spec["thresholds"] = self.config.get("quality") or {}
        if self.settings.critique["enabled"]:
            spec["critique"] = self.critique_spec(shot, "candidate")
        return spec

    def edit_inputs(self, shot: str, step: int) -> dict:
        """Files an edit step reads: its source and the source's record, then reference
        images, then the mask (every one declared, so a storage plugin stages it)."""
        e = self.selections[shot].edits[step - 1]
        source = paths.selected(shot) if step == 1 else paths.edit_step(shot, step - 1)
        files = {
            "source": source,
            "source_sidecar": paths.sidecar(source),
            "refs": [self._rel(r) for r in self.character_refs(shot)]
            + [self._rel(r) for r in e.refs],
        }
        if e.mask:
            files["mask"] = self._rel(e.mask)
        if e.markup:
            files["markup"] = self._rel(e.markup)
        return files

    @property
    def takes_markup(self) -> bool:
        """Whether the edit pass's model takes a markup (strokes drawn over the source)."""
        return lookup(self.model_for("edit")).markup

    def character_refs(self, shot: str) -> list[Path]:
        return self.production.refs_for(self.production.shot(shot))

    def candidate(self, shot: str) -> str:
        """The image a final is rendered from: the last edit step, else the selected draft."""
        n = self.edit_count(shot)
        return paths.edit_step(shot, n) if n else paths.selected(shot)

    # -- finals --------------------------------------------------------------
    @property
    def final_mode(self) -> str:
        return self.config["final"]["mode"]

    def final_request(self, shot: str) -> ImageRequest:
        """n=1, high quality, the one final size. Refused for a shot with no pick:
        the playbook's rule is no high quality before a shortlist."""
        require_shortlist(
            self.config["final"]["quality"], shortlisted=self.picked(shot), shot=shot, pass_="final"
        )
        cfg = self.config["final"]
        edit = self.final_mode == "edit"
        return ImageRequest(
            endpoint="edit" if edit else "generate",
            model=self.model_for("final"),
            prompt=compose.final_prompt(
                self.production, self.production.shot(shot), self.final_mode
            ),
            n=1,
            size=cfg["size"],
            quality=cfg["quality"],
            output_format=self.config.get("output_format", "png"),
            input_fidelity=self._fidelity("final", "high") if edit else None,
            moderation=self.config.get("moderation", "auto"),
            backend=self._backend_identity,
            complexity=self._complexity("final"),
        )

    def final_inputs(self, shot: str) -> dict:
        candidate = self.candidate(shot)
        refs = [] if self.final_mode == "generate" else self.character_refs(shot)
        return {
            "candidate": candidate,
            "candidate_sidecar": paths.sidecar(candidate),
            "refs": [self._rel(r) for r in refs],
            "critique_refs": self.review_refs(shot),  # sent with the final's critique
        }

    def final_spec(self, shot: str) -> dict:
        sel = self.selections[shot]
        return {
            "shot": shot,
            "mode": self.final_mode,
            "pick": sel.pick,
            "steps": self.edit_count(shot),
            "title": self.production.shot(shot).title,
            **(
                {"critique": self.critique_spec(shot, "final")}
                if self.settings.critique["enabled"]
                else {}
            ),
        }

    def unlocked(self, shots: Iterable[str]) -> list[str]:
        return [s for s in shots if not self.locked(s)]

    def _fidelity(self, pass_: str, wanted: str | None) -> str | None:
        """The wanted input_fidelity where the pass's model takes it; omitted for the 2.x
        family, which keeps reference detail on its own and refuses the parameter."""
        model = self.model_for(pass_)
        if wanted in lookup(model).input_fidelity:
            return wanted
        return best_fidelity(model)

    def _rel(self, path: Path) -> str:
        """A file the inputs name, relative to the project (resolved once per build: the
        same references are named by many jobs)."""
        key = str(path)
        rel = self._rels.get(key)
        if rel is None:
            try:
                rel = str(Path(path).resolve().relative_to(self.root.resolve()))
            except ValueError:
                rel = key
            self._rels[key] = rel
        return rel

    # -- request stamps --------------------------------------------------------
    def job_params(self, rule: str, shot: str | None = None, step: int | None = None) -> dict:
        """Every param one job's rule passes it, by name (computed once per job): what its
        request stamp digests, and what the rules' params functions hand Snakemake."""
        key = (rule, shot, step)
        params = self._params.get(key)
        if params is None:
            params = self._params[key] = self._job_params(rule, shot, step)
        return params

    def _job_params(self, rule: str, shot: str | None, step: int | None) -> dict:
        if rule == "draft":
            return {
                "request": self.draft_request(shot).to_dict(),
                "context": self.context(shot, "draft"),
            }
        if rule == "review_sheet":
            return {"context": self.review_context(shot)}
        if rule == "select":
            return {"spec": self.select_spec(shot)}
        if rule == "edit_step":
            return {
                "request": self.edit_request(shot, step).to_dict(),
                "step": self.edit_step_spec(shot, step),
                "context": self.context(shot, "edit"),
            }
        if rule == "final":
            return {
                "request": self.final_request(shot).to_dict(),
                "spec": self.final_spec(shot),
                "context": self.context(shot, "final"),
            }
        if rule == "manifest":
            return {
                "size": self.config["final"]["size"],
                "thresholds": self.config["quality"],
                "shots": self.locked_shots,
                "characters": {s: self.characters(s) for s in self.locked_shots},
            }
        raise ValueError(f"no request stamp for rule {rule}; known: {', '.join(STAMPED_RULES)}")

    def request_stamp(self, rule: str, shot: str | None = None, step: int | None = None) -> str:
        """The job's request stamp (runs/.params/...), brought up to date: an input of the
        job, so a changed request reruns exactly that job, .snakemake/ or not."""
        stamp = paths.request_stamp(rule, shot, step)
        sync_stamp(self.root / stamp, params_digest(self.job_params(rule, shot, step)))
        return stamp

    # -- checks --------------------------------------------------------------
    def _check_limits(self) -> None:
        """Limits the Images API enforces on every model, checked before any request so
        that none is found only after earlier passes were paid for: a prompt's length as
        sent, the images one images.edit takes, a mask's size as sent."""
        for shot in self.shots:
            s = self.production.shot(shot)
            where = dict(file=self.prompts_path, shot=shot, key="prompt")
            self._check_prompt(compose.shot_prompt(self.production, s), "draft", where)
            final = compose.final_prompt(self.production, s, self.final_mode)
            self._check_prompt(final, "final", where)
            characters = len(self.character_refs(shot))
            for j, step in enumerate(self.selections[shot].edits, start=1):
                key = f"edits[{j}]"
                where = dict(file=self.selections_path, shot=shot, key=f"{key}.change")
                self._check_prompt(self.edit_prompt(shot, j), f"edit step {j}", where)
                sent = 1 + characters + len(step.refs)
                if sent > MAX_EDIT_IMAGES:
                    raise InputError(
                        f"images.edit takes at most {MAX_EDIT_IMAGES} images; this step would "
                        f"send {sent} (the source, {characters} character reference(s) from "
                        f"{self.prompts_path}, {len(step.refs)} of the step's own): drop "
                        f"{sent - MAX_EDIT_IMAGES}",
                        file=self.selections_path,
                        shot=shot,
                        key=f"{key}.refs",
                    )
                for what, drawn in (("mask", step.mask), ("markup", step.markup)):
                    if drawn:  # said on every run; its edit step refuses it, before paying
                        size = parse_size(self.draft_size(shot))
                        where = dict(file=self.selections_path, shot=shot, key=f"{key}.{what}")
                        self.warnings += mismatch(what, drawn, size, **where)
                if step.mask:
                    self._check_mask_size(shot, f"{key}.mask", step.mask)
                if step.markup and not self.takes_markup:
                    raise InputError(
                        f"edit model '{self.model_for('edit')}' does not take a markup "
                        "(gpt-image-2.5 and later do): set edit.model to one that does, or "
                        "mark the step with a region or mask",
                        file=self.selections_path,
                        shot=shot,
                        key=f"{key}.markup",
                    )
            if self.final_mode == "edit" and 1 + characters > MAX_EDIT_IMAGES:
                raise InputError(
                    f"images.edit takes at most {MAX_EDIT_IMAGES} images; the final would send "
                    f"{1 + characters} (the candidate and {characters} character "
                    f"reference(s)): give this shot fewer characters or references, or set "
                    f"final.mode: generate",
                    file=self.prompts_path,
                    shot=shot,
                    key="characters",
                )

    @staticmethod
    def _check_prompt(prompt: str, what: str, where: dict) -> None:
        if len(prompt) > MAX_PROMPT_CHARS:
            raise InputError(
                f"the Images API takes prompts of at most {MAX_PROMPT_CHARS:,} characters; the "
                f"{what} prompt as sent is {len(prompt):,} (with the style, constraints, "
                f"lighting, characters and negative it carries): shorten it by "
                f"{len(prompt) - MAX_PROMPT_CHARS:,}",
                **where,
            )

    def _check_mask_size(self, shot: str, key: str, mask: Path) -> None:
        """The mask as the edit sends it (at the drafts' size, alpha snapped): built here only
        for a file over a sixteenth of the limit; a smaller PNG does not grow past it."""
        if mask.stat().st_size <= MAX_MASK_BYTES // 16:
            return
        w, h = parse_size(self.draft_size(shot))
        sent = len(load_mask(mask, (w, h), file=self.selections_path, shot=shot, key=key))
        if sent >= MAX_MASK_BYTES:
            raise InputError(
                f"the Images API takes masks under {MAX_MASK_BYTES / 1e6:g} MB; {mask} as sent "
                f"(RGBA at {w}x{h}) is {sent / 1e6:.1f} MB: only its alpha counts, so save it "
                f"with flat colours",
                file=self.selections_path,
                shot=shot,
                key=key,
            )

    def _check_shot_sizes(self) -> None:
        """A shot's own size must suit the draft and edit models too."""
        for shot in self.shots:
            if self.production.shot(shot).size:
                for pass_ in ("draft", "edit"):
                    try:
                        check_request(
                            self.model_for(pass_),
                            size=self.draft_size(shot),
                            quality=self.config[pass_]["quality"],
                        )
                    except ModelError as exc:
                        raise InputError(
                            str(exc), file=self.prompts_path, shot=shot, key="size"
                        ) from None

    def _check_thresholds(self) -> None:
        """`quality:` overrides (pixels and identity) are read by review, edit and gate jobs:
        a bad one stops the build before any job, naming config.yaml and its key."""
        overrides = self.config.get("quality") or {}
        tags = {"default", *(self.production.shot(s).lighting for s in self.shots)}
        for tag in sorted(t for t in tags | set(overrides if isinstance(overrides, dict) else ())):
            try:
                thresholds_for(tag, overrides)
            except InputError as exc:
                raise InputError(exc.detail, file=CONFIG_FILE, key=exc.key) from None

    def _check_refs(self) -> None:
        for shot in self.shots:
            for ref in self.character_refs(shot):
                if self._sends_refs(shot) and not ref.is_file():
                    raise InputError(
                        f"reference image {ref} not found",
                        file=self.prompts_path,
                        shot=shot,
                        key="characters",
                    )
        # references go to the API as they are: PNG, JPEG or WebP, and whole
        needed = [s for s in self.shots if self._sends_refs(s)]
        for cid in dict.fromkeys(c for s in needed for c in self.production.shot(s).characters):
            for ref in self.production.characters[cid].refs:
                problem = input_problem(ref)
                if problem:
                    raise InputError(
                        f"reference image {ref} {problem}",
                        file=self.prompts_path,
                        key=f"characters.{cid}.refs",
                    )

    def _sends_refs(self, shot: str) -> bool:
        """The shot's character references go to the API: edits, a final, a critique."""
        sel = self.selections[shot]
        return bool(sel.edits or sel.lock or self.critique_active)
