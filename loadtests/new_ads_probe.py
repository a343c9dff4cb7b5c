"""What an ad server sees when a campaign launches: one /rank of ``--ads`` ads the service has
never seen, sent with their text, then the same request again after ``--wait-s`` seconds.
Only the documented HTTP contract and the standard library; loopback only.

    python -m loadtests.new_ads_probe            # against a running `make run`
"""

import argparse
import json
import time
import urllib.request
import uuid
from urllib.parse import urlsplit

WORDS = ["trail", "espresso", "lisbon", "novel", "headphones", "yoga", "tent", "sofa", "drone",
         "perfume", "chess", "kayak", "laptop", "garden", "violin", "sneakers"]  # fmt: skip


def launch(n: int) -> list[dict[str, str]]:
    """``n`` new ads (a fresh id prefix each run), each with its own words."""
    tag = uuid.uuid4().hex[:8]
    return [{"ad_id": f"launch-{tag}-{i}", "title": f"{WORDS[i % 16]} and {WORDS[i // 16 % 16]}",
             "description": f"{WORDS[(i + 3) % 16]} deal, {i % 7 + 1}0% off, free delivery",
             "category": WORDS[i // 16 % 16]} for i in range(n)]  # fmt: skip


def rank(url: str, body: bytes) -> tuple[dict, float]:
    request = urllib.request.Request(f"{url}/rank", data=body,
                                     headers={"content-type": "application/json"})  # fmt: skip
    started = time.perf_counter()
    with urllib.request.urlopen(request, timeout=10) as answer:
        return json.load(answer), (time.perf_counter() - started) * 1000


def summary(n: int, out: dict, client_ms: float) -> str:
    sources = [r["source"] for r in out["ranked"]]
    return (f"answer {n}: {client_ms:.0f} ms at the client (total_ms "
            f"{out['metrics']['total_ms']:.1f}), by model {sources.count('model')}, by prior "
            f"{sources.count('prior')}, distinct p_ctr {len({r['p_ctr'] for r in out['ranked']})}"
            f", degraded_reasons {out['degraded_reasons']}")  # fmt: skip


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--url", default="http://127.0.0.1:8000")
    p.add_argument("--ads", type=int, default=100)
    p.add_argument("--wait-s", type=float, default=2.0)
    args = p.parse_args()
    if urlsplit(args.url).hostname not in {"127.0.0.1", "localhost", "::1"}:
        p.error("loopback only")
    body = json.dumps({"user_id": "probe-user", "candidates": launch(args.ads)}).encode()
    for n in (1, 2):
        print(summary(n, *rank(args.url, body)))
        if n == 1:
            time.sleep(args.wait_s)


if __name__ == "__main__":
    main()
