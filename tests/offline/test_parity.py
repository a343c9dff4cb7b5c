"""Export's parity checks catch an ONNX graph that disagrees with PyTorch."""

from pathlib import Path

import numpy as np
import pytest
import torch

from model_export.export import parity
from model_export.export.onnx_graphs import export_ranker
from model_export.model.ranker import HeadConfig, RankingHead

FORMS = {
    "masses": HeadConfig(d=16, attention_dim=8, clusters=()),
    "attended": HeadConfig(d=16, attention_dim=8, pair_attended=True, clusters=()),
    "clusters": HeadConfig(d=16, attention_dim=8, clusters=(3, 5), cluster_weight_init=(0.5, 0.5)),
    "context terms": HeadConfig(d=16, attention_dim=8, context_mlp=False, context_cross=True,
                                ad_context_dim=3),
    "clicks only": HeadConfig(d=16, attention_dim=8, clusters=(), cvr=False),
}  # fmt: skip


@pytest.fixture(params=list(FORMS))
def head_and_session(
    request: pytest.FixtureRequest, tmp_path: Path
) -> tuple[RankingHead, object, dict[str, np.ndarray]]:
    """Each form of the head: gate masses only, with the attended vectors, with clusters,
    with the context read by the wide pair biases and the ad × context factors (each with a
    conversion tower), and without a conversion tower."""
    torch.manual_seed(0)
    head = RankingHead(FORMS[request.param], [5, 3], 64).eval()
    if head.pair_biases is not None:  # zero-initialised: give the graph values to carry
        torch.nn.init.normal_(head.pair_biases.table.weight)
    vectors = np.random.default_rng(0).normal(size=(10, 16)).astype(np.float32)
    head.clusters.fit(vectors, seed=0)
    export_ranker(head, 16, 6, 2, tmp_path / "ranker.onnx")
    sess = parity.session(str(tmp_path / "ranker.onnx"))
    return head, sess, parity.ranker_inputs(vectors, 6, [5, 3], 64)


def test_parity_inputs_cover_full_partial_and_empty_histories(head_and_session) -> None:
    _, _, inputs = head_and_session
    assert inputs["history_mask"].sum(1).tolist() == [6, 2, 0]
    assert set(inputs["user_index"].tolist()) == {0, 1, 2}
    assert (inputs["ad_bucket"] == 0).any() and (inputs["ad_bucket"] > 0).any()


def test_matching_graphs_pass(head_and_session) -> None:
    head, sess, inputs = head_and_session
    assert parity.check_ranker(head, sess, inputs) <= parity.PCTR_TOLERANCE


def test_a_graph_that_drifted_from_pytorch_fails_loudly(head_and_session) -> None:
    head, sess, inputs = head_and_session
    with torch.no_grad():
        head.mlp.net[-1].bias += 0.01
    with pytest.raises(parity.ParityError, match=r"ranker\.onnx differs from PyTorch"):
        parity.check_ranker(head, sess, inputs)


def test_a_conversion_tower_that_drifted_fails_on_its_own_output(head_and_session) -> None:
    head, sess, inputs = head_and_session
    if head.cvr_tower is None:
        assert [o.name for o in sess.get_outputs()] == ["p_ctr", "attention"]
        return
    assert [o.name for o in sess.get_outputs()] == ["p_ctr", "attention", "p_cvr"]
    with torch.no_grad():
        head.cvr_tower.base += 0.01
    with pytest.raises(parity.ParityError, match=r"p_ctr by \S+, p_cvr by [1-9]"):
        parity.check_ranker(head, sess, inputs)
