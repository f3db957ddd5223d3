"""Read listing photos as fully loaded RGB images, turning every bad file into an ImageProblem.

Marketplace photos come in every format and state: rotated by EXIF, transparent,
CMYK, 16-bit, animated, truncated by a failed upload, or not images at all. A bad
photo must cost its listing the image evidence, never the run, so each failure
is reported with a sentence naming the file and what to do about it. Pillow's
global switches (MAX_IMAGE_PIXELS, LOAD_TRUNCATED_IMAGES) are left alone: other
code in the process may rely on them.
"""
from __future__ import annotations

import struct
import threading
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

# What Pillow raises for hostile or damaged input: the set its own fuzz tests accept, plus EOFError
# and struct.error as a precaution for header parsers; anything else is a bug and raises.
_DECODE_ERRORS = (OSError, SyntaxError, ValueError, EOFError, MemoryError, NotImplementedError,
                  OverflowError, struct.error, Image.DecompressionBombError, Image.DecompressionBombWarning)
_ALPHA_MODES = {"LA", "PA", "RGBA"}
_WHITE = (255, 255, 255, 255)
# warnings.catch_warnings swaps a process-wide filter list; two threads interleaving it could
# leave our "error" filter installed for good, so opening (header parsing only) is serialised.
_OPEN_LOCK = threading.Lock()


@dataclass(frozen=True)
class ImageProblem:
    """A photo that gives its listing no image evidence; `reason` names the file and the fix."""

    path: str
    reason: str


def read_image(path, max_pixels: int = 40_000_000, draft_size: tuple[int, int] | None = None
               ) -> tuple[Image.Image | None, ImageProblem | None]:
    """(RGB image, None) or (None, problem); never raises for a bad file.

    `draft_size` lets JPEGs decode at a reduced scale no smaller than it, which is
    much cheaper for large photos; other formats ignore it.
    """
    path = Path(path)
    if issue := _file_issue(path):
        return None, _problem(path, issue)
    kind = "image"
    try:
        with _open(path) as img:
            kind = img.format or kind
            if img.width * img.height > max_pixels:
                return None, _problem(path, f"is {img.width}x{img.height} = {img.width * img.height:,} pixels, "
                                            f"over the {max_pixels:,} limit (a decompression-bomb risk); "
                                            "resize it")
            if draft_size is not None:
                img.draft("RGB", draft_size)  # a no-op for every format but JPEG
            img.load()
            _upright(img)
            return _to_rgb(img), None
    except _DECODE_ERRORS as err:
        return None, _problem(path, _failure(err, kind))


def read_images(paths, **kw) -> tuple[list[Image.Image | None], list[ImageProblem]]:
    """read_image for each path, in order; the problems of the bad ones, in the same order."""
    images, problems = [], []
    for path in paths:
        image, problem = read_image(path, **kw)
        images.append(image)
        if problem is not None:
            problems.append(problem)
    return images, problems


def _file_issue(path: Path) -> str | None:
    """What is wrong, for cases Pillow would report obscurely (a folder, an empty file)."""
    if path.is_dir():
        return "is a folder, not an image file; name the photo inside it"
    try:
        empty = path.stat().st_size == 0
    except OSError:
        return None  # Image.open meets the same error and _failure words it
    return "is empty (0 bytes); replace it with the photo" if empty else None


def _failure(err: Exception, kind: str) -> str:
    """What went wrong opening or decoding a file of format `kind`, and what to do."""
    if isinstance(err, FileNotFoundError):
        return "does not exist; check the image folder"
    if isinstance(err, UnidentifiedImageError):
        return "is not an image Pillow can read (not a JPEG, PNG, GIF, WebP, ...); replace it with the photo"
    if isinstance(err, (Image.DecompressionBombError, Image.DecompressionBombWarning)):
        return f"is too large to decode safely, a decompression-bomb risk ({err}); resize it"
    if isinstance(err, OSError) and err.errno is not None:
        return f"cannot be read ({err.strerror}); check the file and its permissions"
    if "truncated" in str(err).lower():
        return f"is truncated (not a complete {kind}); re-export it"
    return f"is damaged and cannot be decoded as {kind} ({err}); re-export it"


def _open(path: Path) -> Image.Image:
    """Image.open with Pillow's decompression-bomb warning raised as an error, for this call only."""
    with _OPEN_LOCK, warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        return Image.open(path)


def _upright(img: Image.Image) -> None:
    """Turn the loaded image as its EXIF says; a broken EXIF block is no reason to lose the photo."""
    try:
        ImageOps.exif_transpose(img, in_place=True)
    except _DECODE_ERRORS:
        pass


def _to_rgb(img: Image.Image) -> Image.Image:
    """A new RGB image, transparency composited onto white (Pillow's plain convert makes it black)."""
    if img.mode in ("I", "I;16", "I;16L", "I;16B", "I;16N"):
        # convert("L") clips at 255, so any 16-bit grey would come out white; scale 0..65535 to 0..255.
        grey = np.clip(np.asarray(img, dtype=np.float64), 0, 65535) / 257
        img = Image.fromarray(np.rint(grey).astype(np.uint8))
    if img.mode in _ALPHA_MODES or "transparency" in img.info:
        img = Image.alpha_composite(Image.new("RGBA", img.size, _WHITE), img.convert("RGBA"))
    return img.convert("RGB")


def _problem(path: Path, rest: str) -> ImageProblem:
    return ImageProblem(str(path), f"{path.name} {rest}")
