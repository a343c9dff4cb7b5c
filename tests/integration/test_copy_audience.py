"""Ad copy scored for an audience, on the real tiny bundle and a real Redis: users written as
`adrank load` writes them are sampled (or named) back with their matrices, and every (text,
user) pCTR is the PyTorch model's for that user's history and an ad it has never seen. On the
trained default bundle (when built), each user's own topic's text scores highest."""

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import redis

from model_export.warm_store import LoadOptions, load_users
from service.bundle.loader import Bundle, load_bundle
from service.copy.audience import Audience, VariantScorer, audience_from_redis, summarise
from service.features.text import ad_text
from service.store.keys import KeyLayout
from tests.support.processes import RedisProcess
from tests.support.tiny_bundle import Candidate, reference_scores

LAYOUT = KeyLayout("copytest[1]:")  # glob characters in the prefix: SCAN must escape them
CONTEXT = {"device": "mobile", "slot": "feed", "position": 1}
TS = 1_700_000_000.0
TOPICS = {
    "runner": ["Trail running shoes for muddy paths", "Review: the best marathon trainers"],
    "cook": ["Cast iron skillet care guide", "Video: a chef's knife explained in 5 minutes"],
    "saver": ["The beginner's guide to index funds", "Ask an expert: everything about pensions"],
}
TEXTS = [
    ad_text("Stride running shoes", "Free shipping on every order.", "Sports & Outdoors"),
    ad_text("The new trail running shoes from Stride", "Free shipping on every order."),
    ad_text("Velvik index funds", "Sign up today.", "Finance"),
]


@pytest.fixture(scope="module")
def bundle(tiny_bundle: Path) -> Bundle:
    return load_bundle(tiny_bundle)


@pytest.fixture(scope="module")
def scorer(bundle: Bundle) -> VariantScorer:
    return VariantScorer.from_bundle(bundle, max_pairs=7)  # several calls per audience


def _events() -> pd.DataFrame:
    rows = []
    for u, (user, titles) in enumerate(TOPICS.items()):
        for i in range(6):  # newest last here; the matrix is newest first
            rows.append((user, f"{user}-{i}", titles[i % 2], "click", 1_600_000_000 + 60 * i + u))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "text", "type", "ts"])


@pytest.fixture(scope="module")
def client(redis_server: RedisProcess, bundle: Bundle, scorer: VariantScorer) -> redis.Redis:
    client = redis.Redis.from_url(redis_server.url)
    load_users(client, scorer.encoder, bundle, _events(), LoadOptions(LAYOUT))
    other = KeyLayout("copytest-other:")  # another layout's users are not this audience
    load_users(client, scorer.encoder, bundle, _events().assign(user_id="stranger"),
               LoadOptions(other))  # fmt: skip
    return client


def _history_texts(user: str) -> list[str]:
    events = _events()
    mine = events[events["user_id"] == user].sort_values("ts", ascending=False)
    return mine["text"].tolist()


def test_a_sample_reads_back_every_user_with_its_matrix(
    client: redis.Redis, bundle: Bundle
) -> None:
    audience = audience_from_redis(client, bundle, sample=10, context=CONTEXT, ts=TS,
                                   layout=LAYOUT)  # fmt: skip
    assert audience.user_ids == ("cook", "runner", "saver") and audience.skipped == 0
    h, d = bundle.manifest.dims.history_len, bundle.manifest.dims.d
    assert audience.history.shape == (3, h, d) and audience.mask.shape == (3, h)
    assert (audience.mask.sum(axis=1) == 6).all()
    expected_ctx = bundle.context.encode(CONTEXT, ts=TS)
    assert (audience.context == expected_ctx).all() and (expected_ctx > 0).sum() >= 4
    two = audience_from_redis(client, bundle, sample=2, seed=1, layout=LAYOUT)
    assert len(two) == 2 and set(two.user_ids) < set(audience.user_ids)
    assert two.user_ids == audience_from_redis(client, bundle, sample=2, seed=1,
                                               layout=LAYOUT).user_ids  # fmt: skip
    assert (two.context == 0).all()  # the neutral context: nothing known


