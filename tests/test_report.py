"""`report` end to end on the generated catalogue, checked against `evaluate` and `match` on the same data."""
import json

import numpy as np
import pandas as pd
import plotly.graph_objects as go
import pytest
from PIL import Image

from matcher.cli import main
from matcher.matching import GRID, RuleScorer
from matcher.report import save_figures, sweep

PNG = b"\x89PNG\r\n\x1a\n"


def read(path):
    return pd.read_csv(path, dtype=str, keep_default_na=False)


@pytest.fixture(scope="module")
def model(demo_dir, tmp_path_factory):
    """A quick build: one text channel and the pHash column."""
    out = tmp_path_factory.mktemp("art") / "quick"
    assert main(["build", "--catalog", str(demo_dir / "catalog.csv"), "--out", str(out),
                 "--channels", "tfidf_word", "--no-image-channel"]) == 0
    return out


def cli(command, model, catalog, *rest):
    return main([command, "--artifacts", str(model), "--catalog", str(catalog), *map(str, rest)])


def with_photos(demo_dir, *rest):
    return demo_dir / "catalog.csv", "--images", demo_dir / "images", *rest


@pytest.fixture(scope="module")
def report(model, demo_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("report")
    assert cli("report", model, *with_photos(demo_dir, "--out", out)) == 0
    return out


@pytest.fixture(scope="module")
def matched(model, demo_dir, tmp_path_factory):
    """Each posting id's matches, from `match` on the same data."""
    out = tmp_path_factory.mktemp("match") / "m.csv"
    assert cli("match", model, *with_photos(demo_dir, "--out", out)) == 0
    return {row.posting_id: set(row.matches.split()) for row in read(out).itertuples()}


@pytest.fixture(scope="module")
def group_of(demo_dir):
    catalog = read(demo_dir / "catalog.csv")
    return dict(zip(catalog["posting_id"], catalog["label_group"]))


def test_figures_are_offline_html_and_png(report):
    names = [p.stem for p in report.glob("*.html") if p.name != "index.html"]
    assert {"sweep_tfidf_word", "sweep_phash", "f1_by_group_size"} <= set(names)
    assert (report / "plotly.min.js").stat().st_size > 1_000_000  # shared, so the pages open offline
    index = (report / "index.html").read_text()
    for name in names:
        page = (report / f"{name}.html").read_text()
        assert 'src="plotly.min.js"' in page and "Plotly.newPlot" in page
        png = (report / f"{name}.png").read_bytes()
        assert png.startswith(PNG) and len(png) > 10_000
        assert f'href="{name}.html"' in index and f'src="{name}.png"' in index


def test_summary_agrees_with_evaluate(report, model, demo_dir, tmp_path):
    assert cli("evaluate", model, *with_photos(demo_dir, "--json", tmp_path / "m.json")) == 0
    metrics = json.loads((tmp_path / "m.json").read_text())
    summary = json.loads((report / "summary.json").read_text())
    for key in ("mean_f1", "precision", "recall"):
        assert summary[key] == pytest.approx(metrics[key], abs=1e-6)
    assert summary["strategy"] == metrics["strategy"] and summary["thresholds"] == metrics["thresholds"]
    assert summary["f1_by_group_size"] == pytest.approx(metrics["f1_by_group_size"])
    assert summary["counts"]["listings"] == 240 and summary["counts"]["false_matches"] > 0


def test_worst_false_matches_are_cross_group_matches_best_first(report, matched, group_of):
    pairs = read(report / "false_matches.csv")
    assert len(pairs) == min(50, json.loads((report / "summary.json").read_text())["counts"]["false_matches"])
    for a, b in zip(pairs["posting_id_a"], pairs["posting_id_b"]):
        assert group_of[a] != group_of[b]
        assert b in matched[a] or a in matched[b]
    scores = pairs["score"].astype(float)
    assert scores.is_monotonic_decreasing


def test_misses_are_same_group_pairs_left_unmatched(report, matched, group_of):
    pairs = read(report / "misses.csv")
    assert len(pairs) > 0
    for a, b in zip(pairs["posting_id_a"], pairs["posting_id_b"]):
        assert group_of[a] == group_of[b]
        assert b not in matched[a] and a not in matched[b]
    candidates = pairs["candidate"] == "True"
    assert candidates.is_monotonic_decreasing  # pairs never in the neighbour table come last
    assert pairs.loc[candidates, "score"].astype(float).is_monotonic_decreasing
    assert (pairs.loc[~candidates, "score"] == "").all()


def test_thumbnails_are_small_jpegs(report):
    index = (report / "index.html").read_text()
    thumbs = list((report / "thumbs").glob("*.jpg"))
    assert thumbs and all(f'src="thumbs/{t.name}"' in index for t in thumbs)
    with Image.open(thumbs[0]) as image:
        assert image.format == "JPEG" and max(image.size) <= 128


def test_titles_are_escaped_and_missing_photos_say_so(model, demo_dir, tmp_path):
    catalog = read(demo_dir / "catalog.csv")
    catalog["title"] += " <script>alert(1)</script>"
    catalog.to_csv(tmp_path / "hostile.csv", index=False)
    assert cli("report", model, tmp_path / "hostile.csv", "--out", tmp_path / "r") == 0
    index = (tmp_path / "r" / "index.html").read_text()
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in index and "<script" not in index
    assert "no --images" in index and not any((tmp_path / "r" / "thumbs").iterdir())


def test_unlabelled_catalogue_is_a_clear_error(model, demo_dir, tmp_path, capsys):
    read(demo_dir / "catalog.csv").drop(columns=["label_group"]).to_csv(tmp_path / "unlabelled.csv", index=False)
    assert cli("report", model, tmp_path / "unlabelled.csv", "--out", tmp_path / "r") == 2
    assert "label_group" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()


def test_sweep_f1_is_the_rule_scorers():
    rng = np.random.default_rng(0)
    query, candidate = rng.integers(0, 30, (2, 400))
    keep = query != candidate
    table = pd.DataFrame({"query": query[keep], "candidate": candidate[keep]})
    score = rng.random(len(table)).astype(np.float32)
    score[::7] = np.nan
    scorer = RuleScorer(table, rng.integers(0, 8, 30).astype(str))
    curve = sweep(scorer, score)
    assert curve["mean_f1"].to_numpy() == pytest.approx(scorer.sweep(np.zeros(len(table), bool), score, GRID))
    assert curve["recall"].is_monotonic_decreasing


def test_failed_png_export_keeps_the_html(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError("no browser\nhere")

    monkeypatch.setattr(go.Figure, "write_image", fail)
    messages = []
    assert save_figures({"f": go.Figure(go.Bar(y=[1]))}, tmp_path, messages.append) is False
    assert (tmp_path / "f.html").is_file() and not (tmp_path / "f.png").exists()
    assert messages == ["warning: PNG figures skipped (RuntimeError: no browser here)"]
