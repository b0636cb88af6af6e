"""The catalogue of bad inputs the workflow rejects before writing anything.

Each case: (id, where, what is wrong, how to break a fresh copy, the words the
error must contain). test_bad_inputs.py runs every case through `snakemake`;
README.md's "Bad input" table lists the same ids (a test keeps them in sync).
"""

from __future__ import annotations

import json

from PIL import Image

PROMPTS = "runs/input/the_trace.image_prompts.refined.json"
SELECTIONS = "runs/input/selections.yaml"


def _prompts(fn):
    def mutate(wf):
        path = wf.path(PROMPTS)
        data = json.loads(path.read_text(encoding="utf-8"))
        fn(data)
        path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")

    return mutate


def _shot(i, **changes):
    def fn(data):
        data["shots"][i].update(changes)
        for k, v in list(data["shots"][i].items()):
            if v is None:
                del data["shots"][i][k]

    return _prompts(fn)


def _append(path, text):
    def mutate(wf):
        p = wf.path(path)
        p.write_text(p.read_text(encoding="utf-8") + text, encoding="utf-8")

    return mutate


def _write(path, text):
    return lambda wf: wf.path(path).write_text(text, encoding="utf-8")


def _selections(text):
    return _write(SELECTIONS, text)


def _mask_image(mode, fill):
    def mutate(wf):
        Image.new(mode, (64, 64), fill).save(wf.path("runs/input/masks/bad.png"))
        wf.path(SELECTIONS).write_text(
            "s2: {pick: 1, edits: [{change: x, mask: masks/bad.png}]}\n", encoding="utf-8"
        )

    return mutate


def _config(text):
    return _append("config.yaml", "\n" + text + "\n")


