"""The plan of spend: which requests a build would pay for, before any call.

The planner decides which jobs would run (planner/pending.py, as Snakemake decides
it); this module decides what each of those jobs would send, by following the
chain draft -> selected -> edit steps -> final through the cache. A request
whose inputs are not known yet counts as paid: the plan never under-promises.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.api.cache import Cache
from stillmake.api.pricing import Estimator, image_sizes, is_free
from stillmake.artifacts.digests import PixelDigests
from stillmake.artifacts.picks import drafts_fingerprint
from stillmake.artifacts.provenance import raw_image, read_sidecar
from stillmake.files import sha256_bytes
from stillmake.inputs.models import parse_size
from stillmake.planner.approval import GATE, LET_THROUGH, PREVIEW_LOCK, TRUST_ANY, locked_on

if TYPE_CHECKING:
    from stillmake.api.requests import ImageRequest
    from stillmake.planner.build import Build
    from stillmake.planner.jobs import EditJob, FinalJob


AWAITING_NOTE = "awaiting approval"
GATE_NOTE = "stopped by the gate"
UNPAID = ("blocked", AWAITING_NOTE, GATE_NOTE)  # listed and priced, not spent
LET_THROUGH_NOTES = (PREVIEW_LOCK, TRUST_ANY)


@dataclass
class PlannedRequest:
    shot: str
    pass_: str
    endpoint: str
    model: str
    n: int
    size: str
    quality: str
    price_usd: float  # the estimate: observed tokens per megapixel, else the table's prior
    fingerprint: str | None
    cached: bool
    note: str = ""
    basis: str = ""
    api_usd: float | None = None  # on the preview: the same request's estimate on the API

    @property
    def paid(self) -> bool:
        return not self.cached and self.note not in UNPAID

    @property
    def status(self) -> str:
        """`cached`, `pay` (with what let it through: `lock: true (preview)`,
        `final.approval: any`), or why it is not paid (`blocked`, `awaiting approval`, ...)."""
        if self.cached:
            return "cached"
        if self.note in UNPAID:
            return self.note
        return f"pay ({self.note})" if self.note in LET_THROUGH_NOTES else "pay"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        d["paid"] = self.paid
        return d


class SpendPlanner:
    """Follows each pending job's request (from the planner) through the cache, in
    dependency order, predicting the pixels each step will have."""

    def __init__(
        self, build: Build, estimator: Estimator | None = None, digests: PixelDigests | None = None
    ):
        self.build = build
        self.estimator = estimator or Estimator()
        self.digests = digests or PixelDigests()
        self.cache = Cache(build.config.cache_dir)
        self._images: dict[str, str | None] = {}  # output path -> predicted raw image sha256
        self._ref_sizes: dict[str, tuple[int, int]] = {}
        self._finals = True  # list the finals that wait for approval (plan's `finals`)

    def plan(self, pending: set[str], finals: bool = True) -> list[PlannedRequest]:
        """The requests of the pending jobs; with `finals` (a target that renders them),
        also each locked shot's final that waits for approval, priced, not counted."""
        self._finals = finals
        out = []
        for shot in self.build.shots:
            out += self._shot(shot, pending)
        return out

    # -- per shot, in dependency order ----------------------------------------
    def _shot(self, shot: str, pending: set[str]) -> list[PlannedRequest]:
        build = self.build
        planned = []
        draft_paths = paths.drafts(shot, build.draft_n)
        shas: list[str | None] | None
        if draft_paths[0] in pending:
            item, shas = self._lookup(shot, "draft", build.draft(shot).request)
            planned.append(item)
        else:
            # the drafts' pixels, as the select job compares them (a retouch shows)
            shas = [self.digests.sha256(p) if Path(p).is_file() else None for p in draft_paths]
        for path, sha in zip(draft_paths, shas or [None] * len(draft_paths), strict=True):
            self._images[path] = sha
        if build.config.critique_active and paths.review_json(shot) in pending:
            judged = [(f"critique{k}", p) for k, p in enumerate(draft_paths, 1)]
            planned += self._critiques(shot, "draft", judged)
        select = build.select(shot)
        if select.pick is None:
            return planned
        selected = paths.selected(shot)
        if selected in pending:
            known = all(shas or [None])
            bound = build.bound_drafts(shot)
            if bound and known and drafts_fingerprint([str(s) for s in shas or ()]) != bound:
                return planned + self._blocked(shot, pending, "stale pick")
            self._images[selected] = self._images[draft_paths[select.pick - 1]]
        else:
            self._images[selected] = self._existing(selected)
        for j in range(1, build.edit_count(shot) + 1):
            edit = build.edit(shot, j)
            path = paths.edit_step(shot, j)
            if path in pending:
                item, shas = self._lookup(
                    shot, f"edit{j}", self._bound_edit(edit), edit.character_refs + edit.refs
                )
                if edit.protect_unmasked:
                    shas = None  # composited after the call: not predictable from the cache
                planned.append(item)
                self._images[path] = shas[0] if shas else None
                if build.config.critique_active:
                    planned += self._critiques(shot, "candidate", [(f"critique-edit{j}", path)])
            else:
                self._images[path] = self._existing(path)
        final = build.final(shot)
        if paths.final(shot) in pending:
            item, shas = self._lookup(shot, "final", self._bound_final(final), final.refs)
            item.note = self._approval_note(final) or item.note
            planned.append(item)
            if build.config.critique_active and item.note not in UNPAID:
                self._images[paths.final(shot)] = shas[0] if shas else None
                planned += self._critiques(shot, "final", [("critique-final", paths.final(shot))])
        elif self._finals and build.locked(shot) and not build.approvals[shot].wanted:
            state = build.approvals[shot].state
            note = GATE_NOTE if state == GATE else AWAITING_NOTE
            planned.append(self._item(shot, "final", final.request, None, False, note))
        return planned

    def _approval_note(self, final: FinalJob) -> str:
        """What lets the final through (a bare lock the preview or the config trusts), or
        why it will wait (its candidate, as predicted, is not the one the lock approved)."""
        approval = self.build.approvals[final.shot]
        if approval.state == LET_THROUGH:
            return approval.shown
        if final.approved and not locked_on(final.approved, self._images.get(final.candidate)):
            return AWAITING_NOTE
        return ""

    def _critiques(
        self, shot: str, kind: str, judged: list[tuple[str, str]]
    ) -> list[PlannedRequest]:
        """One critique per image judged ((pass, path): the drafts, an edit step's result,
        the final): cached or not once the image's pixels are known (built, or predicted
        from the cache), else counted as paid."""
        spec = self.build.critique_spec(shot, kind)
        refs = [raw_image(r) for r in spec.refs]
        size = self.build.config.final.size if kind == "final" else self.build.draft_size(shot)
        sizes = [parse_size(size), *image_sizes(refs)]
        items = []
        for pass_, path in judged:
            sha = self._images.get(path)
            inputs = [sha, *map(sha256_bytes, refs)] if sha else []
            request = spec.request(size=size, inputs=inputs)
            fp = request.fingerprint() if sha else None
            estimate = self.estimator.estimate(request, sizes)
            items.append(
                PlannedRequest(
                    shot,
                    pass_,
                    request.endpoint,
                    request.model,
                    1,
                    size,
                    request.reasoning,
                    estimate.usd,
                    fp,
                    fp is not None and self.cache.has(fp),
                    "" if sha else "inputs not built yet",
                    estimate.basis,
                )
            )
        return items

    def _blocked(self, shot: str, pending: set[str], why: str) -> list[PlannedRequest]:
        """Downstream of a stale pick nothing runs: list it, priced, but not as spend."""
        build, items = self.build, []
        for j in range(1, build.edit_count(shot) + 1):
            if paths.edit_step(shot, j) in pending:
                edit = build.edit(shot, j)
                items.append(self._item(shot, f"edit{j}", edit.request, None, False, "blocked"))
        if paths.final(shot) in pending:
            items.append(
                self._item(shot, "final", build.final(shot).request, None, False, "blocked")
            )
        elif self._finals and build.locked(shot):
            final = build.final(shot).request
            items.append(self._item(shot, "final", final, None, False, AWAITING_NOTE))
        return items

    # -- the requests with their inputs bound, as the stages bind them ---------------
    def _bound_edit(self, edit: EditJob) -> ImageRequest | None:
        source = self._images.get(edit.source)
        if source is None:
            return None
        size = parse_size(self.build.draft_size(edit.shot))
        refs = [raw_image(r) for r in edit.character_refs + edit.refs]
        mask, markup = edit.mask_png(size), edit.markup_png(size)
        request = edit.request.bound(refs, mask, markup)
        return replace(request, inputs=(source, *request.inputs))

    def _bound_final(self, final: FinalJob) -> ImageRequest | None:
        if final.request.endpoint != "edit":
            return final.request
        candidate = self._images.get(final.candidate)
        if candidate is None:
            return None
        request = final.request.bound(raw_image(r) for r in final.refs)
        return replace(request, inputs=(candidate, *request.inputs))

    # -- helpers ----------------------------------------------------------------
    def _lookup(
        self, shot: str, pass_: str, request: ImageRequest | None, refs: Iterable[str] = ()
    ) -> tuple[PlannedRequest, list[str | None] | None]:
        if request is None:  # inputs are built by this same run: unknown until then
            unbound = self._unbound(shot, pass_)
            return self._item(shot, pass_, unbound, None, False, "inputs not built yet", refs), None
        fp = request.fingerprint()
        cached = self.cache.has(fp)
        shas: list[str | None] | None = None
        if cached:
            _, record = self.cache.load(fp)
            shas = list(record["sha256"])
        return self._item(shot, pass_, request, fp, cached, refs=refs), shas

    def _unbound(self, shot: str, pass_: str) -> ImageRequest:
        if pass_ == "final":
            return self.build.final(shot).request
        return self.build.edit(shot, int(pass_[4:])).request

    def _item(
        self,
        shot: str,
        pass_: str,
        request: ImageRequest,
        fp: str | None,
        cached: bool,
        note: str = "",
        refs: Iterable[str] | None = None,
    ) -> PlannedRequest:
        sizes = self._input_sizes(shot, pass_, request, refs)
        estimate = self.estimator.estimate(request, sizes)
        api = None
        if is_free(request):  # what the same request costs where it is paid
            api = self.estimator.estimate(replace(request, backend="openai"), sizes).usd
        return PlannedRequest(
            shot,
            pass_,
            request.endpoint,
            request.model,
            request.n,
            request.size,
            request.quality,
            estimate.usd,
            fp,
            cached,
            note,
            estimate.basis,
            api,
        )

    def _input_sizes(
        self, shot: str, pass_: str, request: ImageRequest, refs: Iterable[str] | None
    ) -> list[tuple[int, int]]:
        """An edit's inputs: the source at the drafts' size, then the reference images."""
        if request.endpoint != "edit":
            return []
        if refs is None:
            if pass_ == "final":
                refs = self.build.final(shot).refs
            else:
                edit = self.build.edit(shot, int(pass_[4:]))
                refs = edit.character_refs + edit.refs
        return [parse_size(self.build.draft_size(shot)), *(self._size(r) for r in refs)]

    def _size(self, ref: str) -> tuple[int, int]:
        """A reference's size, read once per plan (many jobs send the same references)."""
        size = self._ref_sizes.get(ref)
        if size is None:
            size = self._ref_sizes[ref] = image_sizes([raw_image(ref)])[0]
        return size

    @staticmethod
    def _existing(path: str | os.PathLike[str]) -> str | None:
        try:
            return read_sidecar(path)["image_sha256"]
        except (FileNotFoundError, KeyError, ValueError):
            return None


def total(planned: list[PlannedRequest]) -> float:
    return round(sum(p.price_usd for p in planned if p.paid), 6)


def api_total(planned: list[PlannedRequest]) -> tuple[float, float] | None:
    """On the preview: what the requests it would send cost on the API (cached or not:
    a preview image is never an API image), and how much of that is finals the preview
    lets through on a bare `lock: true` (on the API they wait for `stillmake lock`).
    None when the plan is not the preview's."""
    sent = [p for p in planned if p.api_usd is not None and p.note not in UNPAID]
    if not sent:
        return None
    trusted = [p for p in sent if p.note == PREVIEW_LOCK]
    return (
        round(sum(p.api_usd or 0.0 for p in sent), 6),
        round(sum(p.api_usd or 0.0 for p in trusted), 6),
    )
