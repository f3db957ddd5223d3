"""The image channel on real product photos: ArcFace embeddings against untrained ImageNet features.

Data: ../shared/data/vprc (marketplace products: seller photos and users' phone
photos) and ../shared/data/grocery (phone photos of grocery products, groups of
35 to 134). Split by product: a label group is TEST when int(sha1(label_group), 16)
% 3 == 0, the rest TRAIN; each part is matched only within itself, and
everything learned or tuned sees TRAIN only.

    python bench/images.py                 # writes docs/image-benchmark.md and docs/image-benchmark.json
    python bench/images.py --datasets ""   # remeasures throughput only, keeping the other figures

Also measures embedding throughput against the bare backbone, side by side.
"""
from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from matcher.build import TUNE_SALT, BuildConfig, build  # noqa: E402
from matcher.catalog import Catalog, load_catalog  # noqa: E402
from matcher.encode import Encoded  # noqa: E402
from matcher.images.arcface import ArcFaceHead  # noqa: E402
from matcher.images.channel import ImageChannel  # noqa: E402
from matcher.images.finetune import FineTuneConfig, finetune_params  # noqa: E402
from matcher.images.read import read_image  # noqa: E402
from matcher.images.runtime import resolve_device  # noqa: E402
from matcher.matching import RuleScorer, UnionRule  # noqa: E402
from matcher.metric import nn1_accuracy, score_matches  # noqa: E402
from matcher.neighbours import build_neighbour_table  # noqa: E402
from matcher.predict import Model, evaluate  # noqa: E402
from matcher.split import held_out_mask  # noqa: E402
from matcher.workspace import cache_root  # noqa: E402

from encoders import image_throughput  # noqa: E402

DATA = ROOT.parent / "shared" / "data"
GRID = np.round(np.arange(0.0, 1.0, 0.01), 2)
# k and the match cap: 50 as in the competition, above the largest group (134) for grocery.
K = {"vprc": 50, "grocery": 150}


def sweep(vectors: np.ndarray, labels, k: int) -> np.ndarray:
    """Mean F1 at each threshold of GRID, matched as the engine matches: its neighbour table, at most k matches."""
    encoded = Encoded(vectors={"image": vectors}, present={"image": np.abs(vectors).sum(1) > 0})
    table_scorer = RuleScorer(build_neighbour_table(encoded, k, 0)[0], labels)
    return np.array([table_scorer.rule_scores(UnionRule({"image": float(t)}, max_matches=k)).mean_f1 for t in GRID])


def part_scores(vectors: np.ndarray, labels, k: int, threshold: float) -> dict:
    """Mean F1 at `threshold`, the best F1 any threshold would give (oracle), and 1-NN accuracy."""
    f1 = sweep(vectors, labels, k)
    sims = vectors @ vectors.T
    np.fill_diagonal(sims, -np.inf)
    at = int(np.searchsorted(GRID, threshold))
    return {"mean_f1": float(f1[at]), "threshold": float(threshold), "oracle_f1": float(f1.max()),
            "oracle_threshold": float(GRID[f1.argmax()]), "nn1_accuracy": nn1_accuracy(sims.argmax(1), labels)}


def retrieval(vectors: np.ndarray, labels, queries: np.ndarray, gallery: np.ndarray) -> dict:
    """User photo -> seller photos: is a photo of the same product first (recall@1), in the first five (@5)?"""
    sims = vectors[queries] @ vectors[gallery].T
    ranked = labels[gallery][np.argsort(-sims, axis=1)[:, :5]]
    hit = ranked == labels[queries][:, None]
    has_gallery = np.isin(labels[queries], labels[gallery])  # a product with no seller photo cannot be found
    return {"recall_at_1": float(hit[has_gallery, 0].mean()), "recall_at_5": float(hit[has_gallery].any(1).mean()),
            "queries": int(has_gallery.sum())}


def tuned_head(channel: ImageChannel, train: Catalog, features: np.ndarray, k: int):
    """Threshold tuned as `build` does: head fitted on half of TRAIN's groups, F1 swept on the other half."""
    held = held_out_mask(train.labels, salt=TUNE_SALT, modulus=2)
    head = ArcFaceHead(channel.arcface).fit(features[~held], train.labels[~held])
    f1 = sweep(head.transform(features[held]), train.labels[held], k)
    final = ArcFaceHead(channel.arcface).fit(features, train.labels)
    return final, float(GRID[f1.argmax()])


