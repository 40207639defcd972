"""Degenerate inputs to the MI estimators are named, never turned into a huge finite value."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.metrics import gaussian_mi


@pytest.fixture
def x():
    return np.random.default_rng(0).normal(size=(60, 5))


def test_a_readout_against_itself_is_refused(x):
    with pytest.raises(ValueError, match=r"xa and xb are the same matrix .*infinite"):
        gaussian_mi(x, x.copy(), n_boot=2)


@pytest.mark.parametrize(
    "transform",
    [
        lambda x: x @ np.random.default_rng(1).normal(size=(5, 3)),  # fewer features
        lambda x: 3 * x[:, ::-1] - 2,  # rescaled, shifted, reordered
    ],
)
def test_a_linear_function_of_the_other_readout_is_refused(x, transform):
    with pytest.raises(ValueError, match=r"xb is a linear function of xa \(canonical corr"):
        gaussian_mi(x, transform(x), n_boot=2)


def test_a_strong_but_noisy_dependence_is_still_estimated(x):
    noisy = x[:, :3] + 0.01 * np.random.default_rng(2).normal(size=(60, 3))
    est = gaussian_mi(x, noisy, n_boot=2)
    assert 3 < est.value < 20 and np.isfinite(est.ci_high)


def test_constant_features_are_named_in_a_warning(x):
    y = np.random.default_rng(3).normal(size=(60, 4))
    y[:, [1, 3]] = 7.0
    with pytest.warns(UserWarning, match=r"xb has 2 constant feature\(s\) \(columns 1, 3\)"):
        est = gaussian_mi(x, y, n_boot=2)
    assert np.isfinite(est.value)
    with pytest.raises(ValueError, match="a view is constant"):
        gaussian_mi(x, np.full((60, 2), 1.0), n_boot=2)
