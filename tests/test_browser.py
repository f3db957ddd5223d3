"""End to end in a real headless Chromium against `streamlit run app.py`: what a moderator does, click by click.

Search, inspect, confirm and reject, move a threshold, review with the keyboard,
reload and find the decisions kept, export a CSV and check its content. Each
page's screenshot goes to $MATCHER_SCREENSHOTS (the README's are made with
MATCHER_SCREENSHOTS=docs/screenshots), else to the test's temporary folder.
"""
import csv
import os
import re
import shutil
import signal
import sqlite3
from pathlib import Path

import pandas as pd
import pytest
from apprun import CHROMIUM, CHROMIUM_ARGS, start_app

from matcher.review import ReviewStore

playwright = pytest.importorskip("playwright.sync_api", reason="Playwright for Python is not installed (.ci/run installs it)")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(), reason=f"{CHROMIUM} missing: apt-get install -y chromium")


@pytest.fixture(scope="module")
def server(tmp_path_factory, demo_build):
    """The app on a copy of the 150-listing demo build, with its own review database; yields (url, database, root)."""
    work = tmp_path_factory.mktemp("browser")
    root = work / "artifacts"
    shutil.copytree(demo_build, root)
    process, url = start_app(root, work)
    yield url, work / "reviews.sqlite", root
    process.terminate()
    process.wait(timeout=20)


@pytest.fixture(scope="module")
def browser():
    with playwright.sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


def settle(page, expect: str | None = None, timeout: float = 90) -> None:
    """Wait until Streamlit has run the script: its status widget came (if it does within 2 s) and went,
    and `expect` is on the page."""
    try:
        page.wait_for_selector('[data-testid="stStatusWidget"]', timeout=2000)
    except playwright.TimeoutError:
        pass  # a fast rerun may come and go unseen
    page.wait_for_selector('[data-testid="stStatusWidget"]', state="detached", timeout=timeout * 1000)
    if expect:
        try:
            page.get_by_text(expect).first.wait_for(timeout=timeout * 1000)
        except playwright.TimeoutError:
            pytest.fail(f"{expect!r} never appeared; the page says: {page.inner_text('body')[:3000]}")


