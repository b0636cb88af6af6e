"""Provenance that travels with every image: a sidecar .json and PNG text chunks.

Chunks are spliced into the PNG byte stream (no re-encode), so the pixels are
exactly what the backend returned and writing costs no decode/encode time.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterable
from pathlib import Path

from stillmake.files import atomic_write_bytes, atomic_write_json

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(keyword: str, text: str) -> bytes:
    # iTXt: keyword\0 compression-flag compression-method language\0 translated\0 text (UTF-8)
    data = keyword.encode("latin-1") + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
    return _chunk(b"iTXt", data)


def with_text_chunks(png: bytes, texts: dict[str, str | None]) -> bytes:
    """Insert iTXt chunks right after IHDR; existing chunks of the same keywords are dropped."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    out = [PNG_SIGNATURE]
    keywords = {k.encode("latin-1") for k in texts}
    first = True
    while pos < len(png):
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        end = pos + 12 + length
        chunk = png[pos:end]
        body = png[pos + 8 : pos + 8 + length]
        if kind in (b"tEXt", b"iTXt") and body.split(b"\x00", 1)[0] in keywords:
            pass  # replaced below
        else:
            out.append(chunk)
        if first:
            out.extend(_itxt(k, v) for k, v in texts.items() if v is not None)
            first = False
        pos = end
    return b"".join(out)


OUR_KEYWORDS = ("parameters", "stillmake")


def strip_text_chunks(png: bytes, keywords: Iterable[str] = OUR_KEYWORDS) -> bytes:
    """Undo with_text_chunks: the bytes exactly as the backend returned them."""
    return with_text_chunks(png, {k: None for k in keywords})


def raw_image(path: str | os.PathLike[str]) -> bytes:
    """The image bytes that are hashed and sent: without our provenance chunks, whose
    timestamps would otherwise make every rebuild look like a new input."""
    return strip_text_chunks(Path(path).read_bytes())


def a1111_parameters(record: dict) -> str:
    """The `parameters` text in the A1111 style other image tools already read."""
    size = record.get("size", "")
    tail = [
        f"Model: {record.get('model')}",
        f"Size: {size}",
        f"Quality: {record.get('quality')}",
        f"N: {record.get('n')}",
        f"Backend: {record.get('backend')}",
        f"Fingerprint: {record.get('fingerprint')}",
    ]
    negative = record.get("negative") or ""
    return f"{record.get('prompt', '')}\nNegative prompt: {negative}\n" + ", ".join(tail)


def write_image(path: str | os.PathLike[str], png: bytes, record: dict) -> None:
    """Write the PNG (with chunks) and its sidecar atomically; sidecar first is not needed
    because both are renamed into place only when complete."""
    path = Path(path)
    tagged = with_text_chunks(
        png,
        {
            "parameters": a1111_parameters(record),
            "stillmake": json.dumps(record, ensure_ascii=False, sort_keys=True),
        },
    )
    atomic_write_json(sidecar_path(path), record)
    atomic_write_bytes(path, tagged)


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    return Path(path).with_suffix(".json")


def read_sidecar(path: str | os.PathLike[str]) -> dict:
    return json.loads(sidecar_path(path).read_text(encoding="utf-8"))


def read_png_record(path: str | os.PathLike[str]) -> dict:
    """The `stillmake` JSON chunk of a PNG written by write_image."""
    from PIL import Image

    with Image.open(path) as im:
        return json.loads(im.text["stillmake"])
