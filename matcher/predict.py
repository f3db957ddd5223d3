"""`match` and `evaluate`: a built model applied to a catalogue, matched among its own listings."""
from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd

from matcher.artifacts import IMAGE_FOLDER, read_manifest
from matcher.catalog import Catalog
from matcher.encode import encode_catalog, ready_channels, report_photo_problems, with_photo_phashes
from matcher.grouping import GroupingConfig
from matcher.images.channel import ImageChannel
from matcher.matching import UnionRule, best_rows, match_sets
from matcher.metric import f1_by_group_size, nn1_accuracy, score_matches
from matcher.neighbours import build_neighbour_table
from matcher.strategies import FUSION_FILE, Fusion
from matcher.text import TextChannel, load_channel


@dataclass
class Model:
    """A finished build, loaded: its channels, its rule and its settings."""

    folder: Path
    manifest: dict
    channels: dict[str, TextChannel]
    rule: UnionRule
    image: ImageChannel | None = None
    fusion: Fusion | None = None

    @property
    def grouping(self) -> GroupingConfig:
        """The group guards tuned by the build (the defaults for builds made before they were tuned)."""
        return GroupingConfig(**self.manifest.get("grouping", {}))

    @classmethod
    def load(cls, folder, cache_dir=None, device: str | None = None) -> "Model":
        """The build in `folder`; photo features are cached in `cache_dir`, computed on `device` if given."""
        folder = Path(folder)
        manifest = read_manifest(folder)
        channels = {name: load_channel(folder / "channels" / name) for name in manifest["channels"]}
        rule = UnionRule.from_dict(json.loads((folder / "rule.json").read_text()))
        image = None
        if manifest.get("image"):
            image = ImageChannel.load(folder / IMAGE_FOLDER, cache_dir=cache_dir, device=device)
        fusion = Fusion.load(folder) if (folder / FUSION_FILE).is_file() else None
        return cls(folder, manifest, channels, rule, image, fusion)


@dataclass
class MatchResult:
    table: pd.DataFrame
    rule: UnionRule
    sets: list[np.ndarray]


def match_catalog(model: Model, catalog: Catalog, log=print) -> MatchResult:
    """Match a catalogue's listings among themselves with the model's channels and thresholds."""
    channels = ready_channels(model.channels, catalog, learn=False) if catalog.has_titles else {}
    use_phash, reported = model.manifest["phash"], set()
    if use_phash:
        catalog, reported = with_photo_phashes(catalog, log)
    image = model.image if catalog.image_dir is not None else None
    if model.image is not None and image is None:
        log("No image folder given: matching without the image channel.")
    encoded = encode_catalog(channels, catalog, use_phash, image)
    report_photo_problems([p for p in encoded.problems if p.path not in reported], log)
    config = model.manifest["config"]
    if model.fusion is not None:
        model.fusion.extend(encoded, model.manifest["k"])
    table, _ = build_neighbour_table(encoded, model.manifest["k"], config["phash_radius"])
    if model.fusion is not None:
        model.fusion.score(table, catalog.titles)
    rule = model.rule.restricted_to(c[len("sim_"):] for c in table.columns if c.startswith("sim_"))
    log(f"Matched {len(catalog):,} listings using {', '.join(rule.active()) or 'no channel'}.")
    return MatchResult(table, rule, match_sets(table, len(catalog), rule))


def submission(catalog: Catalog, sets) -> pd.DataFrame:
    """The competition's submission format: posting_id, space-separated matching posting_ids."""
    ids = catalog.posting_ids
    return pd.DataFrame({"posting_id": ids, "matches": [" ".join(ids[s]) for s in sets]})


def nearest_by(table: pd.DataFrame, score: np.ndarray, n: int) -> np.ndarray:
    """Each listing's best-scoring candidate (-1 where it has none with a score)."""
    rows = best_rows(table["query"].to_numpy(), score, n)
    return np.where(rows >= 0, table["candidate"].to_numpy()[np.maximum(rows, 0)], -1)


def evaluate(model: Model, catalog: Catalog, log=print) -> dict:
    """`match` on a labelled catalogue, then the competition metric and its companions."""
    result = match_catalog(model, catalog, log)
    labels = catalog.labels
    scores = score_matches(result.sets, labels)
    n = len(catalog)
    margin = result.rule.margin(result.table)
    margin[np.isinf(margin)] = np.nan
    return {
        "listings": n,
        "mean_f1": scores.mean_f1,
        "precision": scores.mean_precision,
        "recall": scores.mean_recall,
        "nn1_accuracy": nn1_accuracy(nearest_by(result.table, margin, n), labels),
        "nn1_by_channel": {c: nn1_accuracy(nearest_by(result.table, sims, n), labels)
                           for c, sims in every_score(result).items()},
        "f1_by_group_size": {str(k): v for k, v in f1_by_group_size(scores.f1, labels).items()},
        "strategy": model.manifest.get("strategy"),
        "thresholds": result.rule.active(),
        "weights": result.rule.weights,
        "rescue": result.rule.rescue,
    }


def every_score(result: MatchResult) -> dict[str, np.ndarray]:
    """Each column of the table, and the rule's own scores (the fused score among them)."""
    columns = {c[len("sim_"):]: result.table[c].to_numpy(np.float32) for c in result.table.columns
               if c.startswith("sim_")}
    return {**columns, **result.rule.scores(result.table)}
