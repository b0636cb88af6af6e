"""Contact sheets: a shot's drafts side by side, numbered, with their quality flags
(and, with the opt-in critique, a vision model's verdicts under them)."""

from __future__ import annotations

import io
import os
from collections.abc import Iterable, Sequence
from typing import TypedDict

from PIL import Image, ImageDraw, ImageFont

COLOURS = {
    "pass": (60, 170, 90),
    "warn": (235, 170, 40),
    "fail": (220, 50, 50),
    "note": (110, 110, 120),  # not a judgement: "picked", "identity not measured (preview)"
}
BG, FG, MUTED = (24, 24, 28), (236, 236, 236), (160, 160, 168)
# what a measure read is shown even when it passes: the reading is what the eye checks
READINGS = {"identity", "skin_hue", "wardrobe", "highlight_detail", "practical_separation"}

Source = bytes | bytearray | str | os.PathLike[str]  # an image: its bytes, or its file
RGB = tuple[int, int, int]
TextLine = tuple[tuple[RGB, str | None], str]  # (colour, level dot or None), text


class Line(TypedDict):
    """A line under a thumbnail: a flag (quality.FlagJson: its `metric` decides whether
    a pass is shown), or a note ("picked", "rejected: why") at level "note"."""

    level: str  # pass | warn | fail | note
    message: str


class Note(TypedDict):
    """A critique's line (rubric.verdict_lines): level None for a heading (no dot)."""

    level: str | None
    message: str


def _open(src: Source) -> Image.Image:
    with Image.open(io.BytesIO(src) if isinstance(src, (bytes, bytearray)) else src) as im:
        im.draft("RGB", (im.width // 2, im.height // 2))
        return im.convert("RGB")


def _wrap(
    draw: ImageDraw.ImageDraw,
    text: str,
    font: ImageFont.FreeTypeFont | ImageFont.ImageFont,
    width: int,
) -> list[str]:
    words, lines, line = text.split(), [], ""
    for word in words:
        trial = f"{line} {word}".strip()
        if draw.textlength(trial, font=font) <= width or not line:
            line = trial
        else:
            lines.append(line)
            line = word
    return lines + ([line] if line else [])


def _has(flags: Sequence[Line], metric: str) -> bool:
    return any(f.get("metric") == metric for f in flags)


def text_blocks(
    count: int,
    *,
    labels: Sequence[str] | None,
    flags: Sequence[Sequence[Line]] | None,
    notes: Sequence[Sequence[Note]] | None = None,
    width: int = 512,
) -> list[list[TextLine]]:
    """The text under each image, line by line: ((colour, level dot or None), text).
    Flags not passed, then notes ({level or None, message}: a critique's verdicts)."""
    small = ImageFont.load_default(size=15)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))

    def wrapped(level: str | None, message: str, colour: RGB) -> list[TextLine]:
        parts = _wrap(probe, message, small, width - 24)
        return [((colour, level if j == 0 else None), part) for j, part in enumerate(parts)]

    blocks = []
    for i in range(count):
        lines: list[TextLine] = []
        if labels:
            lines.append(((MUTED, None), labels[i]))
        # what is wrong, and the readings of identity, skin, wardrobe and highlights (skin
        # by its chroma where its hue is not judged: under red lamps)
        own = flags[i] if flags else []
        readings = READINGS | ({"skin_chroma"} if not _has(own, "skin_hue") else set())
        shown = [f for f in own if f["level"] != "pass" or f.get("metric") in readings]
        said = [f for f in shown if f["level"] == "note"]  # picked, rejected, not measured
        for f in said:
            lines += wrapped(f["level"], f["message"], FG)
        if flags and all(f["level"] in ("note", "pass") for f in shown):
            lines.append(((FG, "pass"), "all checks pass"))
        for f in shown:
            if f["level"] != "note":
                lines += wrapped(f["level"], f["message"], FG)
        for note in notes[i] if notes else []:
            lines += wrapped(note["level"], note["message"], FG if note["level"] else MUTED)
        blocks.append(lines)
    return blocks


def _sheet(
    images: Iterable[Source],
    *,
    heading: str,
    labels: Sequence[str] | None,
    flags: Sequence[Sequence[Line]] | None,
    thumb_width: int,
    numbers: list[str],
    notes: Sequence[Sequence[Note]] | None = None,
) -> bytes:
    thumbs = []
    for src in images:
        im = _open(src)
        im.thumbnail((thumb_width, thumb_width * 4), Image.Resampling.BILINEAR)
        thumbs.append(im)
    pad, head = 16, 56
    th = max(t.height for t in thumbs) if thumbs else 0
    small, big, num = (
        ImageFont.load_default(size=15),
        ImageFont.load_default(size=24),
        ImageFont.load_default(size=40),
    )
    blocks = text_blocks(len(thumbs), labels=labels, flags=flags, notes=notes, width=thumb_width)
    text_h = max((len(b) for b in blocks), default=0) * 20 + pad
    width = pad + len(thumbs) * (thumb_width + pad)
    sheet = Image.new("RGB", (max(width, 480), head + th + text_h + pad), BG)
    draw = ImageDraw.Draw(sheet)
    draw.text((pad, 14), heading, fill=FG, font=big)
    for i, (thumb, lines) in enumerate(zip(thumbs, blocks, strict=True)):
        x = pad + i * (thumb_width + pad)
        sheet.paste(thumb, (x, head))
        bx = x + thumb.width - 52  # top-right: the image's own banner starts top-left
        draw.rectangle([bx, head, bx + 52, head + 52], fill=(0, 0, 0))
        draw.text((bx + 12, head + 4), numbers[i], fill=(255, 255, 255), font=num)
        y = head + th + 8
        for (colour, level), text in lines:
            if level:
                draw.ellipse([x, y + 3, x + 12, y + 15], fill=COLOURS[level])
            draw.text((x + 18, y), text, fill=colour, font=small)
            y += 20
    buf = io.BytesIO()
    sheet.save(buf, "PNG", compress_level=3)
    return buf.getvalue()


def contact_sheet(
    images: Sequence[Source],
    *,
    shot: str,
    title: str,
    labels: Sequence[str] | None = None,
    flags: Sequence[Sequence[Line]] | None = None,
    notes: Sequence[Sequence[Note]] | None = None,
    thumb_width: int = 512,
) -> bytes:
    heading = f"{shot} - {title}" if title else shot
    return _sheet(
        images,
        heading=heading,
        labels=labels,
        flags=flags,
        notes=notes,
        thumb_width=thumb_width,
        numbers=[str(i) for i in range(1, len(images) + 1)],
    )


def strip(
    images: Sequence[Source], *, labels: Sequence[str], title: str, thumb_width: int = 384
) -> bytes:
    """A chain of images left to right (selected -> step 1 -> ... -> final)."""
    return _sheet(
        images,
        heading=title,
        labels=labels,
        flags=None,
        thumb_width=thumb_width,
        numbers=[str(i) for i in range(1, len(images) + 1)],
    )
