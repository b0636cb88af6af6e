"""The plan of spend: which requests a build would pay for, before any call.

Snakemake decides which jobs run (`snakemake --summary` says so per output
file); this module decides what each of those jobs would send, by following
the chain draft -> selected -> edit steps -> final through the cache. A request
whose inputs are not known yet counts as paid: the plan never under-promises.
"""

from __future__ import annotations

import csv
import io
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import yaml

from stillmake import paths
from stillmake.api.cache import Cache
from stillmake.api.pricing import Estimator, image_sizes
from stillmake.api.requests import CritiqueRequest
from stillmake.artifacts.picks import drafts_fingerprint, image_sha256
from stillmake.artifacts.provenance import raw_image, read_sidecar
from stillmake.errors import StillmakeError
from stillmake.files import sha256_bytes
from stillmake.inputs.masks import load_markup, load_mask, region_mask
from stillmake.inputs.models import parse_size
from stillmake.inputs.settings import nest_overrides

if TYPE_CHECKING:
    from stillmake.api.requests import ImageRequest
    from stillmake.specs import BuildSpecs

API_RULES = ("draft", "edit_step", "final")
PENDING = ("update pending", "missing")


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

    @property
    def paid(self) -> bool:
        return not self.cached and self.note != "blocked"

    def to_dict(self) -> dict:
        d = asdict(self)
        d["pass"] = d.pop("pass_")
        d["paid"] = self.paid
        return d


def pending_outputs(
    targets: Sequence[str] = (),
    overrides: Sequence[str] = (),
    snakemake: Sequence[str] | None = None,
) -> set[str]:
    """Output files Snakemake would (re)build for these targets.

    Overrides travel as a config file, not `--config`: Snakemake's `--config` takes no
    dotted keys (`draft.size=...`), while a file merges into nested sections."""
    cmd = snakemake or [sys.executable, "-m", "snakemake"]
    # targets before the options: `--quiet` takes a list and would swallow them
    cmd = [*cmd, *(targets or ["all"]), "--summary"]
    with tempfile.TemporaryDirectory(prefix="stillmake-plan-") as tmp:
        if overrides:
            extra = Path(tmp) / "overrides.yaml"
            extra.write_text(yaml.safe_dump(nest_overrides(overrides)), encoding="utf-8")
            cmd += ["--configfile", str(extra)]
        proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise StillmakeError(
            "snakemake could not plan this target:\n" + snakemake_error(proc.stderr or proc.stdout)
        )
    pending = set()
    reader = csv.reader(io.StringIO(proc.stdout), delimiter="\t")
    for row in reader:
        if len(row) >= 6 and row[0] != "output_file" and row[-1].strip() in PENDING:
            pending.add(row[0].strip())
    return pending


NOISE = ("Using workflow specific profile", "Building DAG of jobs", "Wildcards:")


def snakemake_error(output: str, most: int = 12) -> str:
    """Snakemake's message without its start-up chatter and traceback."""
    lines = []
    for line in output.strip().splitlines():
        if line.startswith("Traceback"):
            break
        if line.strip() and not line.startswith(NOISE):
            lines.append(line)
    return "\n".join(lines[-most:])


