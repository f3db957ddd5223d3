"""Fusion strategies and grouping on real Shopee listings and on the demo catalogue with photos.

Split: a label group of ../shared/data/shopee/dev.csv is TEST when
int(sha1(label_group), 16) % 3 == 0, the rest TRAIN; each part is matched only
within itself. `build` on TRAIN tunes every strategy (and each channel alone) on
held-out groups of TRAIN; every rule it stored is then scored on TEST, from the
one neighbour table `match` makes of TEST. The competition's TF-IDF-or-pHash
baseline is measured by the same split (bench/text_shopee.py's recipe).

    python bench/fusion.py                 # writes docs/fusion-benchmark.md and docs/fusion-benchmark.json
    python bench/fusion.py --skip-timing   # without the whole-catalogue build timed for fusion and grouping

The demo part builds a generated catalogue with photos the same way (text,
photos, pHash), since no real catalogue with both titles and photos is at hand.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

import pandas as pd

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from text_shopee import DATA, baseline  # noqa: E402

from matcher.build import STRATEGIES_FILE, BuildConfig, build  # noqa: E402
from matcher.catalog import Catalog, load_catalog  # noqa: E402
from matcher.demo import write_demo_catalog  # noqa: E402
from matcher.grouping import GroupingConfig, group_table  # noqa: E402
from matcher.matching import UnionRule, match_sets  # noqa: E402
from matcher.metric import score_matches  # noqa: E402
from matcher.predict import Model, match_catalog  # noqa: E402
from matcher.scorer import LEARNED  # noqa: E402
from matcher.split import held_out_mask  # noqa: E402

QUIET = {"log": lambda message: None}


def split(catalog: Catalog) -> tuple[Catalog, Catalog]:
    test = held_out_mask(catalog.labels, modulus=3)
    return catalog.subset(~test), catalog.subset(test)


def scores(table: pd.DataFrame, rule: UnionRule, labels) -> dict:
    sets = match_sets(table, len(labels), rule)
    s = score_matches(sets, labels)
    return {"mean_f1": round(s.mean_f1, 4), "precision": round(s.mean_precision, 4),
            "recall": round(s.mean_recall, 4)}


def grouped(table: pd.DataFrame, rule: UnionRule, catalog: Catalog, config: GroupingConfig) -> dict:
    """The chosen rule's matches turned into groups (the build's tuned guards), scored as each listing's group."""
    groups = group_table(table, rule, catalog.posting_ids, config=config)
    s = score_matches(groups.match_sets(), catalog.labels)
    return {"mean_f1": round(s.mean_f1, 4), "precision": round(s.mean_precision, 4),
            "recall": round(s.mean_recall, 4), "dropped": groups.dropped}


def every_rule(train: Catalog, test: Catalog, work: Path, **config) -> dict:
    """Build on TRAIN; score each stored strategy and each channel alone on TEST."""
    started = time.perf_counter()
    build(train, work, BuildConfig(**config), log=lambda m: print("  " + m, flush=True))
    built = time.perf_counter() - started
    stored = json.loads((work / STRATEGIES_FILE).read_text())
    model = Model.load(work)
    started = time.perf_counter()
    result = match_catalog(model, test, **QUIET)
    matched = time.perf_counter() - started
    columns = {c[len("sim_"):] for c in result.table.columns if c.startswith("sim_")}
    rows = {}
    for kind in ("strategies", "channels_alone"):
        for name, entry in stored[kind].items():
            rule = UnionRule.from_dict(entry["rule"]).restricted_to(columns)
            rows[f"{kind}:{name}"] = {**scores(result.table, rule, test.labels), "tuned_f1": round(entry["mean_f1"], 4),
                                      "rule": rule.to_dict()}
    chosen = UnionRule.from_dict(stored["strategies"][stored["chosen"]]["rule"])
    return {"chosen": stored["chosen"], "rows": rows,
            "grouped": {**grouped(result.table, chosen, test, model.grouping), "guards": asdict(model.grouping)},
            "build_seconds": round(built, 1), "match_seconds": round(matched, 1),
            "listings": {"train": len(train), "test": len(test)}}


