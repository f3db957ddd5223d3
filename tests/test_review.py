"""The review store: an append-only log whose pair states (decisions, conflicts, resolutions, staleness) are
computed, on SQLite and, when MATCHER_TEST_POSTGRES_URL is set, on PostgreSQL too."""
import os
import sqlite3
import subprocess
import sys
import threading
import time
import uuid
from datetime import datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import sqlalchemy as sa

from matcher.matching import UnionRule
from matcher.review import (ReviewError, ReviewStore, catalogue_fingerprints, catalogue_name, decisions,
                            fingerprint, profiles)

CAT = "shop"
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(params=["sqlite", "postgres"])
def url(request, tmp_path):
    """A fresh, empty database: an SQLite file, or a schema of its own on the test PostgreSQL server."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'reviews.sqlite'}"
        return
    base = os.environ.get("MATCHER_TEST_POSTGRES_URL")
    if not base:
        pytest.skip("MATCHER_TEST_POSTGRES_URL is not set (.ci/run starts a throwaway PostgreSQL)")
    schema = f"test_{uuid.uuid4().hex[:12]}"
    admin = sa.create_engine(base)
    with admin.begin() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    yield sa.engine.make_url(base).update_query_dict({"options": f"-csearch_path={schema}"}).render_as_string(
        hide_password=False)
    with admin.begin() as conn:
        conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def open_store(url):
    """Opens as many stores on the one database as a test wants, all closed afterwards."""
    opened = []

    def open_():
        opened.append(ReviewStore(url))
        return opened[-1]

    yield open_
    for store in opened:
        store.close()


@pytest.fixture
def store(open_store):
    return open_store()


def states(store, fingerprints=None):
    """{(a, b): decision} of every decided pair."""
    frame = store.pairs(CAT, fingerprints)
    return dict(zip(zip(frame["posting_id_a"], frame["posting_id_b"]), frame["decision"]))


def test_a_decision_is_one_row_with_its_pair_ordered(store):
    before = datetime.now(timezone.utc)
    row_id = store.record(CAT, "p2", "p1", "confirmed", " ann ", fingerprints=("f2", "f1"), note="same box")
    log = store.log(CAT)
    assert len(log) == 1 and log["id"].tolist() == [row_id]
    row = log.iloc[0]
    assert (row["posting_id_a"], row["posting_id_b"], row["fingerprint_a"], row["fingerprint_b"]) == \
        ("p1", "p2", "f1", "f2")
    assert (row["decision"], row["reviewer"], row["note"], row["catalogue"]) == ("confirmed", "ann", "same box", CAT)
    assert before - timedelta(seconds=1) <= row["decided_at"] <= datetime.now(timezone.utc) + timedelta(seconds=1)
    assert str(log["decided_at"].dt.tz) == "UTC"
    assert store.log("other").empty and states(store) == {("p1", "p2"): "confirmed"}


@pytest.mark.parametrize("args, message", [
    (("p1", "p2", "maybe", "ann"), "must be one of"),
    (("p1", "p2", "retracted", "ann"), "undo"),
    (("p1", "p2", "confirmed", "  "), "reviewer"),
    (("p1", "p2", "confirmed", None), "reviewer"),
    (("p1", "p1", "confirmed", "ann"), "two different listings"),
    (("", "p2", "confirmed", "ann"), "posting_id_a"),
])
def test_bad_decisions_are_refused_with_a_clear_message(store, args, message):
    with pytest.raises(ValueError, match=message):
        store.record(CAT, *args)
    with pytest.raises(ValueError, match="resolution"):
        store.resolve(CAT, "p1", "p2", "skipped", "ann")
    assert store.log(CAT).empty


def test_undo_appends_a_retraction_and_restores_the_previous_state(store):
    first = store.record(CAT, "p1", "p2", "rejected", "ann")
    bob = store.record(CAT, "p3", "p4", "confirmed", "bob")
    changed = store.record(CAT, "p1", "p2", "confirmed", "ann")
    assert states(store) == {("p1", "p2"): "confirmed", ("p3", "p4"): "confirmed"}

    undone = store.undo(CAT, "ann")
    assert undone["id"] == changed and undone["decision"] == "confirmed"
    assert undone["decided_at"].tzinfo is not None
    assert states(store) == {("p1", "p2"): "rejected", ("p3", "p4"): "confirmed"}
    log = store.log(CAT)
    assert log["id"].tolist()[:3] == [first, bob, changed]            # nothing deleted or changed
    assert log["decision"].tolist() == ["rejected", "confirmed", "confirmed", "retracted"]
    assert log["retracts"].iloc[3] == changed and log["reviewer"].iloc[3] == "ann"

    assert store.undo(CAT, "ann")["id"] == first                      # undo again goes further back
    assert states(store) == {("p3", "p4"): "confirmed"}               # bob's decision untouched
    assert store.undo(CAT, "ann") is None
    assert store.undo("other", "bob") is None
    assert len(store.log(CAT)) == 5


def test_undoing_a_skip_puts_the_pair_back_in_the_queue(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.record(CAT, "p3", "p4", "skipped", "ann")
    assert store.reviewed(CAT, "ann") == {("p1", "p2"), ("p3", "p4")}
    assert store.undo(CAT, "ann")["decision"] == "skipped"
    assert store.reviewed(CAT, "ann") == {("p1", "p2")}
    assert store.reviewed(CAT, "bob") == set()


def test_skips_do_not_count(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.record(CAT, "p1", "p2", "skipped", "ann")       # a later skip leaves ann's decision in force
    store.record(CAT, "p1", "p2", "skipped", "bob")       # and bob's skip is no vote against it
    store.record(CAT, "p5", "p6", "skipped", "bob")
    pairs = store.pairs(CAT)
    assert states(store) == {("p1", "p2"): "confirmed"}
    assert pairs["reviewers"].tolist() == ["ann"] and pairs["votes"].tolist() == [{"ann": "confirmed"}]
    assert store.progress(CAT) == {"decided": 1, "confirmed": 1, "rejected": 0, "conflict": 0, "skipped": 1}
    assert store.progress(CAT, "bob") == {"decided": 0, "confirmed": 0, "rejected": 0, "conflict": 0, "skipped": 2}


def test_disagreement_is_a_conflict_until_a_resolution_supersedes_it(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.record(CAT, "p2", "p1", "rejected", "bob")
    store.record(CAT, "p3", "p4", "confirmed", "ann")
    store.record(CAT, "p3", "p4", "confirmed", "bob")
    pairs = store.pairs(CAT).set_index(["posting_id_a", "posting_id_b"])
    assert pairs.loc[("p1", "p2"), "decision"] == "conflict"
    assert pairs.loc[("p1", "p2"), "votes"] == {"ann": "confirmed", "bob": "rejected"}
    assert pairs.loc[("p1", "p2"), "reviewers"] == "ann, bob" and not pairs.loc[("p1", "p2"), "resolved"]
    assert pairs.loc[("p3", "p4"), "decision"] == "confirmed"          # agreement is no conflict
    grouping = store.for_grouping(CAT)
    assert grouping[["posting_id_a", "posting_id_b", "decision"]].values.tolist() == [["p3", "p4", "confirmed"]]
    assert store.progress(CAT, "ann")["conflict"] == 1 and store.progress(CAT, "dan")["conflict"] == 0

    store.resolve(CAT, "p1", "p2", "rejected", "cat", note="different sizes")
    resolved = store.pairs(CAT).set_index(["posting_id_a", "posting_id_b"]).loc[("p1", "p2")]
    assert (resolved["decision"], resolved["reviewers"], resolved["votes"], resolved["resolved"]) == \
        ("rejected", "cat", {"cat": "rejected"}, True)
    assert ("p1", "p2", "rejected") in {tuple(r) for r in store.for_grouping(CAT).iloc[:, :3].values}

    store.record(CAT, "p1", "p2", "rejected", "ann")                   # ann now agrees with the resolution
    assert states(store)[("p1", "p2")] == "rejected"
    store.record(CAT, "p1", "p2", "confirmed", "bob")                  # a new disagreement after it
    assert states(store)[("p1", "p2")] == "conflict"
    store.undo(CAT, "bob")
    assert states(store)[("p1", "p2")] == "rejected"
    store.undo(CAT, "cat")                                   # without the resolution the earlier votes count again:
    revived = store.pairs(CAT).set_index(["posting_id_a", "posting_id_b"]).loc[("p1", "p2")]
    assert revived["votes"] == {"ann": "rejected", "bob": "rejected"}   # bob's first and ann's last
    assert revived["decision"] == "rejected" and not revived["resolved"]


def test_undoing_a_resolution_brings_the_conflict_back(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.record(CAT, "p1", "p2", "rejected", "bob")
    store.resolve(CAT, "p1", "p2", "confirmed", "cat")
    assert states(store) == {("p1", "p2"): "confirmed"}
    assert store.undo(CAT, "cat")["decision"] == "resolved-confirmed"
    assert states(store) == {("p1", "p2"): "conflict"}


def test_each_reviewers_latest_decision_counts_and_decided_at_is_the_latest(store):
    store.record(CAT, "p1", "p2", "rejected", "ann")
    store.record(CAT, "p1", "p2", "confirmed", "bob")
    store.record(CAT, "p1", "p2", "confirmed", "ann")                  # ann changes her mind: agreement
    log = store.log(CAT)
    row = store.pairs(CAT).iloc[0]
    assert row["decision"] == "confirmed" and row["votes"] == {"ann": "confirmed", "bob": "confirmed"}
    assert row["decided_at"] == log["decided_at"].max()


def test_stale_when_a_listing_changed_since_the_decision_or_is_gone(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann", fingerprints=("f1", "f2"))
    store.record(CAT, "p3", "p4", "rejected", "ann", fingerprints=("f3", "f4"))
    store.record(CAT, "p5", "p6", "confirmed", "ann")                  # recorded without fingerprints
    store.record(CAT, "p7", "p8", "confirmed", "ann", fingerprints=("f7", "f8"))
    store.record(CAT, "p7", "p8", "confirmed", "bob", fingerprints=("f7", "f8-new"))
    now = {"p1": "f1", "p2": "f2", "p3": "f3", "p4": "f4-new", "p5": "x", "p6": "y", "p7": "f7", "p8": "f8-new"}

    def stale(fingerprints):
        frame = store.pairs(CAT, fingerprints)
        return dict(zip(frame["posting_id_a"], frame["stale"]))

    assert stale(now) == {"p1": False, "p3": True, "p5": False, "p7": True}   # ann saw p8's old version
    assert not any(stale(None).values())
    del now["p6"]
    assert stale(now)["p5"]                                             # a listing gone is stale whatever was recorded
    assert store.for_grouping(CAT, now)["posting_id_a"].tolist() == ["p1"]
    assert sorted(store.for_grouping(CAT)["posting_id_a"]) == ["p1", "p3", "p5", "p7"]


def test_progress_counts_pairs_and_each_reviewers_own_actions(store):
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.record(CAT, "p1", "p3", "rejected", "ann")
    store.record(CAT, "p1", "p3", "confirmed", "bob")
    store.record(CAT, "p1", "p4", "rejected", "bob")
    store.record(CAT, "p1", "p5", "skipped", "bob")
    store.resolve(CAT, "p1", "p6", "confirmed", "ann")
    assert store.progress(CAT) == {"decided": 4, "confirmed": 2, "rejected": 1, "conflict": 1, "skipped": 1}
    assert store.progress(CAT, "ann") == {"decided": 3, "confirmed": 2, "rejected": 1, "conflict": 1, "skipped": 0}
    assert store.progress(CAT, "bob") == {"decided": 2, "confirmed": 1, "rejected": 1, "conflict": 1, "skipped": 1}


def test_decisions_survive_reopening_the_database(url, open_store):
    first = open_store()
    first.record(CAT, "p1", "p2", "confirmed", "ann")
    first.record(CAT, "p3", "p4", "rejected", "bob")
    first.save_profile(CAT, "strict", UnionRule({"text": 0.8}).to_dict(), "ann")
    first.close()
    again = open_store()
    assert again.log(CAT)[["posting_id_a", "decision"]].values.tolist() == [["p1", "confirmed"], ["p3", "rejected"]]
    assert again.profile(CAT, "strict")["thresholds"] == {"text": 0.8}
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///")) as conn:
            assert conn.execute("PRAGMA journal_mode").fetchone() == ("wal",)


def test_the_store_refuses_to_update_or_delete_through_its_schema(store):
    # a retraction must name the row it undoes, and only retractions may
    with store.engine.begin() as conn, pytest.raises(sa.exc.IntegrityError):
        conn.execute(sa.insert(decisions).values(catalogue=CAT, posting_id_a="a", posting_id_b="b",
                                                 decision="retracted", reviewer="ann",
                                                 decided_at=datetime.now(timezone.utc)))


def record_many(store, barrier, reviewer, count):
    barrier.wait()
    for i in range(count):
        store.record(CAT, "p1", "p2", "confirmed" if i % 2 else "rejected", reviewer, note=f"{reviewer}-{i}")


def test_concurrent_writers_in_threads_are_all_kept_once(open_store):
    stores = [open_store(), open_store()]                  # two app sessions, three threads each
    barrier = threading.Barrier(6)
    threads = [threading.Thread(target=record_many, args=(stores[t % 2], barrier, f"r{t}", 15)) for t in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    log = stores[0].log(CAT)
    assert len(log) == 90 and log["id"].is_unique
    assert sorted(log["note"]) == sorted(f"r{t}-{i}" for t in range(6) for i in range(15))
    assert store_votes(stores[1]) == {f"r{t}": "rejected" for t in range(6)}    # each one's last (i = 14: even)


def store_votes(store):
    return store.pairs(CAT)["votes"].iloc[0]


def test_concurrent_undos_retract_each_row_exactly_once(open_store):
    stores = [open_store(), open_store()]
    ids = [stores[0].record(CAT, f"p{i}", f"q{i}", "confirmed", "ann") for i in range(12)]
    barrier, undone = threading.Barrier(4), []

    def undo_three(store):
        barrier.wait()
        undone.extend(store.undo(CAT, "ann")["id"] for _ in range(3))

    threads = [threading.Thread(target=undo_three, args=(stores[t % 2],)) for t in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(undone) == ids
    log = stores[1].log(CAT)
    assert sorted(log["retracts"].dropna().astype(int)) == ids
    assert stores[1].undo(CAT, "ann") is None and stores[1].pairs(CAT).empty


WRITER = """
import pathlib, sys, time
from matcher.review import ReviewStore
url, name, go, count = sys.argv[1], sys.argv[2], pathlib.Path(sys.argv[3]), int(sys.argv[4])
store = ReviewStore(url)
(go.parent / f"ready-{name}").touch()
while not go.exists():
    time.sleep(0.002)
