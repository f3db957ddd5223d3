"""Perceptual hashes of listing photos, in the 16-hex-digit form the Shopee CSV ships.

Hashes in the catalogue are kept as they are: they are what the competition data
was built with, and recomputing them from re-encoded photos could flip bits.
Only listings without one are hashed from their photo.
"""
from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import imagehash
import numpy as np
from PIL import Image

from matcher.images.read import ImageProblem, read_image

# Decoding releases the GIL, so a small pool overlaps photos without holding many decoded images at once.
_WORKERS = 2


def image_phash(image: Image.Image) -> str:
    """imagehash's 64-bit DCT hash as 16 lower-case hex digits."""
    return str(imagehash.phash(image))


def catalogue_phashes(catalog, progress=None) -> tuple[np.ndarray, list[ImageProblem]]:
    """Each listing's hash ('' without a readable photo) and a problem per unreadable photo.

    Listings with no image name, no image folder or a missing file get '' and no
    problem here: loading the catalogue already reported them. `progress(done, total)`
    is called after each photo hashed, `total` being the photos that needed it.
    """
    hashes = catalog.frame["image_phash"].to_numpy(dtype=object).copy()
    todo = [(int(i), path) for i in np.flatnonzero(hashes == "") if (path := catalog.image_path(i)) is not None]
    problems = []
    with ThreadPoolExecutor(max_workers=_WORKERS) as pool:
        results = pool.map(_hash_file, [path for _, path in todo])  # yields in submission order
        for done, ((i, _), (digest, problem)) in enumerate(zip(todo, results), start=1):
            hashes[i] = digest
            if problem is not None:
                problems.append(problem)
            if progress is not None:
                progress(done, len(todo))
    return hashes, problems


def _hash_file(path) -> tuple[str, ImageProblem | None]:
    image, problem = read_image(path)
    return ("", problem) if image is None else (image_phash(image), None)
