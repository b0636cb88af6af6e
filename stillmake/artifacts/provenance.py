"""Provenance that travels with every image: a sidecar .json and PNG text chunks.

Chunks are spliced into the PNG byte stream (no re-encode), so the pixels are
exactly what the backend returned and writing costs no decode/encode time.

Reading is strict: a sidecar that is not a whole JSON object, or an image whose
chunks do not add up, is a CorruptFile naming the file and what to do about it
(a build output: the `snakemake --forcerun` that rebuilds it; an input: replace it).
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, cast

from stillmake import paths
from stillmake.errors import CorruptFile, StillmakeError
from stillmake.files import atomic_write_bytes, atomic_write_json
from stillmake.images import ACCEPTED, PNG_SIGNATURE, image_format

if TYPE_CHECKING:
    from stillmake.artifacts.records import ImageRecord, Provenance


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _itxt(keyword: str, text: str) -> bytes:
    # iTXt: keyword\0 compression-flag compression-method language\0 translated\0 text (UTF-8)
    data = keyword.encode("latin-1") + b"\x00\x00\x00" + b"\x00" + b"\x00" + text.encode("utf-8")
    return _chunk(b"iTXt", data)


def with_text_chunks(png: bytes, texts: Mapping[str, str | None]) -> bytes:
    """Insert iTXt chunks right after IHDR; existing chunks of the same keywords are dropped.

    Walks every chunk and checks its length and CRC up to IEND: a truncated or damaged
    PNG is a ValueError saying where, never a half-tagged image."""
    if not png.startswith(PNG_SIGNATURE):
        raise ValueError("not a PNG image")
    pos = len(PNG_SIGNATURE)
    out = [PNG_SIGNATURE]
    keywords = {k.encode("latin-1") for k in texts}
    first = True
    kind = b""
    while pos < len(png) and kind != b"IEND":
        if pos + 12 > len(png):
            raise ValueError(f"truncated PNG: a chunk header is cut off at byte {pos}")
        (length,) = struct.unpack(">I", png[pos : pos + 4])
        kind = png[pos + 4 : pos + 8]
        end = pos + 12 + length
        if end > len(png):
            raise ValueError(
                f"truncated PNG: chunk {kind.decode('latin-1')} needs {end} bytes, "
                f"the file has {len(png)}"
            )
        chunk = png[pos:end]
        body = png[pos + 8 : pos + 8 + length]
        if struct.unpack(">I", png[end - 4 : end])[0] != zlib.crc32(kind + body):
            raise ValueError(f"damaged PNG: chunk {kind.decode('latin-1')} fails its CRC")
        if kind in (b"tEXt", b"iTXt") and body.split(b"\x00", 1)[0] in keywords:
            pass  # replaced below
        else:
            out.append(chunk)
        if first:
            out.extend(_itxt(k, v) for k, v in texts.items() if v is not None)
            first = False
        pos = end
    if kind != b"IEND":
        raise ValueError("truncated PNG: it ends before its IEND chunk")
    out.append(png[pos:])  # anything after IEND stays as it was
    return b"".join(out)


OUR_KEYWORDS = ("parameters", "stillmake")


def strip_text_chunks(png: bytes, keywords: Iterable[str] = OUR_KEYWORDS) -> bytes:
    """Undo with_text_chunks: the bytes exactly as the backend returned them."""
    return with_text_chunks(png, {k: None for k in keywords})


def raw_image(path: str | os.PathLike[str]) -> bytes:
    """The image bytes that are hashed and sent: a PNG without our provenance chunks,
    whose timestamps would otherwise make every rebuild look like a new input; a JPEG or
    WebP (references the API takes as they are) byte for byte.

    CorruptFile names the file when it is not a PNG, JPEG or WebP image, or is a
    truncated or damaged PNG."""
    data = Path(path).read_bytes()
    fmt = image_format(data)
    if fmt is None:
        raise CorruptFile(
            f"{path}: not {ACCEPTED} (it starts with {data[:12]!r}); "
            f"{_remedy(path, 'a PNG, JPEG or WebP image')}"
        )
    if fmt != "png":
        return data
    try:
        return strip_text_chunks(data)
    except ValueError as exc:
        raise CorruptFile(
            f"{path}: image is truncated or corrupt ({exc}); {_remedy(path, 'a whole image')}"
        ) from None


def _remedy(path: str | os.PathLike[str], what: str) -> str:
    """What to do about a bad file: rebuild a build output (it has a sidecar), replace
    anything else."""
    image = Path(path).with_suffix(".png")
    if sidecar_path(path).is_file() or Path(path).suffix == ".json":
        return (
            f"run `snakemake --forcerun {image}` to rebuild it (a request already paid for "
            "is answered from runs/cache/ at $0)"
        )
    return f"replace it with {what}"


def a1111_parameters(record: ImageRecord) -> str:
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


def write_image(path: str | os.PathLike[str], png: bytes, record: ImageRecord) -> None:
    """Write the PNG (with chunks) and its sidecar atomically; sidecar first is not needed
    because both are renamed into place only when complete."""
    tagged = with_text_chunks(
        png,
        {
            "parameters": a1111_parameters(record),
            "stillmake": json.dumps(record, ensure_ascii=False, sort_keys=True),
        },
    )
    try:
        atomic_write_json(sidecar_path(path), record)
        atomic_write_bytes(Path(path), tagged)
    except OSError as exc:  # nothing half-written: each file is renamed into place whole
        raise StillmakeError(
            f"cannot write {path}: {exc.strerror or exc}. Free the disk or fix the "
            "permissions, then run again (answers already paid for come from runs/cache/ at $0)"
        ) from None


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    return Path(paths.sidecar(path))


def _as_record(data: object) -> Provenance | None:
    """A JSON value as a provenance record: an object, its keys as a stage wrote them
    (JSON has no types to check beyond that)."""
    return cast("Provenance", data) if isinstance(data, dict) else None


def read_sidecar(path: str | os.PathLike[str]) -> Provenance:
    """The provenance record beside an image; CorruptFile (naming the sidecar and the
    command that rebuilds it) when it is not a whole JSON object."""
    side = sidecar_path(path)
    try:
        data = json.loads(side.read_text(encoding="utf-8"))
    except (ValueError, UnicodeDecodeError) as exc:
        why = f"{type(exc).__name__}: {exc}"
    else:
        record = _as_record(data)
        if record is not None:
            return record
        why = f"a JSON {type(data).__name__}, not an object"
    raise CorruptFile(
        f"{side}: sidecar is truncated or corrupt ({why}); {_remedy(side, 'a whole record')}"
    )


def read_png_record(path: str | os.PathLike[str]) -> Provenance:
    """The `stillmake` JSON chunk of a PNG written by write_image, as PIL (any image tool)
    reads it."""
    from PIL import Image, PngImagePlugin

    with Image.open(path) as im:
        if not isinstance(im, PngImagePlugin.PngImageFile):
            raise CorruptFile(f"{path}: not a PNG image; {_remedy(path, 'a PNG image')}")
        record = _as_record(json.loads(im.text["stillmake"]))
    if record is None:
        raise CorruptFile(f"{path}: its stillmake chunk is not a record; {_remedy(path, 'a PNG')}")
    return record


def embedded_record(data: bytes) -> Provenance | None:
    """The record write_image put inside a PNG (the `stillmake` iTXt chunk right after
    IHDR), or None when the image carries none (an editor dropped it, or not ours)."""
    if not data.startswith(PNG_SIGNATURE):
        return None
    pos = len(PNG_SIGNATURE)
    while pos + 12 <= len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind = data[pos + 4 : pos + 8]
        if kind in (b"IDAT", b"IEND"):
            return None  # ours come before the pixels
        body = data[pos + 8 : pos + 8 + length]
        if kind == b"iTXt" and body.startswith(b"stillmake\x00"):
            text = body.split(b"\x00", 5)[-1]
            try:
                return _as_record(json.loads(text.decode("utf-8")))
            except (ValueError, UnicodeDecodeError):
                return None
        pos += 12 + length
    return None


def head_record(path: str | os.PathLike[str]) -> Provenance | None:
    """The record inside a PNG this build wrote, reading only the chunks before its pixels
    (a view over many images need not read them all), else its sidecar; None when it
    carries none. What the build itself relies on is `read_record`."""
    with open(path, "rb") as fh:
        if fh.read(len(PNG_SIGNATURE)) == PNG_SIGNATURE:
            while len(head := fh.read(8)) == 8:
                (length,) = struct.unpack(">I", head[:4])
                kind = head[4:]
                if kind in (b"IDAT", b"IEND"):
                    break
                if kind == b"iTXt":
                    found = embedded_record(PNG_SIGNATURE + head + fh.read(length + 4))
                    if found is not None:
                        return found
                else:
                    fh.seek(length + 4, os.SEEK_CUR)
    try:
        return read_sidecar(path) if sidecar_path(path).is_file() else None
    except CorruptFile:
        return None


def read_record(path: str | os.PathLike[str]) -> Provenance:
    """The provenance record of an image this build wrote, from the image itself: it
    travels inside the PNG, so a job declares (and a storage plugin stages) the image
    alone. The sidecar beside it, where there is one, must be whole (CorruptFile names
    it and the command that rebuilds it), and stands in for a record an image editor
    dropped."""
    side = sidecar_path(path)
    beside = read_sidecar(path) if side.is_file() else None
    record = embedded_record(Path(path).read_bytes())
    if record is not None:
        return record
    if beside is not None:
        return beside
    raise CorruptFile(
        f"{path}: carries no provenance record and has no sidecar; "
        f"{_remedy(path, 'an image this build wrote')}"
    )