def shot(page, name: str, tmp_path) -> None:
    folder = Path(os.environ.get("MATCHER_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(folder / f"{name}.png"), full_page=False)


def no_traceback(page) -> None:
    text = page.inner_text("body")
    assert "Traceback" not in text and "Something went wrong" not in text, text[:2000]


def sign_in(page, name: str) -> None:
    page.get_by_label("Your name (recorded with each decision)").fill(name)
    page.keyboard.press("Enter")
    settle(page)


def go(page, title: str, expect: str) -> None:
    page.get_by_test_id("stSidebarNav").get_by_text(title, exact=True).click()
    settle(page, expect)
    no_traceback(page)


def test_a_moderator_searches_inspects_tunes_reviews_reloads_and_exports(server, browser, tmp_path):
    url, database, root = server
    listings = pd.read_parquet(root / "demo" / "model" / "listings.parquet")
    page = browser.new_page(viewport={"width": 1400, "height": 1000}, accept_downloads=True)
    page.goto(url)
    settle(page, "generated demo catalogue")
    no_traceback(page)
    shot(page, "catalogues", tmp_path)
    sign_in(page, "ana")

    go(page, "Search", "Search by")
    word = listings["title"][listings["title"].str.len() > 0].iloc[0].split()[0]
    page.get_by_label("Words in the title").fill(word)
    page.keyboard.press("Enter")
    settle(page)
    shot(page, "search", tmp_path)
    page.get_by_role("button", name="Inspect").first.click()
    settle(page, "candidates")
    no_traceback(page)
    shot(page, "inspect", tmp_path)
    page.get_by_role("button", name="Confirm").first.click()
    settle(page)
    page.get_by_role("button", name="Reject").nth(1).click()
    settle(page)
    store = ReviewStore(f"sqlite:///{database}")
    assert store.log("demo")["decision"].tolist() == ["confirmed", "rejected"]

    go(page, "Thresholds", "matched pairs")
    pairs = page.get_by_test_id("stMetric").filter(has_text="matched pairs").get_by_test_id("stMetricValue")
    before = pairs.inner_text()
    slider = page.get_by_role("slider").first
    slider.focus()
    for _ in range(15):
        page.keyboard.press("ArrowRight")
    settle(page)
    assert pairs.inner_text() != before, "moving a threshold changes the matched pairs"
    shot(page, "thresholds", tmp_path)

    go(page, "Review", "Same product?")
    shot(page, "review", tmp_path)
    page.keyboard.press("y")  # "Same product" by its shortcut
    settle(page)
    page.get_by_role("button", name="Different (N)").click()
    settle(page)
    assert store.log("demo")["decision"].tolist() == ["confirmed", "rejected", "confirmed", "rejected"]

    page.reload()  # a new session: the decisions are in the database, not the page
    settle(page, "Type your name in the sidebar")
    page.get_by_label("Your name (recorded with each decision)").fill("ana")
    page.keyboard.press("Enter")
    settle(page, "you decided")
    decided = page.get_by_test_id("stMetric").filter(has_text="you decided").get_by_test_id("stMetricValue")
    assert decided.inner_text() == "4"

    go(page, "Groups and export", "Export")
    shot(page, "groups", tmp_path)
    with page.expect_download() as download:
        page.get_by_role("button", name="Groups CSV").click()
    path = tmp_path / "groups.csv"
    download.value.save_as(path)
    with open(path, encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert list(rows[0]) == ["posting_id", "group_id", "status", "reviewer", "decided_at"]
    assert sorted(r["posting_id"] for r in rows) == sorted(listings["posting_id"])
    confirmed = store.for_grouping("demo")
    confirmed = confirmed[confirmed["decision"] == "confirmed"]
    by_id = {r["posting_id"]: r for r in rows}
    for a, b in zip(confirmed["posting_id_a"], confirmed["posting_id_b"]):
        assert by_id[a]["group_id"] == by_id[b]["group_id"] and by_id[a]["status"] == "confirmed"
        assert by_id[a]["reviewer"] == "ana"
    rejected = store.for_grouping("demo")
    for a, b in rejected.loc[rejected["decision"] == "rejected", ["posting_id_a", "posting_id_b"]].itertuples(index=False):
        assert by_id[a]["group_id"] != by_id[b]["group_id"]



def test_a_moderator_searches_by_photo_and_a_file_that_is_no_photo_is_refused(server, browser, tmp_path):
    url, _, root = server
    listings = pd.read_parquet(root / "demo" / "model" / "listings.parquet")
    images = root / "demo" / "catalog" / "images"
    listing = listings[listings["image"].map(lambda name: bool(name) and (images / name).is_file())].iloc[3]
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    settle(page, "generated demo catalogue")
    go(page, "Search", "Search by")
    page.get_by_text("Photo", exact=True).click()
    settle(page, "A photo of the product")
    page.locator("input[type=file]").set_input_files(str(images / listing["image"]))
    settle(page, "listings")
    no_traceback(page)
    captions = page.get_by_test_id("stCaptionContainer").all_inner_texts()
    own = [c for c in captions if c.startswith(listing["posting_id"] + " · photo ")]
    assert own and float(own[0].rsplit(" ", 1)[1]) >= 0.99, captions[:10]
    assert len([c for c in captions if " · photo " in c]) > 1, "the photo's neighbours are listed too"

    fake = tmp_path / "notes.jpg"
    fake.write_text("these are notes, not a photo")
    page.locator("input[type=file]").set_input_files(str(fake))
    settle(page, "That file cannot be used as a photo")
    no_traceback(page)


def test_a_catalogue_is_imported_and_built_from_the_browser(server, browser, tmp_path):
    from matcher.demo import write_demo_catalog

    url, _, root = server
    data = write_demo_catalog(tmp_path / "shop", listings=40, seed=3).parent
    photos = shutil.make_archive(str(tmp_path / "photos"), "zip", data / "images")
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    page.goto(url)
    settle(page, "Import a catalogue")
    page.get_by_label("Name (letters, digits, - and _)").fill("shop-a")
    page.locator("input[type=file]").nth(0).set_input_files(str(data / "catalog.csv"))
    page.locator("input[type=file]").nth(1).set_input_files(photos)
    page.get_by_role("button", name="Import and build").click()
    settle(page, "shop-a is built and open", timeout=300)
    listings = page.get_by_test_id("stMetric").filter(has_text="listings").get_by_test_id("stMetricValue")
    assert listings.inner_text() == "40", "the new catalogue is the one open"
    no_traceback(page)
    assert "40 listings loaded" in page.inner_text("body")
    assert (root / "shop-a" / "model" / "manifest.json").is_file()
    assert len(list((root / "shop-a" / "catalog" / "images").iterdir())) > 0
    page.get_by_label("Name (letters, digits, - and _)").fill("../evil")
    page.locator("input[type=file]").nth(0).set_input_files(str(data / "catalog.csv"))
    page.get_by_role("button", name="Import and build").click()
    settle(page, "is not allowed")
    assert not (root.parent / "evil").exists()


def test_decisions_the_page_acknowledged_survive_kill_9_of_the_app(demo_build, browser, tmp_path, record_property):
    """A burst of Y presses, the server killed with SIGKILL mid-burst: every decision the page said it saved is in
    the database, which is intact, and the restarted app shows them."""
    root = tmp_path / "artifacts"
    shutil.copytree(demo_build, root)
    process, url = start_app(root, tmp_path)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    acknowledged = set()

    def read_toasts():
        for text in page.get_by_test_id("stToast").all_inner_texts():
            if found := re.search(r"Saved confirmed: (\S+) – (\S+)", text):
                acknowledged.add(frozenset(found.groups()))

    try:
        page.goto(url)
        settle(page, "generated demo catalogue")
        sign_in(page, "kim")
        go(page, "Review", "Same product?")
        for _ in range(4):
            page.keyboard.press("y")
            settle(page)
            read_toasts()
        for _ in range(8):  # a burst that does not wait for the reruns
            page.keyboard.press("y")
            page.wait_for_timeout(120)
            read_toasts()
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=20)
    database = tmp_path / "reviews.sqlite"
    store = ReviewStore(f"sqlite:///{database}")
    log = store.log("demo")
    recorded = {frozenset(pair) for pair in zip(log["posting_id_a"], log["posting_id_b"])}
    record_property("acknowledged", len(acknowledged))
    record_property("recorded", len(recorded))
    record_property("lost", len(acknowledged - recorded))
    assert len(acknowledged) >= 4 and acknowledged <= recorded, (acknowledged, recorded)
    with sqlite3.connect(database) as connection:
        assert connection.execute("PRAGMA integrity_check").fetchone() == ("ok",)

    process, url = start_app(root, tmp_path)
    try:
        page.goto(url)
        settle(page, "generated demo catalogue")
        sign_in(page, "kim")
        go(page, "Review", "you decided")
        decided = page.get_by_test_id("stMetric").filter(has_text="you decided").get_by_test_id("stMetricValue")
        assert decided.inner_text() == str(store.progress("demo", "kim")["decided"])
    finally:
        process.terminate()
        process.wait(timeout=20)


HOSTILE_TITLE = '<script>window.__pwned = 1</script><img src=x onerror="window.__pwned = 2"> kopi 200 ml'
HOSTILE_ID = 'x"><img src=y onerror="window.__pwned = 3">'
HOSTILE_PHOTO = '"><img src=z onerror=alert(4)>.jpg'


def test_html_in_titles_ids_and_file_names_is_shown_as_text_never_run(server, browser, tmp_path):
    from matcher.demo import write_demo_catalog

    url, _, root = server
    csv_path = write_demo_catalog(tmp_path / "shop", listings=40, seed=5)
    frame = pd.read_csv(csv_path, dtype=str, keep_default_na=False)
    images = csv_path.parent / "images"
    (images / frame.at[1, "image"]).rename(images / HOSTILE_PHOTO)
    frame.loc[0, ["title", "posting_id"]] = [HOSTILE_TITLE, HOSTILE_ID]
    frame.at[1, "image"] = HOSTILE_PHOTO
    frame.to_csv(csv_path, index=False)
    photos = shutil.make_archive(str(tmp_path / "photos"), "zip", images)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    dialogs = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    page.goto(url)
    settle(page, "Import a catalogue")
    page.get_by_label("Name (letters, digits, - and _)").fill("hostile")
    page.locator("input[type=file]").nth(0).set_input_files(str(csv_path))
    page.locator("input[type=file]").nth(1).set_input_files(photos)
    page.get_by_role("button", name="Import and build").click()
    settle(page, "hostile is built and open", timeout=300)

    go(page, "Search", "Search by")
    page.get_by_label("Words in the title").fill("kopi")
    page.keyboard.press("Enter")
    settle(page, "<script>window.__pwned = 1</script>")
    page.get_by_text("Posting id", exact=True).click()
    settle(page, "Posting id (or its beginning)")
    page.get_by_label("Posting id (or its beginning)").fill('x">')
    page.keyboard.press("Enter")
    settle(page, HOSTILE_ID)
    page.get_by_role("button", name="Inspect").first.click()
    settle(page, "candidates")
    no_traceback(page)
    body = page.inner_text("body")
    assert HOSTILE_TITLE.split(" kopi")[0] in body and HOSTILE_ID in body
    assert page.evaluate("window.__pwned") is None and not dialogs, "markup from the catalogue ran"
    assert page.locator("img[src=x], img[src=y], img[src=z]").count() == 0
