"""Small files the tests make: JPEG bytes of random pixels and zips built in memory."""
import io
import zipfile

import numpy as np
from PIL import Image


def jpeg(seed: int = 0, size=(16, 16), mode="RGB") -> bytes:
    pixels = np.random.default_rng(seed).integers(0, 255, (size[1], size[0], 3), dtype=np.uint8)
    out = io.BytesIO()
    Image.fromarray(pixels).convert(mode).save(out, format="JPEG")
    return out.getvalue()


def make_zip(entries: dict) -> bytes:
    """A zip in memory from {name or ZipInfo: bytes}."""
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    return out.getvalue()
