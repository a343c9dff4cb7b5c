"""`adrank load`: warm Redis with ad vectors and user behaviour matrices for a bundle."""

import argparse
from pathlib import Path


def add_parser(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "load",
        help="write ad vectors and user behaviour matrices to Redis",
        description="Encode every ad of a catalog and every user's recent behaviour with a "
        "bundle's encoder and write them to Redis in the service's layout "
        "(pipelined), so the service starts with warm caches.",
    )
    p.add_argument("--bundle", type=Path, required=True, help="model bundle directory")
    p.add_argument(
        "--data",
        type=Path,
        required=True,
        help="directory with ads.jsonl and/or events.jsonl (the adrank input format)",
    )
    p.add_argument("--redis-url", required=True, help="e.g. redis://localhost:6379/0")
    p.add_argument(
        "--cluster",
        action="store_true",
        help="--redis-url names a node of a Redis Cluster (writes are grouped by node)",
    )
    p.add_argument("--key-prefix", default="adrank:")
    p.add_argument("--user-ttl-s", type=int, default=30 * 86400, help="TTL of user keys (0 = none)")
    p.add_argument("--ad-ttl-s", type=int, default=0, help="TTL of ad keys (0 = none)")
    p.add_argument("--threads", type=int, default=2, help="onnxruntime intra-op threads")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> None:
    import redis

    from model_export.data.io import read_ads, read_events
    from model_export.warm_store import LoadOptions, load_ads, load_users
    from service.bundle.loader import load_bundle
    from service.runtime.encoder import TextEncoder
    from service.store.keys import KeyLayout

    bundle = load_bundle(args.bundle)
    encoder = TextEncoder.from_bundle(bundle, intra_op_threads=args.threads)
    options = LoadOptions(
        KeyLayout(args.key_prefix), args.user_ttl_s or None, args.ad_ttl_s or None
    )
    client: redis.Redis | redis.RedisCluster = (
        redis.RedisCluster.from_url(args.redis_url)
        if args.cluster
        else redis.Redis.from_url(args.redis_url)
    )
    if (args.data / "ads.jsonl").is_file():
        n = load_ads(client, encoder, bundle, read_ads(args.data / "ads.jsonl"), options)
        print(f"{n:,} ads written")
    if (args.data / "events.jsonl").is_file():
        n = load_users(client, encoder, bundle, read_events(args.data / "events.jsonl"), options)
        print(f"{n:,} users written")
    client.close()
