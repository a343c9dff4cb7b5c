"""The ranking head's pure tensor parts: context lookups and the two attention layouts."""

import numpy as np
import pytest
import torch

from model_export.model.clusters import TopicClusters
from model_export.model.ranker import HeadConfig, RankingHead
from model_export.train.config import TrainConfig
from service.features.price import price_features

SIZES = (3, 5, 2)


CONTEXT_TERMS = {"context_mlp": False, "context_cross": True, "ad_context_dim": 3}


def make_head(pair_attended: bool = True, clusters: tuple[int, ...] = (), **options) -> RankingHead:
    torch.manual_seed(0)
    cfg = HeadConfig(d=16, attention_dim=8, hidden=(12, 6), pair_attended=pair_attended,
                     clusters=clusters, **options)  # fmt: skip
    head = RankingHead(cfg, SIZES, id_buckets=7)
    head.clusters.fit(torch.randn(20, 16).numpy(), seed=0)
    zeros = [b.weight for b in head.context_bias]  # zero-initialised: give them values
    if head.pair_biases is not None:
        zeros.append(head.pair_biases.table.weight)
    for weight in zeros:
        torch.nn.init.normal_(weight)
    return head.eval()


def test_one_gather_over_stacked_tables_reads_each_fields_own_rows() -> None:
    head = make_head()
    context = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    emb, wide = head._context(context)
    per_field = [table(context[:, i]) for i, table in enumerate(head.context_emb)]
    assert torch.equal(emb, torch.cat(per_field, dim=1))
    expected = sum(table(context[:, i]) for i, table in enumerate(head.context_bias))
    assert torch.allclose(wide, expected)


def test_pair_biases_and_ad_context_factors_read_each_rows_own_values() -> None:
    head = make_head(**CONTEXT_TERMS)
    context = torch.tensor([[0, 4, 1], [2, 0, 0]])
    pairs, table = [(0, 1), (0, 2), (1, 2)], head.pair_biases.table.weight[:, 0]
    starts = [0, 3 * 5, 3 * 5 + 3 * 2]
    expected = [sum(table[starts[p] + int(row[i]) * SIZES[j] + int(row[j])]
                    for p, (i, j) in enumerate(pairs)) for row in context]  # fmt: skip
    assert torch.allclose(head.pair_biases(context)[:, 0], torch.stack(expected))
    factors, values = head.ad_context.user_factors(context), head.ad_context.values.weight
    assert torch.allclose(factors[1], values[2] + values[3 + 0] + values[3 + 5 + 0])
    candidates = torch.randn(2, 16)
    term = head.ad_context(factors, candidates)
    assert torch.allclose(term, (factors * (candidates @ head.ad_context.ad.weight.t())).sum(1))


@pytest.mark.parametrize(
    ("pair_attended", "clusters", "options"),
    [(True, (), {}), (False, (), {}), (False, (2, 5), {}), (False, (), CONTEXT_TERMS)],
)
@torch.no_grad()
def test_the_serving_layout_scores_as_the_training_layout(
    pair_attended: bool, clusters: tuple[int, ...], options: dict
) -> None:
    """Several users per call (flat pairs with user_index) = one row per candidate, as in
    training (user_index None)."""
    head = make_head(pair_attended, clusters, **options)
    users, h, d = 3, 4, 16
    history = torch.randn(users, h, d)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    context = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    user_index = torch.tensor([0, 0, 1, 2, 2, 2])
    n = len(user_index)
    candidates, bucket, prior = torch.randn(n, d), torch.randint(0, 7, (n,)), torch.randn(n, 2)
    price = torch.randn(n, 2)
    flat = head(history, mask, context, candidates, user_index, bucket, prior, price)
    h_rows = history[user_index]
    rows = head.score(head.item_keys(h_rows), h_rows, mask[user_index], context[user_index],
                      candidates, None, bucket, prior, price)  # fmt: skip
    for a, b in zip(flat, rows, strict=True):
        assert torch.allclose(a, b, atol=1e-6)


def test_cluster_counts_count_each_unmasked_item_at_the_finest_partition_it_shares() -> None:
    clusters = TopicClusters((2, 3), d=2)
    clusters.centroids.copy_(torch.tensor([[1.0, 0], [0, 1], [1, 0], [0, 1], [-1, 0]]))
    items = torch.tensor([[[2.0, 0.1], [0.1, 3], [-0.5, -1], [5, 0]]])  # (1, H=4, d)
    ids = clusters.assign(items)
    assert ids.tolist() == [[[0, 2], [1, 3], [0, 4], [0, 2]]]  # unique across partitions
    mask = torch.tensor([[1.0, 1, 1, 0]])  # the last item is padding
    candidate = clusters.assign(torch.tensor([[1.0, 0.0]]))
    # item 0 shares both clusters (counted fine only), item 2 only the coarse one
    assert TopicClusters.counts(candidate, ids, mask).tolist() == [[1.0, 1.0]]