for i in range(count):
    store.record("shop", "p1", "p2", "confirmed", name, note=f"{name}-{i}")
"""


def test_two_processes_writing_the_same_pair_at_once_are_both_kept(url, store, tmp_path):
    go = tmp_path / "go"
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, url, name, str(go), "40"], cwd=REPO)
             for name in ("ann", "bob")]
    deadline = time.monotonic() + 120
    while not all((tmp_path / f"ready-{n}").exists() for n in ("ann", "bob")) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()                                              # both start writing at once
    assert [p.wait(timeout=120) for p in procs] == [0, 0]
    log = store.log(CAT)
    assert len(log) == 80 and log["id"].is_unique
    assert sorted(log["note"]) == sorted(f"{n}-{i}" for n in ("ann", "bob") for i in range(40))


def test_profiles_latest_save_wins_and_delete_appends_a_tombstone(store):
    loose = UnionRule({"text": 0.5}, max_matches=20).to_dict()
    strict = UnionRule({"text": 0.9, "phash": 0.8}).to_dict()
    store.save_profile(CAT, "team", loose, "ann")
    store.save_profile(CAT, "team", strict, "bob")
    store.save_profile(CAT, "mine", loose, "ann")
    store.save_profile("other", "theirs", loose, "dan")
    saved = store.profiles(CAT)
    assert saved["name"].tolist() == ["mine", "team"] and saved["author"].tolist() == ["ann", "bob"]
    assert UnionRule.from_dict(store.profile(CAT, "team")) == UnionRule.from_dict(strict)
    assert str(saved["saved_at"].dt.tz) == "UTC"

    store.delete_profile(CAT, "team", "cat")
    assert store.profiles(CAT)["name"].tolist() == ["mine"]
    with pytest.raises(ReviewError, match="no saved profile 'team' .*saved: mine"):
        store.profile(CAT, "team")
    with pytest.raises(ValueError, match="no saved profile"):
        store.delete_profile(CAT, "team", "cat")
    with store.engine.connect() as conn:                    # every save and the tombstone are kept
        assert conn.execute(sa.select(sa.func.count()).select_from(profiles)).scalar() == 5
    store.save_profile(CAT, "team", loose, "ann")           # a deleted name can be saved again
    assert store.profile(CAT, "team")["max_matches"] == 20


@pytest.mark.parametrize("rule", [{"thresholds": {"text": 0.5}}, {"max_matches": 5}, "text>0.5"])
def test_a_profile_must_be_a_rule(store, rule):
    with pytest.raises(ValueError, match="not a rule"):
        store.save_profile(CAT, "bad", rule, "ann")


def test_the_default_database_comes_from_the_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("MATCHER_DB", f"sqlite:///{tmp_path / 'nested' / 'reviews.sqlite'}")
    store = ReviewStore()
    store.record(CAT, "p1", "p2", "confirmed", "ann")
    store.close()
    assert (tmp_path / "nested" / "reviews.sqlite").is_file()


@pytest.mark.parametrize("url, message", [
    ("not a url", "not a usable database URL"),
    ("nosuchdb://host/db", "not a usable database URL"),
    ("postgresql+psycopg://ann:secret@127.0.0.1:1/none", "cannot open the review database"),
])
def test_an_unusable_database_is_a_clear_error(url, message):
    with pytest.raises(ReviewError, match=message) as error:
        ReviewStore(url)
    assert "secret" not in str(error.value)


@pytest.mark.parametrize("folder, name", [("artifacts/demo/model", "demo"), ("artifacts/demo/model/", "demo"),
                                          ("artifacts/shoes", "shoes"), ("/data/model", "data")])
def test_catalogue_name_of_an_artifacts_folder(folder, name):
    assert catalogue_name(folder) == name


def test_fingerprints_change_with_what_a_moderator_sees():
    base = fingerprint("Kopi 200g", "a.jpg", "ff00")
    assert len(base) == 12 and base == fingerprint("Kopi 200g", "a.jpg", "ff00")
    assert len({base, fingerprint("Kopi 400g", "a.jpg", "ff00"), fingerprint("Kopi 200g", "b.jpg", "ff00"),
                fingerprint("Kopi 200g", "a.jpg", "ff01")}) == 4
    assert fingerprint("t", None, np.nan) == fingerprint("t", "", "")
    listings = pd.DataFrame({"posting_id": ["1", "2"], "title": ["Kopi 200g", "Teh"], "image": ["a.jpg", "b.jpg"],
                             "image_phash": ["ff00", ""]})
    assert catalogue_fingerprints(listings) == {"1": base, "2": fingerprint("Teh", "b.jpg", "")}
    assert catalogue_fingerprints(listings.drop(columns="image_phash"))["1"] == fingerprint("Kopi 200g", "a.jpg", "")
