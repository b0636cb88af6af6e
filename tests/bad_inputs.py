"""The catalogue of bad inputs the workflow rejects before writing anything.

Each case: (id, where, what is wrong, how to break a fresh copy, the words the
error must contain). test_bad_inputs.py runs every case through `snakemake`;
docs/bad-input.md's "Bad input" table lists the same ids (a test keeps them in sync).
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


def bomb_png(path, side=20000) -> None:
    """A 1-bit PNG claiming side x side pixels: some 48 KB on disk, gigabytes decoded
    (past Pillow's decompression-bomb limit)."""
    import struct
    import zlib

    row = b"\0" + b"\0" * (side // 8)
    z = zlib.compressobj(9)
    idat = b"".join(z.compress(row) for _ in range(side)) + z.flush()

    def chunk(kind, data):
        crc = zlib.crc32(kind + data) & 0xFFFFFFFF
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", crc)

    head = struct.pack(">IIBBBBB", side, side, 1, 0, 0, 0, 0)
    path.write_bytes(
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", head) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def _linked_out(folder, selections):
    """A file outside the workflow, named from inside it through a symlink in `folder`."""

    def mutate(wf):
        outside = wf.root.parent / "elsewhere.png"
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)).save(outside)
        (wf.path(f"runs/input/{folder}") / "elsewhere.png").symlink_to(outside)
        wf.path(SELECTIONS).write_text(selections, encoding="utf-8")

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
    (
        "S7",
        "selections",
        "misspelt key",
        _selections("s1: {pik: 1}\n"),
        "runs/input/selections.yaml:1, shot s1: unknown key 'pik'; did you mean 'pick'?",
    ),
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
        "key 'openai': unknown key 'api_key': the API key is read from the environment only",
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
    # -- vision critique (issue 12) --
    (
        "C16",
        "config",
        "critique by an image model",
        _config("critique: {enabled: true, model: gpt-image-2}"),
        "key 'critique.model': model 'gpt-image-2' cannot critique: it makes images",
    ),
    (
        "C17",
        "config",
        "a vision model making images",
        _config("draft: {model: gpt-6.1-terra}"),
        "key 'draft.model': model 'gpt-6.1-terra' is a vision model: it judges images",
    ),
    # -- identity (issue 12) --
    (
        "C18",
        "config",
        "identity threshold that is not a number",
        _config("quality: {default: {identity: {warn: close, fail: 0.6}}}"),
        "key 'quality.default.identity.warn': 'close' is text where a number belongs",
    ),
    # -- the budget is a number or refused (issue 20) --
    (
        "C19",
        "config",
        "budget left empty (no ceiling only by `unlimited`)",
        _config("budget_usd:"),
        "config.yaml, key 'budget_usd': empty",
    ),
    ("C20", "config", "budget NaN", _config("budget_usd: .nan"), "nan is not a finite number"),
    # -- selections and prompts files (issue 14) --
    (
        "S9",
        "selections",
        "a shot written twice (YAML keeps the last)",
        _selections("s1: {pick: 1}\ns3: {pick: 2, lock: true}\ns3: {reroll: 1}\n"),
        "shot s3: key 's3' appears twice (lines 2 and 3)",
    ),
    (
        "S10",
        "selections",
        "a key written twice inside one shot",
        _selections("s3:\n  pick: 2\n  lock: true\n  pick: 3\n"),
        "shot s3, key 'pick': appears twice (lines 2 and 4)",
    ),
    (
        "S11",
        "selections",
        "pick that is not a whole number",
        _selections("s1: {pick: 2.0}\n"),
        "runs/input/selections.yaml:1, shot s1, key 'pick': 2.0 is not a whole number: write 2",
    ),
    # -- a slip of the keyboard: named with its line and the likely fix (issue 24) --
    (
        "S25",
        "selections",
        "a key without its colon (pick 1)",
        _selections("s1: {pick: 2}\ns2:\n  pick 1\n"),
        "runs/input/selections.yaml:3, shot s2: 'pick 1' is a line of text, not key: value: "
        "write 'pick: 1' (a colon and a space after the key)",
    ),
    (
        "S26",
        "selections",
        "a number in quotes",
        _selections('s1: {pick: "2"}\n'),
        "runs/input/selections.yaml:1, shot s1, key 'pick': '2' is text (in quotes), not a "
        "number: write 2",
    ),
    (
        "S12",
        "selections",
        "a list instead of a mapping",
        _selections("- s1\n- s2\n"),
        "must be a mapping of shot ids to decisions",
    ),
    (
        "S13",
        "selections",
        "a line of text instead of a mapping",
        _selections("pick s1 2\n"),
        "not the text 'pick s1 2'",
    ),
    (
        "S14",
        "selections",
        "selections path is a directory",
        _config("selections: runs/input/refs"),
        "runs/input/refs: is a directory, not a file",
    ),
    (
        "S15",
        "selections",
        "not UTF-8",
        lambda wf: wf.path(SELECTIONS).write_bytes(b"s1: {pick: 1}   # caf\xe9\n"),
        "selections.yaml: not UTF-8 text (line 1, byte 21)",
    ),
    (
        "S16",
        "selections",
        "aliases that expand a billion times (billion laughs)",
        _selections(
            "l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
            + "".join(f"l{i}: &l{i} [{', '.join([f'*l{i - 1}'] * 10)}]\n" for i in range(1, 9))
            + "s1: {pick: 1, edits: [{change: x, refs: *l8}]}\n"
        ),
        "aliases expand to more than 100,000 values",
    ),
    (
        "S17",
        "selections",
        "nesting 100,000 levels deep",
        _selections("s1: {pick: 1, edits: " + "[" * 100_000 + "]" * 100_000 + "}\n"),
        "nested more than 64 levels deep (line 1)",
    ),
    (
        "S18",
        "selections",
        "step reference outside the workflow",
        _selections(
            "s1: {pick: 1, edits: [{change: x, refs: "
            "[../../../../../../../../../../../../etc/passwd]}]}\n"
        ),
        "key 'edits[1].refs': reference image "
        "'../../../../../../../../../../../../etc/passwd' (/etc/passwd) is "
        "outside the workflow directory",
    ),
    (
        "S19",
        "selections",
        "step reference is a directory",
        _selections("s1: {pick: 1, edits: [{change: x, refs: [refs]}]}\n"),
        "key 'edits[1].refs': reference image runs/input/refs is a directory, not an image",
    ),
    (
        "S20",
        "selections",
        "step reference is not an image",
        _selections(
            "s1: {pick: 1, edits: [{change: x, refs: [the_trace.image_prompts.refined.json]}]}\n"
        ),
        "image runs/input/the_trace.image_prompts.refined.json is not a PNG, JPEG or WebP image",
    ),
    (
        "S21",
        "selections",
        "mask outside the workflow",
        lambda wf: (
            Image.new("RGBA", (8, 8)).save(wf.root.parent / "outside.png"),
            _selections("s1: {pick: 1, edits: [{change: x, mask: ../../../outside.png}]}\n")(wf),
        ),
        "key 'edits[1].mask': mask file '../../../outside.png'",
    ),
    (
        "S22",
        "selections",
        "a value YAML cannot read (a date that is none)",
        _selections("s1: {pick: 1, drafts: 2024-13-45}\n"),
        "shot s1, key 'drafts': cannot read a value on line 1 (month must be in 1..12)",
    ),
    (
        "P10",
        "prompts",
        "prompts path is a directory",
        _config("prompts: runs/input"),
        "runs/input: is a directory, not a file",
    ),
    (
        "P11",
        "prompts",
        "not UTF-8",
        lambda wf: wf.path(PROMPTS).write_bytes(b'{"shots": [{"id": "s1", "prompt": "caf\xe9"}]}'),
        "not UTF-8 text (line 1, byte 38)",
    ),
    (
        "P12",
        "prompts",
        "a key written twice inside one shot",
        lambda wf: wf.path(PROMPTS).write_text(
            wf.path(PROMPTS)
            .read_text(encoding="utf-8")
            .replace('"id": "s2",', '"id": "s2", "prompt": "an earlier prompt",', 1),
            encoding="utf-8",
        ),
        "shot s2, key 'prompt': appears twice (lines 33 and",
    ),
    (
        "P13",
        "prompts",
        "nesting 100,000 levels deep",
        _write(PROMPTS, '{"shots": ' + "[" * 100_000 + "]" * 100_000 + "}"),
        "nested too deeply for a prompts file",
    ),
    # -- call path and API answers (issue 14) --
    (
        "A1",
        "prompts",
        "character reference is not an image",
        _write("runs/input/refs/leyla_ref.png", "not an image\n"),
        "runs/input/the_trace.image_prompts.refined.json, key 'characters.leyla.refs': reference "
        "image runs/input/refs/leyla_ref.png is not a PNG, JPEG or WebP image",
    ),
    (
        "A2",
        "prompts",
        "character reference PNG cut short",
        lambda wf: wf.path("runs/input/refs/leyla_ref.png").write_bytes(
            wf.path("runs/input/refs/leyla_ref.png").read_bytes()[:3000]
        ),
        "key 'characters.leyla.refs': reference image runs/input/refs/leyla_ref.png is not a "
        "whole image",
    ),
    # -- rebuilds, limits and quality (issue 14) --
    (
        "L1",
        "prompts",
        "prompt over 32,000 characters as sent",
        _shot(1, prompt="Leyla waits by the sink. " * 1300),
        "shot s2, key 'prompt': the Images API takes prompts of at most 32,000 characters; "
        "the draft prompt as sent is",
    ),
    (
        "L2",
        "selections",
        "edit step sending more than 16 images",
        _selections(
            "s1: {pick: 1, edits: [{change: x, refs: ["
            + ", ".join(["refs/leyla_ref.png"] * 16)
            + "]}]}\n"
        ),
        "shot s1, key 'edits[1].refs': images.edit takes at most 16 images; this step would "
        "send 18",
    ),
    (
        "L3",
        "masks",
        "mask over 4 MB as sent",
        lambda wf: (
            Image.frombytes(  # 16:9, the drafts' aspect: refused for its size alone
                "RGBA", (1600, 900), __import__("random").Random(14).randbytes(5_760_000)
            ).save(wf.path("runs/input/masks/noise.png")),
            _selections("s2: {pick: 1, edits: [{change: x, mask: masks/noise.png}]}\n")(wf),
        ),
        "shot s2, key 'edits[1].mask': the Images API takes masks under 4 MB",
    ),
    (
        "L4",
        "prompts",
        "final sending more than 16 images (characters)",
        _prompts(
            lambda d: (
                d["characters"].update(
                    {
                        f"c{i}": {"description": "x", "refs": ["refs/leyla_ref.png"]}
                        for i in range(16)
                    }
                ),
                d["shots"][1].update(characters=[f"c{i}" for i in range(16)]),
            )
        ),
        "shot s2, key 'characters': images.edit takes at most 16 images; the final would send 17",
    ),
    (
        "L5",
        "selections",
        "edit step prompt over 32,000 characters",
        _selections("s1: {pick: 1, edits: [{change: '" + "paint it over " * 2400 + "'}]}\n"),
        "shot s1, key 'edits[1].change': the Images API takes prompts of at most 32,000 "
        "characters; the edit step 1 prompt as sent is",
    ),
    # -- approval (issue 19) --
    (
        "S27",
        "selections",
        "lock fingerprint that is not hex",
        _selections("s1: {pick: 1, lock: not-a-print}\n"),
        "shot s1, key 'lock': 'not-a-print' is not a fingerprint",
    ),
    (
        "S28",
        "selections",
        "drafts fingerprint that is not hex",
        _selections("s1: {pick: 1, drafts: 9f2c1g}\n"),
        "shot s1, key 'drafts': '9f2c1g' is not a fingerprint",
    ),
    (
        "S29",
        "selections",
        "lock fingerprint on a shot without a pick",
        _selections("s2: {lock: 3fa9c2e1b0d4}\n"),
        "shot s2, key 'lock': lock: 3fa9c2e1b0d4 needs a pick first",
    ),
    (
        "S30",
        "selections",
        "waiver of a check the gate does not have",
        _selections("s1: {pick: 1, waive: {clipped_highlights: the practical blooms}}\n"),
        "shot s1, key 'waive.clipped_highlights': 'clipped_highlights' is not a gate check",
    ),
    (
        "S31",
        "selections",
        "waiver without a reason",
        _selections("s1: {pick: 1, waive: {highlight_clip: ''}}\n"),
        "shot s1, key 'waive.highlight_clip': say why the highlight_clip fail is accepted",
    ),
    (
        "S32",
        "selections",
        "waiver on an unknown shot",
        _selections("s9: {waive: {highlight_clip: the practical blooms}}\n"),
        "shot s9: unknown shot id",
    ),
]

