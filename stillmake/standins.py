"""The real faces the preview backend draws into its stand-ins, shipped in the package
(stillmake/data/standins/, public domain; its README gives the sources).

Shared ground: the preview backend pastes them, and identity checks whether a character's
reference is the stand-in person before judging a preview image against it."""

from __future__ import annotations

import io
from functools import cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import TypedDict

import yaml
from PIL import Image

FLAWS = ("identity", "skin", "highlights", "wardrobe", "cast")  # what a preview draft can show


def _folder() -> Traversable:
    return resources.files("stillmake").joinpath("data", "standins")


class StandIn(TypedDict):
    file: str  # in data/standins/
    who: str
    face: list[int]  # the box dlib finds: left, top, right, bottom


@cache
def catalogue() -> dict[str, StandIn]:
    """{"portrait": {file, who, face}, "other": {...}} from standins.yaml."""
    return yaml.safe_load(_folder().joinpath("standins.yaml").read_text(encoding="utf-8"))


@cache
def _image_bytes(which: str) -> bytes:
    return _folder().joinpath(catalogue()[which]["file"]).read_bytes()


def image(which: str) -> Image.Image:
    """The stand-in photo `which` ("portrait" or "other") as RGB (a fresh copy)."""
    with Image.open(io.BytesIO(_image_bytes(which))) as im:
        return im.convert("RGB")


def face_box(which: str) -> tuple[int, int, int, int]:
    left, top, right, bottom = catalogue()[which]["face"]
    return left, top, right, bottom
