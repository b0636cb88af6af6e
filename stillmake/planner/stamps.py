"""Request stamps: each job's params on disk, so a changed request reruns its job by
Snakemake's mtime rule alone, whether or not the metadata in .snakemake/ exists.

A stamp (runs/.params/{shot}/{pass}.json) is an input of its job only and holds the
digest of the job's params; it is rewritten at DAG time only when the digest changes.
Beside it, `.built` records what the job's current outputs were built from, so undoing
an edit (or a what-if `snakemake -n --config ...`) does not rerun anything.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from stillmake import paths
from stillmake.files import atomic_write_text


def params_digest(params: Mapping[str, Any]) -> str:
    """The content of a request stamp: a digest of one job's params, as the rule passes
    them (`record_built` digests the params the job ran with the same way)."""
    body = json.dumps(params, sort_keys=True, ensure_ascii=False, default=str)
    return hashlib.sha256(body.encode("utf-8")).hexdigest()[:24] + "\n"


def sync_stamp(stamp: str | os.PathLike[str], params: Mapping[str, Any]) -> None:
    """Make the stamp hold the params' digest, touching it only when that changes something.

    Unchanged: left alone (its mtime too), so the job does not rerun. Changed: rewritten,
    so it is newer than the job's outputs and the job reruns; unless the outputs were
    built from exactly this digest (an undone edit, a what-if `snakemake -n --config`):
    then its mtime goes back to when that job started, older than what it wrote.
    """
    digest = params_digest(params)
    path = os.fspath(stamp)  # plain strings: a thousand shots' stamps are read per plan
    try:
        with open(path, encoding="utf-8") as fh:
            if fh.read() == digest:
                return
    except FileNotFoundError:
        pass
    _replace_quickly(Path(path), digest)
    built = paths.built_record(path)
    try:
        with open(built, encoding="utf-8") as fh:
            same = fh.read() == digest
        if same:
            started = os.stat(built).st_mtime
            os.utime(path, (started, started))
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


def record_built(stamp: str | os.PathLike[str], params: Mapping[str, Any], started: float) -> None:
    """After a job succeeded: its outputs were built from these params (the `.built`
    record beside its stamp, dated when the job started)."""
    built = paths.built_record(str(stamp))
    atomic_write_text(built, params_digest(params))
    os.utime(built, (started, started))
