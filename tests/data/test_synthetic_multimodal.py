"""Tests of the linear-Gaussian multimodal generator and its analytic mutual information."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phenocast.multimodal import gaussian_mi_from_covariance, synthetic_multimodal


def test_same_seed_same_data_and_the_default_layout() -> None:
    (d1, t1), (d2, _) = synthetic_multimodal(seed=3), synthetic_multimodal(seed=3)
    np.testing.assert_array_equal(d1.matrix("rna"), d2.matrix("rna"))
    d3, _ = synthetic_multimodal(seed=4)
    assert not np.allclose(d1.matrix("rna"), d3.matrix("rna"))
    assert d1.modalities == ("rna", "morphology") and len(d1) == 400
    assert (d1.n_features("rna"), d1.n_features("morphology")) == (60, 40)
    assert list(d1.feature_names("morphology")[:2]) == ["morphology_0", "morphology_1"]
    assert t1.loadings_shared["rna"].shape == (60, 3)
    assert t1.loadings_private["morphology"].shape == (40, 2)
    assert t1.z_shared.shape == (400, 3) and t1.z_private["rna"].shape == (400, 2)
    assert d1.observed.all().all()


def test_readouts_follow_the_generative_model() -> None:
    data, truth = synthetic_multimodal(n_samples=20000, noise=0.5, seed=0)
    for m in data.modalities:
        signal = truth.z_shared @ truth.loadings_shared[m].T
        signal = signal + truth.z_private[m] @ truth.loadings_private[m].T
        resid = data.matrix(m) - signal
        assert abs(resid.std() - 0.5) < 0.01
        assert abs(np.corrcoef(resid[:, 0], truth.z_shared[:, 0])[0, 1]) < 0.05
    emp = np.cov(data.matrix("rna")[:, :5].T, data.matrix("morphology")[:, :5].T)[:5, 5:]
    np.testing.assert_allclose(emp, truth.covariance("rna", "morphology")[:5, :5], atol=0.04)


@pytest.mark.parametrize("rho", [0.0, 0.3, 0.6, 0.95, -0.8])
def test_covariance_mi_matches_the_one_dimensional_closed_form(rho: float) -> None:
    cov = np.array([[2.0, rho * math.sqrt(2.0 * 0.5)], [rho * math.sqrt(2.0 * 0.5), 0.5]])
    assert gaussian_mi_from_covariance(cov, 1) == pytest.approx(-0.5 * math.log(1 - rho**2))


def test_covariance_mi_adds_over_independent_pairs_and_rejects_bad_input() -> None:
    r1, r2 = 0.5, 0.7
    cov = np.eye(4)
    cov[0, 2] = cov[2, 0] = r1
    cov[1, 3] = cov[3, 1] = r2
    expected = -0.5 * (math.log(1 - r1**2) + math.log(1 - r2**2))
    assert gaussian_mi_from_covariance(cov, 2) == pytest.approx(expected)
    with pytest.raises(ValueError, match="not positive definite"):
        gaussian_mi_from_covariance(np.ones((2, 2)), 1)
    with pytest.raises(ValueError, match=r"dim_a must be in \[1, 1\]"):
        gaussian_mi_from_covariance(np.eye(2), 2)


def test_truth_mi_in_one_dimension_is_minus_half_log_one_minus_rho_squared() -> None:
    _, t = synthetic_multimodal(dims={"a": 1, "b": 1}, shared_dim=1, private_dim=1, seed=2)
    var_a, var_b = t.covariance("a", "a")[0, 0], t.covariance("b", "b")[0, 0]
    rho = t.covariance("a", "b")[0, 0] / math.sqrt(var_a * var_b)
    assert t.mi_between("a", "b") == pytest.approx(-0.5 * math.log(1 - rho**2))
    assert t.mi_between("b", "a") == t.mi_between("a", "b")
    # x_a alone: I(x_a; z_s) with one latent = -0.5 log(1 - A^2 / var_a)
    a = t.loadings_shared["a"][0, 0]
    assert t.mi_shared["a"] == pytest.approx(-0.5 * math.log(1 - a**2 / var_a))


def test_truth_mi_matches_the_empirical_covariance() -> None:
    data, t = synthetic_multimodal(
        n_samples=20000, dims={"a": 4, "b": 3}, shared_dim=2, private_dim=1, noise=0.7, seed=1
    )
    emp = np.cov(np.hstack([data.matrix("a"), data.matrix("b")]).T)
    assert gaussian_mi_from_covariance(emp, 4) == pytest.approx(t.mi_between("a", "b"), abs=0.02)


@pytest.mark.parametrize("seed", range(4))
def test_data_processing_inequality(seed: int) -> None:
    # x_a <- z_shared -> x_b, so neither readout can know more of the other than of z_shared
    _, t = synthetic_multimodal(
        n_samples=10, dims={"a": 8, "b": 5, "c": 3}, noise=0.5, private_dim=3, seed=seed
    )
    for (a, b), value in t.mi.items():
        assert 0 < value <= min(t.mi_shared[a], t.mi_shared[b]) + 1e-9
    assert set(t.mi) == {("a", "b"), ("a", "c"), ("b", "c")}
    with pytest.raises(KeyError, match="No modality pair"):
        t.mi_between("a", "d")


def test_more_noise_less_information() -> None:
    values = [
        synthetic_multimodal(n_samples=10, noise=s, seed=0)[1].mi_between("rna", "morphology")
        for s in (0.3, 1.0, 3.0)
    ]
    assert values[0] > values[1] > values[2] > 0


def test_missing_drops_samples_from_later_modalities_only() -> None:
    data, _ = synthetic_multimodal(
        n_samples=200, dims={"a": 3, "b": 3, "c": 2}, missing=0.3, seed=0
    )
    obs = data.observed
    assert obs["a"].all() and obs["b"].sum() == obs["c"].sum() == 140
    assert not (obs["b"] == obs["c"]).all()
    assert np.isnan(data.matrix("b")[~obs["b"].to_numpy()]).all()


def test_perturbations_singles_pairs_and_additive_latent_effects() -> None:
    data, t = synthetic_multimodal(
        n_samples=600, dims={"a": 5, "b": 4}, n_components=6, effect_fraction=0.6, seed=0
    )
    conds = data.conditions
    sizes = conds.map(lambda c: len(c.components))
    assert set(sizes) == {1, 2}
    assert t.components == data.components == ("C00", "C01", "C02", "C03", "C04", "C05")
    assert len({c.key for c in conds}) == 6 + 15  # every single and every pair
    member = np.zeros((len(data), 6))
    for i, cond in enumerate(conds):
        member[i, [t.components.index(c) for c in cond.components]] = 1
    # the latent of a sample is the sum of its components' effects plus a residual
    for z, effects in ((t.z_shared, t.effects_shared), (t.z_private["b"], t.effects_private["b"])):
        resid = z - member @ effects
        fit, *_ = np.linalg.lstsq(member, z, rcond=None)
        np.testing.assert_allclose(fit, effects, atol=0.15)
        tau2 = 0.6 / sizes.mean()
        expected = np.sqrt(1 - tau2 * sizes.to_numpy())
        assert (
            abs(resid[sizes.to_numpy() == 2].std() / expected[sizes.to_numpy() == 2][0] - 1) < 0.1
        )
    x = data.matrix("a")
    signal = t.z_shared @ t.loadings_shared["a"].T + t.z_private["a"] @ t.loadings_private["a"].T
    assert abs((x - signal).std() - 0.3) < 0.02


def test_bad_arguments_are_named() -> None:
    with pytest.raises(ValueError, match="at least two modalities"):
        synthetic_multimodal(dims={"a": 3})
    with pytest.raises(ValueError, match=r"dims\['b'\] must be >= 1"):
        synthetic_multimodal(dims={"a": 3, "b": 0})
    with pytest.raises(ValueError, match=r"missing must be in \[0, 1\)"):
        synthetic_multimodal(missing=1.0)
    with pytest.raises(ValueError, match="drops all 10 samples"):
        synthetic_multimodal(n_samples=10, missing=0.99)
    with pytest.raises(ValueError, match="noise must be > 0"):
        synthetic_multimodal(noise=0)
    with pytest.raises(ValueError, match="n_samples=4 < n_components=5"):
        synthetic_multimodal(n_samples=4, n_components=5)
    with pytest.raises(ValueError, match=r"effect_fraction=0\.99 is too large"):
        synthetic_multimodal(n_samples=100, n_components=4, effect_fraction=0.99)
