"""The only files the board serves from the project: those under runs/.

A request names a path relative to runs/; it is served only if its real path (symlinks
followed) is a regular file inside the real runs/ directory. Anything else (`..`,
an absolute path, a symlink leading out, a directory) is not found.
"""

from __future__ import annotations

import io
import os
import threading
from collections import OrderedDict
from pathlib import Path

from PIL import Image

THUMB_WIDTH = 480  # a draft as the board lays it out: three side by side
_THUMBS_KEPT = 1024


def inside_runs(root: Path, rel: str) -> Path | None:
    """root/runs/rel as a real path, or None unless it is a regular file inside root/runs."""
    runs = (root / "runs").resolve()
    if not rel or "\x00" in rel or rel.startswith(("/", "\\")) or "\\" in rel:
        return None
    try:
        real = (runs / rel).resolve(strict=True)
    except (OSError, RuntimeError):  # missing, a symlink loop
        return None
    if not real.is_relative_to(runs) or not real.is_file():
        return None
    return real


class Thumbs:
    """Downscaled JPEG copies of images, kept in memory by path, mtime and size, so a
    board of 100 shots loads 300 small images and not 300 full drafts."""

    def __init__(self, width: int = THUMB_WIDTH):
        self.width = width
        self._kept: OrderedDict[tuple, bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, path: Path) -> bytes:
        st = path.stat()
        key = (str(path), st.st_mtime_ns, st.st_size)
        with self._lock:
            if key in self._kept:
                self._kept.move_to_end(key)
                return self._kept[key]
        data = self._make(path)
        with self._lock:
            self._kept[key] = data
            while len(self._kept) > _THUMBS_KEPT:
                self._kept.popitem(last=False)
        return data

    def _make(self, path: Path) -> bytes:
        with Image.open(path) as opened:
            opened.draft("RGB", (self.width, self.width))  # JPEG sources decode smaller
            im = opened.convert("RGB")
        factor = max(1, im.width // self.width)
        if factor > 1:
            im = im.reduce(factor)
        if im.width > self.width:
            im = im.resize((self.width, round(im.height * self.width / im.width)))
        out = io.BytesIO()
        im.save(out, "JPEG", quality=82)
        return out.getvalue()


def placeholder(name: str, problem: str, width: int = THUMB_WIDTH) -> bytes:
    """A small PNG that says which file is not shown and why (an image too large to
    decode safely, or one that does not decode): what the board shows in its place."""
    from PIL import ImageDraw

    im = Image.new("RGB", (width, width * 9 // 16), (48, 48, 48))
    draw = ImageDraw.Draw(im)
    words, lines = f"not shown: {name} {problem}".split(), [""]
    for word in words:
        if len(lines[-1]) + len(word) + 1 > width // 7:
            lines.append("")
        lines[-1] = f"{lines[-1]} {word}".strip()
    draw.multiline_text((12, 12), "\n".join(lines), fill=(230, 230, 230), spacing=4)
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


def tree_signature(root: Path, folders: tuple[str, ...]) -> list:
    """(name, mtime, size) of every file under the folders: changes when a build writes."""
    sig = []
    for folder in folders:
        stack = [root / folder]
        while stack:
            try:
                entries = list(os.scandir(stack.pop()))
            except (FileNotFoundError, NotADirectoryError):
                continue
            for e in entries:
                if e.is_dir(follow_symlinks=False):
                    stack.append(Path(e.path))
                elif not e.name.startswith("."):
                    try:
                        st = e.stat()
                    except FileNotFoundError:
                        continue
                    sig.append((e.path, st.st_mtime_ns, st.st_size))
    sig.sort()
    return sig