# -- the decisions file and the review board (issue 22) --
CASES += [
    (
        "P14",
        "prompts",
        "shot id that would write the manifest's own file",
        _shot(1, id="manifest"),
        "shot manifest, key 'id': shot id 'manifest' would write runs/final/manifest.json, "
        "which is the build's own file: rename the shot",
    ),
    (
        "P15",
        "prompts",
        "shot id that would write the quality gate's file",
        _shot(1, id="gate"),
        "shot gate, key 'id': shot id 'gate' would write runs/final/gate.json",
    ),
    (
        "S23",
        "selections",
        "step reference: a symlink inside the workflow to a file outside it",
        _linked_out("refs", "s2: {pick: 1, edits: [{change: x, refs: [refs/elsewhere.png]}]}\n"),
        "through a symlink: copy it into the workflow (e.g. runs/input/refs/) and name it "
        "from there",
    ),
    (
        "S24",
        "selections",
        "mask: a symlink inside the workflow to a file outside it",
        _linked_out("masks", "s2: {pick: 1, edits: [{change: x, mask: masks/elsewhere.png}]}\n"),
        "through a symlink: copy it into the workflow (e.g. runs/input/masks/)",
    ),
    (
        "M7",
        "masks",
        "mask past the decompression-bomb limit (48 KB, 20000x20000)",
        lambda wf: (
            bomb_png(wf.path("runs/input/masks/bomb.png")),
            _selections("s2: {pick: 1, edits: [{change: x, mask: masks/bomb.png}]}\n")(wf),
        ),
        "key 'edits[1].mask': mask file runs/input/masks/bomb.png is 20000x20000 "
        "(400,000,000 pixels), more than the 89,478,485 stillmake decodes",
    ),
    (
        "A3",
        "prompts",
        "character reference past the decompression-bomb limit",
        lambda wf: bomb_png(wf.path("runs/input/refs/leyla_ref.png")),
        "key 'characters.leyla.refs': reference image runs/input/refs/leyla_ref.png is "
        "20000x20000 (400,000,000 pixels), more than the",
    ),
]