def test_a_partition_has_no_more_clusters_than_distinct_items() -> None:
    clusters = TopicClusters((4,), d=2)
    vectors = np.array([[1.0, 0], [2, 0], [0, 1], [0, 3]])  # two distinct directions
    assert clusters.fit(vectors, seed=0) == [2]
    ids = clusters.assign(torch.from_numpy(vectors).float())[:, 0]
    assert ids[0] == ids[1] and ids[2] == ids[3] and ids[0] != ids[2]


def test_fitted_sizes_come_back_with_the_state_dict() -> None:
    fitted = TopicClusters((4, 8), d=3)
    fitted.fit(np.random.default_rng(0).normal(size=(6, 3)), seed=0)
    loaded = TopicClusters((4, 8), d=3)
    loaded.load_state_dict(fitted.state_dict())
    assert loaded.fitted.tolist() == [4, 6] and torch.equal(loaded.centroids, fitted.centroids)


def test_the_searched_partitions_find_the_topics_and_their_groups_in_the_data() -> None:
    """48 topics in 6 broad groups of 8: the fine partition finds the topics, the coarse one
    the groups (by grouping the fine centroids)."""
    rng = np.random.default_rng(0)
    groups = rng.normal(size=(6, 16))
    topics = np.repeat(groups, 8, axis=0) + rng.normal(scale=0.35, size=(48, 16))
    vectors = np.repeat(topics, 10, axis=0) + rng.normal(scale=0.03, size=(480, 16))
    clusters = TopicClusters((16, 256), d=16)
    assert clusters.fit(vectors, seed=0, search=True) == [6, 48]
    ids = clusters.assign(torch.from_numpy(vectors).float())
    fine, coarse = ids[:, 1].tolist(), ids[:, 0].tolist()
    assert len(set(fine)) == 48
    assert all(len(set(fine[i * 10 : i * 10 + 10])) == 1 for i in range(48))
    assert all(len(set(coarse[g * 80 : g * 80 + 80])) == 1 for g in range(6))
    assert len(set(coarse)) == 6


def test_a_searched_bound_below_the_search_list_is_a_partition_of_that_size() -> None:
    clusters = TopicClusters((4, 8), d=3)
    vectors = np.random.default_rng(0).normal(size=(50, 3))
    assert clusters.fit(vectors, seed=0, search=True) == [4, 8]


def two_users_three_ads() -> tuple[tuple[torch.Tensor, ...], torch.Tensor]:
    """Head inputs up to the candidates' prior (two users, three candidates), and prices of a
    cheap ad, one without a price and a dear one."""
    history, mask = torch.randn(2, 4, 16), torch.ones(2, 4)
    context, user_index = torch.tensor([[0, 4, 1], [2, 0, 0]]), torch.tensor([0, 0, 1])
    candidates, bucket, prior = (
        torch.randn(3, 16),
        torch.zeros(3, dtype=torch.long),
        torch.zeros(3, 2),
    )
    price = torch.from_numpy(price_features(np.array([9.0, np.nan, 900.0])))
    return (history, mask, context, candidates, user_index, bucket, prior), price


@torch.no_grad()
def test_the_conversion_towers_ad_term_moves_the_conversion_logit_by_the_ads_own_vector() -> None:
    head = make_head(pair_attended=False)
    assert head.cvr_tower is not None and head.cvr_tower.ad_term is not None
    inputs, price = two_users_three_ads()
    before = head(*inputs, price)
    torch.nn.init.normal_(head.cvr_tower.ad_term.weight)
    after = head(*inputs, price)
    assert torch.equal(before.logit, after.logit)  # the click is untouched
    expected = inputs[3] @ head.cvr_tower.ad_term.weight[0]
    assert torch.allclose(after.cvr_logit - before.cvr_logit, expected, atol=1e-6)
    assert make_head(cvr_ad_term=False).cvr_tower.ad_term is None


@torch.no_grad()
def test_the_conversion_towers_price_term_reads_the_price_and_the_click_does_not() -> None:
    head = make_head(pair_attended=False)
    assert head.cvr_tower is not None and head.cvr_tower.price_term is not None
    inputs, price = two_users_three_ads()
    head.cvr_tower.price_term.weight.copy_(torch.tensor([[-0.8, 0.1]]))
    priced = head(*inputs, price)
    unpriced = head(*inputs, torch.zeros(3, 2))
    assert torch.equal(priced.logit, unpriced.logit)
    moved = (priced.cvr_logit - unpriced.cvr_logit).tolist()
    assert moved[1] == 0.0  # no price reads as none at all
    assert moved[0] > 0 > moved[2]  # the dear one converts less, the cheap one more
    assert make_head(cvr_price=False).cvr_tower.price_term is None


def test_a_run_saved_before_the_ad_term_loads_without_it() -> None:
    saved = {"head": {"cvr": True}}
    assert TrainConfig.from_dict(saved).head.cvr_ad_term is False
    assert TrainConfig.from_dict({"head": {"cvr": True, "cvr_ad_term": True}}).head.cvr_ad_term
    assert TrainConfig.from_dict(saved).head.cvr_price is False  # ... and before the price
    assert TrainConfig.from_dict({"head": {"cvr_price": True}}).head.cvr_price
