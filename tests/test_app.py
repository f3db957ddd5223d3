"""The home page on a small demo build, through Streamlit's AppTest (no browser)."""
from pathlib import Path

import pytest
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