class Planner:
    def __init__(self, specs: BuildSpecs, estimator: Estimator | None = None):
        self.specs = specs
        self.estimator = estimator or Estimator()
        self.cache = Cache(specs.settings.cache_dir)
        self._images: dict[str, str | None] = {}  # output path -> predicted raw image sha256

    def plan(self, pending: set[str]) -> list[PlannedRequest]:
        out = []
        for shot in self.specs.shots:
            out += self._shot(shot, pending)
        return out

    # -- per shot, in dependency order ----------------------------------------
    def _shot(self, shot: str, pending: set[str]) -> list[PlannedRequest]:
        specs = self.specs
        planned = []
        draft_paths = paths.drafts(shot, specs.draft_n)
        request = specs.draft_request(shot)
        if draft_paths[0] in pending:
            item, shas = self._lookup(shot, "draft", request)
            planned.append(item)
        else:
            # the drafts' pixels, as the select job compares them (a retouch shows)
            shas = [image_sha256(p) if Path(p).is_file() else None for p in draft_paths]
        for path, sha in zip(draft_paths, shas or [None] * len(draft_paths), strict=True):
            self._images[path] = sha
        if specs.critique_active and paths.review_json(shot) in pending:
            planned += self._critiques(
                shot, "draft", [(f"critique{k}", p) for k, p in enumerate(draft_paths, 1)]
            )
        sel = specs.selections[shot]
        if sel.pick is None:
            return planned
        selected = paths.selected(shot)
        if selected in pending:
            known = all(shas or [None])
            if sel.drafts and known and drafts_fingerprint(shas) != sel.drafts:
                return planned + self._blocked(shot, pending, "stale pick")
            self._images[selected] = self._images[draft_paths[sel.pick - 1]]
        else:
            self._images[selected] = self._existing(selected)
        for j in range(1, specs.edit_count(shot) + 1):
            path = paths.edit_step(shot, j)
            if path in pending:
                request = self._with_inputs(
                    specs.edit_request(shot, j),
                    specs.edit_inputs(shot, j),
                    specs.edit_step_spec(shot, j),
                    shot,
                )
                item, shas = self._lookup(
                    shot, f"edit{j}", request, specs.edit_inputs(shot, j)["refs"]
                )
                if specs.edit_step_spec(shot, j)["protect_unmasked"]:
                    shas = None  # composited after the call: not predictable from the cache
                planned.append(item)
                self._images[path] = shas[0] if shas else None
                if specs.critique_active:
                    planned += self._critiques(shot, "candidate", [(f"critique-edit{j}", path)])
            else:
                self._images[path] = self._existing(path)
        final = paths.final(shot)
        if final in pending:
            request = specs.final_request(shot)
            if request.endpoint == "edit":
                request = self._with_inputs(request, specs.final_inputs(shot), None, shot)
            item, shas = self._lookup(shot, "final", request, specs.final_inputs(shot)["refs"])
            planned.append(item)
            if specs.critique_active:
                self._images[final] = shas[0] if shas else None
                planned += self._critiques(shot, "final", [("critique-final", final)])
        return planned

    def _critiques(
        self, shot: str, kind: str, judged: list[tuple[str, str]]
    ) -> list[PlannedRequest]:
        """One critique per image judged ((pass, path): the drafts, an edit step's result,
        the final): cached or not once the image's pixels are known (built, or predicted
        from the cache), else counted as paid."""
        spec = self.specs.critique_spec(shot, kind)
        refs = [raw_image(r) for r in spec["refs"]]
        size = (
            self.specs.config["final"]["size"] if kind == "final" else self.specs.draft_size(shot)
        )
        sizes = [parse_size(size), *image_sizes(refs)]
        items = []
        for pass_, path in judged:
            sha = self._images.get(path)
            inputs = [sha, *map(sha256_bytes, refs)] if sha else []
            request = CritiqueRequest.from_spec(spec, size=size, inputs=inputs)
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
                    bool(fp) and self.cache.has(fp),
                    "" if sha else "inputs not built yet",
                    estimate.basis,
                )
            )
        return items

    def _blocked(self, shot: str, pending: set[str], why: str) -> list[PlannedRequest]:
        """Downstream of a stale pick nothing runs: list it, priced, but not as spend."""
        items = []
        for j in range(1, self.specs.edit_count(shot) + 1):
            if paths.edit_step(shot, j) in pending:
                items.append(
                    self._unknown(shot, f"edit{j}", self.specs.edit_request(shot, j), "blocked")
                )
        if paths.final(shot) in pending:
            items.append(self._unknown(shot, "final", self.specs.final_request(shot), "blocked"))
        return items

    # -- helpers ----------------------------------------------------------------
    def _with_inputs(
        self, request: ImageRequest, inputs: dict, step: dict | None, shot: str
    ) -> ImageRequest | None:
        source = self._images.get(inputs.get("source") or inputs.get("candidate"))
        if source is None:
            return None
        shas = [source] + [sha256_bytes(raw_image(r)) for r in inputs.get("refs", [])]
        mask = markup = None
        size = parse_size(self.specs.draft_size(shot))
        if step and (step.get("region") or step.get("mask")):
            png = (
                region_mask(step["region"], size)
                if step.get("region")
                else load_mask(step["mask"], size)
            )
            mask = sha256_bytes(png)
        if step and step.get("markup"):
            markup = sha256_bytes(load_markup(step["markup"], size))
        return request.with_inputs(shas, mask=mask, markup=markup)

    def _lookup(
        self, shot: str, pass_: str, request: ImageRequest | None, refs: Iterable[str] = ()
    ) -> tuple[PlannedRequest, list[str] | None]:
        if request is None:  # inputs are built by this same run: unknown until then
            return self._unknown(shot, pass_, None, "inputs not built yet"), None
        fp = request.fingerprint()
        cached = self.cache.has(fp)
        shas = None
        if cached:
            _, record = self.cache.load(fp)
            shas = record["sha256"]
        return self._item(shot, pass_, request, fp, cached, refs=refs), shas

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
        estimate = self.estimator.estimate(request, self._input_sizes(shot, pass_, request, refs))
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
        )

    def _input_sizes(
        self, shot: str, pass_: str, request: ImageRequest, refs: Iterable[str] | None
    ) -> list[tuple[int, int]]:
        """An edit's inputs: the source at the drafts' size, then the reference images."""
        if request.endpoint != "edit":
            return []
        if refs is None:
            inputs = (
                self.specs.final_inputs(shot)
                if pass_ == "final"
                else self.specs.edit_inputs(shot, int(pass_[4:]))
            )
            refs = inputs["refs"]
        return [parse_size(self.specs.draft_size(shot)), *image_sizes(map(raw_image, refs))]

    def _unknown(
        self, shot: str, pass_: str, request: ImageRequest | None, note: str
    ) -> PlannedRequest:
        specs = self.specs
        if request is None:
            request = (
                specs.final_request(shot)
                if pass_ == "final"
                else specs.edit_request(shot, int(pass_[4:]))
            )
        return self._item(shot, pass_, request, None, False, note)

    @staticmethod
    def _existing(path: str | os.PathLike[str]) -> str | None:
        try:
            return read_sidecar(path)["image_sha256"]
        except (FileNotFoundError, KeyError, ValueError):
            return None


def total(planned: list[PlannedRequest]) -> float:
    return round(sum(p.price_usd for p in planned if p.paid), 6)