def compare(catalog: Catalog, channel: ImageChannel, k: int) -> dict:
    """Untrained features against the ArcFace embedding on TEST products, with thresholds from TRAIN."""
    test = held_out_mask(catalog.labels, modulus=3)
    train_part, test_part = catalog.subset(~test), catalog.subset(test)
    started = time.perf_counter()
    features, _, problems = channel.extractor.transform_catalog(catalog)
    feature_seconds = time.perf_counter() - started
    train_f, test_f = features[~test], features[test]
    labels = test_part.labels
    untrained_threshold = float(GRID[sweep(train_f, train_part.labels, k).argmax()])
    started = time.perf_counter()
    head, threshold = tuned_head(channel, train_part, train_f, k)
    train_seconds = time.perf_counter() - started
    embedded = head.transform(test_f)
    result = {
        "listings": {"train": len(train_part), "test": len(test_part)},
        "groups": {"train": len(set(train_part.labels)), "test": len(set(labels))},
        "unreadable_photos": len(problems),
        "k": k,
        "untrained": part_scores(test_f, labels, k, untrained_threshold),
        "arcface": part_scores(embedded, labels, k, threshold),
        "only_itself_f1": score_matches([np.array([i]) for i in range(len(labels))], labels).mean_f1,
        "feature_seconds": round(feature_seconds, 1),
        "head_training_seconds": round(train_seconds, 1),
    }
    if "split" in catalog.frame:
        split = test_part.frame["split"].to_numpy()
        queries, gallery = np.flatnonzero(split == "query"), np.flatnonzero(split == "gallery")
        result["user_to_seller"] = {"untrained": retrieval(test_f, labels, queries, gallery),
                                    "arcface": retrieval(embedded, labels, queries, gallery)}
    return result


def compare_finetuned(catalog: Catalog, channel: ImageChannel, k: int, params: dict) -> dict:
    """The fine-tuned embedding on TEST products, scored like `compare` scores the head alone.

    The threshold is tuned as `build` tunes it: fine-tuned on half of TRAIN's groups,
    swept on the other half; then fine-tuned again on all of TRAIN.
    """
    test = held_out_mask(catalog.labels, modulus=3)
    train_part, test_part = catalog.subset(~test), catalog.subset(test)
    held = held_out_mask(train_part.labels, salt=TUNE_SALT, modulus=2)
    started = time.perf_counter()
    tuning = ImageChannel(**{**channel.get_params(), **params}, cache_dir=channel.cache_dir)
    tuning.fit(train_part.subset(~held))
    validation = sweep(tuning.transform(train_part.subset(held))[0], train_part.labels[held], k)
    threshold = float(GRID[validation.argmax()])
    final = ImageChannel(**{**channel.get_params(), **params}, cache_dir=channel.cache_dir).fit(train_part)
    seconds = time.perf_counter() - started
    embedded = final.transform(test_part)[0]
    labels = test_part.labels
    result = {"params": params, "training": final.training_, "seconds": round(seconds, 1),
              "validation_f1": float(validation.max()), "scores": part_scores(embedded, labels, k, threshold)}
    if "split" in catalog.frame:
        split = test_part.frame["split"].to_numpy()
        result["user_to_seller"] = retrieval(embedded, labels, np.flatnonzero(split == "query"),
                                             np.flatnonzero(split == "gallery"))
    return result


def cropped_catalogue(catalog: Catalog, folder: Path) -> Catalog:
    """The catalogue with each user photo cut to its bbox_xywh product box (seller photos unchanged)."""
    folder.mkdir(parents=True, exist_ok=True)
    frame = catalog.frame.copy()
    for i, box in enumerate(frame["bbox_xywh"]):
        if not box:
            continue
        x, y, w, h = (float(v) for v in box.split(","))
        image, _ = read_image(catalog.image_path(i))
        name = f"crop_{frame.at[i, 'image']}"
        image.crop((x, y, x + w, y + h)).save(folder / name, quality=95)
        frame.at[i, "image"] = name
    for i, name in enumerate(frame["image"]):
        if not (folder / name).exists():
            shutil.copyfile(catalog.image_path(i), folder / name)  # a link out of the folder would be refused
    return Catalog(frame, folder, catalog.report)


def end_to_end(name: str, catalog: Catalog, work: Path, cache: Path, image_params: dict | None = None) -> dict:
    """The product path: `build` on TRAIN (image channel and pHash, thresholds tuned by the build), `evaluate` on TEST.

    `image_params` are the image channel's (a fine-tuning mode, a device), as `build --finetune` passes them.
    """
    test = held_out_mask(catalog.labels, modulus=3)
    out = work / f"{name}-model"
    started = time.perf_counter()
    config = BuildConfig(k=K[name], max_matches=K[name], cache_dir=str(cache),
                         image_params=image_params or {})
    build(catalog.subset(~test), out, config, log=lambda m: print("  " + m, flush=True))
    built = time.perf_counter() - started
    metrics = evaluate(Model.load(out, cache_dir=cache), catalog.subset(test), log=lambda m: None)
    keys = ("mean_f1", "precision", "recall", "nn1_accuracy", "nn1_by_channel", "strategy", "thresholds", "weights",
            "rescue")
    return {**{key: metrics[key] for key in keys}, "build_seconds": round(built, 1), "image_params": image_params}


