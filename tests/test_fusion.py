"""Fused embeddings: the combined space's cosine is the weighted mean, and blending pulls near-duplicates together."""
import numpy as np
import pytest
import scipy.sparse as sp

from matcher.fusion import Blending, combined_vectors, expanded_vectors, unit_rows


def random_unit(n, d, seed):
    return unit_rows(np.random.default_rng(seed).normal(size=(n, d)))


def test_combined_cosine_is_the_weighted_mean_of_channel_cosines():
    a, b = random_unit(6, 8, 0), random_unit(6, 5, 1)
    present = {"a": np.ones(6, bool), "b": np.ones(6, bool)}
    rows, has = combined_vectors({"a": a, "b": b}, present, {"a": 0.7, "b": 0.3})
    assert has.all()
    np.testing.assert_allclose(rows @ rows.T, 0.7 * (a @ a.T) + 0.3 * (b @ b.T), atol=1e-5)


def test_combined_mixes_sparse_and_dense_and_rests_on_the_evidence_a_listing_has():
    dense = random_unit(4, 3, 2)
    sparse = sp.csr_matrix(unit_rows(np.eye(4, 6)))
    present = {"d": np.array([True, True, False, False]), "s": np.array([True, True, True, False])}
    rows, has = combined_vectors({"d": dense, "s": sparse}, present, {"d": 0.5, "s": 0.5})
    assert sp.issparse(rows) and has.tolist() == [True, True, True, False]
    norms = np.sqrt(np.asarray(rows.multiply(rows).sum(axis=1)).ravel())
    np.testing.assert_allclose(norms, [1, 1, 1, 0], atol=1e-6)
    np.testing.assert_allclose(rows[2].toarray().ravel()[:3], 0)  # no photo: only its title part counts


def test_combined_needs_a_weighted_channel():
    with pytest.raises(ValueError, match="positive weight"):
        combined_vectors({"a": random_unit(2, 2, 0)}, {"a": np.ones(2, bool)}, {"a": 0.0})


@pytest.mark.parametrize("sparse", [False, True])
def test_blending_pulls_close_rows_together_and_leaves_loners_alone(sparse):
    rng = np.random.default_rng(3)
    centre = unit_rows(rng.normal(size=(1, 16)))
    close = unit_rows(centre + 0.2 * rng.normal(size=(3, 16)))
    loner = unit_rows(rng.normal(size=(1, 16)))
    rows = np.vstack([close, loner]).astype(np.float32)
    rows = sp.csr_matrix(rows) if sparse else rows
    present = np.ones(4, bool)
    blended = expanded_vectors(rows, present, Blending(neighbours=3, threshold=0.5))
    dense_before = rows.toarray() if sparse else rows
    dense_after = blended.toarray() if sparse else blended
    before, after = dense_before[:3] @ dense_before[:3].T, dense_after[:3] @ dense_after[:3].T
    assert after[np.triu_indices(3, 1)].min() > before[np.triu_indices(3, 1)].min()
    np.testing.assert_allclose(dense_after[3], dense_before[3], atol=1e-6)  # nothing close enough to blend with
