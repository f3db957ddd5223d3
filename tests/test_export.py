"""Exports: groups with their review status, the submission format, safe CSV cells, and the `export` command."""
import io

import numpy as np
import pandas as pd
import pytest

from matcher.cli import main
from matcher.export import (FORMULA_STARTS, csv_bytes, export_frame, export_groups, groups_frame, neutralise,
                            submission_frame, write_csv)
from matcher.grouping import GroupingConfig, group_id
from matcher.matching import UnionRule
from matcher.review import ReviewStore

IDS = ["a0", "a1", "a2", "b0", "b1", "c0", "-d0", "e0", "f0", "f1"]
RULE = UnionRule({"text": 0.5})
T1, T2, T3 = (pd.Timestamp(f"2024-05-0{d} 10:20:30.5", tz="UTC") for d in (1, 2, 3))
HOSTILE = '=HYPERLINK("http://x","Zoë")'


def table(edges):
    """A neighbour table from (a, b, similarity) triples of posting ids, both directions."""
    rows = [(IDS.index(a), IDS.index(b), s) for a, b, s in edges]
    rows += [(b, a, s) for a, b, s in rows]
    q, c, s = zip(*rows)
    return pd.DataFrame({"query": np.array(q, np.int32), "candidate": np.array(c, np.int32),
                         "sim_text": np.array(s, np.float16)})


TABLE = table([("a0", "a1", 0.9), ("a1", "a2", 0.8), ("b0", "b1", 0.9), ("c0", "-d0", 0.3), ("f0", "f1", 0.7)])


def decided(*rows):
    """A `ReviewStore.for_grouping` frame from (a, b, decision, reviewers, decided_at) rows."""
    return pd.DataFrame(rows, columns=["posting_id_a", "posting_id_b", "decision", "reviewers", "decided_at"])


DECISIONS = decided(("a0", "a2", "confirmed", "ann", T1),
                    ("a0", "a1", "confirmed", "bob", T2),
                    ("b0", "b1", "rejected", "ann", T3),
                    ("-d0", "c0", "confirmed", HOSTILE, T3),
                    ("gone", "zz", "confirmed", "ann", T3))        # listings no longer in the catalogue


def members(*ids):
    return group_id(list(ids))


def test_groups_frame_gives_each_listing_its_group_status_and_latest_confirmation():
    groups = export_groups(TABLE, RULE, IDS, DECISIONS, GroupingConfig())
    frame = groups_frame(groups, IDS, DECISIONS)
    a, cd, f = members("a0", "a1", "a2"), members("c0", "-d0"), members("f0", "f1")
    t1, t2, t3 = "2024-05-01T10:20:30+00:00", "2024-05-02T10:20:30+00:00", "2024-05-03T10:20:30+00:00"
    assert frame.columns.tolist() == ["posting_id", "group_id", "status", "reviewer", "decided_at"]
    assert frame.values.tolist() == [
        ["a0", a, "confirmed", "bob", t2],             # tied by ann at T1 and bob at T2: the latest wins
        ["a1", a, "confirmed", "bob", t2],
        ["a2", a, "confirmed", "ann", t1],
        ["b0", members("b0"), "single", "", ""],       # the model's pair, rejected
        ["b1", members("b1"), "single", "", ""],
        ["c0", cd, "confirmed", HOSTILE, t3],          # below the threshold, joined by the confirmation
        ["-d0", cd, "confirmed", HOSTILE, t3],
        ["e0", members("e0"), "single", "", ""],
        ["f0", f, "model", "", ""],
        ["f1", f, "model", "", ""],
    ]


def test_a_listing_the_model_adds_to_a_confirmed_pair_is_marked_model():
    decisions = decided(("a0", "a2", "confirmed", "ann", T1))
    frame = groups_frame(export_groups(TABLE, RULE, IDS, decisions), IDS, decisions).set_index("posting_id")
    assert frame.loc[["a0", "a1", "a2"], "status"].tolist() == ["confirmed", "model", "confirmed"]
    assert frame.loc["a1", "reviewer"] == "" and frame.loc["a2", "reviewer"] == "ann"