# Faults met while a build or a command runs, not before: each row names the test that
# provokes it (file::function) and the words the user is shown. docs/bad-input.md's
# "Faults at run time" table lists the same ids; tests/workflow/test_bad_inputs.py keeps
# them in sync.
# (id, where, what goes wrong, the words the message must contain, "tests/file.py::test")
E2E = "tests/workflow/test_approval_e2e.py::test_money_follows_an_approval_of_what_was_seen"
RUNTIME = [
    # -- vision critique (issue 12) --
    (
        "RC1",
        "critique",
        "the model refuses or answers off the schema (after retries): recorded, the review goes on",
        "critique failed: the model refused to critique",
        "tests/workflow/test_critique_e2e.py::test_failed_critique_is_recorded_not_fatal_unless_blocking",
    ),
    (
        "RC2",
        "critique",
        "the same with `critique.blocking: true`: the review job fails",
        "critique of draft 1 (blocking): the model refused to critique",
        "tests/workflow/test_critique_e2e.py::test_failed_critique_is_recorded_not_fatal_unless_blocking",
    ),
    # -- selections and prompts files (issue 14) --
    (
        "RS1",
        "selections",
        "an edit whose result would not load (e.g. a pick removed meanwhile): refused",
        "lock: true needs a pick first (stillmake pick SHOT K); nothing was written",
        "tests/inputs/test_selections_safety.py::test_refused_update_writes_nothing",
    ),
    (
        "RS2",
        "selections",
        "selections.yaml keeps changing under a stillmake edit (an editor saving)",
        "kept changing while stillmake was updating it; try again",
        "tests/inputs/test_selections_safety.py::test_file_that_keeps_changing_is_not_overwritten",
    ),
    # -- the review board (issue 11) --
    (
        "RS3",
        "selections",
        "a review board click on a shot whose decisions changed on disk since the page read them",
        "since this page read it (by hand, by a stillmake command or from another tab); "
        "nothing was written",
        "tests/board/test_board_api.py::test_the_file_on_disk_wins_over_a_stale_page",
    ),
    (
        "RS4",
        "drafts",
        "a review board pick on drafts rebuilt since the page showed them",
        "changed since they were shown",
        "tests/board/test_board_api.py::test_the_file_on_disk_wins_over_a_stale_page",
    ),
    # -- ledger and reservations (issue 14) --
    (
        "RL1",
        "ledger",
        "last line of runs/ledger.jsonl torn by a crash or a full disk (the build goes on)",
        "runs/ledger.jsonl line 2: torn",
        "tests/api/test_ledger_safety.py::test_build_against_the_api_goes_on_past_a_torn_ledger",
    ),
    (
        "RL2",
        "ledger",
        "torn line further up the ledger (status and plan name it)",
        "line 2: torn (a write cut short by a crash or a full disk), skipped",
        "tests/api/test_ledger_safety.py::test_status_and_plan_warn_about_a_torn_line_with_its_number",
    ),
    (
        "RL3",
        "ledger",
        "ledger cannot be written (disk full)",
        "No space left on device. Free the disk or fix the permissions, then run again",
        "tests/api/test_ledger_safety.py::test_a_write_that_fails_says_so_in_one_line",
    ),
    (
        "RL4",
        "reservations",
        "budget refused while requests are in flight",
        "If a request in flight is not running any more (a killed build)",
        "tests/api/test_ledger_safety.py::test_budget_refusal_names_what_is_in_flight_and_how_to_clear_it",
    ),
    (
        "RL5",
        "reservations",
        "leftover reservation whose pid another process now has (PID 1 in a container)",
        "pid reused",
        "tests/api/test_ledger_safety.py::test_status_and_plan_list_reservations_in_flight",
    ),
    (
        "RL6",
        "reservations",
        "release of a reservation made on another host",
        "which cannot be checked from here; if that request is not running there",
        "tests/api/test_ledger_safety.py::test_release_clears_stale_reservations_and_refuses_live_ones",
    ),
    (
        "RL7",
        "reservations",
        "release of a reservation whose process is running",
        "which is still running (a build in progress?)",
        "tests/api/test_ledger_safety.py::test_release_clears_stale_reservations_and_refuses_live_ones",
    ),
    (
        "RL8",
        "reservations",
        "plan while budget is held in flight",
        "for what is in flight",
        "tests/api/test_ledger_safety.py::test_plan_counts_the_budget_held_in_flight",
    ),
    # -- call path and API answers (issue 14) --
    (
        "RA1",
        "API answer",
        "a JPEG instead of the PNG asked for (after the retries)",
        "is a JPEG image, not the PNG asked for",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA2",
        "API answer",
        "an image at another size than asked",
        "is 768x432, not the 1536x864 asked for",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA3",
        "API answer",
        "a truncated PNG",
        "in the API's answer does not decode",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA4",
        "API answer",
        "base64 that does not decode",
        "in the API's answer is not valid base64",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA5",
        "API answer",
        "a 200 whose body is not JSON",
        "the API's answer is not valid JSON",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA6",
        "API answer",
        "fewer images than asked for",
        "asked for 2 images, got 1",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA7",
        "API answer",
        "every attempt fails",
        "gave up after 3 attempts (openai.max_retries: 2)",
        "tests/api/test_answers.py::test_bad_answers_exhaust_retries_into_one_clear_line",
    ),
    (
        "RA8",
        "API answer",
        "a 200 without usage (billed at the estimate, the ledger says so)",
        "estimate (no usage in the response)",
        "tests/api/test_answers.py::test_answer_without_usage_is_billed_at_the_estimate",
    ),
    (
        "RA9",
        "cache",
        "truncated or corrupt cache entry (moved aside, asked for again)",
        "moved aside to runs/cache/.corrupt/",
        "tests/api/test_answers.py::test_corrupt_cache_entry_is_moved_aside_and_fetched_again",
    ),
    (
        "RA10",
        "sidecar",
        "truncated sidecar beside a draft",
        "sidecar is truncated or corrupt",
        "tests/api/test_answers.py::test_truncated_draft_or_sidecar_names_itself_and_the_command",
    ),
    (
        "RA11",
        "drafts",
        "truncated draft image",
        "image is truncated or corrupt",
        "tests/api/test_answers.py::test_truncated_draft_or_sidecar_names_itself_and_the_command",
    ),
    (
        "RA12",
        "config",
        "base URL where nothing answers",
        "cannot reach the API at",
        "tests/api/test_answers.py::test_unreachable_base_url_is_one_line_naming_the_url_and_the_setting",
    ),
    (
        "RA13",
        "cache",
        "the cache cannot be written (disk full): the spend is still in the ledger",
        "could not be kept in runs/cache/: No space left on device",
        "tests/api/test_answers.py::test_an_answer_the_cache_cannot_keep_is_still_in_the_ledger",
    ),
    (
        "RA14",
        "outputs",
        "an image or sidecar cannot be written (disk full)",
        "answers already paid for come from runs/cache/ at $0",
        "tests/api/test_answers.py::test_an_image_that_cannot_be_written_is_one_line",
    ),
    # -- money: billed means counted, the ceiling stays on, stop means stop (issue 20) --
    (
        "RM1",
        "API answer",
        "answers the check refused were billed: their bills are in the line's cost_usd, "
        "itemised in retries[] (on failed lines too)",
        "of it for refused answers",
        "tests/api/test_answers.py::test_two_refused_answers_then_a_good_one_are_three_bills_on_one_line",
    ),
    (
        "RM2",
        "budget",
        "another attempt after billed refusals would cross budget_usd: refused before it is sent",
        "another attempt would cost",
        "tests/api/test_answers.py::test_refused_answers_count_against_the_budget_before_a_retry",
    ),
    (
        "RM3",
        "reservations",
        "kill -9 with requests in flight: they stay counted as unsettled (summary, status, plan)",
        "count as spent until settled",
        "tests/api/test_faults_e2e.py::test_kill_9_mid_build_then_resume",
    ),
    (
        "RM4",
        "reservations",
        "`stillmake release --stale` on an unsettled reservation: says what either answer costs",
        "lowers the spend total by",
        "tests/api/test_ledger_safety.py::test_status_plan_and_release_show_and_settle_an_unsettled_request",
    ),
    (
        "RM5",
        "ledger",
        "a NaN, negative or non-numeric figure in the ledger: refused by line number, never summed",
        "cost_usd is NaN, which is not a bill",
        "tests/api/test_ledger_safety.py::test_a_bad_figure_cannot_switch_the_budget_off_in_a_build",
    ),
    (
        "RM6",
        "config",
        "`snakemake --config budget_usd=` (an unset shell variable)",
        "key 'budget_usd': empty (an unset shell variable",
        "tests/api/test_ledger_safety.py::test_an_empty_budget_on_the_command_line_stops_the_build",
    ),
    (
        "RM7",
        "ledger",
        "runs/ledger.jsonl deleted, replaced or cut short during a build",
        "while a build was writing it",
        "tests/api/test_faults_e2e.py::test_a_ledger_deleted_during_a_build_stops_paid_requests_not_the_count",
    ),
    (
        "RM8",
        "cache",
        "two cache entries swapped (or one edited) on disk: moved aside, asked for again",
        "it holds the answer to request",
        "tests/api/test_answers.py::test_swapped_cache_entries_are_moved_aside_never_served",
    ),
    (
        "RM9",
        "build",
        "SIGTERM or SIGINT while a job waits (rate limiter, its window stamped an hour ahead; "
        "back-off; another job's request)",
        "stopped by SIGTERM while waiting",
        "tests/api/test_faults_e2e.py::test_a_signal_ends_a_waiting_job_at_once_and_sends_nothing",
    ),
    # -- rebuilds, limits and quality (issue 14) --
    (
        "RB1",
        "drafts",
        "a draft retouched by hand after its pick: the pick is stale",
        "runs/drafts/s3/draft_3.png changed since it was drafted",
        "tests/workflow/test_rebuild_truth.py::test_hand_retouched_draft_makes_the_pick_stale",
    ),
    (
        "RB2",
        "build",
        "a job the user's input stopped (moderation) printed as a stack",
        "s4 draft failed: moderation refused the request",
        "tests/workflow/test_rebuild_truth.py::test_moderation_refusal_reads_as_one_line",
    ),
    # -- identity (issue 12) --
    (
        "RI1",
        "drafts",
        "no face found in a draft of a shot with a character: a warning, never a crash",
        "nurse: no face found",
        "tests/workflow/test_identity_build.py::test_a_changed_reference_rebuilds_only_its_characters_reviews",
    ),
    (
        "RI2",
        "prompts",
        "a character reference that shows no face: identity not measured, said on every draft",
        "leyla: identity not measured: reference runs/input/refs/leyla_ref.png shows no face",
        "tests/workflow/test_identity_build.py::test_a_changed_reference_rebuilds_only_its_characters_reviews",
    ),
    (
        "RI3",
        "edits",
        "an edit step on a pick that fails the gate, with edit.refuse_weak: true: refused",
        "fails the gate (",
        "tests/artifacts/test_identity.py::test_edits_on_a_weak_pick_warn_or_are_refused_and_record_face_drift",
    ),
    # -- a target that cannot be built yet, refused in one line (issue 24) --
    (
        "RT1",
        "target",
        "`snakemake finals` with shots not locked: which cause holds for each, what builds now",
        "s2 is picked, not locked (stillmake lock s2 approves it); s4 has no pick",
        "tests/workflow/test_bad_inputs.py::test_a_target_that_cannot_be_built_is_refused_in_one_line",
    ),
    (
        "RT2",
        "target",
        "an edit step file the selections do not declare",
        "shot s3 has no edit step 5: runs/input/selections.yaml declares steps 1..2",
        "tests/workflow/test_bad_inputs.py::test_a_target_that_cannot_be_built_is_refused_in_one_line",
    ),
]

