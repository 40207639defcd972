"""Variance recalibration: recovers known scales on Gaussian data, lowers the NLL, and refuses
bad input with a clear message."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.evaluate.metrics import gaussian_nll, interval_coverage
from phenocast.models import (
    Prediction,
    VarianceCalibration,
    condition_mean_noise,
    fit_variance_calibration,
)


def _gaussian(rng, shape, epi_true, ale_true, *, sd_epi=1.0, sd_ale=1.0):
    """Predicted variances and truths whose real variances are the given multiples."""
    mean = rng.normal(size=shape)
    epistemic = rng.uniform(0.2, 2.0, size=shape) * sd_epi**2
    aleatoric = rng.uniform(0.2, 2.0, size=shape) * sd_ale**2
    real = epi_true * epistemic + ale_true * aleatoric
    truth = mean + rng.normal(size=shape) * np.sqrt(real)
    return Prediction(mean, epistemic, aleatoric), truth


def test_total_scale_recovers_a_threefold_sd():
    rng = np.random.default_rng(0)
    pred, truth = _gaussian(rng, (40, 500), 9.0, 9.0)  # truths drawn with 3 × the sd
    cal = fit_variance_calibration(pred, truth)
    assert cal.mode == "total" and cal.n_values == 20_000
    assert cal.epistemic_scale == pytest.approx(9.0, rel=0.03)
    assert cal.aleatoric_scale == cal.epistemic_scale
    assert cal.nll_after < cal.nll_before
    # fresh data from the same process: calibrated 80 % intervals cover ≈ 80 %
    test, test_truth = _gaussian(rng, (40, 500), 9.0, 9.0)
    fixed = cal.apply(test)
    assert interval_coverage(test.mean, test.variance, test_truth, level=0.8) < 0.45
    cov = interval_coverage(fixed.mean, fixed.variance, test_truth, level=0.8)
    assert cov == pytest.approx(0.8, abs=0.01)
    assert gaussian_nll(fixed.mean, fixed.variance, test_truth) < gaussian_nll(
        test.mean, test.variance, test_truth
    )
    np.testing.assert_array_equal(fixed.mean, test.mean)


def test_total_scale_is_the_nll_minimiser():
    rng = np.random.default_rng(1)
    pred, truth = _gaussian(rng, (10, 200), 2.0, 0.5)
    cal = fit_variance_calibration(pred, truth)
    nll = [
        gaussian_nll(pred.mean, s * pred.variance, truth)
        for s in cal.epistemic_scale * np.array([0.9, 1.0, 1.1])
    ]
    assert nll[1] < nll[0] and nll[1] < nll[2]
    assert cal.nll_after == pytest.approx(nll[1], rel=1e-9)


def test_separate_scales_recover_each_part():
    rng = np.random.default_rng(2)
    pred, truth = _gaussian(rng, (50, 800), 9.0, 1.0)
    cal = fit_variance_calibration(pred, truth, mode="separate")
    assert cal.mode == "separate"
    assert cal.epistemic_scale == pytest.approx(9.0, rel=0.1)
    assert cal.aleatoric_scale == pytest.approx(1.0, abs=0.5)
    total = fit_variance_calibration(pred, truth)
    assert cal.nll_after <= total.nll_after + 1e-9


def test_several_validation_sets_pool():
    rng = np.random.default_rng(3)
    parts = [_gaussian(rng, (5, 300), 4.0, 4.0) for _ in range(3)]
    cal = fit_variance_calibration([p for p, _ in parts], [t for _, t in parts])
    assert cal.n_values == 4500 and cal.epistemic_scale == pytest.approx(4.0, rel=0.08)


def test_condition_mean_noise_divides_by_cells():
    pred = Prediction(np.zeros((2, 3)), np.ones((2, 3)), np.full((2, 3), 8.0))
    out = condition_mean_noise(pred, [4, 2])
    np.testing.assert_array_equal(out.aleatoric, [[2, 2, 2], [4, 4, 4]])
    np.testing.assert_array_equal(out.epistemic, pred.epistemic)
    with pytest.raises(ValueError, match=r"one value per condition \(2\), got 3"):
        condition_mean_noise(pred, [1, 2, 3])
    with pytest.raises(ValueError, match="counts >= 1"):
        condition_mean_noise(pred, [0, 2])


def test_bad_input_is_refused():
    pred = Prediction(np.zeros((2, 10)), np.ones((2, 10)), np.ones((2, 10)))
    truth = np.ones((2, 10))
    with pytest.raises(ValueError, match=r"mode must be one of .*'scale'"):
        fit_variance_calibration(pred, truth, mode="scale")
    with pytest.raises(ValueError, match=r"shape \(2, 10\) \(mean\).*truth has \(3, 10\)"):
        fit_variance_calibration(pred, np.ones((3, 10)))
    with pytest.raises(ValueError, match="NaN or infinite"):
        fit_variance_calibration(pred, np.full((2, 10), np.nan))
    with pytest.raises(ValueError, match="Only 4 validation values; at least min_values=10"):
        fit_variance_calibration(Prediction(np.zeros(4), np.ones(4), np.ones(4)), np.zeros(4))
    with pytest.raises(ValueError, match="2 predictions but 1 truth"):
        fit_variance_calibration([pred, pred], [truth])
    with pytest.raises(ValueError, match="at least one validation Prediction"):
        fit_variance_calibration([], [])
    with pytest.raises(TypeError, match=r"predictions\[0\] must be a Prediction, got ndarray"):
        fit_variance_calibration([truth], [truth])
    zero = Prediction(np.zeros((2, 10)), np.zeros((2, 10)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="variance is 0 for 20 of 20"):
        fit_variance_calibration(zero, truth)
    no_noise = Prediction(np.zeros((2, 10)), np.ones((2, 10)), np.zeros((2, 10)))
    with pytest.raises(ValueError, match="aleatoric variance is 0 everywhere; use mode='total'"):
        fit_variance_calibration(no_noise, truth, mode="separate")
    with pytest.raises(ValueError, match="negative variances"):
        fit_variance_calibration(Prediction(pred.mean, -pred.epistemic, pred.aleatoric), truth)
    with pytest.raises(ValueError, match="epistemic_scale must be finite and >= 0, got -1"):
        VarianceCalibration(
            epistemic_scale=-1, aleatoric_scale=1, mode="total", n_values=1,
            nll_before=0.0, nll_after=0.0,
        )  # fmt: skip
    cal = fit_variance_calibration(pred, truth)
    with pytest.raises(TypeError, match="apply needs a Prediction, got ndarray"):
        cal.apply(truth)
