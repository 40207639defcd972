"""Metrics, tested by their mathematical properties."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.evaluate import metrics as M

rng = np.random.default_rng(0)
TRUE = rng.normal(size=50)
CTRL = TRUE + rng.normal(scale=0.5, size=50)


def test_perfect_prediction():
    assert M.r2(TRUE, TRUE) == 1.0
    assert M.pearson_delta(TRUE, TRUE, ctrl=CTRL) == pytest.approx(1.0)
    assert M.r2_delta(TRUE, TRUE, ctrl=CTRL) == 1.0
    assert M.mse_topk_deg(TRUE, TRUE, ctrl=CTRL, k=20) == 0.0
    assert M.l2(TRUE, TRUE) == 0.0
    for name, f in M.METRICS.items():
        v = f(TRUE, TRUE, ctrl=CTRL)
        assert v == pytest.approx(0.0 if name in ("mse_top20_deg", "l2") else 1.0), name


def test_r2_of_mean_prediction_is_zero_and_unclipped():
    assert M.r2(np.full(50, TRUE.mean()), TRUE) == pytest.approx(0.0)
    assert M.r2(-TRUE, TRUE) < -1.0


def test_pearson_delta_invariances():
    pred = TRUE + rng.normal(scale=0.3, size=50)
    base = M.pearson_delta(pred, TRUE, ctrl=CTRL)
    delta = pred - CTRL
    # scaling the predicted Δ does not change a correlation
    assert M.pearson_delta(CTRL + 3 * delta, TRUE, ctrl=CTRL) == pytest.approx(base)
    # no-change has an undefined (constant) Δ
    assert np.isnan(M.pearson_delta(CTRL, TRUE, ctrl=CTRL))
    # symmetric in pred and true
    assert M.pearson_delta(TRUE, pred, ctrl=CTRL) == pytest.approx(base)


def test_r2_delta_equals_r2_of_differences():
    pred = TRUE + rng.normal(size=50)
    assert M.r2_delta(pred, TRUE, ctrl=CTRL) == pytest.approx(M.r2(pred - CTRL, TRUE - CTRL))


def test_top_deg_selection_uses_only_top_genes():
    true = np.zeros(30)
    ctrl = np.zeros(30)
    true[:5] = [5, -4, 3, -2, 1]
    idx = M.top_deg_indices(true, ctrl, 3)
    assert sorted(idx.tolist()) == [0, 1, 2]
    pred = true.copy()
    pred[10:] = 100.0  # errors outside the top genes are ignored
    assert M.mse_topk_deg(pred, true, ctrl=ctrl, k=5) == 0.0
    pred2 = true.copy()
    pred2[0] += 2
    assert M.mse_topk_deg(pred2, true, ctrl=ctrl, k=5) == pytest.approx(4 / 5)


def test_l2_and_rmse():
    assert M.l2(np.zeros(4), np.full(4, 2.0)) == pytest.approx(4.0)
    assert M.rmse(np.zeros(4), np.full(4, 2.0)) == pytest.approx(2.0)
    assert M.l2(TRUE, CTRL) == pytest.approx(M.l2(CTRL, TRUE))


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match="differ in length: 3 vs 4"):
        M.r2(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="1-D"):
        M.r2(np.ones((2, 2)), np.ones((2, 2)))
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.top_deg_indices(TRUE, CTRL, 0)


def test_population_distances():
    x = rng.normal(size=(60, 5))
    y = rng.normal(size=(60, 5))
    shifted = y + 3.0
    assert M.energy_distance(x, x) == pytest.approx(0.0, abs=1e-9)
    assert M.mmd(x, x) == pytest.approx(0.0, abs=1e-9)
    assert M.energy_distance(x, y) == pytest.approx(M.energy_distance(y, x))
    assert M.mmd(x, y) == pytest.approx(M.mmd(y, x))
    assert M.energy_distance(x, shifted) > 5 * max(M.energy_distance(x, y), 1e-3)
    assert M.mmd(x, shifted) > 5 * max(M.mmd(x, y), 1e-4)
    with pytest.raises(ValueError, match="differ in genes"):
        M.mmd(x, y[:, :3])


# ------------------------------------------------------------------ calibration
def test_calibration_metrics_reward_honest_variances():
    from phenocast.evaluate.metrics import gaussian_nll, interval_coverage, uncertainty_spearman

    rng = np.random.default_rng(0)
    sd = rng.uniform(0.5, 2.0, 20000)
    truth = rng.normal(0.0, sd)
    mean = np.zeros_like(truth)
    for level in (0.5, 0.8, 0.95):
        assert interval_coverage(mean, sd**2, truth, level=level) == pytest.approx(level, abs=0.01)
    # too narrow intervals cover too little, and cost likelihood
    assert interval_coverage(mean, (sd / 2) ** 2, truth, level=0.8) < 0.5
    assert gaussian_nll(mean, sd**2, truth) < gaussian_nll(mean, (sd / 2) ** 2, truth)
    assert gaussian_nll(mean, sd**2, truth) < gaussian_nll(mean, np.full_like(sd, 1.5), truth)
    # the exact value for a standard normal at its mean
    assert gaussian_nll([0.0], [1.0], [0.0]) == pytest.approx(0.5 * np.log(2 * np.pi))
    # the predicted spread tracks the error: positive Spearman; shuffled: about zero
    assert uncertainty_spearman(mean, sd**2, truth) > 0.2
    assert abs(uncertainty_spearman(mean, rng.permutation(sd) ** 2, truth)) < 0.05
    assert np.isnan(uncertainty_spearman(mean, np.ones_like(sd), truth))


def test_calibration_metrics_refuse_bad_input():
    from phenocast.evaluate.metrics import gaussian_nll, interval_coverage

    with pytest.raises(ValueError, match="one shape"):
        gaussian_nll([0.0, 1.0], [1.0], [0.0, 1.0])
    with pytest.raises(ValueError, match="variance must be positive"):
        gaussian_nll([0.0], [0.0], [0.0])
    with pytest.raises(ValueError, match=r"level must be in \(0, 1\)"):
        interval_coverage([0.0], [1.0], [0.0], level=80)
