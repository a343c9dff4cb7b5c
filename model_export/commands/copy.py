"""`adrank copy`: variants of ads' copy, checked and ranked by the click model, as a report."""

import argparse
from pathlib import Path
from typing import Any, NoReturn


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "copy",
        help="generate ad copy variants, check them and rank them with the click model",
        description="For each ad: generate variants of its title and description with the "
        "packaged language model, drop those that lose or add facts, are unsafe, too long, "
        "duplicates or too far from the original, and score the rest with the bundle's "
        "encoder and ranker for an audience; write a Markdown report, an HTML one beside it "
        "and the results as JSON.",
    )
    p.add_argument("--bundle", type=Path, required=True, help="model bundle directory")
    ads = p.add_mutually_exclusive_group(required=True)
    ads.add_argument("--ads", type=Path, help="JSONL: ad_id, title, description[, category]")
    ads.add_argument("--from-data", type=Path, help="take the ads of this log's ads.jsonl")
    p.add_argument("--ads-count", type=int, default=100, help="ads taken by --from-data")
    p.add_argument(
        "--audience",
        required=True,
        help="redis:N (a sample of N users from Redis), users:FILE (one id a line, from Redis) "
        "or data:DIR:N (N test impressions of the log in DIR, one per user)",
    )
    p.add_argument("--variants", type=int, default=8, help="variants asked per ad")
    p.add_argument("--out", type=Path, required=True, help="report.md (.html, .json beside)")
    p.add_argument("--truth", type=Path, help="synthetic log dir: the true uplift (data: only)")
    p.add_argument("--adapter", type=Path, help="a LoRA adapter directory of the generator")
    p.add_argument(
        "--generator",
        choices=("smollm2", "tiny"),
        default="smollm2",
        help="'tiny': a random tiny model (tests)",
    )
    p.add_argument("--seed", type=int, default=0, help="generation and audience sample seed")
    p.add_argument("--redis-url", help="for redis: and users: audiences")
    p.add_argument("--key-prefix", default="adrank:")
    p.add_argument("--context", help="JSON context of redis:/users: audiences (default none)")
    p.add_argument("--threads", type=int, default=1, help="threads of each model")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    from model_export.copy.pipeline import rewrite_ad
    from model_export.copy.truth import TextTruth
    from service.bundle.loader import load_bundle
    from service.copy.audience import VariantScorer

    bundle = load_bundle(args.bundle)
    scorer = VariantScorer.from_bundle(bundle, threads=args.threads)
    ads = read_copy_ads(args)
    audience, rows = build_audience(args, bundle, scorer)
    world = load_truth(args, rows)
    truth = TextTruth(world) if world is not None else None
    brands = {str(b) for b in world.ads.brand} if world is not None else None
    gen = make_generator(args)
    results = []
    for ad in tqdm(ads, desc="copy", unit="ad"):
        n, seed = args.variants, args.seed
        result = rewrite_ad(ad, gen, scorer, audience, n=n, seed=seed, brands=brands, truth=truth,
                            truth_rows=rows)  # fmt: skip
        results.append(result)
    write_reports(args, results, report_meta(args, bundle.version, gen.name, audience))


def fail(message: str) -> NoReturn:
    raise SystemExit(f"adrank copy: {message}")


def read_copy_ads(args: argparse.Namespace) -> list[Any]:
    from model_export.copy.checks import AdText
    from model_export.copy.pipeline import CopyAd
    from model_export.data.io import read_ads

    frame = read_ads(args.ads if args.ads else args.from_data / "ads.jsonl")
    if args.from_data:
        frame = frame.head(args.ads_count)
    return [
        CopyAd(str(r.ad_id), AdText(r.title, r.description or ""), r.category or "")
        for r in frame.itertuples(index=False)
    ]


def build_audience(args: argparse.Namespace, bundle: Any, scorer: Any) -> tuple[Any, Any]:
    """The audience and, for a data: audience, its rows (else None)."""
    from model_export.copy.audiences import data_audience, parse_audience, read_user_ids
    from model_export.data.io import read_clicklog

    try:
        spec = parse_audience(args.audience)
    except ValueError as exc:
        fail(str(exc))
    if spec.kind == "data":
        if args.context:
            fail("--context is for redis: and users: audiences (data: rows have their own)")
        assert spec.path is not None and spec.size is not None  # parse_audience's data:
        log, _ = read_clicklog(spec.path)
        audience, rows = data_audience(log, bundle, scorer.encoder, spec.size, args.seed)
    else:
        audience, rows = redis_audience(args, bundle, spec, read_user_ids), None
    if not len(audience):
        fail(f"the audience is empty ({audience.skipped} users without behaviour skipped)")
    return audience, rows


def redis_audience(args: argparse.Namespace, bundle: Any, spec: Any, read_ids: Any) -> Any:
    import json

    import redis

    from service.copy.audience import audience_from_redis
    from service.store.keys import KeyLayout

    if not args.redis_url:
        fail(f"--audience {args.audience} needs --redis-url")
    context = json.loads(args.context) if args.context else {}
    who = {"user_ids": read_ids(spec.path)} if spec.kind == "users" else {"sample": spec.size}
    client = redis.Redis.from_url(args.redis_url)
    try:
        return audience_from_redis(client, bundle, seed=args.seed, context=context,
                                   layout=KeyLayout(args.key_prefix), **who)  # fmt: skip
    finally:
        client.close()


def load_truth(args: argparse.Namespace, rows: Any) -> Any:
    if args.truth is None:
        return None
    if rows is None:
        fail("--truth needs a data: audience (the truth scores the log's rows)")
    from model_export.data.synth_world import load_world

    try:
        return load_world(args.truth, progress=False)
    except ValueError as exc:
        fail(str(exc))


def make_generator(args: argparse.Namespace) -> Any:
    from model_export.copy.generate import load_generator, tiny_generator

    if args.generator == "tiny":
        return tiny_generator(seed=args.seed, adapter=args.adapter)
    return load_generator(adapter=args.adapter, threads=args.threads)


def report_meta(args: argparse.Namespace, version: str, generator: str, audience: Any) -> dict:
    skipped = f", {audience.skipped} skipped (no behaviour)" if audience.skipped else ""
    return {
        "bundle": f"{args.bundle} (version {version})",
        "generator": generator,
        "audience": f"{args.audience}: {len(audience)} users{skipped}",
        "variants asked per ad": str(args.variants),
        "seed": str(args.seed),
        "truth": str(args.truth) if args.truth else "none",
    }


def write_reports(args: argparse.Namespace, results: list[Any], meta: dict) -> None:
    import orjson

    from model_export.copy.report import html_report, markdown, records, summarise_results

    out: Path = args.out
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(markdown(results, meta))
    out.with_suffix(".html").write_text(html_report(results, meta))
    out.with_suffix(".json").write_bytes(
        orjson.dumps({"meta": meta, "ads": records(results)}, option=orjson.OPT_INDENT_2)
    )
    s = summarise_results(results)
    print(f"{s.ads} ads, {s.generated} variants generated, {s.kept} kept "
          f"({s.pass_rate:.1%}), fact retention {s.fact_retention:.1%}; "
          f"best variant's predicted uplift {s.best_predicted_uplift:+.2%}, true "
          f"{s.best_true_uplift:+.2%}; report: {out}")  # fmt: skip
