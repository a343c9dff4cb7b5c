"""The training objectives, computed by hand on small tensors."""

import torch
import torch.nn.functional as F

from model_export.train.losses import clicked_only_loss, ctr_loss, esmm_loss

LOGIT = torch.tensor([0.5, -1.0, 2.0, -3.0])
CVR_LOGIT = torch.tensor([-1.0, 0.0, 1.0, -2.0])
CLICK = torch.tensor([1.0, 0.0, 1.0, 0.0])
CONVERTED = torch.tensor([1.0, 0.0, 0.0, 0.0])


def bce(p: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    return -(y * p.log() + (1 - y) * (1 - p).log()).mean()


def test_esmm_adds_the_entire_space_loss_of_pctr_times_pcvr() -> None:
    ones = torch.ones(4)
    p_ctcvr = torch.sigmoid(LOGIT) * torch.sigmoid(CVR_LOGIT)
    expected = ctr_loss(LOGIT, CLICK) + bce(p_ctcvr, CONVERTED)
    assert torch.allclose(esmm_loss(LOGIT, CVR_LOGIT, CLICK, CONVERTED, ones), expected)


def test_delay_correction_scales_what_the_log_could_show() -> None:
    observed = torch.tensor([1.0, 0.5, 0.1, 0.9])
    p_seen = torch.sigmoid(LOGIT) * torch.sigmoid(CVR_LOGIT) * observed
    expected = ctr_loss(LOGIT, CLICK) + bce(p_seen, CONVERTED)
    got = esmm_loss(LOGIT, CVR_LOGIT, CLICK, CONVERTED, observed)
    assert torch.allclose(got, expected)
    # a recent click without its conversion costs less than an old one: it may still convert
    recent = esmm_loss(LOGIT, CVR_LOGIT, CLICK, CONVERTED, torch.tensor([1.0, 1.0, 0.1, 1.0]))
    old = esmm_loss(LOGIT, CVR_LOGIT, CLICK, CONVERTED, torch.ones(4))
    assert recent < old


def test_clicked_only_ignores_the_conversion_of_rows_not_clicked() -> None:
    flipped = CVR_LOGIT.clone()
    flipped[CLICK == 0] = 5.0  # unclicked rows' pCVR must not matter
    a = clicked_only_loss(LOGIT, CVR_LOGIT, CLICK, CONVERTED)
    b = clicked_only_loss(LOGIT, flipped, CLICK, CONVERTED)
    assert torch.allclose(a, b)
    clicked = CLICK > 0
    expected = ctr_loss(LOGIT, CLICK) + F.binary_cross_entropy_with_logits(
        CVR_LOGIT[clicked], CONVERTED[clicked]
    )
    assert torch.allclose(a, expected)