def report(results: dict, json_name: str = "image-benchmark.json") -> str:
    commands = results.get("commands", ["python bench/images.py"])
    lines = ["# Image channel benchmark", "",
             "Produced by " + " and ".join(f"`{command}`" for command in commands) + f" (results also in "
             f"`{json_name}`). Split by product: a label group is TEST when int(sha1(label_group), 16) % 3 == 0; "
             "each part is matched only within itself; the head and every threshold saw TRAIN only. "
             "Backbone: `tf_efficientnet_lite0` with its packaged ImageNet weights; ArcFace head "
             "(512-d, margin 0.5 with warm-up, scale 30) trained on cached features of the frozen backbone on "
             "the CPU, or together with the backbone where a row says fine-tuned (on the device it names).", ""]
    for name in ("vprc", "grocery", "vprc_cropped"):
        if name not in results:
            continue
        r = results[name]
        lines += [f"## {name}", "",
                  f"TRAIN {r['listings']['train']:,} photos of {r['groups']['train']} products, "
                  f"TEST {r['listings']['test']:,} photos of {r['groups']['test']} products; k = {r['k']}. "
                  f"Every listing matching only itself scores {r['only_itself_f1']:.3f}.", "",
                  "| TEST products | mean F1 (threshold tuned on TRAIN) | threshold | best F1 any threshold gives "
                  "| 1-NN accuracy |", "|---|---|---|---|---|"]
        tuned = [key for key in r if key.startswith("finetuned_")]
        rows = [("ImageNet features, untrained", r["untrained"]), ("ArcFace head on frozen features", r["arcface"])]
        rows += [(_finetuned_label(r[key]), r[key]["scores"]) for key in tuned]
        for label, s in rows:
            lines.append(f"| {label} | {s['mean_f1']:.3f} | {s['threshold']:.2f} | {s['oracle_f1']:.3f} "
                         f"| {s['nn1_accuracy']:.3f} |")
        if "user_to_seller" in r:
            u = r["user_to_seller"]
            lines += ["", f"User photo -> seller photos of the TEST products ({u['untrained']['queries']} user photos):",
                      "", "| | recall@1 | recall@5 |", "|---|---|---|"]
            retrieved = [("untrained", u["untrained"]), ("ArcFace head on frozen features", u["arcface"])]
            retrieved += [(_finetuned_label(r[key]), r[key]["user_to_seller"]) for key in tuned
                          if "user_to_seller" in r[key]]
            for label, scores in retrieved:
                lines.append(f"| {label} | {scores['recall_at_1']:.3f} | {scores['recall_at_5']:.3f} |")
        if "note" in r:
            lines += ["", r["note"]]
        for key in (k for k in r if k.startswith("end_to_end")):
            e = r[key]
            how = ("frozen backbone" if key == "end_to_end"
                   else f"backbone fine-tuned ({key.rsplit('_', 1)[1]}, {e.get('device', 'CPU')})")
            lines += ["", f"Product path, {how} (`build` on TRAIN with the image channel and pHash, `evaluate` on "
                          f"TEST): mean F1 {e['mean_f1']:.3f}, 1-NN {e['nn1_accuracy']:.3f}; strategy "
                          f"{e.get('strategy', 'fused')}, rule {e['thresholds']}; build {e['build_seconds']} s."]
        lines.append("")
    if "throughput" in results:
        t = results["throughput"]
        sizes = list(t["channel_by_batch"])
        lines += ["## Throughput (2 cores, one process, the same 192 VPRC photos)", "",
                  "Images per second, best of " + str(t["repeats"]) + " alternating runs.", "",
                  "| batch size | " + " | ".join(sizes) + " |", "|---|" + "---|" * len(sizes)]
        for name, runs in t["backbone_by_batch"].items():
            lines.append(f"| bare backbone, decoded tensors, {name} | " + " | ".join(
                f"{runs[size]:.1f}" for size in sizes) + " |")
        lines.append("| whole channel from JPEG files (2 workers: decode, resize, backbone; then the ArcFace head) | "
                     + " | ".join(f"{t['channel_by_batch'][size]:.1f}" for size in sizes) + " |")
        b, c = t["backbone_best"], t["channel_best"]
        lines += ["", f"Bare backbone at its best ({b['arrangement']}, batch {b['batch']}): {b['images_per_s']} "
                      f"images/s. Whole channel at its best (batch {c['batch']}; the default is "
                      f"{t['channel_default_batch']}): {c['images_per_s']} images/s, **{t['ratio']:.0%}** of the "
                      "bare backbone.", ""]
    return "\n".join(lines)


