"""Every catalogued bad input stops the build with a clear error and writes nothing.

Every case goes through the code the Snakefile runs first (the config checked and typed,
every input read and checked: `load_build`), in the test's own process, and is one line;
one case of each kind, and each case that only Snakemake's hooks catch, goes through
`snakemake` itself, which must print the same words as that one line alone (no frames,
nothing of Snakemake's around it) and write nothing under runs/. The catalogue people
read is docs/bad-input.md.
"""

from __future__ import annotations

import os
import re

import pytest

from stillmake.errors import StillmakeError
from stillmake.inputs.config import load_config
from stillmake.planner.load import load_build
from tests.bad_inputs import CASES, RUNTIME
from tests.conftest import REPO

OUTPUTS = ("drafts", "review", "selected", "edits", "final", "cache", "ledger.jsonl")
# the catalogue as people read it: the bad-input and fault tables
PAGE = "docs/bad-input.md"
CATALOGUE = (REPO / PAGE).read_text(encoding="utf-8")
# what Snakemake says before it reads the Snakefile
PREAMBLE = ("Using workflow specific profile", "Assuming unrestricted shared filesystem usage.")
AT_ONSTART = {"C10"}  # refused by the Snakefile's onstart hook (a real build), not at load
SLOW = AT_ONSTART | {  # through `snakemake` itself
    next(c[0] for c in CASES if c[0].rstrip("0123456789") == kind)
    for kind in {c[0].rstrip("0123456789") for c in CASES}
}


def refused_at_load(wf) -> str | None:
    """What planning the build refuses, as the Snakefile plans it: the message, or None."""
    here = os.getcwd()
    os.chdir(wf.root)
    try:
        load_build(load_config())
    except StillmakeError as exc:
        return str(exc)
    finally:
        os.chdir(here)
    return None


@pytest.mark.parametrize("case", CASES, ids=[c[0] for c in CASES])
def test_bad_input_is_refused_before_any_job(workflow, case):
    case_id, _where, _what, mutate, words = case
    mutate(workflow)
    message = refused_at_load(workflow)
    if case_id in AT_ONSTART:
        assert message is None
        return
    assert message is not None and words in message, message
    assert "\n" not in message, message


@pytest.mark.parametrize("case", [c for c in CASES if c[0] in SLOW], ids=lambda c: c[0])
def test_snakemake_stops_on_bad_input_and_writes_nothing(workflow, case):
    _id, _where, _what, mutate, words = case
    mutate(workflow)
    proc = workflow.snakemake(check=False, timeout=60)
    assert proc.returncode != 0
    one_line_refusal(proc, words)
    assert [o for o in OUTPUTS if workflow.path(f"runs/{o}").exists()] == []


def one_line_refusal(proc, words: str) -> None:
    """The refusal is one line, with no frames and nothing of Snakemake's around it (only
    the build's own header, where the refusal comes as the build starts)."""
    said = [
        line
        for line in proc.stderr.splitlines()
        if line.strip()
        and not line.startswith(PREAMBLE)
        and not (line.startswith("stillmake: ") and not line.startswith("stillmake: error: "))
    ]
    assert len(said) == 1, proc.stderr[-2000:]
    assert said[0].startswith("stillmake: error: ") and words in said[0], proc.stderr[-2000:]


def test_a_target_that_cannot_be_built_is_refused_in_one_line(workflow):
    """Refusals raised while Snakemake evaluates input functions (its
    InputFunctionException, with a traceback of its own) print as the message alone."""
    for target, case in (("finals", "RT1"), ("runs/edits/s3/step_5.png", "RT2")):
        words = next(row[3] for row in RUNTIME if row[0] == case)
        proc = workflow.snakemake(target, check=False, timeout=60)
        assert proc.returncode != 0
        one_line_refusal(proc, words)
        assert "Plain `snakemake` builds" in proc.stderr or case != "RT1"
        assert "`finals`" not in proc.stderr  # never the target that was just refused


def test_catalogue_page_lists_every_case():
    rows = dict(re.findall(r"^\| (\w+\d+) \| [^|]+ \| [^|]+ \| `([^`]*)`", CATALOGUE, re.M))
    assert len(CASES) >= 20
    for case_id, _where, _what, _mutate, words in CASES:
        assert case_id in rows, f"{PAGE} lacks row {case_id}"
        assert rows[case_id] == words, f"{PAGE} row {case_id} shows another message"


def test_catalogue_page_lists_every_runtime_fault_and_its_test_exists():
    rows = dict(re.findall(r"^\| (\w+\d+) \| [^|]+ \| [^|]+ \| `([^`]*)`", CATALOGUE, re.M))
    ids = [case[0] for case in CASES + RUNTIME]
    assert len(ids) == len(set(ids)), "catalogue ids repeat"
    for case_id, _where, _what, words, test in RUNTIME:
        assert rows.get(case_id) == words, f"{PAGE} row {case_id} missing or shows another message"
        file, _, name = test.partition("::")
        source = (REPO / file).read_text(encoding="utf-8")
        assert f"def {name}(" in source, f"{case_id}: no test {test}"