# -- the decisions file and the review board (issue 22) --
KEPT = "tests/decisions/test_decisions_kept.py::"
DISK = "tests/decisions/test_full_disk.py::"
BOARD = "tests/board/test_board_api.py::"
RUNTIME += [
    (
        "RS5",
        "selections",
        "selections.yaml is read-only (mode 0444): not rewritten",
        "is read-only (mode 0444); nothing was written: make it writable",
        KEPT + "test_a_read_only_file_is_not_rewritten",
    ),
    (
        "RS6",
        "selections",
        "another program keeps writing selections.yaml in place",
        "is being written by another program (it kept changing for",
        KEPT + "test_a_file_that_never_stops_being_written_is_refused",
    ),
    (
        "RS7",
        "selections",
        "a full disk during `stillmake pick` (or any decision)",
        "cannot keep the version it replaces in runs/input/.selections.yaml.history/ (No space "
        "left on device); nothing was written",
        DISK + "test_a_pick_on_a_full_disk_is_one_line_and_writes_nothing",
    ),
    (
        "RS8",
        "selections",
        "runs/input/ read-only: the lock beside selections.yaml cannot be made",
        "cannot lock runs/input/selections.yaml for writing",
        DISK + "test_a_read_only_input_folder_is_one_line",
    ),
    (
        "RS9",
        "selections",
        "`stillmake history --restore N` of a version the build would refuse now",
        "shot s9: unknown shot id (the prompts file has s1, s2, s3, s4, s5); nothing was written",
        KEPT + "test_restore_is_checked_and_works_on_a_broken_file",
    ),
    (
        "RF1",
        "review sheet",
        "a full disk while the review-sheet job writes",
        "s3 review failed: cannot write runs/review/s3.",
        DISK + "test_a_job_on_a_full_disk_is_one_line",
    ),
    (
        "RF2",
        "manifest",
        "a full disk while the manifest job writes",
        "manifest failed: cannot write runs/final/",
        DISK + "test_a_job_on_a_full_disk_is_one_line",
    ),
    (
        "RW1",
        "review board",
        "a board click on a full disk (HTTP 400, the page shows it)",
        "cannot keep the version it replaces",
        DISK + "test_a_board_click_on_a_full_disk_is_one_line",
    ),
    (
        "RW2",
        "review board",
        "another local account connects (with or without the token): HTTP 403, nothing served",
        "this review board belongs to another account; it serves no other",
        BOARD + "test_another_account_gets_nothing_even_with_the_token",
    ),
    (
        "RW3",
        "review board",
        "a browser without the session the printed URL's token sets: HTTP 403",
        "printed (it carries this board's token) in this browser",
        BOARD + "test_nothing_is_served_without_the_session_the_printed_url_sets",
    ),
    (
        "RW4",
        "review board",
        "a request body over the action's size (HTTP 413) or nested too deep (HTTP 400)",
        "a lock request is at most 65,536 bytes",
        BOARD + "test_oversized_or_deep_bodies_are_refused_in_words",
    ),
    (
        "RW5",
        "review board",
        "an edit step the build would refuse (a 40,000-character change): refused at the click",
        "the Images API takes prompts of at most 32,000 characters",
        BOARD + "test_a_change_the_build_would_refuse_is_refused_at_the_click",
    ),
    (
        "RW6",
        "review board",
        "an image under runs/ past the bomb limit: a placeholder naming it, never decoded",
        "more than the 89,478,485 stillmake decodes",
        BOARD + "test_an_image_past_the_bomb_limit_is_a_placeholder_naming_it",
    ),
    (
        "RK1",
        "check",
        "`stillmake check` on a 48 KB PNG claiming 20000x20000 pixels",
        "is 20000x20000 (400,000,000 pixels), more than the 89,478,485 stillmake decodes: "
        "not checked",
        "tests/cli/test_check_cli.py::test_an_image_past_the_bomb_limit_is_refused_in_one_line",
    ),
    # -- approval (issue 19) --
    (
        "RP1",
        "approval",
        "a hand-typed `lock: true` on the API: no final; the build names the file to look at",
        "approves no particular image on the openai backend",
        E2E,
    ),
    (
        "RP2",
        "approval",
        "a lock whose candidate changed (a new pick): no final; asked for by name, it refuses",
        "the lock approved candidate",
        E2E,
    ),
    (
        "RP3",
        "approval",
        "`stillmake lock` on a candidate that fails the gate without a waiver",
        "fails the gate: sharpness",
        E2E,
    ),
    (
        "RP4",
        "approval",
        "`stillmake lock` before the candidate is built",
        "is not built yet: run",
        "tests/planner/test_approval.py::test_lock_refuses_what_nobody_could_have_seen",
    ),
    (
        "RP5",
        "approval",
        "`stillmake lock` on a candidate a new pick or edit makes out of date",
        "is out of date (a new pick)",
        "tests/planner/test_approval.py::test_lock_refuses_what_nobody_could_have_seen",
    ),
    (
        "RP6",
        "approval",
        "`snakemake finals` while a locked shot awaits approval",
        "target 'finals' needs approved candidates",
        "tests/planner/test_approval.py::test_lock_refuses_what_nobody_could_have_seen",
    ),
    (
        "RP7",
        "approval",
        "a waiver of a check the candidate does not fail: kept, shown as unused",
        "unused for now: its candidate does not fail",
        "tests/planner/test_approval.py::test_waivers_are_kept_used_or_not",
    ),
    (
        "RP8",
        "approval",
        "a review board Lock on a candidate rebuilt since the page showed it",
        "changed since it was shown",
        "tests/board/test_board_api.py::test_lock_approves_the_candidate_the_page_shows",
    ),
]

# CLI arguments are catalogued in tests/cli/test_selections_cli.py::test_cli_rejects_bad_arguments
# and tests/cli/test_check_cli.py (exit status 2 for usage errors, 1 for refused actions).