CASES = [
    # prompts file
    (
        "P1",
        "prompts",
        "broken JSON",
        _write(PROMPTS, '{"shots": [\n  {"id": "s1",}\n]}'),
        "broken JSON at line 2, column",
    ),
    (
        "P2",
        "prompts",
        "shot without prompt",
        _shot(2, prompt=None),
        "shot s3: missing required key 'prompt'",
    ),
    (
        "P3",
        "prompts",
        "empty prompt",
        _shot(1, prompt="  "),
        "shot s2, key 'prompt': must not be empty",
    ),
    (
        "P4",
        "prompts",
        "duplicate shot id",
        _shot(1, id="s1"),
        "shot s1, key 'id': shot id appears twice",
    ),
    (
        "P5",
        "prompts",
        "undefined character",
        _shot(0, characters=["mira"]),
        "shot s1, key 'characters': character 'mira' is not defined",
    ),
    ("P6", "prompts", "shot id unusable as a file name", _shot(0, id="shot 1"), "does not match"),
    (
        "P7",
        "prompts",
        "shot size the model does not take",
        _shot(3, size="1000x1000"),
        "shot s4, key 'size': model 'gpt-image-2.6-flare' does not take size '1000x1000': width "
        "and height must both be divisible by 16",
    ),
    (
        "P8",
        "prompts",
        "prompt of the wrong type",
        _shot(4, prompt=["a", "b"]),
        "shot s5, key 'prompt'",
    ),
    (
        "P9",
        "prompts",
        "prompts file missing",
        _config("prompts: runs/input/nope.json"),
        "nope.json: prompts file not found",
    ),
    # selections.yaml
    (
        "S1",
        "selections",
        "unknown shot id",
        _selections("s9: {pick: 1}\n"),
        "shot s9: unknown shot id",
    ),
    (
        "S2",
        "selections",
        "pick outside 1..n",
        _selections("s1: {pick: 5}\n"),
        "shot s1, key 'pick': pick 5 is outside 1..3",
    ),
    (
        "S3",
        "selections",
        "region outside [0, 1]",
        _selections("s1: {pick: 1, edits: [{change: x, region: [0.5, 0.1, 1.3, 0.4]}]}\n"),
        "key 'edits[1].region': region [0.5, 0.1, 1.3, 0.4] is outside [0, 1]",
    ),
    (
        "S4",
        "selections",
        "inverted region",
        _selections("s1: {pick: 1, edits: [{change: x, region: [0.8, 0.1, 0.2, 0.4]}]}\n"),
        "is empty or inverted",
    ),
    (
        "S5",
        "selections",
        "lock without a pick",
        _selections("s2: {lock: true}\n"),
        "shot s2, key 'lock': lock: true needs a pick first",
    ),
    (
        "S6",
        "selections",
        "edit step without a change",
        _selections("s1: {pick: 1, edits: [{keep: y}]}\n"),
        "missing required key 'change'",
    ),
    ("S7", "selections", "misspelt key", _selections("s1: {pik: 1}\n"), "'pik' was unexpected"),
    ("S8", "selections", "broken YAML", _selections("s1: [pick: 1\n"), "broken YAML"),
    # masks and references
    (
        "M1",
        "masks",
        "mask file missing",
        _selections("s1: {pick: 1, edits: [{change: x, mask: masks/none.png}]}\n"),
        "key 'edits[1].mask': mask file",
    ),
    (
        "M2",
        "masks",
        "mask is not a PNG",
        _selections(
            "s1: {pick: 1, edits: [{change: x, mask: the_trace.image_prompts.refined.json}]}\n"
        ),
        "is not a PNG",
    ),
    (
        "M3",
        "masks",
        "mask without alpha channel",
        _mask_image("RGB", (0, 0, 0)),
        "needs an alpha channel: transparent = editable",
    ),
    (
        "M4",
        "masks",
        "mask with nothing transparent",
        _mask_image("RGBA", (0, 0, 0, 255)),
        "marks nothing to edit",
    ),
    (
        "M5",
        "masks",
        "region and mask together",
        _selections(
            "s1: {pick: 1, edits: [{change: x, region: [0, 0, 1, 1], mask: masks/window.png}]}\n"
        ),
        "give either region or mask, not both",
    ),
    (
        "M6",
        "masks",
        "step reference image missing",
        _selections("s1: {pick: 1, edits: [{change: x, refs: [refs/gone.png]}]}\n"),
        "key 'edits[1].refs': reference image",
    ),
    # config
    (
        "C1",
        "config",
        "retired model gpt-image-1",
        _config("model: gpt-image-1"),
        "model 'gpt-image-1' was shut down on 2026-10-23; use 'gpt-image-2.6-sunburst'",
    ),
    (
        "C2",
        "config",
        "retired model dall-e-3",
        _config("model: dall-e-3"),
        "was shut down on 2026-05-12",
    ),
    ("C3", "config", "unknown model", _config("model: gpt-image-9"), "unknown model 'gpt-image-9'"),
    (
        "C4",
        "config",
        "draft size the model does not take",
        _config("draft: {size: 512x512}"),
        "key 'draft.size': model 'gpt-image-2.6-sunburst' does not take size '512x512' (draft "
        "pass): at least 655,360 pixels are needed",
    ),
    (
        "C5",
        "config",
        "high quality drafts (no shortlist yet)",
        _config("draft: {quality: high}"),
        "against the playbook (no high quality before a shortlist)",
    ),
    (
        "C6",
        "config",
        "final size auto",
        _config("final: {size: auto}"),
        "finals need one fixed size",
    ),
    (
        "C7",
        "config",
        "unknown backend",
        _config("backend: midjourney"),
        "'midjourney' is not one of",
    ),
    (
        "C8",
        "config",
        "API key written into config",
        _config("openai: {api_key: sk-nope}"),
        "'api_key' was unexpected",
    ),
    ("C9", "config", "negative budget", _config("budget_usd: -1"), "less than the minimum of 0"),
    (
        "C10",
        "config",
        "backend openai without OPENAI_API_KEY",
        _config("backend: openai"),
        "backend 'openai' needs an API key: export OPENAI_API_KEY",
    ),
    (
        "C11",
        "config",
        "final size wider than 3:1",
        _config("final: {size: 3840x1024}"),
        "key 'final.size': model 'gpt-image-2.6-sunburst' does not take size '3840x1024' (final "
        "pass): the aspect ratio must be between 1:3 and 3:1",
    ),
    (
        "C12",
        "config",
        "final size over 3840x2160",
        _config("final: {size: 4096x2304}"),
        "the largest size is 3840x2160",
    ),
    (
        "C13",
        "config",
        "quality the pass's model does not take",
        _config("final: {model: gpt-image-2, quality: xhigh}"),
        "key 'final.quality': model 'gpt-image-2' does not take quality 'xhigh' (final pass)",
    ),
    (
        "C14",
        "config",
        "complexity on a model without it",
        _config("edit: {model: gpt-image-2.5-sunburst, complexity: high}"),
        "key 'edit.complexity': model 'gpt-image-2.5-sunburst' does not take complexity",
    ),
    (
        "C15",
        "config",
        "a pass's model unknown",
        _config("draft: {model: gpt-image-2.7-flare}"),
        "key 'draft.model': unknown model 'gpt-image-2.7-flare'",
    ),
    # -- selections and prompts files (issue 14) --
    # -- call path and API answers (issue 14) --
    # -- rebuilds, limits and quality (issue 14) --
]

# Faults met while a build or a command runs, not before: each row names the test that
# provokes it (file::function) and the words the user is shown. README's "Faults at run
# time" table lists the same ids; tests/test_bad_inputs.py keeps them in sync.
# (id, where, what goes wrong, the words the message must contain, "tests/file.py::test")
RUNTIME = [
    # -- selections and prompts files (issue 14) --
    # -- ledger and reservations (issue 14) --
    # -- call path and API answers (issue 14) --
    # -- rebuilds, limits and quality (issue 14) --
]

# CLI arguments are catalogued in tests/test_selections_cli.py::test_cli_rejects_bad_arguments
# and tests/test_check_cli.py (exit status 2 for usage errors, 1 for refused actions).
