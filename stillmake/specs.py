"""What each shot's jobs ask for, derived once from config + prompts (+ selections).

The Snakefile, `stillmake plan` and `stillmake status` all read requests from
here, so the plan of spend is the build, request for request.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from stillmake import paths
from stillmake.api.backends.factory import backend_identity
from stillmake.api.requests import ImageRequest
from stillmake.errors import InputError, ModelError
from stillmake.inputs import compose
from stillmake.inputs.guardrail import require_shortlist
from stillmake.inputs.models import best_fidelity, check_request, lookup
from stillmake.inputs.prompts import Production, load_prompts
from stillmake.inputs.selections import Selection, load_selections
from stillmake.inputs.settings import Settings


class BuildSpecs:
    def __init__(self, config: dict, root: str | os.PathLike[str] | None = None):
        self.config = config
        self.root = Path(root) if root else Path.cwd()
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
        return {
            "shot": shot,
            "title": s.title,
            "lighting": s.lighting,
            "thresholds": self.config.get("quality") or {},
        }

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
        spec["refs"] = [self._rel(r) for r in e.refs]
        spec["character_refs"] = [self._rel(r) for r in self.character_refs(shot)]
        spec["step"] = step
        spec["protect_unmasked"] = bool(self.config["edit"].get("protect_unmasked"))
        spec["feather_px"] = int(self.config["edit"].get("feather_px", 8))
        return spec

    def edit_inputs(self, shot: str, step: int) -> dict:
        """Files an edit step reads: its source, then reference images, then the mask."""
        e = self.selections[shot].edits[step - 1]
        source = paths.selected(shot) if step == 1 else paths.edit_step(shot, step - 1)
        files = {
            "source": source,
            "refs": [self._rel(r) for r in self.character_refs(shot)]
            + [self._rel(r) for r in e.refs],
        }
        if e.mask:
            files["mask"] = self._rel(e.mask)
        return files

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
        if self.final_mode == "generate":
            return {"candidate": self.candidate(shot), "refs": []}
        return {
            "candidate": self.candidate(shot),
            "refs": [self._rel(r) for r in self.character_refs(shot)],
        }

    def final_spec(self, shot: str) -> dict:
        sel = self.selections[shot]
        return {
            "shot": shot,
            "mode": self.final_mode,
            "pick": sel.pick,
            "steps": self.edit_count(shot),
            "title": self.production.shot(shot).title,
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
        try:
            return str(Path(path).resolve().relative_to(self.root.resolve()))
        except ValueError:
            return str(path)

    # -- checks --------------------------------------------------------------
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

    def _check_refs(self) -> None:
        for shot in self.shots:
            for ref in self.character_refs(shot):
                if (self.selections[shot].edits or self.locked(shot)) and not ref.is_file():
                    raise InputError(
                        f"reference image {ref} not found",
                        file=self.prompts_path,
                        shot=shot,
                        key="characters",
                    )
