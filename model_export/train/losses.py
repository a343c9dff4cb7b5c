"""Training objectives (pure functions of logits and labels).

- ``ctr``: binary cross-entropy of the click.
- ``esmm``: the click's, plus the cross-entropy of "clicked and converted" over every
  impression with pCTCVR = pCTR × pCVR (ESMM, Ma et al. 2018): the conversion tower learns over
  the entire space of impressions it will score, not over clicks alone. ``observed`` (per row,
  ``delay.DelayModel.cdf`` of the time from the impression to the log's cut; 1 without delay
  correction) scales pCTCVR to what the log could show by then.
- ``clicked_only``: the click's, plus the conversion's cross-entropy over clicked rows only —
  the conversion tower trained on a sample unlike the impressions it scores (a baseline that
  still shares the click task's layers).
- ``click_space``: the classic conversion model (ESMM's BASE): trained on clicked rows alone,
  for the conversion alone (the trainer keeps only clicked rows; its pCTR is not trained).
"""

from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor

CvrObjective = Literal["esmm", "clicked_only", "click_space"]
EPS = 1e-7


def ctr_loss(logit: Tensor, click: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(logit, click)


def esmm_loss(
    logit: Tensor, cvr_logit: Tensor, click: Tensor, converted: Tensor, observed: Tensor
) -> Tensor:
    """Click loss + the entire-space loss of (clicked and converted by the cut)."""
    log_p = F.logsigmoid(logit) + F.logsigmoid(cvr_logit) + torch.log(observed.clamp(min=EPS))
    ctcvr = F.binary_cross_entropy(log_p.exp().clamp(EPS, 1 - EPS), converted)
    return ctr_loss(logit, click) + ctcvr


def cvr_loss(cvr_logit: Tensor, converted: Tensor) -> Tensor:
    return F.binary_cross_entropy_with_logits(cvr_logit, converted)


def clicked_only_loss(logit: Tensor, cvr_logit: Tensor, click: Tensor, converted: Tensor) -> Tensor:
    """Click loss + the conversion loss over the clicked rows (none: the click loss)."""
    clicked = click > 0.5
    loss = ctr_loss(logit, click)
    if clicked.any():
        loss = loss + cvr_loss(cvr_logit[clicked], converted[clicked])
    return loss
