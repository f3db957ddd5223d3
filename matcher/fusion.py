"""Fused embeddings: every channel in one vector space, and neighbourhood blending on top of it.

`combined` concatenates each channel's unit rows scaled by the square root of
its weight, so the cosine of two combined rows is the weighted mean of the
channels' cosines. What it adds over a weighted mean of the table's columns is
its own search: pairs that no single channel ranked in its top k, yet that are
close on all of them together.

`expanded` replaces each combined row by a similarity-weighted mean of itself
and its close neighbours, then searches again (query expansion, "neighbourhood
blending" in the competition's write-ups): a listing whose own title is terse
borrows the words and photo of its near-duplicates. Sparse channels stay
sparse, so TF-IDF can take part.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from matcher.neighbours import nearest

COMBINED = "combined"
EXPANDED = "expanded"


@dataclass
class Blending:
    neighbours: int = 5        # each row blends with at most this many nearest other rows...
    threshold: float = 0.6     # ...of at least this similarity
    power: float = 2.0         # weight of a neighbour: its similarity to this power (the row itself weighs 1)
    rounds: int = 1


def combined_vectors(vectors: dict, present: dict[str, np.ndarray], weights: dict[str, float]):
    """(rows, present): channels concatenated with sqrt(weight) scaling, rows re-normalised to unit length.

    A listing without evidence in a channel gets zeros there, so its combined
    row rests on the channels it has; a listing with none is not present.
    """
    names = [name for name, weight in weights.items() if weight > 0 and name in vectors]
    if not names:
        raise ValueError("a combined embedding needs at least one channel with a positive weight")
    blocks = []
    for name in names:
        block = vectors[name]
        scale = np.sqrt(weights[name]) * present[name].astype(np.float32)
        blocks.append(sp.diags(scale) @ block if sp.issparse(block) else block * scale[:, None])
    has_any = np.logical_or.reduce([present[name] for name in names])
    if any(sp.issparse(block) for block in blocks):
        rows = sp.hstack([sp.csr_matrix(block) for block in blocks], format="csr", dtype=np.float32)
    else:
        rows = np.hstack(blocks).astype(np.float32)
    return unit_rows(rows), has_any


def expanded_vectors(rows, present: np.ndarray, blending: Blending | None = None,
                     searched: tuple[np.ndarray, np.ndarray] | None = None):
    """Each present row replaced by the similarity-weighted mean of itself and its close neighbours.

    For the first round, `searched`: the rows' nearest already found (ids, sims, best first:
    neighbours.nearest), of which it reads the first few.
    """
    blending = blending or Blending()
    ids = np.flatnonzero(present)
    n = rows.shape[0]
    for _ in range(blending.rounds):
        if len(ids) < 2:
            break
        wanted = min(blending.neighbours, len(ids) - 1)
        if searched is not None and searched[0].shape[1] >= wanted:
            found, sims = searched[0][:, :wanted], searched[1][:, :wanted]
        else:
            found, sims = nearest(rows, present, wanted)
        searched = None  # later rounds search the blended rows
        keep = (found >= 0) & (sims >= blending.threshold)
        weights = np.maximum(sims[keep], 0) ** blending.power
        mixing = sp.csr_matrix((weights.astype(np.float32), (np.nonzero(keep)[0], found[keep])), shape=(n, n))
        mixing = (mixing + sp.identity(n, np.float32, format="csr"))[ids]
        rows = _replace_rows(rows, ids, unit_rows(mixing @ rows))
    return rows


def unit_rows(rows):
    """Rows scaled to unit length (zero rows stay zero), dense or sparse."""
    if sp.issparse(rows):
        norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
        return sp.csr_matrix(sp.diags(1 / np.where(norms > 0, norms, 1)) @ rows, dtype=np.float32)
    rows = np.asarray(rows, np.float32)
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1)


def _replace_rows(rows, ids: np.ndarray, new):
    if not sp.issparse(rows):
        out = rows.copy()
        out[ids] = new
        return out
    keep = np.ones(rows.shape[0], bool)
    keep[ids] = False
    placed = sp.csr_matrix((np.ones(len(ids), np.float32), (ids, np.arange(len(ids)))),
                           shape=(rows.shape[0], len(ids))) @ sp.csr_matrix(new)
    return sp.csr_matrix(sp.diags(keep.astype(np.float32)) @ rows + placed, dtype=np.float32)
