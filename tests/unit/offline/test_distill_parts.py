"""The pure parts of the teacher and of distillation: packing token sequences, drawing
unshown pairs, the distillation losses (the in-batch one on labelled rows only), and rows
shown another ad."""

import numpy as np
import pytest

torch = pytest.importorskip("torch")

from model_export.teacher.labels import unshown_partners  # noqa: E402
from model_export.teacher.model import pack  # noqa: E402
from model_export.train.distill import Distillation, distill_loss, in_batch_loss, soft_loss  # noqa: E402


def test_pack_moves_real_tokens_to_the_front_in_order_and_cuts_padding() -> None:
    states = torch.arange(2 * 5, dtype=torch.float32).reshape(2, 5, 1)
    mask = torch.tensor([[1, 0, 1, 0, 0], [0, 1, 1, 1, 0]])
    packed, packed_mask = pack(states, mask)
    assert packed_mask.tolist() == [[1, 1, 0], [1, 1, 1]]
    assert packed[0, :2, 0].tolist() == [0.0, 2.0]
    assert packed[1, :, 0].tolist() == [6.0, 7.0, 8.0]


def test_unshown_partners_show_another_ad_drawn_from_the_pool() -> None:
    ad_text = np.array([0, 0, 1, 2, 2, 3])
    pool = np.array([0, 2, 3, 5])
    rows = np.arange(6)
    partners = unshown_partners(ad_text, pool, rows, np.random.default_rng(0))
    assert np.isin(partners, pool).all()
    assert (ad_text[partners] != ad_text[rows]).all()


def test_soft_loss_is_the_cross_entropy_against_the_teachers_probability() -> None:
    student, teacher = torch.tensor([0.3, -1.0]), torch.tensor([1.2, -2.0])
    q, p = torch.sigmoid(teacher), torch.sigmoid(student)
    expected = -(q * torch.log(p) + (1 - q) * torch.log(1 - p)).mean()
    assert torch.isclose(soft_loss(student, teacher), expected)


def test_margin_mse_teaches_the_margin_not_the_level() -> None:
    teacher = (torch.tensor([1.0, 0.0]), torch.tensor([-1.0, -3.0]))
    shifted = (teacher[0] + 5.0, teacher[1] + 5.0)  # same margins, another level
    assert distill_loss("margin_mse", shifted, teacher).item() == 0.0
    assert distill_loss("kl", shifted, teacher).item() > distill_loss("kl", teacher, teacher).item()
    flipped = (teacher[1], teacher[0])
    assert distill_loss("margin_mse", flipped, teacher).item() > 0.0


def test_in_batch_loss_is_half_the_mean_squared_margin_error_over_all_pairs() -> None:
    student, teacher = torch.tensor([0.5, -1.0, 2.0, 0.0]), torch.tensor([1.0, -2.5, 1.5, 0.2])
    i, j = torch.triu_indices(4, 4, offset=1)
    margins = ((student[i] - student[j]) - (teacher[i] - teacher[j])).square()
    pairs = torch.cat([margins, margins, torch.zeros(4)]).sum() / 16  # ordered pairs, i = j
    assert torch.isclose(in_batch_loss(student, teacher), pairs / 2)
    assert in_batch_loss(teacher + 3.0, teacher).item() < 1e-12  # the level is not taught


def test_in_batch_distillation_reads_only_the_rows_the_teacher_labelled() -> None:
    by_position = np.array([1.0, np.nan, -1.0, 0.5, np.nan], np.float32)
    empty = np.zeros(0)
    d = Distillation(None, None, (empty, empty), "in_batch", 2.0, by_position)  # type: ignore[arg-type]
    student = torch.tensor([3.0, 9.0, 1.0, 99.0])  # at positions 0, 1, 2, 4
    loss = d.in_batch(student, np.array([0, 1, 2, 4]))
    assert torch.isclose(
        loss, 2.0 * in_batch_loss(torch.tensor([3.0, 1.0]), torch.tensor([1.0, -1.0]))
    )
    assert d.in_batch(student[:2], np.array([0, 1])).item() == 0.0  # one labelled row: no pair
