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
