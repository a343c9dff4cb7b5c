"""The experiment's pure logic (docs/experiments.md): which arm a user is in (a salted murmur3
point cut by the weights: pinned, stable, split by the weights, reshuffled by a new salt), the
settings' validators, a blend of logits, and the shadow's rank correlation."""

import mmh3
import numpy as np
import pytest
from pydantic import ValidationError

from service.experiments.assign import ArmTable
from service.experiments.blend import blend, logit
from service.experiments.config import ExperimentSettings
from service.experiments.shadow import spearman
from service.rank.scores import Scored, Scores, blend_scored

USERS = [f"user-{i}" for i in range(100_000)]


def shares(table: ArmTable, n_arms: int, users: list[str] = USERS) -> np.ndarray:
    counts = np.bincount([table.arm_of(u) for u in users], minlength=n_arms)
    return counts / len(users)


def test_the_point_is_the_documented_murmur3_of_salt_and_user() -> None:
    table = ArmTable([1.0, 1.0], "s1")
    # the doc's formula, computed here; and the literal, so a change of mmh3 (or of the
    # formula) that would move users between replicas of different versions is caught
    assert table.point("user-42") == mmh3.hash("s1:user-42", signed=False) / 2**32
    assert mmh3.hash("s1:user-42", signed=False) == 598440804
    assert table.point("user-42") == pytest.approx(598440804 / 2**32, abs=0)
    assert table.arm_of("user-42") == 0  # 0.139… < 0.5
    for u in USERS[:1000]:
        p = table.point(u)
        assert 0 <= p < 1
        assert table.arm_of(u) == (0 if p < 0.5 else 1)


def test_two_tables_agree_on_every_user() -> None:
    a, b = ArmTable([0.6, 0.4], "s1"), ArmTable([0.6, 0.4], "s1")
    users = USERS[:10_000]
    assert [a.arm_of(u) for u in users] == [b.arm_of(u) for u in users]


@pytest.mark.parametrize("weights", [[0.6, 0.4], [0.5, 0.3, 0.2], [6, 4], [3.0, 0.0, 1.0]])
def test_users_split_by_the_weights(weights: list[float]) -> None:
    got = shares(ArmTable(weights, "adrank"), len(weights))
    expected = np.array(weights) / sum(weights)
    np.testing.assert_allclose(got, expected, atol=0.01)
    assert all(got[i] == 0 for i, w in enumerate(weights) if w == 0)  # weight 0: nobody


def test_a_weight_zero_arm_anywhere_gets_nobody() -> None:
    for weights in ([0.0, 1.0], [1.0, 0.0], [0.0, 1.0, 0.0, 1.0]):
        got = shares(ArmTable(weights, "s"), len(weights), USERS[:20_000])
        assert [g > 0 for g in got] == [w > 0 for w in weights], (weights, got)


def test_a_new_salt_moves_about_half_the_users_between_two_equal_arms() -> None:
    old, new = ArmTable([1, 1], "s1"), ArmTable([1, 1], "s2")
    users = USERS[:20_000]
    moved = np.mean([old.arm_of(u) != new.arm_of(u) for u in users])
    assert 0.47 < moved < 0.53
    # the weights alone (same salt) move only the users between the old and new cut
    shifted = ArmTable([0.6, 0.4], "s1")
    moved_by_weights = np.mean([old.arm_of(u) != shifted.arm_of(u) for u in users])
    assert moved_by_weights == pytest.approx(0.1, abs=0.01)


def test_tables_refuse_weights_that_cut_nothing() -> None:
    for weights in ([], [0.0, 0.0], [1.0, -0.5]):
        with pytest.raises(ValueError, match="weights"):
            ArmTable(weights, "s")


ARM_A = {"name": "a", "weight": 0.5, "bundle_path": "models/a"}
ARM_B = {"name": "b", "weight": 0.5, "bundle_path": "models/b"}


@pytest.mark.parametrize(
    ("config", "mentions"),
    [
        ({"arms": [ARM_A, ARM_A | {"bundle_path": "models/b"}]}, "unique"),
        ({"arms": [ARM_A, ARM_B], "control": "c"}, "control"),
        ({"control": "a"}, "control"),  # no arms: the one arm is "default"
        (
            {
                "arms": [
                    ARM_A
                    | {
                        "blend": [
                            {"bundle_path": "x", "weight": 0.5},
                            {"bundle_path": "y", "weight": 0.5},
                        ]
                    }
                ]
            },
            "not both",
        ),
        ({"arms": [{"name": "f", "blend": [{"bundle_path": "x", "weight": 1.0}]}]}, "two"),
        ({"arms": [ARM_A | {"weight": 0}, ARM_B | {"weight": 0}]}, "weight above 0"),
        ({"arms": [ARM_A | {"weight": -1}]}, "greater than or equal"),
        ({"arms": [ARM_A | {"name": "a b"}]}, "pattern"),
        ({"name": "x}y"}, "pattern"),
        ({"shadow": {"bundle_path": "x", "share": 1.5}}, "less than or equal"),
    ],
)
def test_invalid_experiments_are_refused(config: dict, mentions: str) -> None:
    with pytest.raises(ValidationError, match=mentions):
        ExperimentSettings.model_validate(config)