def _finetuned_label(result: dict) -> str:
    tuning = result["params"]["finetune"]
    what = "the whole backbone" if tuning.get("stages") is None else f"its last {tuning['stages']} stages"
    return (f"ArcFace, {what} fine-tuned ({tuning['epochs']} epochs, learning rate {tuning['lr']:g}, "
            f"{result['device']}, {result['seconds']} s)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default=str(ROOT / "docs" / "image-benchmark"), help="report path without suffix")
    parser.add_argument("--cache", default=str(cache_root()), help="photo feature cache")
    parser.add_argument("--data", default=str(DATA), help="folder holding vprc/ and grocery/")
    parser.add_argument("--datasets", default="vprc,grocery", help="comma-separated; empty to rerun throughput only")
    parser.add_argument("--skip-end-to-end", action="store_true", help="skip the product path with a frozen backbone")
    parser.add_argument("--skip-throughput", action="store_true")
    parser.add_argument("--finetune", choices=("partial", "full"), default=None,
                        help="also fine-tune the backbone: the embedding alone, then the product path "
                             "(a GPU makes this quick)")
    parser.add_argument("--finetune-epochs", default="", help="comma-separated epoch counts; the first also runs "
                                                              "the product path (default: FineTuneConfig's)")
    parser.add_argument("--finetune-lr", default="", help="comma-separated backbone learning rates, each run at "
                                                           "every epoch count (default: FineTuneConfig's)")
    parser.add_argument("--device", default="auto", help="where the fine-tuning runs")
    parser.add_argument("--note", default="", help="a remark on how the photos were prepared, kept in the report")
    args = parser.parse_args()
    cache, data = Path(args.cache), Path(args.data)
    channel = ImageChannel(cache_dir=cache)
    out = Path(args.out)
    # Parts not rerun keep their earlier figures, so one part can be remeasured alone.
    results = json.loads(out.with_suffix(".json").read_text()) if out.with_suffix(".json").exists() else {}
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in filter(None, args.datasets.split(",")):
            catalog = load_catalog(data / name / "listing.csv", data / name / "images")
            print(f"{name}: {len(catalog):,} photos", flush=True)
            results[name] = {**results.get(name, {}), **compare(catalog, channel, K[name]),
                             **({"note": args.note} if args.note else {})}
            if not args.skip_end_to_end:
                results[name]["end_to_end"] = end_to_end(name, catalog, work, cache)
            if args.finetune:
                _finetuned(results[name], name, catalog, channel, work, cache, args)
            print(json.dumps(results[name], indent=1), flush=True)
            if name == "vprc":
                cropped = cropped_catalogue(catalog, work / "crops")
                results["vprc_cropped"] = compare(cropped, channel, K[name])
                print(json.dumps(results["vprc_cropped"], indent=1), flush=True)
        if not args.skip_throughput:
            vprc = load_catalog(data / "vprc" / "listing.csv", data / "vprc" / "images")
            channel.head_ = ArcFaceHead(channel.arcface).fit(*_labelled_features(channel, vprc))
            results["throughput"] = image_throughput(vprc, channel)
            print(json.dumps(results["throughput"], indent=1), flush=True)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".json").write_text(json.dumps(results, indent=2) + "\n")
    out.with_suffix(".md").write_text(report(results, out.with_suffix(".json").name) + "\n")
    print(f"wrote {out.with_suffix('.md')}")


def _finetuned(result: dict, name: str, catalog: Catalog, channel: ImageChannel, work: Path, cache: Path, args):
    """The fine-tuned embedding alone at each epoch count, then the product path at the first."""
    device = resolve_device(args.device)
    where = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    epochs = [int(e) for e in args.finetune_epochs.split(",") if e] or [FineTuneConfig().epochs]
    rates = [float(r) for r in args.finetune_lr.split(",") if r] or [FineTuneConfig().lr]
    for count in epochs:
        for rate in rates:
            tuning = {**finetune_params(args.finetune, args.device, count), "lr": rate}
            key = f"finetuned_{args.finetune}_{count}ep_lr{rate:g}"
            result[key] = {**compare_finetuned(catalog, channel, K[name], {"finetune": tuning, "device": args.device}),
                           "device": where}
            print(key, result[key]["validation_f1"], json.dumps(result[key]["scores"]), flush=True)
    params = {"device": args.device, "finetune": {**finetune_params(args.finetune, args.device, epochs[0]),
                                                  "lr": rates[0]}}
    result[f"end_to_end_finetuned_{args.finetune}"] = {**end_to_end(name, catalog, work, cache, params),
                                                        "device": where}


def _labelled_features(channel: ImageChannel, catalog: Catalog):
    features, _, _ = channel.extractor.transform_catalog(catalog)
    return features, catalog.labels


if __name__ == "__main__":
    main()
