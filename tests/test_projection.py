import numpy as np

from matcher.text.channel import l2_normalise
from matcher.text.projection import WithinGroupWhitening


def nn1(vectors, groups):
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    return float((groups[sims.argmax(axis=1)] == groups).mean())


def test_whitening_learns_to_ignore_seller_noise():
    """Products differ along weak directions; sellers add strong noise along others.

    Raw cosine is dominated by the noise; whitening the within-group covariance,
    learned on some products, must recover the products on unseen ones.
    """
    rng = np.random.default_rng(0)
    dim, noise_dims = 32, 8

    def products(n_groups, per_group):
        centres = rng.normal(size=(n_groups, dim)) * np.r_[np.zeros(noise_dims), np.ones(dim - noise_dims)] * 0.3
        groups = np.repeat(np.arange(n_groups), per_group)
        noise = rng.normal(size=(len(groups), dim)) * np.r_[np.full(noise_dims, 3.0), np.full(dim - noise_dims, 0.05)]
        return centres[groups] + noise + 1.0, groups

    train, train_groups = products(100, 4)
    test, test_groups = products(50, 3)
    whitening = WithinGroupWhitening(shrinkage=0.1).fit(train, train_groups)
    before = nn1(l2_normalise(test), test_groups)
    after = nn1(l2_normalise(whitening.transform(test)), test_groups)
    assert before < 0.2 and after > 0.7