def test_confirmed_only_leaves_the_model_out():
    groups = export_groups(TABLE, RULE, IDS, DECISIONS, confirmed_only=True)
    frame = groups_frame(groups, IDS, DECISIONS).set_index("posting_id")
    assert frame["status"].to_dict() == {"a0": "confirmed", "a1": "confirmed", "a2": "confirmed", "b0": "single",
                                         "b1": "single", "c0": "confirmed", "-d0": "confirmed", "e0": "single",
                                         "f0": "single", "f1": "single"}
    assert frame.loc["f0", "group_id"] == members("f0")


def test_submission_lists_each_listings_group_itself_first():
    groups = export_groups(TABLE, RULE, IDS, DECISIONS)
    frame = submission_frame(groups, IDS)
    assert frame.columns.tolist() == ["posting_id", "matches"]
    assert frame.values.tolist() == [["a0", "a0 a1 a2"], ["a1", "a1 a0 a2"], ["a2", "a2 a0 a1"], ["b0", "b0"],
                                     ["b1", "b1"], ["c0", "c0 -d0"], ["-d0", "-d0 c0"], ["e0", "e0"],
                                     ["f0", "f0 f1"], ["f1", "f1 f0"]]
    assert export_frame("submission", groups, IDS, DECISIONS).equals(frame)
    with pytest.raises(ValueError, match="groups"):
        export_frame("xlsx", groups, IDS, DECISIONS)


@pytest.mark.parametrize("cell, safe", [("=1+1", "'=1+1"), ("+62 812", "'+62 812"), ("-d0", "'-d0"),
                                        ("@SUM(A1)", "'@SUM(A1)"), ("\tx", "'\tx"), ("\rx", "'\rx"),
                                        ("a=b", "a=b"), ("", ""), ("Zoë", "Zoë")])
def test_formula_cells_are_neutralised(cell, safe):
    frame = pd.DataFrame({"text": [cell], "number": [-1]})
    assert neutralise(frame).values.tolist() == [[safe, -1]]
    assert frame["text"].iat[0] == cell                      # the caller's frame is left alone


def test_columns_of_every_kind_are_neutralised_cell_by_cell_rule():
    frame = pd.DataFrame({"text": ["=1", "x", "@a"], "category": pd.Series(["+1", "b", "+1"], dtype="category"),
                          "mixed": ["-x", 2.5, None], "empty": [None] * 3, "number": [-1, 2, 3],
                          "time": pd.to_datetime(["2026-01-01"] * 3, utc=True)})
    one_by_one = frame.map(lambda c: "'" + c if isinstance(c, str) and c.startswith(FORMULA_STARTS) else c)
    assert neutralise(frame).values.tolist() == one_by_one.values.tolist()
    assert neutralise(frame)["text"].tolist() == ["'=1", "x", "'@a"] and frame["text"].iat[0] == "=1"


def test_written_csv_is_utf8_with_every_text_cell_neutralised(tmp_path):
    groups = export_groups(TABLE, RULE, IDS, DECISIONS)
    path = write_csv(groups_frame(groups, IDS, DECISIONS), tmp_path / "out" / "groups.csv")
    raw = path.read_bytes()
    assert b"'=HYPERLINK" in raw and "Zoë".encode("utf-8") in raw and not raw.startswith(b"\xef\xbb\xbf")
    back = pd.read_csv(path, dtype=str, keep_default_na=False, encoding="utf-8")
    assert back.loc[5:6, "reviewer"].tolist() == ["'" + HOSTILE] * 2
    assert back["posting_id"].tolist() == [("'" + i if i.startswith("-") else i) for i in IDS]
    submission = pd.read_csv(io.BytesIO(csv_bytes(submission_frame(groups, IDS))), dtype=str)
    assert submission.loc[6].tolist() == ["'-d0", "'-d0 c0"]


def test_decisions_from_the_store_steer_the_export_and_conflicts_stay_out(tmp_path):
    store = ReviewStore(f"sqlite:///{tmp_path / 'reviews.sqlite'}")
    store.record("shop", "b0", "b1", "confirmed", "ann")
    store.record("shop", "b0", "b1", "rejected", "bob")     # a conflict: the model's pair stands
    store.record("shop", "e0", "a0", "confirmed", "ann")
    decisions = store.for_grouping("shop")
    frame = groups_frame(export_groups(TABLE, RULE, IDS, decisions), IDS, decisions).set_index("posting_id")
    assert frame.loc[["b0", "b1"], "status"].tolist() == ["model", "model"]
    assert frame.loc["e0", "group_id"] == members("a0", "a1", "a2", "e0")
    assert frame.loc["e0", "decided_at"] == store.log("shop")["decided_at"].iat[2].isoformat(timespec="seconds")
    store.close()


