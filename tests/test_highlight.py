from matcher.highlight import CONFLICT, SHARED, highlight


def test_shared_words_and_amounts_are_marked_and_conflicting_amounts_stand_out():
    html = highlight("Susu Bear Brand 200 ml", "BEAR brand susu 400ml")
    assert f'<span style="{SHARED}">Bear</span>' in html and f'<span style="{SHARED}">Susu</span>' in html
    assert f'<span style="{CONFLICT}">200 ml</span>' in html
    same = highlight("Susu 1 L", "susu 1000 ml")
    assert f'<span style="{SHARED}">1 L</span>' in same          # the same amount in another unit


def test_an_amount_of_a_measure_the_other_does_not_state_is_left_plain():
    html = highlight("Kopi 200gr", "Kopi hitam")
    assert "200gr" in html and "200gr</span>" not in html


def test_markup_in_titles_is_escaped_before_marking():
    html = highlight('<script>alert("x")</script> kopi <b>', "kopi script")
    assert "<script>" not in html and "<b>" not in html
    assert "&lt;" in html and f'<span style="{SHARED}">script</span>' in html
    assert f'<span style="{SHARED}">kopi</span>' in html
