"""The ranking head's pure tensor parts: context lookups and the two attention layouts."""

import pytest
import torch

from model_export.model.ranker import HeadConfig, RankingHead

SIZES = (3, 5, 2)


def make_head(pair_attended: bool = True) -> RankingHead:
    torch.manual_seed(0)
    cfg = HeadConfig(d=16, attention_dim=8, hidden=(12, 6), pair_attended=pair_attended)
    head = RankingHead(cfg, SIZES, id_buckets=7)
    for bias in head.context_bias:  # zero-initialised: give them values to tell apart
        torch.nn.init.normal_(bias.weight)
    return head.eval()


def test_one_gather_over_stacked_tables_reads_each_fields_own_rows() -> None:
    head = make_head()
    context = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    emb, wide = head._context(context)
    per_field = [table(context[:, i]) for i, table in enumerate(head.context_emb)]
    assert torch.equal(emb, torch.cat(per_field, dim=1))
    expected = sum(table(context[:, i]) for i, table in enumerate(head.context_bias))
    assert torch.allclose(wide, expected)


@pytest.mark.parametrize("pair_attended", [True, False])
@torch.no_grad()
def test_the_serving_layout_scores_as_the_training_layout(pair_attended: bool) -> None:
    """Several users per call (flat pairs with user_index) = one row per candidate, as in
    training (user_index None)."""
    head = make_head(pair_attended)
    users, h, d = 3, 4, 16
    history = torch.randn(users, h, d)
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0], [0, 0, 0, 0]], dtype=torch.float32)
    context = torch.tensor([[0, 4, 1], [2, 0, 0], [1, 3, 1]])
    user_index = torch.tensor([0, 0, 1, 2, 2, 2])
    n = len(user_index)
    candidates, bucket, prior = torch.randn(n, d), torch.randint(0, 7, (n,)), torch.randn(n, 2)
    flat = head(history, mask, context, candidates, user_index, bucket, prior)
    h_rows = history[user_index]
    rows = head.score(head.item_keys(h_rows), h_rows, mask[user_index], context[user_index],
                      candidates, None, bucket, prior)  # fmt: skip
    for a, b in zip(flat, rows, strict=True):
        assert torch.allclose(a, b, atol=1e-6)
