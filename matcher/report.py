"""`report`: where a built model's matching fails on a labelled catalogue, as pages a person opens.

`evaluate` gives one number; this shows why it is not higher: how precision,
recall and mean F1 move with each channel's threshold (is a threshold badly
placed, does a channel earn its place?), which group sizes fail, and the pairs
behind the errors (the most confident false matches, the nearest misses) with
titles and photos side by side. Everything comes from one `match_catalog` run.
Figures are HTML sharing one plotly.min.js written beside them, so the report
opens offline, and PNG for documents.
"""
from __future__ import annotations

import hashlib
import html
import json
import warnings
from itertools import combinations
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go

from matcher.catalog import Catalog
from matcher.images.read import read_image
from matcher.matching import GRID, OFF, RuleScorer
from matcher.metric import f1_by_group_size, group_codes, score_matches, scores_from_counts
from matcher.predict import MatchResult, Model, every_score, match_catalog

TOP = 50     # pairs listed in each table
THUMB = 128  # thumbnail side, pixels


def write_report(model: Model, catalog: Catalog, out, top: int = TOP, log=print) -> dict:
    """Match a labelled `catalog` with `model`; write figures, pair tables, index.html and summary.json to `out`."""
    out = Path(out)
    (out / "thumbs").mkdir(parents=True, exist_ok=True)
    result = match_catalog(model, catalog, log)
    labels = catalog.labels
    scores = score_matches(result.sets, labels)
    pairs = candidate_pairs(result, labels)
    false_matches = pairs[pairs["matched"] & ~pairs["same"]]
    misses = missed_pairs(pairs, labels)

    scorer = RuleScorer(result.table, labels)
    figures = {f"sweep_{name}": sweep_figure(name, sweep(scorer, score), result.rule.thresholds.get(name, OFF),
                                             scores.mean_f1)
               for name, score in every_score(result).items()}
    figures["f1_by_group_size"] = group_size_figure(scores.f1, labels)
    png = save_figures(figures, out, log)

    summary = {
        "mean_f1": scores.mean_f1, "precision": scores.mean_precision, "recall": scores.mean_recall,
        "strategy": model.manifest.get("strategy"), "thresholds": result.rule.active(),
        "weights": result.rule.weights, "rescue": result.rule.rescue,
        "counts": {"listings": len(catalog), "groups": len(np.unique(group_codes(labels))),
                   "candidate_pairs": len(pairs), "matched_pairs": int(pairs["matched"].sum()),
                   "false_matches": len(false_matches), "missed_pairs": len(misses),
                   "never_candidates": int((~misses["candidate"]).sum())},
        "f1_by_group_size": {str(k): v for k, v in f1_by_group_size(scores.f1, labels).items()},
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    tables = {"false_matches": false_matches.head(top), "misses": misses.head(top)}
    for name, frame in tables.items():
        readable(frame, catalog).to_csv(out / f"{name}.csv", index=False)
    thumbs = Thumbnails(catalog, out)
    (out / "index.html").write_text(index_page(summary, list(figures), png, tables, catalog, thumbs),
                                    encoding="utf-8")
    log(f"Wrote the report to {out / 'index.html'}")
    return summary


def candidate_pairs(result: MatchResult, labels) -> pd.DataFrame:
    """One row per pair of listings in the neighbour table (a < b), highest score first.

    `score` is the rule's margin, how far the pair is past its nearest threshold
    (>= 0: matched by a threshold; NaN: no evidence); `matched` holds if either
    listing's set has the other, as a moderator sees it.
    """
    table = result.table
    query, candidate = table["query"].to_numpy(), table["candidate"].to_numpy()
    codes = group_codes(labels)
    margin = result.rule.margin(table)
    margin[np.isinf(margin)] = np.nan
    frame = pd.DataFrame({"a": np.minimum(query, candidate), "b": np.maximum(query, candidate),
                          "matched": result.rule.matches(table), "same": codes[query] == codes[candidate],
                          "score": margin, **every_score(result)})
    frame["matched"] = frame.groupby(["a", "b"])["matched"].transform("any")
    frame = frame.sort_values("score", ascending=False, kind="stable").drop_duplicates(["a", "b"])
    return frame.assign(candidate=True).reset_index(drop=True)


def missed_pairs(pairs: pd.DataFrame, labels) -> pd.DataFrame:
    """Same-group pairs left unmatched: candidates by score, then those never in the neighbour table."""
    codes = group_codes(labels)
    order = np.argsort(codes, kind="stable")
    groups = np.split(order, np.flatnonzero(np.diff(codes[order])) + 1)
    every = np.array([p for g in groups for p in combinations(g, 2)], dtype=np.int64).reshape(-1, 2)
    every = pd.DataFrame(every, columns=["a", "b"])
    known = every.merge(pairs[["a", "b"]], how="left", indicator=True)
    never = known.loc[known["_merge"] == "left_only", ["a", "b"]].assign(matched=False, same=True, candidate=False)
    return pd.concat([pairs[pairs["same"] & ~pairs["matched"]], never], ignore_index=True)


def sweep(scorer: RuleScorer, score: np.ndarray, grid: np.ndarray = GRID) -> pd.DataFrame:
    """Mean precision, recall and F1 when a pair matches on this score alone (no cap, no rescue), per threshold."""
    rows = []
    for threshold in grid:
        passed = score >= threshold  # NaN (no evidence) never passes
        predicted = np.bincount(scorer.query[passed], minlength=scorer.n) + 1  # + 1: the listing itself
        correct = np.bincount(scorer.query[passed & scorer.same], minlength=scorer.n) + 1
        s = scores_from_counts(predicted, correct, scorer.group_size)
        rows.append((threshold, s.mean_precision, s.mean_recall, s.mean_f1))
    return pd.DataFrame(rows, columns=["threshold", "precision", "recall", "mean_f1"])


def sweep_figure(name: str, curve: pd.DataFrame, threshold: float, rule_f1: float) -> go.Figure:
    fig = go.Figure([go.Scatter(x=curve["threshold"], y=curve[c], mode="lines", name=c.replace("_", " "))
                     for c in ("precision", "recall", "mean_f1")])
    if threshold < OFF:
        fig.add_vline(x=threshold, line_dash="dot", annotation_text=f"rule's threshold {threshold:.2f}")
    fig.add_hline(y=rule_f1, line_dash="dash", line_color="grey",
                  annotation_text=f"whole rule: mean F1 {rule_f1:.3f}", annotation_position="bottom left")
    fig.update_layout(title=f"{name} alone: a pair matches when its score reaches the threshold",
                      xaxis_title="threshold", yaxis_title="mean over listings", yaxis_range=[0, 1.02])
    return fig


def group_size_figure(f1: np.ndarray, labels) -> go.Figure:
    codes = group_codes(labels)
    sizes, listings = np.unique(np.bincount(codes)[codes], return_counts=True)
    by_size = f1_by_group_size(f1, labels)
    fig = go.Figure(go.Bar(x=[str(s) for s in sizes], y=[by_size[s] for s in sizes],
                           text=[f"{n} listings" for n in listings], textposition="outside"))
    fig.update_layout(title="Mean F1 of the listings in groups of each true size", xaxis_title="group size",
                      yaxis_title="mean F1", yaxis_range=[0, 1.1], xaxis_type="category")
    return fig


def save_figures(figures: dict[str, go.Figure], out: Path, log) -> bool:
    """HTML for every figure; then PNGs (True if written), skipped with a warning if export fails, as the
    HTML already tells all."""
    for name, fig in figures.items():
        fig.write_html(out / f"{name}.html", include_plotlyjs="directory")
    return write_pngs(figures, out, log)


def write_pngs(figures: dict[str, go.Figure], out: Path, log, width: int = 900, height: int = 500) -> bool:
    """`<name>.png` for every figure (True if written); a warning, not a failure, if the exporter breaks."""
    try:
        with warnings.catch_warnings():
            # plotly 6 deprecates kaleido 0.2.1, which we keep because it bundles its own Chromium
            warnings.simplefilter("ignore", DeprecationWarning)
            for name, fig in figures.items():
                fig.write_image(out / f"{name}.png", width=width, height=height)
    except Exception as error:  # whatever the exporter or its browser raises costs the PNGs only
        log(f"warning: PNG figures skipped ({type(error).__name__}: {' '.join(str(error).split())})")
        return False
    return True


def readable(pairs: pd.DataFrame, catalog: Catalog) -> pd.DataFrame:
    """A table of pairs with each listing's posting id, group and title, for a spreadsheet."""
    ids, labels, titles = catalog.posting_ids, catalog.labels, np.asarray(catalog.titles, dtype=object)
    a, b = pairs["a"].to_numpy(), pairs["b"].to_numpy()
    return pd.concat([pd.DataFrame({"posting_id_a": ids[a], "posting_id_b": ids[b], "label_group_a": labels[a],
                                    "label_group_b": labels[b]}),
                      pairs.drop(columns=["a", "b", "same"]).reset_index(drop=True),
                      pd.DataFrame({"title_a": titles[a], "title_b": titles[b]})], axis=1)


class Thumbnails:
    """`<img>` tags of 128 px JPEGs under out/thumbs, named by the photo's sha1; text where there is no photo."""

    def __init__(self, catalog: Catalog, out: Path):
        self.catalog, self.out, self.tags = catalog, out, {}

    def __call__(self, i: int) -> str:
        if i not in self.tags:
            self.tags[i] = self._tag(i)
        return self.tags[i]

    def _tag(self, i: int) -> str:
        if self.catalog.image_dir is None:
            return '<span class="nophoto">no --images</span>'
        path = self.catalog.image_path(i)
        if path is None:
            return '<span class="nophoto">no photo</span>'
        image, problem = read_image(path, draft_size=(THUMB, THUMB))
        if image is None:
            return f'<span class="nophoto" title="{html.escape(problem.reason)}">unreadable photo</span>'
        name = f"thumbs/{hashlib.sha1(path.read_bytes()).hexdigest()}.jpg"
        image.thumbnail((THUMB, THUMB))
        image.save(self.out / name, "JPEG", quality=85)
        return f'<img src="{name}" alt="">'


def index_page(summary: dict, figures: list[str], png: bool, tables: dict[str, pd.DataFrame], catalog: Catalog,
               thumbs: Thumbnails) -> str:
    counts = summary["counts"]
    headline = (f"mean F1 <b>{summary['mean_f1']:.4f}</b>, precision {summary['precision']:.4f}, "
                f"recall {summary['recall']:.4f}; strategy {html.escape(str(summary['strategy']))}, "
                f"thresholds {html.escape(json.dumps(summary['thresholds']))}; "
                f"{counts['listings']:,} listings in {counts['groups']:,} groups")
    links = "".join(f'<figure><a href="{n}.html">{n}.html</a>' + (f'<br><img src="{n}.png" alt="{n}">' if png else "")
                    + "</figure>" for n in figures)
    return f"""<!doctype html>
<html><head><meta charset="utf-8"><title>Matching report</title>
<style>body{{font-family:sans-serif;margin:2em}} table{{border-collapse:collapse}}
td,th{{border:1px solid #ccc;padding:4px;vertical-align:top}} td.title{{max-width:28em}}
figure{{display:inline-block;margin:0 1em 1em 0}} figure img{{width:450px}} .nophoto{{color:#888}}</style>
</head><body>
<h1>Matching report</h1>
<p>{headline}.</p>
<h2>Figures</h2>
<p>Each channel alone against its threshold (the dotted line: the rule's own), and F1 by group size.</p>
{links}
<h2>Worst false matches</h2>
<p>{counts['false_matches']:,} matched pairs from different groups; the {len(tables['false_matches'])} highest
scoring. Score: how far the pair is past the rule's nearest threshold.</p>
{pairs_table(tables['false_matches'], catalog, thumbs)}
<h2>Worst misses</h2>
<p>{counts['missed_pairs']:,} same-group pairs not matched, {counts['never_candidates']:,} of them never a
candidate (in no channel's neighbours); the {len(tables['misses'])} highest scoring.</p>
{pairs_table(tables['misses'], catalog, thumbs)}
</body></html>
"""


def pairs_table(pairs: pd.DataFrame, catalog: Catalog, thumbs: Thumbnails) -> str:
    channels = [c for c in pairs.columns if c not in ("a", "b", "matched", "same", "score", "candidate")]
    rows = []
    for pair in pairs.to_dict("records"):
        score = "never a candidate" if not pair["candidate"] else "no score" if pd.isna(pair["score"]) \
            else f"{pair['score']:+.3f}"
        sims = "<br>".join(f"{c} {pair[c]:.3f}" for c in channels if pd.notna(pair[c]))
        rows.append(f"<tr><td>{score}</td>{listing_cells(pair['a'], catalog, thumbs)}"
                    f"{listing_cells(pair['b'], catalog, thumbs)}<td>{sims}</td></tr>")
    return ("<table><tr><th>score</th><th colspan=2>listing</th><th colspan=2>listing</th><th>similarities</th></tr>"
            + "".join(rows) + "</table>")


def listing_cells(i: int, catalog: Catalog, thumbs: Thumbnails) -> str:
    listing = catalog.frame.iloc[i]
    return (f"<td>{thumbs(i)}</td><td class=title><b>{html.escape(listing['posting_id'])}</b> "
            f"group {html.escape(listing['label_group'])}<br>{html.escape(listing['title'])}</td>")