# --- the command ---------------------------------------------------------------------------


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def shop(demo_dir, tmp_path_factory):
    """A quick build (60 unlabelled listings, one text channel, default thresholds) in artifacts/shop/model."""
    root = tmp_path_factory.mktemp("export")
    read(demo_dir / "catalog.csv").head(60).drop(columns="label_group").to_csv(root / "shop.csv", index=False)
    folder = root / "artifacts" / "shop" / "model"
    assert main(["build", "--catalog", str(root / "shop.csv"), "--out", str(folder),
                 "--channels", "tfidf_word"]) == 0
    return folder


def export(folder, db, out, *options):
    return main(["export", "--artifacts", str(folder), "--db", db, "--out", str(out), *options])


def test_export_command_applies_the_catalogues_decisions(shop, tmp_path, capsys):
    db = f"sqlite:///{tmp_path / 'reviews.sqlite'}"
    assert export(shop, db, tmp_path / "before.csv") == 0
    before = read(tmp_path / "before.csv")
    assert before["status"].isin(["model", "single"]).all() and (before["status"] == "model").any()
    by_group = before.groupby("group_id")["posting_id"].apply(list)
    u, v = next(ids for ids in by_group if len(ids) > 1)[:2]                  # the model put them together
    x, y = by_group.iloc[0][0], by_group.iloc[1][0]                            # the model kept them apart

    store = ReviewStore(db)
    store.record("shop", u, v, "rejected", "ann")
    store.record("shop", x, y, "confirmed", "bob")
    store.record("other", u, v, "confirmed", "bob")                           # another catalogue's: ignored
    store.save_profile("shop", "nothing", UnionRule({"tfidf_word": 1.01, "phash": 1.01}).to_dict(), "ann")
    store.save_profile("shop", "photos", UnionRule({"image": 0.5}).to_dict(), "ann")
    store.close()

    assert export(shop, db, tmp_path / "after.csv") == 0
    after = read(tmp_path / "after.csv").set_index("posting_id")
    assert after.loc[u, "group_id"] != after.loc[v, "group_id"]
    assert after.loc[x, "group_id"] == after.loc[y, "group_id"]
    assert after.loc[[x, y], "status"].tolist() == ["confirmed", "confirmed"]
    assert after.loc[[x, y], "reviewer"].tolist() == ["bob", "bob"]
    assert "Catalogue 'shop': 2 decided pairs used, 0 in conflict and 0 stale left out" in capsys.readouterr().err

    assert export(shop, db, tmp_path / "sub.csv", "--format", "submission", "--confirmed-only") == 0
    sub = read(tmp_path / "sub.csv").set_index("posting_id")["matches"]
    assert sub.index.tolist() == before["posting_id"].tolist()
    assert sub[x].split() == [x, y] and sub[y].split() == [y, x]
    assert (sub.drop([x, y]).str.split().str.len() == 1).all()
    assert export(shop, db, tmp_path / "profile.csv", "--format", "submission", "--profile", "nothing") == 0
    assert read(tmp_path / "profile.csv").equals(read(tmp_path / "sub.csv"))   # no model pairs left either way

    assert export(shop, db, tmp_path / "x.csv", "--profile", "photos") == 2
    assert export(shop, db, tmp_path / "x.csv", "--profile", "missing") == 2
    err = capsys.readouterr().err
    assert "channels this build does not have" in err and "no saved profile 'missing'" in err
    assert export(shop, db, tmp_path / "other.csv", "--catalogue", "other") == 0
    other = read(tmp_path / "other.csv").set_index("posting_id")
    assert other.loc[u, "group_id"] == other.loc[v, "group_id"] and other.loc[u, "status"] == "confirmed"


def test_export_command_errors_are_one_message(shop, tmp_path, capsys):
    assert export(shop, "nosuchdb://x", tmp_path / "x.csv") == 2
    assert export(tmp_path / "nothing", f"sqlite:///{tmp_path / 'r.sqlite'}", tmp_path / "x.csv") == 2
    err = capsys.readouterr().err
    assert "not a usable database URL" in err and "build" in err
    assert not (tmp_path / "x.csv").exists()
