"""Which jobs the next `snakemake [TARGET]` would run, decided as Snakemake decides it for
this workflow, without building Snakemake's DAG.

A job runs when an output is missing, when its request stamp is newer than its outputs
(its request changed since they were built: planner/stamps.py), when an input is newer
than its oldest output, or when a job it reads from runs. `stillmake plan`, `status`
and the review board ask this in well under a second at a thousand shots, where
`snakemake --summary` takes many; tests/planner/test_pending.py holds the two against each other.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from stillmake import paths
from stillmake.errors import StillmakeError
from stillmake.planner.stamps import params_digest

if TYPE_CHECKING:
    from stillmake.planner.build import Build, JobKey

NAMED_TARGETS = ("all", "drafts", "review", "selected", "edits", "finals", "critical")


def target_jobs(build: Build, target: str) -> list[JobKey]:
    """The jobs a target asks for by name (or the job that makes a file)."""
    shots = build.shots
    picked = build.picked_shots
    if target == "all":
        keys = [*_each("review_sheet", shots), *_each("select", picked), *_edits(build, picked)]
        if build.final_shots:
            keys += [*_each("final", build.final_shots), ("manifest", None, None)]
        return keys
    if target == "drafts":
        return _each("draft", shots)
    if target == "review":
        return _each("review_sheet", shots)
    if target == "selected":
        return _each("select", picked)
    if target == "edits":
        return _edits(build, picked)
    if target in ("finals", "critical"):
        wanted = shots if target == "finals" else list(build.config.critical)
        build.require_locked(wanted, target)
        return [*_each("final", wanted), ("manifest", None, None)]
    return [_maker(build, target)]


def _each(rule: str, shots: Iterable[str]) -> list[JobKey]:
    return [(rule, shot, None) for shot in shots]


def _edits(build: Build, shots: Iterable[str]) -> list[JobKey]:
    return [("edit_step", shot, j) for shot in shots for j in range(1, build.edit_count(shot) + 1)]


_MAKERS = [
    ("draft", ("draft", "draft_sidecar")),
    ("review_sheet", ("review_sheet", "review_json")),
    ("select", ("selected", "selected_sidecar")),
    ("edit_step", ("edit_step", "edit_step_sidecar")),
    ("final", ("final", "final_sidecar")),
    ("manifest", ("manifest_csv", "manifest_json", "gate")),
]


def _pattern(name: str) -> re.Pattern[str]:
    text = re.escape(paths.PATTERNS[name])
    text = text.replace(r"\{shot\}", r"(?P<shot>[^/]+)").replace(r"\{k\}", r"\d+")
    return re.compile(text.replace(r"\{step\}", r"(?P<step>\d+)") + "$")


def _maker(build: Build, target: str) -> JobKey:
    """The job whose output a file target is."""
    for rule, names in _MAKERS:
        for name in names:
            match = _pattern(name).match(os.path.normpath(target))
            if not match:
                continue
            shot, step = match.groupdict().get("shot"), match.groupdict().get("step")
            if shot is not None and shot not in build.shots:
                break
            key = (rule, shot, int(step) if step else None)
            if key in _jobs_of(build, key):
                return key
    raise StillmakeError(
        f"no job of this workflow makes {target}; targets: {', '.join(NAMED_TARGETS)}, "
        "or any file a rule writes (runs/drafts/s3/draft_1.png ...)"
    )


def _jobs_of(build: Build, key: JobKey) -> list[JobKey]:
    """The jobs of `key`'s kind that the selections declare for its shot."""
    rule, shot, _step = key
    if rule == "edit_step" and shot is not None:
        return _edits(build, [shot])
    if rule in ("select", "final") and shot is not None and not build.picked(shot):
        return []
    return [key]