def fusion_timing(catalog: Catalog, work: Path) -> dict:
    """Fusion and grouping alone, from a stored whole-catalogue table: what moving to another strategy costs."""
    build(catalog, work, BuildConfig(), log=lambda m: print("  " + m, flush=True))
    model = Model.load(work)
    table = pd.read_parquet(work / "neighbours.parquet").drop(columns=[f"sim_{LEARNED}"], errors="ignore")
    started = time.perf_counter()
    model.fusion.score(table, catalog.titles)
    scored = time.perf_counter() - started
    started = time.perf_counter()
    sets = match_sets(table, len(catalog), model.rule)
    matched = time.perf_counter() - started
    started = time.perf_counter()
    groups = group_table(table, model.rule, catalog.posting_ids, config=model.grouping)
    grouping = time.perf_counter() - started
    return {"listings": len(catalog), "pairs": len(table), "strategy": model.manifest["strategy"],
            "pair_scorer_seconds": round(scored, 2), "rule_seconds": round(matched, 2),
            "grouping_seconds": round(grouping, 2), "total_seconds": round(scored + matched + grouping, 2),
            "groups": int(groups.labels.max() + 1), "matched_listings": int(sum(len(s) > 1 for s in sets))}


def report(results: dict) -> str:
    lines = ["# Fusion strategies and grouping", "",
             "Produced by `python bench/fusion.py` (results also in `fusion-benchmark.json`). `build` on TRAIN tunes "
             "every strategy and each channel alone on held-out groups of TRAIN and keeps the best; each stored "
             "rule is then scored on TEST (groups never seen), from the one neighbour table `match` makes of TEST.", ""]
    for part, title in (("shopee", "Shopee dev.csv: text + pHash"), ("demo", "Demo catalogue: text + photos + pHash")):
        if part not in results:
            continue
        r = results[part]
        lines += [f"## {title}", "",
                  f"TRAIN {r['listings']['train']:,} listings, TEST {r['listings']['test']:,}. Chosen by the build: "
                  f"**{r['chosen']}**. Build {r['build_seconds']} s, match of TEST {r['match_seconds']} s.", "",
                  "| on TEST | mean F1 | precision | recall | F1 on TRAIN's held-out groups |", "|---|---|---|---|---|"]
        if "baseline" in r:
            b = r["baseline"]
            lines.append(f"| public baseline: TF-IDF or equal pHash (threshold {b['threshold']}) | {b['mean_f1']:.4f} "
                         f"| {b['precision']:.4f} | {b['recall']:.4f} | |")
        for name, row in r["rows"].items():
            kind, label = name.split(":", 1)
            label = f"{label} alone" if kind == "channels_alone" else f"strategy **{label}**"
            lines.append(f"| {label} | {row['mean_f1']:.4f} | {row['precision']:.4f} | {row['recall']:.4f} "
                         f"| {row['tuned_f1']:.4f} |")
        g = r["grouped"]
        lines += ["", f"The chosen strategy's matches as groups (connected components with the size and weak-bridge "
                      f"guards as tuned by the build on TRAIN's held-out groups: {g.get('guards')}): mean F1 {g['mean_f1']:.4f} (precision {g['precision']:.4f}, recall {g['recall']:.4f}); "
                      f"pairs refused by the guards: {g['dropped']}.", ""]
    if "timing" in results:
        t = results["timing"]
        lines += ["## Fusion and grouping time, whole dev catalogue", "",
                  f"{t['listings']:,} listings, {t['pairs']:,} candidate pairs, strategy {t['strategy']}: pair scorer "
                  f"(features and trees) {t['pair_scorer_seconds']} s, rule and match sets {t['rule_seconds']} s, "
                  f"grouping {t['grouping_seconds']} s; **{t['total_seconds']} s** in all on 2 cores "
                  f"({t['groups']:,} groups).", ""]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "fusion-benchmark"), help="report path without suffix")
    parser.add_argument("--parts", default="shopee,demo,timing")
    args = parser.parse_args()
    parts = set(args.parts.split(","))
    out = Path(args.out)
    results = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        if parts & {"shopee", "timing"}:
            shopee = load_catalog(DATA)
        if "shopee" in parts:
            train, test = split(shopee)
            results["shopee"] = every_rule(train, test, work / "shopee", images=False)
            results["shopee"]["baseline"] = baseline(train, test, with_phash=True)
            print(json.dumps(results["shopee"], indent=1), flush=True)
        if "demo" in parts:
            demo = write_demo_catalog(work / "demo-data", listings=900, seed=11)
            catalog = load_catalog(demo, demo.parent / "images")
            train, test = split(catalog)
            results["demo"] = every_rule(train, test, work / "demo", cache_dir=str(work / "cache"))
            print(json.dumps(results["demo"], indent=1), flush=True)
        if "timing" in parts:
            results["timing"] = fusion_timing(shopee, work / "whole")
            print(json.dumps(results["timing"], indent=1), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(report(results) + "\n")
    print(f"wrote {out.with_suffix('.md')}")


if __name__ == "__main__":
    main()
