import numpy as np
import pytest

from matcher.metric import f1_by_group_size, group_codes, nn1_accuracy, score_matches


def test_f1_hand_computed():
    # groups: {0,1,2} and {3,4}
    labels = np.array(["a", "a", "a", "b", "b"], dtype=object)
    matches = [
        [0, 1],        # P={0,1}   T={0,1,2}: 2*2/(2+3) = 0.8
        [1, 0, 2],     # P=T: 1
        [2, 3],        # P={2,3}   T={0,1,2}: 2*1/(2+3) = 0.4
        [3],           # P={3}     T={3,4}:   2*1/(1+2) = 2/3
        [4, 3, 0],     # P={4,3,0} T={3,4}:   2*2/(3+2) = 0.8
    ]
    scores = score_matches(matches, labels)
    np.testing.assert_allclose(scores.f1, [0.8, 1.0, 0.4, 2 / 3, 0.8])
    assert scores.mean_f1 == pytest.approx((0.8 + 1 + 0.4 + 2 / 3 + 0.8) / 5)
    np.testing.assert_allclose(scores.precision, [1, 1, 0.5, 1, 2 / 3])
    np.testing.assert_allclose(scores.recall, [2 / 3, 1, 1 / 3, 0.5, 1])


def test_self_is_added_and_duplicates_ignored():
    labels = ["x", "x"]
    assert score_matches([[1, 1], []], labels).f1.tolist() == [1.0, pytest.approx(2 / 3)]


def test_unlabelled_listings_are_their_own_group():
    codes = group_codes(np.array(["a", "", "a", ""], dtype=object))
    assert codes[0] == codes[2] and len(set(codes)) == 3
    assert score_matches([[0], [1, 3], [2], [3]], ["", "", "", ""]).f1[1] == pytest.approx(2 / 3)


def test_nn1_accuracy_skips_listings_without_mates():
    labels = ["a", "a", "b", "c", "c"]
    nearest = [1, 2, 0, -1, 3]  # right, wrong, (no mate: skipped), none found, right
    assert nn1_accuracy(nearest, labels) == pytest.approx(2 / 4)


def test_f1_by_group_size():
    labels = ["a", "a", "b", "b", "b"]
    result = f1_by_group_size([1.0, 0.5, 0.2, 0.4, 0.6], labels)
    assert result == {2: pytest.approx(0.75), 3: pytest.approx(0.4)}
