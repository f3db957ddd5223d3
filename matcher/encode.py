"""Put a catalogue through every channel: the vectors and evidence masks the neighbour table is built from."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from matcher.catalog import Catalog
from matcher.images.channel import ImageChannel
from matcher.images.phash import catalogue_phashes
from matcher.neighbours import phash_bits
from matcher.text import TextChannel


@dataclass
class Encoded:
    """One catalogue in every channel: unit rows per channel, and which listings have evidence there."""

    vectors: dict = field(default_factory=dict)
    present: dict[str, np.ndarray] = field(default_factory=dict)
    phash: np.ndarray | None = None
    phash_present: np.ndarray | None = None
    # channels whose rows concatenate others' scaled by sqrt(weight) (fusion's combined embedding): their
    # cosine is the weighted mean of those channels' cosines, so the table derives it instead of gathering rows
    mixtures: dict[str, dict[str, float]] = field(default_factory=dict)
    # neighbour lists already searched (fusion's combined rows, searched once for blending and the table)
    searched: dict[str, np.ndarray] = field(default_factory=dict)
    problems: list = field(default_factory=list)  # photos the image channel could not read


def title_present(titles) -> np.ndarray:
    return np.array([bool(t.strip()) for t in titles], dtype=bool)


def ready_channels(channels: dict[str, TextChannel], catalog: Catalog, learn: bool,
                   refit: bool = True) -> dict[str, TextChannel]:
    """Channels fitted for this catalogue.

    Unsupervised channels are refitted on its own titles (when `refit`);
    learned ones are fitted on its label groups when `learn` is set, and used
    as given otherwise.
    """
    titles = catalog.titles
    present = title_present(titles)
    kept_titles = [t for t, p in zip(titles, present) if p]
    groups = catalog.labels[present] if catalog.has_labels else None
    ready = {}
    for name, channel in channels.items():
        if channel.refit_per_catalogue:
            ready[name] = channel.clone().fit(kept_titles) if refit else channel
        elif learn:
            ready[name] = channel.fit(kept_titles, groups)
        else:
            ready[name] = channel
    return ready


def with_photo_phashes(catalog: Catalog, log=print) -> tuple[Catalog, set[str]]:
    """The catalogue with image_phash filled in from its photos where the CSV had none.

    Done once per build or match, so the tuning part, the whole catalogue and the
    stored listings all share one reading of each photo. Also returns the paths
    of the photos it warned about, so they are not reported twice.
    """
    if catalog.image_dir is None:
        return catalog, set()
    hashes, problems = catalogue_phashes(catalog)
    report_photo_problems(problems, log)
    frame = catalog.frame.copy()
    frame["image_phash"] = hashes
    return Catalog(frame, catalog.image_dir, catalog.report), {p.path for p in problems}


def encode_catalog(channels: dict[str, TextChannel], catalog: Catalog, use_phash: bool,
                   image: ImageChannel | None = None) -> Encoded:
    """Vectors of every listing in every channel; a listing without a title, photo or pHash has no evidence there."""
    encoded = Encoded()
    present = title_present(catalog.titles)
    for name, channel in channels.items():
        encoded.vectors[name] = channel.transform(catalog.titles)
        encoded.present[name] = present
    if image is not None:
        vectors, photo_present, encoded.problems = image.transform(catalog)
        encoded.vectors[image.name], encoded.present[image.name] = vectors, photo_present
    if use_phash and catalog.has_phash:
        encoded.phash, encoded.phash_present = phash_bits(catalog.frame["image_phash"].to_numpy())
    return encoded


def report_photo_problems(problems, log, shown: int = 10) -> None:
    """One warning per unreadable photo (the first few), so a bad file is named, never fatal."""
    for problem in problems[:shown]:
        log(f"warning: {problem.reason}; that listing has no photo evidence.")
    if len(problems) > shown:
        log(f"warning: {len(problems) - shown} more photos could not be read.")
