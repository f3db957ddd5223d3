"""The home page on a small demo build, through Streamlit's AppTest (no browser)."""
from pathlib import Path

import pytest
import streamlit as st
from streamlit.testing.v1 import AppTest

from matcher.workspace import ensure_demo

APP = str(Path(__file__).resolve().parent.parent / "app.py")


@pytest.fixture(scope="module")
def demo_root(tmp_path_factory):
    root = tmp_path_factory.mktemp("artifacts")
    ensure_demo(root, listings=150, log=lambda m: None)
    return root


def test_home_page_searches_the_demo(demo_root, monkeypatch):
    monkeypatch.setenv("MATCHER_ARTIFACTS", str(demo_root))
    app = AppTest.from_file(APP, default_timeout=120).run()
    assert not app.exception
    assert "generated demo catalogue" in app.info[0].value
    app.text_input[0].input("kopi").run()
    assert not app.exception
    assert app.expander, "searching a common product word finds listings"



def test_titles_with_markdown_are_shown_as_typed(demo_root, monkeypatch, tmp_path):
    import shutil

    import pandas as pd

    root = tmp_path / "artifacts"
    shutil.copytree(demo_root, root)
    listings_file = root / "demo" / "model" / "listings.parquet"
    listings = pd.read_parquet(listings_file)
    listings.loc[0, "title"] = "**zzmark** [click](http://example.invalid) <b>x</b>"
    listings.to_parquet(listings_file, index=False)
    monkeypatch.setenv("MATCHER_ARTIFACTS", str(root))
    st.cache_resource.clear()  # the artifacts folder is resolved once per process
    st.cache_data.clear()
    app = AppTest.from_file(APP, default_timeout=120).run()
    app.text_input[0].input("zzmark").run()
    assert not app.exception
    label = app.expander[0].label
    assert label.startswith(r"\*\*zzmark\*\*") and r"\[click\]" in label and r"\<b\>" in label