class Pending:
    """Which jobs would run, each decided once (a job runs when one it reads from does)."""

    def __init__(self, build: Build):
        self.build = build
        self._runs: dict[JobKey, bool] = {}
        self._mtimes: dict[str, float | None] = {}

    def outputs(self, targets: Sequence[str] = ()) -> set[str]:
        """The files the jobs that would run for these targets write (what `snakemake
        --summary` calls missing or update pending)."""
        pending: set[str] = set()
        for key in self.closure(targets or ["all"]):
            if self.runs(key):
                pending.update(self.build.job(*key).outputs())
        return pending

    def closure(self, targets: Sequence[str]) -> list[JobKey]:
        """The targets' jobs and every job they read from, each once."""
        seen: dict[JobKey, None] = {}
        stack = [key for target in targets for key in target_jobs(self.build, target)]
        while stack:
            key = stack.pop()
            if key not in seen:
                seen[key] = None
                stack.extend(self.upstream(key))
        return list(seen)

    def upstream(self, key: JobKey) -> list[JobKey]:
        rule, shot, step = key
        build = self.build
        if rule == "review_sheet":
            return [("draft", shot, None)]
        if rule == "select":
            return [("draft", shot, None), ("review_sheet", shot, None)]
        if rule == "edit_step":
            return [("select", shot, None) if step == 1 else ("edit_step", shot, (step or 1) - 1)]
        if rule == "final":
            assert shot is not None
            n = build.edit_count(shot)
            return [("edit_step", shot, n) if n else ("select", shot, None)]
        if rule == "manifest":
            return _each("final", build.final_shots)
        return []

    def runs(self, key: JobKey) -> bool:
        known = self._runs.get(key)
        if known is None:
            known = self._runs[key] = self._decide(key)
        return known

    def _decide(self, key: JobKey) -> bool:
        job = self.build.job(*key)
        outputs = [self._mtime(p) for p in job.outputs()]
        if any(t is None for t in outputs):
            return True
        oldest = min(t for t in outputs if t is not None)
        if self._stamp_mtime(key) > oldest:
            return True
        upstream = self.upstream(key)
        if any(self.runs(up) for up in upstream):
            return True
        made = [p for up in upstream for p in self._read(up)]
        return any((self._mtime(p) or 0.0) > oldest for p in made + self._static(key))

    def _read(self, up: JobKey) -> list[str]:
        """What a job reads of a job before it: its images (a record travels inside its
        image, so no sidecar is an input); of a review, its JSON (the select job's input)."""
        outputs = self.build.job(*up).outputs()
        if up[0] == "review_sheet":
            return [p for p in outputs if p.endswith(".json")]
        return [p for p in outputs if p.endswith(".png")]

    def request_changed(self, key: JobKey) -> bool:
        """Whether the job's outputs were built from another request than the one it has
        now (its `.built` record holds another digest): its next run makes something new.
        False when nothing is known (never built here)."""
        built = self.build.config.root / paths.built_record(paths.request_stamp(*key))
        try:
            return built.read_text(encoding="utf-8") != params_digest(self.build.params(*key))
        except FileNotFoundError:
            return False

    def _static(self, key: JobKey) -> list[str]:
        """Inputs no job makes: references, masks, markups."""
        rule, shot, _step = key
        build = self.build
        if rule == "review_sheet" and shot is not None:
            return build.review_refs(shot)
        if rule == "manifest":
            return build.existing_refs(*build.final_shots)
        if rule in ("edit_step", "final"):
            inputs = build.job(*key).inputs()  # type: ignore[attr-defined]
            files = [inputs["refs"]] + [[inputs[k]] for k in ("mask", "markup") if k in inputs]
            return [p for group in files for p in group]
        return []

    def _stamp_mtime(self, key: JobKey) -> float:
        """The mtime the job's request stamp has once Snakemake's DAG brought it up to
        date (stamps.sync_stamp): as it is when it holds the request; else the time its
        outputs were built from this request (an undone edit), or now (a new request)."""
        root = self.build.config.root
        stamp = root / paths.request_stamp(*key)
        digest = params_digest(self.build.params(*key))
        try:
            if stamp.read_text(encoding="utf-8") == digest:
                return stamp.stat().st_mtime
        except FileNotFoundError:
            pass
        built = Path(paths.built_record(str(stamp)))
        try:
            if built.read_text(encoding="utf-8") == digest:
                return built.stat().st_mtime
        except FileNotFoundError:
            pass
        return float("inf")

    def _mtime(self, path: str) -> float | None:
        if path not in self._mtimes:
            try:
                self._mtimes[path] = (self.build.config.root / path).stat().st_mtime
            except FileNotFoundError:
                self._mtimes[path] = None
        return self._mtimes[path]