def test_given_users_without_a_matrix_are_skipped_and_counted(
    client: redis.Redis, bundle: Bundle
) -> None:
    audience = audience_from_redis(
        client, bundle, user_ids=["saver", "nobody", "runner", "saver", "stranger"], layout=LAYOUT
    )
    assert audience.user_ids == ("saver", "runner") and audience.skipped == 2
    empty = audience_from_redis(client, bundle, user_ids=["nobody"], layout=LAYOUT)
    assert len(empty) == 0 and empty.skipped == 1


def test_each_pair_is_scored_as_the_model_scores_it(
    client: redis.Redis, bundle: Bundle, scorer: VariantScorer, tiny_bundle: Path
) -> None:
    audience = audience_from_redis(client, bundle, sample=10, context=CONTEXT, ts=TS,
                                   layout=LAYOUT)  # fmt: skip
    p = scorer.score(TEXTS, audience)
    assert p.shape == (len(TEXTS), 3) and p.dtype == np.float32
    for u, user in enumerate(audience.user_ids):
        cands = [Candidate(f"never-seen-{i}", text) for i, text in enumerate(TEXTS)]
        want = reference_scores(tiny_bundle, _history_texts(user), cands, CONTEXT, TS)[0]
        np.testing.assert_allclose(p[:, u], want, rtol=5e-4)  # another user: ~1%
    assert summarise(p)[0].uplift == 0


def test_the_layout_of_calls_does_not_change_a_score(
    client: redis.Redis, bundle: Bundle, scorer: VariantScorer
) -> None:
    audience = audience_from_redis(client, bundle, sample=10, layout=LAYOUT)
    p = scorer.score(TEXTS, audience)
    one_call = VariantScorer(scorer.encoder, scorer.ranker, bundle, max_pairs=10_000)
    np.testing.assert_allclose(one_call.score(TEXTS, audience), p, rtol=1e-5)
    backwards = Audience(audience.user_ids[::-1], audience.history[::-1], audience.mask[::-1],
                         audience.context[::-1])  # fmt: skip
    np.testing.assert_allclose(scorer.score(TEXTS[::-1], backwards), p[::-1, ::-1], rtol=1e-5)
    cold = Audience.build(["new"], [None], bundle.context.encode({}), bundle)
    assert scorer.score(TEXTS, cold).shape == (3, 1)
    assert scorer.score(TEXTS, Audience.build([], [], np.zeros(8), bundle)).shape == (3, 0)


DEFAULT_BUNDLE = Path(__file__).resolve().parents[2] / "models" / "default"


@pytest.mark.skipif(
    not (DEFAULT_BUNDLE / "manifest.json").exists(),
    reason="needs the trained default bundle (make bundle): the tiny one has not learnt topics",
)
def test_the_trained_model_prefers_the_text_of_a_user_s_topic(redis_server: RedisProcess) -> None:
    from model_export.data.synth_catalog import VERTICALS

    bundle = load_bundle(DEFAULT_BUNDLE)
    scorer = VariantScorer.from_bundle(bundle)
    topics = {name: (vertical, topic) for vertical, ts in VERTICALS.items()
              for name, topic in ts.items()}  # fmt: skip
    chosen = ["dog food", "online MBA", "headphones", "sushi"]
    rows = [(name, f"{name}-{i}", f"The beginner's guide to {s}", "view", 1_600_000_000 + i)
            for name in chosen for i, s in enumerate(topics[name][1].subjects)]  # fmt: skip
    events = pd.DataFrame(rows, columns=["user_id", "item_id", "text", "type", "ts"])
    client = redis.Redis.from_url(redis_server.url)
    layout = KeyLayout("copytest-trained:")
    load_users(client, scorer.encoder, bundle, events, LoadOptions(layout))
    audience = audience_from_redis(client, bundle, sample=10, context=CONTEXT, ts=TS,
                                   layout=layout)  # fmt: skip
    assert sorted(audience.user_ids) == sorted(chosen)
    texts = [ad_text(f"Velvik {topics[name][1].products[0]}", "Free shipping on every order.",
                     topics[name][0]) for name in audience.user_ids]  # fmt: skip
    p = scorer.score(texts, audience)  # text i is of user i's topic
    for u in range(len(audience)):
        others = np.delete(p[:, u], u)
        assert p[u, u] > others.max(), (audience.user_ids[u], p[:, u])
