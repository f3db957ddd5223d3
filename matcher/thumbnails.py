"""Small JPEG copies of listings' photos for galleries, made once and cached by file content.

Galleries show dozens of photos at a time; sending multi-megabyte originals
would make every page slow. A thumbnail is keyed by the photo's path, size and
modification time, so a replaced photo gets a new one. Listings without a
readable photo get one shared placeholder.
"""
from __future__ import annotations

import hashlib
import io
from functools import lru_cache
from pathlib import Path

from PIL import Image, ImageDraw

from matcher.atomic import atomic_file
from matcher.catalog import resolve_inside
from matcher.images.read import read_image

SIZE = 320


class Thumbnails:
    """thumbnail(name) -> JPEG bytes of a listing's photo (`name` as in the catalogue's image column)."""

    def __init__(self, image_dir, cache_dir, size: int = SIZE):
        self.image_dir = Path(image_dir).resolve() if image_dir else None
        self.cache_dir = Path(cache_dir) / "thumbnails"
        self.size = size

    def photo(self, name: str) -> Path | None:
        """The original photo file, when the listing names one inside the image folder and it exists."""
        if self.image_dir is None or not name:
            return None
        path = resolve_inside(self.image_dir, str(name))
        return path if path is not None and path.is_file() else None

    def thumbnail(self, name: str) -> bytes:
        path = self.photo(name)
        if path is None:
            return placeholder(self.size)
        stat = path.stat()
        key = hashlib.sha1(f"{path}|{stat.st_size}|{stat.st_mtime_ns}|{self.size}".encode()).hexdigest()
        cached = self.cache_dir / key[:2] / f"{key}.jpg"
        if cached.is_file():
            return cached.read_bytes()
        image, problem = read_image(path, draft_size=(self.size, self.size))
        if problem is not None:
            return placeholder(self.size)
        image.thumbnail((self.size, self.size), Image.Resampling.BICUBIC)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=85)
        with atomic_file(cached) as out:
            out.write(buffer.getvalue())
        return buffer.getvalue()


@lru_cache(maxsize=4)
def placeholder(size: int = SIZE) -> bytes:
    """A grey square saying there is no photo."""
    image = Image.new("RGB", (size, size), (236, 236, 236))
    draw = ImageDraw.Draw(image)
    draw.text((size // 2, size // 2), "no photo", fill=(140, 140, 140), anchor="mm")
    buffer = io.BytesIO()
    image.save(buffer, "PNG")
    return buffer.getvalue()