def test_a_valid_experiment_and_its_defaults() -> None:
    blend_arm = {
        "name": "fused",
        "weight": 0.5,
        "blend": [
            {"bundle_path": "models/a", "weight": 0.7},
            {"bundle_path": "models/b", "weight": 0.3},
        ],
    }
    config = ExperimentSettings.model_validate({"name": "ab-1", "arms": [ARM_A, blend_arm]})
    assert config.control_arm() == "a" and config.salt == "adrank"
    fused = config.arms[1]
    assert [str(p) for p in fused.paths(default=None)] == ["models/a", "models/b"]  # type: ignore[arg-type]
    assert fused.part_weights() == [0.7, 0.3]
    empty = ExperimentSettings()
    assert [a.name for a in empty.effective_arms()] == ["default"]
    assert empty.control_arm() == "default"


P = np.array([0.001, 0.02, 0.3, 0.5, 0.9, 0.999])
Q = np.array([0.2, 0.01, 0.6, 0.5, 0.1, 0.7])


def sigmoid(z: np.ndarray) -> np.ndarray:
    return 1 / (1 + np.exp(-z))


def test_a_blend_of_equal_parts_is_the_part() -> None:
    np.testing.assert_allclose(blend([P, P], [0.5, 0.5]), P, rtol=1e-9)
    np.testing.assert_allclose(blend([P, P, P], [0.2, 0.3, 0.5]), P, rtol=1e-9)
    np.testing.assert_allclose(blend([P], [1.0]), P, rtol=1e-9)


def test_a_blend_weighs_logits_not_probabilities() -> None:
    direct = sigmoid(0.7 * np.log(P / (1 - P)) + 0.3 * np.log(Q / (1 - Q)))
    got = blend([P, Q.astype(np.float32)], [0.7, 0.3])
    assert got.dtype == np.float64
    np.testing.assert_allclose(got, direct, rtol=1e-6)
    assert not np.allclose(got, 0.7 * P + 0.3 * Q, rtol=1e-3)
    # weights summing above 1 sharpen; a negative weight inverts
    np.testing.assert_allclose(blend([P, P], [1.0, 1.0]), sigmoid(2 * logit(P)), rtol=1e-9)
    np.testing.assert_allclose(blend([P, Q], [1.0, -1.0]),
                               sigmoid(logit(P) - logit(Q)), rtol=1e-9)  # fmt: skip
    # probabilities at 0 or 1 are clipped, never inf or nan
    edge = blend([np.array([0.0, 1.0]), np.array([0.0, 1.0])], [0.5, 0.5])
    assert np.all(np.isfinite(edge)) and edge[0] < 1e-6 and edge[1] > 1 - 1e-6


def scored(p_ctr: np.ndarray, p_cvr: np.ndarray | None, from_model: list[bool]) -> Scored:
    rows = np.flatnonzero(from_model)
    scores = Scores(p_ctr, p_cvr, np.array(from_model), rows, None, queue_s=0.001)
    return Scored(scores, None, 0.002, 0.0, 0, [])


def test_a_blend_arm_blends_pctr_and_pcvr_only_when_every_part_has_it() -> None:
    a = scored(P, Q, [True] * 6)
    b = scored(Q, P, [True, True, True, True, True, False])
    both = blend_scored([a, b], [0.5, 0.5])
    np.testing.assert_allclose(both.scores.p_ctr, blend([P, Q], [0.5, 0.5]))
    assert both.scores.p_cvr is not None
    np.testing.assert_allclose(both.scores.p_cvr, blend([Q, P], [0.5, 0.5]))
    assert both.scores.from_model.tolist() == [True] * 5 + [False]
    clicks_only = scored(Q, None, [True] * 6)
    assert blend_scored([a, clicks_only], [0.5, 0.5]).scores.p_cvr is None


def test_spearman_on_known_orders() -> None:
    a = np.array([0.1, 0.5, 0.3, 0.9, 0.7])
    assert spearman(a, a) == pytest.approx(1.0)
    assert spearman(a, -a) == pytest.approx(-1.0)
    assert spearman(a, a * 10 + 3) == pytest.approx(1.0)  # ranks only
    # one swap of adjacent ranks among five: 1 - 6·2 / (5·24) = 0.9
    swapped = np.array([0.1, 0.5, 0.3, 0.7, 0.9])
    assert spearman(a, swapped) == pytest.approx(0.9)
    assert np.isnan(spearman(np.array([0.5]), np.array([0.5])))
