"""The model benchmark's ranker feed against a real bundle: every input the graph takes."""

from pathlib import Path

from loadtests.bench_model import ranker_feed, ranker_rows
from service.bundle.loader import load_bundle
from service.bundle.signature import RANKER_INPUTS


def test_ranker_feed_has_every_input_of_the_graph(tiny_bundle: Path) -> None:
    bundle = load_bundle(tiny_bundle)
    assert set(ranker_feed(bundle, users=2, per_user=3).feeds()) == set(RANKER_INPUTS)
    rows = ranker_rows([bundle], threads=1)
    assert len(rows) == 4 and all("ms per 100 candidates" in r for r in rows)
