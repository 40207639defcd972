"""The multimodal baselines: cross-modal ridge recovers a linear map between readouts, and the
additive baseline sums the singles' profiles at matched doses."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.data import Condition
from phenocast.models import CrossModalRidge, UnsupportedConditionError, additive_from_singles
from phenocast.models.baselines import CROSS_MODAL_ALPHAS


def _linear_readouts(n: int, *, noise: float, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    # source features on different scales: the model standardises them
    source = rng.normal(size=(n, 5)) * np.array([1.0, 10.0, 0.1, 3.0, 1.0]) + 2.0
    weights = rng.normal(size=(5, 4)) / np.array([1.0, 10.0, 0.1, 3.0, 1.0])[:, None]
    target = source @ weights + 1.0 + noise * rng.normal(size=(n, 4))
    return source, target


def test_ridge_recovers_a_linear_map_between_readouts():
    source, target = _linear_readouts(120, noise=0.0)
    model = CrossModalRidge().fit(source[:80], target[:80])
    assert model.alpha_ == min(CROSS_MODAL_ALPHAS)  # no noise: the least penalty wins
    pred = model.predict(source[80:])
    assert pred.shape == (40, 4)
    resid = pred - target[80:]
    assert np.sqrt(np.mean(resid**2)) < 0.02 * target[80:].std()


def test_ridge_shrinks_to_the_mean_when_the_source_says_nothing():
    source, _ = _linear_readouts(120, noise=0.0)
    target = np.random.default_rng(5).normal(size=(120, 4)) + 3.0  # independent of source
    model = CrossModalRidge().fit(source[:80], target[:80])
    assert model.alpha_ >= 1e3
    pred = model.predict(source[80:])
    np.testing.assert_allclose(pred, np.broadcast_to(target[:80].mean(0), pred.shape), atol=0.1)


def test_ridge_penalty_comes_from_the_grid_given():
    source, target = _linear_readouts(60, noise=1.0)
    assert CrossModalRidge(alphas=(7.0,)).fit(source, target).alpha_ == 7.0


def test_ridge_refuses_bad_input():
    source, target = _linear_readouts(20, noise=0.0)
    with pytest.raises(ValueError, match=r"alphas must be positive numbers, at least one"):
        CrossModalRidge(alphas=())
    with pytest.raises(ValueError, match=r"alphas must be positive numbers.*-1\.0"):
        CrossModalRidge(alphas=(1.0, -1.0))
    with pytest.raises(RuntimeError, match=r"not fitted; call fit\(source, target\) first"):
        CrossModalRidge().predict(source)
    with pytest.raises(ValueError, match=r"same rows, got 20 and 19"):
        CrossModalRidge().fit(source, target[:19])
    with pytest.raises(ValueError, match=r"source must be a 2-D \(rows × features\) array"):
        CrossModalRidge().fit(source[:, 0], target)
    bad = target.copy()
    bad[3, 1] = np.nan
    with pytest.raises(ValueError, match=r"target has missing or infinite values"):
        CrossModalRidge().fit(source, bad)
    model = CrossModalRidge().fit(source, target)
    with pytest.raises(ValueError, match=r"source has 4 features; the model was fitted on 5"):
        model.predict(source[:, :4])


# ------------------------------------------------------------------ additive from singles
RNG = np.random.default_rng(2)
A1, A10, B1, C3 = (RNG.normal(size=7) for _ in range(4))
CONDS = [
    Condition(("A",), (1.0,)),
    Condition(("A",), (10.0,)),
    Condition(("B",), (1.0,)),
    Condition(("C",), (3.0,)),
    Condition(("A", "B"), (1.0, 1.0)),  # a measured pair: never used as a single
]
PROFILES = np.stack([A1, A10, B1, C3, RNG.normal(size=7)])


def test_additive_is_the_sum_of_the_singles_at_the_same_doses():
    pair = Condition(("A", "B"), (10.0, 1.0))
    profile, used = additive_from_singles(CONDS, PROFILES, pair)
    np.testing.assert_allclose(profile, A10 + B1)
    assert used == ["same", "same"]
    triple, _ = additive_from_singles(CONDS, PROFILES, Condition(("A", "B", "C"), (1, 1, 3)))
    np.testing.assert_allclose(triple, A1 + B1 + C3)


def test_additive_takes_the_nearest_dose_in_log_dose():
    # 4 is nearer 1 than 10 in linear dose but nearer 10 in log dose (log 4 > log √10)
    profile, used = additive_from_singles(CONDS, PROFILES, Condition(("A", "C"), (4.0, 1.0)))
    np.testing.assert_allclose(profile, A10 + C3)
    assert used == ["nearest (10 for 4)", "nearest (3 for 1)"]
    # on a tie in log dose (√10 is equally far from 1 and 10) the first measured row wins
    tie, _ = additive_from_singles(CONDS, PROFILES, Condition(("A",), (10**0.5,)))
    np.testing.assert_allclose(tie, A1)


def test_additive_refuses_what_it_cannot_answer():
    with pytest.raises(UnsupportedConditionError, match=r"component 'D' was never measured"):
        additive_from_singles(CONDS, PROFILES, Condition(("A", "D"), (1.0, 1.0)))
    with pytest.raises(UnsupportedConditionError, match=r"dose 0 of 'A' or one of its measured"):
        additive_from_singles(CONDS, PROFILES, Condition(("A", "B"), (0.0, 1.0)))
    with pytest.raises(ValueError, match=r"5 conditions for 4 rows of profiles"):
        additive_from_singles(CONDS, PROFILES[:4], Condition(("A",), (1.0,)))
    with pytest.raises(ValueError, match=r"profiles must be a 2-D"):
        additive_from_singles(CONDS, PROFILES[0], Condition(("A",), (1.0,)))
