"""Command line: `python -m matcher demo|build|match|evaluate|report|export ...`.

Problems a user can fix (a bad catalogue, missing or stale artifacts) are
printed as one clear message and exit status 2, never as a traceback.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from matcher.artifacts import ArtifactError
from matcher.catalog import CatalogError, load_catalog
from matcher.export import FORMATS
from matcher.review import ReviewError


def _log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def _load(args):
    catalog = load_catalog(args.catalog, args.images)
    _log(catalog.report.summary())
    return catalog


def _cache(args) -> Path:
    from matcher.workspace import cache_root

    return Path(args.cache) if args.cache else cache_root()


def cmd_demo(args) -> None:
    from matcher.demo import write_demo_catalog

    path = write_demo_catalog(args.out, listings=args.listings, seed=args.seed)
    _log(f"Wrote a generated demo catalogue of {args.listings:,} listings to {path}")


def cmd_build(args) -> None:
    from matcher.build import BuildConfig, build
    from matcher.images.finetune import finetune_params

    config = BuildConfig(k=args.k, use_phash=not args.no_phash, max_matches=args.max_matches,
                         images=not args.no_image_channel, cache_dir=str(_cache(args)))
    config.image_params = {"backbone": args.backbone, "device": args.device,
                           "arcface": {"epochs": args.epochs, "dim": args.dim, "seed": args.seed},
                           "finetune": finetune_params(args.finetune, args.device, args.finetune_epochs)}
    if args.channels:
        config.channels = tuple(c.strip() for c in args.channels.split(",") if c.strip())
    manifest = build(_load(args), args.out, config, log=_log)
    _log(f"Built {args.out} in {manifest['build_seconds']} s.")


def cmd_match(args) -> None:
    from matcher.predict import Model, match_catalog, submission

    model = Model.load(args.artifacts, cache_dir=_cache(args), device=args.device)
    catalog = _load(args)
    result = match_catalog(model, catalog, log=_log)
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    submission(catalog, result.sets).to_csv(args.out, index=False)
    _log(f"Wrote {args.out}")


def _model_and_labelled_catalog(args, command: str):
    """The built model and the catalogue, which must carry label groups to score against."""
    from matcher.predict import Model

    model = Model.load(args.artifacts, cache_dir=_cache(args), device=args.device)
    catalog = _load(args)
    if not catalog.has_labels:
        raise CatalogError(f"{args.catalog} has no label_group values: {command} needs a labelled catalogue "
                           "(use `match` for an unlabelled one)")
    return model, catalog


def cmd_evaluate(args) -> None:
    from matcher.predict import evaluate

    model, catalog = _model_and_labelled_catalog(args, "evaluate")
    metrics = evaluate(model, catalog, log=_log)
    text = json.dumps(metrics, indent=2)
    print(text)
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(text + "\n")


def cmd_report(args) -> None:
    from matcher.report import write_report

    model, catalog = _model_and_labelled_catalog(args, "report")
    write_report(model, catalog, args.out, log=_log)


def cmd_export(args) -> None:
    import pandas as pd

    from matcher.export import export_frame, export_groups, write_csv
    from matcher.predict import Model
    from matcher.review import CONFLICT, ReviewStore, catalogue_fingerprints, catalogue_name

    model = Model.load(args.artifacts)
    listings = pd.read_parquet(model.folder / "listings.parquet")
    table = pd.read_parquet(model.folder / "neighbours.parquet")
    catalogue = args.catalogue or catalogue_name(args.artifacts)
    store = ReviewStore(args.db)
    rule = _profile_rule(store, catalogue, args.profile, table) if args.profile else model.rule
    prints = catalogue_fingerprints(listings)
    pairs = store.pairs(catalogue, prints)
    decisions = store.for_grouping(catalogue, prints)
    ids = listings["posting_id"].to_numpy()
    groups = export_groups(table, rule, ids, decisions, model.grouping, confirmed_only=args.confirmed_only)
    write_csv(export_frame(args.format, groups, ids, decisions), args.out)
    _log(f"Wrote {args.out}: {len(ids):,} listings in {groups.labels.max() + 1:,} groups. Catalogue {catalogue!r}: "
         f"{len(decisions):,} decided pairs used, {(pairs['decision'] == CONFLICT).sum():,} in conflict and "
         f"{pairs['stale'].sum():,} stale left out.")


def _profile_rule(store, catalogue: str, name: str, table):
    """The thresholds saved as profile `name`; refused when they use a channel this build's table lacks."""
    from matcher.matching import UnionRule

    rule = UnionRule.from_dict(store.profile(catalogue, name))
    columns = [c[len("sim_"):] for c in table.columns if c.startswith("sim_")]
    if rule.restricted_to(columns) != rule:
        raise ReviewError(f"profile {name!r} sets thresholds on channels this build does not have "
                          f"(it has {', '.join(columns)}): save the profile again from the app")
    return rule


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="python -m matcher", description=__doc__.splitlines()[0])
    sub = root.add_subparsers(dest="command", required=True)

    demo = sub.add_parser("demo", help="write the generated demo catalogue (CSV + photos)")
    demo.add_argument("--out", required=True)
    demo.add_argument("--listings", type=int, default=600)
    demo.add_argument("--seed", type=int, default=0)
    demo.set_defaults(run=cmd_demo)

    def catalog_args(p):
        p.add_argument("--catalog", required=True, help="CSV: posting_id,title,image[,image_phash,label_group]")
        p.add_argument("--images", default=None, help="folder of the listings' photos")
        p.add_argument("--cache", default=None,
                       help="photo features cache (default: $MATCHER_CACHE or ~/.cache/matcher)")
        p.add_argument("--device", default="auto", help="where photos are embedded: auto, cpu, cuda")

    build = sub.add_parser("build", help="fit channels, tune thresholds, write artifacts")
    catalog_args(build)
    build.add_argument("--out", required=True, help="artifacts folder")
    build.add_argument("--k", type=int, default=50, help="neighbours per channel (raised to the largest group)")
    build.add_argument("--channels", default="", help="comma-separated text channels (default: all)")
    build.add_argument("--max-matches", type=int, default=50)
    build.add_argument("--no-phash", action="store_true", help="ignore the image_phash column")
    build.add_argument("--no-image-channel", action="store_true",
                       help="with --images, use the photos for pHash only, not the embedding channel")
    build.add_argument("--backbone", default="tf_efficientnet_lite0",
                       help="timm model name; lite0/1/2 load packaged weights, others download from the hub")
    build.add_argument("--epochs", type=int, default=30, help="ArcFace head training epochs (frozen backbone)")
    build.add_argument("--finetune", choices=("auto", "none", "partial", "full"), default="auto",
                       help="train the backbone too: its last two stages or all of it; "
                            "auto: full on a GPU, none on a CPU (where partial takes tens of minutes)")
    build.add_argument("--finetune-epochs", type=int, default=None, help="fine-tuning epochs (default 12)")
    build.add_argument("--dim", type=int, default=512, help="image embedding size")
    build.add_argument("--seed", type=int, default=0, help="training seed")
    build.set_defaults(run=cmd_build)

    match = sub.add_parser("match", help="match a catalogue's listings among themselves")
    match.add_argument("--artifacts", required=True)
    catalog_args(match)
    match.add_argument("--out", required=True, help="CSV posting_id,matches")
    match.set_defaults(run=cmd_match)

    evaluate = sub.add_parser("evaluate", help="match a labelled catalogue and score it")
    evaluate.add_argument("--artifacts", required=True)
    catalog_args(evaluate)
    evaluate.add_argument("--json", default=None, help="also write the metrics here")
    evaluate.set_defaults(run=cmd_evaluate)

    report = sub.add_parser("report", help="where matching fails on a labelled catalogue: figures, worst pairs")
    report.add_argument("--artifacts", required=True)
    catalog_args(report)
    report.add_argument("--out", required=True, help="report folder (index.html, summary.json, figures)")
    report.set_defaults(run=cmd_report)

    export = sub.add_parser("export", help="the groups, with the moderators' decisions, as CSV")
    export.add_argument("--artifacts", required=True)
    export.add_argument("--db", required=True, help="the review store's SQLAlchemy URL, e.g. sqlite:///reviews.sqlite")
    export.add_argument("--out", required=True, help="CSV file to write")
    export.add_argument("--format", choices=FORMATS, default="groups",
                        help="groups: posting_id,group_id,status,reviewer,decided_at; submission: posting_id,matches")
    export.add_argument("--catalogue", default=None,
                        help="the name decisions are filed under (default: from the artifacts folder, as the app does)")
    export.add_argument("--confirmed-only", action="store_true",
                        help="groups from moderators' confirmed pairs only, nothing from the model")
    export.add_argument("--profile", default=None, help="use these saved thresholds instead of the build's")
    export.set_defaults(run=cmd_export)
    return root


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        args.run(args)
    except (CatalogError, ArtifactError, ReviewError) as error:
        _log(f"error: {error}")
        return 2
    return 0
