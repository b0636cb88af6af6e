"""What an image sent to or received from the Images API is, and the check every answer
passes before it enters the cache.

The API takes PNG, JPEG and WebP inputs and returns the `output_format` asked for; a
format is told by the file's first bytes, never by its name.
"""

from __future__ import annotations

import io
import os

from PIL import Image

from stillmake.errors import BadAnswer

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# format -> (what people call it, MIME type, file extension)
FORMATS = {
    "png": ("PNG", "image/png", ".png"),
    "jpeg": ("JPEG", "image/jpeg", ".jpg"),
    "webp": ("WebP", "image/webp", ".webp"),
}
ACCEPTED = "a PNG, JPEG or WebP image"


def image_format(data: bytes) -> str | None:
    """'png', 'jpeg' or 'webp' from the first bytes; None for anything else."""
    if data.startswith(PNG_SIGNATURE):
        return "png"
    if data.startswith(b"\xff\xd8\xff"):
        return "jpeg"
    if data[:4] == b"RIFF" and data[8:12] == b"WEBP":
        return "webp"
    return None


def upload(data: bytes, stem: str) -> tuple[str, bytes, str]:
    """A multipart file part the API takes: (name with the right extension, bytes, MIME type).
    Anything not recognised goes as PNG and the API says what it thinks of it."""
    _name, mime, ext = FORMATS[image_format(data) or "png"]
    return (f"{stem}{ext}", data, mime)


def image_problem(data: bytes, *, size: str, output_format: str, decode: bool = True) -> str | None:
    """What is wrong with one image against the request, or None.

    decode=True decodes every pixel (an answer, once); decode=False reads the header and
    walks the file's structure (a cache hit, every time: no pixel decode)."""
    fmt = image_format(data)
    want = FORMATS.get(output_format, (output_format.upper(),))[0]
    if fmt is None:
        return f"is not an image (it starts with {data[:12]!r})"
    if fmt != output_format:
        return f"is a {FORMATS[fmt][0]} image, not the {want} asked for"
    try:
        with Image.open(io.BytesIO(data)) as im:
            got = f"{im.width}x{im.height}"
            if decode:
                im.load()
            else:
                im.verify()
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error, ...
        return f"does not decode ({type(exc).__name__}: {exc})"
    if size != "auto" and got != size:
        return f"is {got}, not the {size} asked for"
    return None


def check_answer(
    images: list[bytes], *, n: int, size: str, output_format: str, decode: bool = True
) -> None:
    """Raise BadAnswer unless there are n images, each whole, of the format and size asked."""
    if len(images) != n:
        raise BadAnswer(f"the API's answer is short: asked for {n} images, got {len(images)}")
    for k, data in enumerate(images, start=1):
        problem = image_problem(data, size=size, output_format=output_format, decode=decode)
        if problem:
            raise BadAnswer(f"image {k} of {n} in the API's answer {problem}")


def input_problem(path: str | os.PathLike[str]) -> str | None:
    """Why a file cannot go to the API as an input image (None: it can, or it is missing,
    which is reported elsewhere): not a PNG, JPEG or WebP image, or not a whole one."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(16)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"cannot be read ({exc.strerror or exc})"
    if image_format(head) is None:
        return f"is not {ACCEPTED} (it starts with {head[:12]!r})"
    too_large = pixel_problem(path)
    if too_large:
        return too_large
    try:
        with Image.open(path) as im:
            im.verify()
    except Exception as exc:  # PIL raises OSError, SyntaxError, struct.error, ...
        return f"is not a whole image ({type(exc).__name__}: {exc})"
    return None


def pixel_problem(path: str | os.PathLike[str]) -> str | None:
    """Why an image is too large to decode safely (past Pillow's decompression-bomb
    limit: a 48 KB file can claim 20000x20000 pixels, gigabytes once decoded), or None."""
    limit = Image.MAX_IMAGE_PIXELS
    if limit is None:
        return None
    try:
        with Image.open(path) as im:
            width, height = im.size
    except Image.DecompressionBombError:
        width, height = _png_size(path)
    except Exception:  # noqa: BLE001  (not an image, or a broken one: said elsewhere)
        return None
    if width and width * height <= limit:
        return None
    if not width:
        return f"has more than the {limit:,} pixels stillmake decodes"
    pixels = f"{width}x{height} ({width * height:,} pixels)"
    return f"is {pixels}, more than the {limit:,} stillmake decodes"


def _png_size(path: str | os.PathLike[str]) -> tuple[int, int]:
    """Width and height from a PNG's header (0, 0 for another format): Pillow refuses
    to open one past twice its limit, and says only the product."""
    with open(path, "rb") as fh:
        head = fh.read(24)
    if head.startswith(PNG_SIGNATURE) and head[12:16] == b"IHDR":
        return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")
    return 0, 0
