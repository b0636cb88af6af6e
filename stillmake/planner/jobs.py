"""The typed request of each job: what one rule's job is asked to do, and the files it reads.

One dataclass per rule. Its fields are the job's params (Snakemake reruns the job when
one changes, and its request stamp digests them); `params()` is the plain form the rule
hands Snakemake, `from_params` the typed form a stage gets back; `inputs()` the files
the job reads (each declared, so a storage plugin stages it).
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeVar

from stillmake import paths
from stillmake.api.requests import CritiqueRequest, ImageRequest

Characters = dict[str, list[str]]  # character id -> its reference images (project-relative)


@dataclass(frozen=True)
class JobRequest:
    """What every job request shares: its rule, its shot, and the two plain forms."""

    RULE: ClassVar[str]  # the rule whose jobs it describes
    PASS: ClassVar[str]  # the pass, as messages and logs name it

    def outputs(self) -> list[str]:
        """The files the job writes (the rule's `output:`, as stillmake.paths names them)."""
        raise NotImplementedError

    def params(self) -> dict[str, Any]:
        """The job's params as the rule passes them: plain values Snakemake can record
        (a typed field in its dict form); the shot and step are wildcards, not params."""
        return {name: _plain(getattr(self, name)) for name in _param_names(type(self))}

    @classmethod
    def from_params(
        cls: type[_J], params: Mapping[str, Any], shot: str | None = None, step: int | None = None
    ) -> _J:
        """The typed request back from a job's params (and its wildcards)."""
        hints = typing.get_type_hints(cls)
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            if f.name == "shot":
                values["shot"] = shot
            elif f.name == "step":
                values["step"] = step
            else:
                values[f.name] = _typed(hints[f.name], params[f.name])
        return cls(**values)


_J = TypeVar("_J", bound=JobRequest)


_PARAM_NAMES: dict[type, tuple[str, ...]] = {}


def _param_names(cls: type[JobRequest]) -> tuple[str, ...]:
    """A job type's params: its fields but the wildcards (worked out once per type)."""
    names = _PARAM_NAMES.get(cls)
    if names is None:
        names = _PARAM_NAMES[cls] = tuple(
            f.name for f in dataclasses.fields(cls) if f.name not in ("shot", "step")
        )
    return names


def _plain(value: object) -> Any:
    if isinstance(value, ImageRequest | CritiqueSpec):
        return value.to_dict()
    if isinstance(value, tuple):
        return list(value)
    return value


def _typed(kind: object, value: Any) -> Any:
    if kind is ImageRequest:
        return ImageRequest.from_dict(value)
    if kind in (CritiqueSpec, CritiqueSpec | None):
        return CritiqueSpec.from_dict(value) if value is not None else None
    return value


@dataclass(frozen=True)
class CritiqueSpec:
    """What a review job needs to ask a vision model about each draft of its shot."""

    model: str
    reasoning: str
    blocking: bool
    fail_on: list[str]  # criteria whose `fail` fails the gate; others warn at most
    rubric: str
    backend: str
    brief: str
    refs: list[str]

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CritiqueSpec:
        return cls(**data)

    def request(self, *, size: str, inputs: typing.Iterable[str]) -> CritiqueRequest:
        """The critique of one image (its sha256, then the references')."""
        return CritiqueRequest(
            model=self.model,
            prompt=self.brief,
            reasoning=self.reasoning,
            rubric=self.rubric,
            size=size,
            backend=self.backend,
            inputs=tuple(inputs),
        )


@dataclass(frozen=True)
class DraftJob(JobRequest):
    """Pass 1: one images.generate call (n drafts) for the shot."""

    RULE: ClassVar[str] = "draft"
    PASS: ClassVar[str] = "draft"
    shot: str
    request: ImageRequest
    negative: str
    lighting: str | None

    def outputs(self) -> list[str]:
        images = paths.drafts(self.shot, self.request.n)
        return images + [paths.sidecar(p) for p in images]


@dataclass(frozen=True)
class ReviewJob(JobRequest):
    """The shot's contact sheet and metrics, from its drafts only."""

    RULE: ClassVar[str] = "review_sheet"
    PASS: ClassVar[str] = "review"
    shot: str
    title: str
    lighting: str | None
    thresholds: dict[str, Any]
    characters: Characters
    # each reference's content digest (None: missing), so a changed reference re-measures
    # the identity of its character's shots only, without being a declared input of all
    references: dict[str, str | None]
    pick: int | None  # the sheet marks a weak pick before its edits are paid
    rejects: dict[str, str]  # and each reject, with why
    critique: CritiqueSpec | None  # only when enabled

    def outputs(self) -> list[str]:
        return [paths.review_sheet(self.shot), paths.review_json(self.shot)]


@dataclass(frozen=True)
class SelectJob(JobRequest):
    """The hand-picked draft, refused when the drafts it was picked on changed. A pick
    typed without `drafts:` is bound by the build the first time it is applied
    (artifacts/picks.build_binding)."""

    RULE: ClassVar[str] = "select"
    PASS: ClassVar[str] = "select"
    shot: str
    pick: int | None
    drafts: str | None  # the fingerprint of the drafts the pick was made on
    rejects: dict[str, str]

    @property
    def review(self) -> str:
        return paths.review_sheet(self.shot)

    def outputs(self) -> list[str]:
        return [paths.selected(self.shot), paths.sidecar(paths.selected(self.shot))]


@dataclass(frozen=True)
class EditJob(JobRequest):
    """One consistency edit (one change) on the previous step's image."""

    RULE: ClassVar[str] = "edit_step"
    PASS: ClassVar[str] = "edit"
    shot: str
    step: int
    request: ImageRequest  # without its inputs' hashes: the job binds them (bind_inputs)
    change: str
    keep: str
    region: list[float] | None
    mask: str | None
    markup: str | None
    refs: list[str]  # the step's own references
    character_refs: list[str]
    protect_unmasked: bool
    feather_px: int
    refuse_weak: bool
    characters: Characters
    thresholds: dict[str, Any]
    critique: CritiqueSpec | None  # of the step's result, when the critique is enabled
    negative: str
    lighting: str | None

    @property
    def source(self) -> str:
        """Step 1 edits the selected draft; step j the output of step j-1."""
        return (
            paths.selected(self.shot)
            if self.step == 1
            else paths.edit_step(self.shot, self.step - 1)
        )

    @property
    def key(self) -> str:
        """The step as selections.yaml names it in messages."""
        return f"edits[{self.step}]"

    def outputs(self) -> list[str]:
        image = paths.edit_step(self.shot, self.step)
        return [image, paths.sidecar(image)]

    def mask_png(self, size: tuple[int, int], mask_file: str | None = None) -> bytes | None:
        """Region box or hand-made mask -> RGBA PNG at the source's size (alpha 0 =
        editable). The mask is read from `mask_file` where the job found it (a storage
        plugin or a module prefix); errors name it as selections.yaml gives it."""
        from stillmake.inputs.masks import load_mask, region_mask  # numpy: only when drawn

        if self.region:
            return region_mask(self.region, size)
        if self.mask:
            return load_mask(
                mask_file or self.mask, size, file=self.mask, shot=self.shot, key=f"{self.key}.mask"
            )
        return None

    def markup_png(self, size: tuple[int, int], markup_file: str | None = None) -> bytes | None:
        """The strokes drawn over the source, at its size (models that take a markup)."""
        from stillmake.inputs.masks import load_markup

        if not self.markup:
            return None
        return load_markup(
            markup_file or self.markup,
            size,
            file=self.markup,
            shot=self.shot,
            key=f"{self.key}.markup",
        )

    def inputs(self) -> dict[str, str | list[str]]:
        """Its source (its record travels inside it), the references, then mask or markup."""
        files: dict[str, str | list[str]] = {
            "source": self.source,  # its record travels inside it
            "refs": [*self.character_refs, *self.refs],
        }
        if self.mask:
            files["mask"] = self.mask
        if self.markup:
            files["markup"] = self.markup
        return files


@dataclass(frozen=True)
class FinalJob(JobRequest):
    """The final: n=1, high quality, the one final size, from the candidate."""

    RULE: ClassVar[str] = "final"
    PASS: ClassVar[str] = "final"
    shot: str
    request: ImageRequest  # mode edit: without its inputs' hashes (the job binds them)
    mode: str
    pick: int | None
    steps: int
    title: str
    refs: list[str]  # the character references sent with the candidate (mode edit)
    critique: CritiqueSpec | None  # of the final, when the critique is enabled
    negative: str
    lighting: str | None
    # the approval (planner/approval.py): the job refuses from these, before any call
    locked: bool
    approved: str | None  # the candidate fingerprint the lock names (None: `lock: true`)
    trust: str | None  # why a bare lock may stand in: the preview backend, final.approval: any
    waive: dict[str, str]  # gate check -> why its fail on the candidate is accepted

    @property
    def candidate(self) -> str:
        """The image the final is rendered from: the last edit step, else the selected draft."""
        return paths.edit_step(self.shot, self.steps) if self.steps else paths.selected(self.shot)

    def outputs(self) -> list[str]:
        return [paths.final(self.shot), paths.sidecar(paths.final(self.shot))]

    def inputs(self) -> dict[str, str | list[str]]:
        return {
            "candidate": self.candidate,  # its record travels inside it
            "refs": list(self.refs),
            "critique_refs": list(self.critique.refs) if self.critique else [],
        }


@dataclass(frozen=True)
class ManifestJob(JobRequest):
    """The final log and the gate over every locked shot's final."""

    RULE: ClassVar[str] = "manifest"
    PASS: ClassVar[str] = "manifest"
    size: str
    thresholds: dict[str, Any]
    shots: list[str]
    characters: dict[str, Characters]

    def outputs(self) -> list[str]:
        return [paths.MANIFEST_CSV, paths.MANIFEST_JSON, paths.GATE]


JOB_TYPES: dict[str, type[JobRequest]] = {
    cls.RULE: cls for cls in (DraftJob, ReviewJob, SelectJob, EditJob, FinalJob, ManifestJob)
}
