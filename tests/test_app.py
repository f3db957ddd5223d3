"""Each page of the app on a small demo build, through Streamlit's AppTest (no browser)."""
import shutil
from pathlib import Path

import pandas as pd
import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from matcher import ui
from matcher.explore import Explorer
from matcher.review import ReviewStore

APP = str(Path(__file__).resolve().parent.parent / "app.py")
PAGES = ["pages/1_Search.py", "pages/2_Inspect.py", "pages/3_Thresholds.py", "pages/4_Review.py", "pages/5_Groups.py"]


@pytest.fixture
def env(demo_build, tmp_path, monkeypatch):
    """A fresh review database and cache per test, on a copy of the demo build."""
    root = tmp_path / "artifacts"
    shutil.copytree(demo_build, root)
    monkeypatch.setenv("MATCHER_ARTIFACTS", str(root))
    monkeypatch.setenv("MATCHER_DB", f"sqlite:///{tmp_path / 'reviews.sqlite'}")
    monkeypatch.setenv("MATCHER_CACHE", str(tmp_path / "cache"))
    st.cache_resource.clear()  # settings, builds and the store are loaded once per process
    st.cache_data.clear()
    yield root
    st.cache_resource.clear()


def app(page=None, reviewer=None) -> AppTest:
    at = AppTest.from_file(APP, default_timeout=120)
    if reviewer:
        at.session_state[ui.REVIEWER] = reviewer
    at.run()
    if page:
        at.switch_page(page).run()
    assert not at.exception, at.exception
    return at


def store(env) -> ReviewStore:
    return ReviewStore(f"sqlite:///{env.parent / 'reviews.sqlite'}")


def listings(env) -> pd.DataFrame:
    return pd.read_parquet(env / "demo" / "model" / "listings.parquet")


def metric(at, label: str) -> str:
    return next(m.value for m in at.metric if m.label == label)


def test_home_page_shows_the_demo_catalogue(env):
    at = app()
    assert at.selectbox(key="home_catalogue").value == "demo"
    assert metric(at, "listings") == "150"
    assert "generated demo catalogue" in " ".join(m.value for m in at.markdown)


def test_every_page_opens_without_an_error(env):
    at = app()
    for page in PAGES:
        at.switch_page(page).run()
        assert not at.exception and not at.error, page


def test_search_by_words_and_by_posting_id(env):
    frame = listings(env)
    word = frame["title"][frame["title"].str.len() > 0].iloc[0].split()[0]
    at = app("pages/1_Search.py")
    at.text_input(key="search_words").input(word).run()
    found = [b for b in at.button if b.label == "Inspect"]
    assert found and len(found) == (frame["title"].str.lower().str.contains(word.lower(), regex=False)).sum().clip(max=60)
    at.radio(key="search_by").set_value("Posting id").run()
    at.text_input(key="search_id").input(frame["posting_id"].iat[7]).run()
    assert [c.value for c in at.caption if c.value.startswith(frame["posting_id"].iat[7])]


def test_inspect_confirms_and_rejects_candidates(env):
    posting_id = listings(env)["posting_id"].iat[0]
    at = AppTest.from_file(APP, default_timeout=120)
    at.session_state[ui.INSPECT] = posting_id
    at.session_state[ui.REVIEWER] = "ana"
    at.run()
    at.switch_page("pages/2_Inspect.py").run()
    assert not at.exception
    confirms = [b for b in at.button if b.label == "Confirm"]
    assert confirms, "the listing's candidates are shown with decision buttons"
    confirms[0].click().run()
    [b for b in at.button if b.label == "Reject"][1].click().run()
    log = store(env).log("demo")
    assert log["decision"].tolist() == ["confirmed", "rejected"] and set(log["reviewer"]) == {"ana"}
    assert (log["posting_id_a"] == posting_id).sum() + (log["posting_id_b"] == posting_id).sum() == 2


def test_a_threshold_change_updates_the_counts_and_a_profile_is_saved(env):
    at = app("pages/3_Thresholds.py", reviewer="ana")
    before = int(metric(at, "matched pairs").replace(",", ""))
    slider = at.slider[0]
    slider.set_value(1.0).run()
    after = int(metric(at, "matched pairs").replace(",", ""))
    assert after < before
    at.text_input(key="profile_name").input("strict")
    at.button(key="profile_save").click().run()
    assert not at.exception
    saved = store(env).profiles("demo")
    assert saved["name"].tolist() == ["strict"] and saved["author"].tolist() == ["ana"]


def test_review_records_decisions_and_undo_retracts_the_last(env):
    at = app("pages/4_Review.py", reviewer="ana")
    yes = next(b for b in at.button if b.label.startswith("Same product"))
    yes.click().run()
    no = next(b for b in at.button if b.label.startswith("Different"))
    no.click().run()
    log = store(env).log("demo")
    assert log["decision"].tolist() == ["confirmed", "rejected"]
    next(b for b in at.button if b.label.startswith("Undo")).click().run()
    log = store(env).log("demo")
    assert log["decision"].tolist() == ["confirmed", "rejected", "retracted"]
    assert store(env).progress("demo", "ana")["decided"] == 1


def test_groups_move_out_records_rejections_and_export_is_offered(env):
    at = app("pages/5_Groups.py", reviewer="ana")
    moves = [b for b in at.button if b.label == "Move out"]
    assert moves
    moves[0].click().run()
    assert not at.exception
    log = store(env).log("demo")
    assert len(log) >= 1 and set(log["decision"]) == {"rejected"}
    downloads = at.get("download_button")
    assert len(downloads) == 2


def test_conflicting_decisions_are_shown_and_resolved(env):
    ids = listings(env)["posting_id"]
    reviews = store(env)
    reviews.record("demo", ids[0], ids[1], "confirmed", "ana")
    reviews.record("demo", ids[0], ids[1], "rejected", "ben")
    at = app("pages/4_Review.py", reviewer="cleo")
    assert metric(at, "conflicts") == "1"
    next(b for b in at.button if b.label == "Resolve: rejected").click().run()
    assert not at.exception
    pair = reviews.pairs("demo")
    assert pair["decision"].tolist() == ["rejected"] and bool(pair["resolved"].iat[0])
    assert metric(at, "conflicts") == "0"


def test_merging_two_groups_confirms_a_pair_between_them(env):
    at = app("pages/5_Groups.py", reviewer="ana")
    captions = [c.value for c in at.caption if c.value.startswith("demo_")]
    first, second = captions[0], captions[-1]  # the first shown group's first listing, the last's last
    at.text_input(key="merge_first").input(first)
    at.text_input(key="merge_second").input(second)
    at.button(key="merge_submit").click().run()
    assert not at.exception
    log = store(env).log("demo")
    assert log["decision"].tolist() == ["confirmed"]
    ex = Explorer(env / "demo" / "model")
    groups = ex.groups(ex.apply(ex.rule), store(env).for_grouping("demo"))
    assert groups.labels[ex.position(first)] == groups.labels[ex.position(second)]
    at.text_input(key="groups_find").input(second).run()
    assert f"{(groups.labels == groups.labels[ex.position(first)]).sum()} listings" in " ".join(m.value for m in at.markdown)
