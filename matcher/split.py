"""Deterministic splits by label group, so no product is on both sides of an evaluation."""
from __future__ import annotations

import hashlib

import numpy as np


def group_hash(label: str, salt: str = "") -> int:
    return int(hashlib.sha1((salt + label).encode("utf-8")).hexdigest(), 16)


def held_out_mask(labels, salt: str = "", modulus: int = 3) -> np.ndarray:
    """True for listings whose group falls in the held-out part: sha1(salt + group) % modulus == 0.

    With no salt this is the project's fixed train/test split of real data;
    the build uses a salt to hold out tuning groups inside a training catalogue.
    """
    labels = np.asarray(labels, dtype=object)
    unique, inverse = np.unique(labels.astype(str), return_inverse=True)
    chosen = np.array([group_hash(u, salt) % modulus == 0 for u in unique], dtype=bool)
    return chosen[inverse] if len(labels) else np.zeros(0, bool)
