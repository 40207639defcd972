"""Tests of the mutual-information estimators against known (analytic) values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from phenocast.multimodal import (
    MIEstimate,
    gaussian_mi,
    load,
    predictive_mi,
    synthetic_multimodal,
)
from tests.conftest import run_or_skip

# 2 shared + 2 private latents, 10 and 8 features, noise 1: I(a; b) ~ 0.25-0.45 nats
SETTING = dict(n_samples=2000, dims={"a": 10, "b": 8}, shared_dim=2, private_dim=2, noise=1.0)


def _views(seed: int, **kw: object) -> tuple[np.ndarray, np.ndarray, float]:
    data, truth = synthetic_multimodal(seed=seed, **{**SETTING, **kw})  # type: ignore[arg-type]
    return data.matrix("a"), data.matrix("b"), truth.mi_between("a", "b")


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_gaussian_mi_recovers_the_analytic_value(seed: int) -> None:
    xa, xb, true = _views(seed)
    est = gaussian_mi(xa, xb, seed=seed)
    assert isinstance(est, MIEstimate) and est.estimator == "gaussian" and est.n == 2000
    assert est.ci_low <= true <= est.ci_high
    assert abs(est.value - true) < 2 * est.se
    assert est.details["n_components"] == (4, 4)  # the signal rank of each view
    assert 0 < est.se < 0.05


def test_gaussian_mi_large_information_default_generator() -> None:
    data, truth = synthetic_multimodal(seed=0)  # 400 samples, 60 + 40 features, ~5.9 nats
    est = gaussian_mi(data.matrix("rna"), data.matrix("morphology"), n_boot=50, seed=0)
    true = truth.mi_between("rna", "morphology")
    assert true > 5
    # conservative, as documented: a few percent below the truth, never above it by much
    assert -0.06 < (est.value - true) / true < 0.02
    # Ledoit-Wolf alone shrinks canonical correlations near 1 and loses much of it
    lw = gaussian_mi(
        data.matrix("rna"), data.matrix("morphology"), shrinkage="ledoit-wolf", n_boot=0
    )
    assert lw.value < est.value


@pytest.mark.parametrize("n, da, db", [(200, 20, 15), (150, 300, 200)])
def test_gaussian_mi_on_independent_views_is_near_zero(n: int, da: int, db: int) -> None:
    values = []
    for seed in range(5):
        rng = np.random.default_rng(seed)
        xa = rng.normal(size=(n, da)) @ rng.normal(size=(da, da))
        xb = rng.normal(size=(n, db))
        est = gaussian_mi(xa, xb, n_boot=50, seed=seed)
        assert est.ci_low <= 0 <= est.ci_high
        values.append(est.value)
    # the choice of model among the candidates leaves a small upward bias only
    assert max(values) < 0.05 and abs(np.mean(values)) < 0.02


def test_plugin_bias_and_its_wishart_correction_on_independent_views() -> None:
    rng = np.random.default_rng(0)
    n, k = 200, 10
    plug, unbiased, held_out = [], [], []
    for _ in range(10):
        est = gaussian_mi(
            rng.normal(size=(n, k)),
            rng.normal(size=(n, k)),
            n_components=k,
            shrinkage=None,
            n_boot=0,
        )
        plug.append(est.details["plugin_unshrunk"])
        unbiased.append(est.details["plugin_unbiased"])
        held_out.append(est.value)
    # the in-sample value is inflated by about k_a * k_b / (2 n) = 0.25 nats
    assert np.mean(plug) == pytest.approx(k * k / (2 * n), rel=0.25)
    assert abs(np.mean(unbiased)) < 0.03
    assert np.mean(held_out) < 0  # cross-fitted: biased down, not up


def test_gaussian_mi_is_invariant_to_linear_maps_of_a_view() -> None:
    xa, xb, _ = _views(0, n_samples=500)
    rng = np.random.default_rng(1)
    base = gaussian_mi(xa, xb, n_components=(10, 8), n_boot=20)
    mixed = gaussian_mi(xa @ rng.normal(size=(10, 10)) + 5.0, xb, n_components=(10, 8), n_boot=20)
    assert mixed.value == pytest.approx(base.value, abs=1e-8)
    assert mixed.ci_low == pytest.approx(base.ci_low, abs=1e-8)
    # rotations and rescaling leave the principal components alone: the default is invariant
    q, _ = np.linalg.qr(rng.normal(size=(8, 8)))
    default = gaussian_mi(xa, xb, n_boot=20)
    rotated = gaussian_mi(3.0 * xa, xb @ q - 2.0, n_boot=20)
    assert rotated.value == pytest.approx(default.value, abs=1e-8)


def test_gaussian_mi_is_symmetric_and_seeded() -> None:
    xa, xb, _ = _views(3, n_samples=400)
    ab, ba = gaussian_mi(xa, xb, n_boot=30, seed=5), gaussian_mi(xb, xa, n_boot=30, seed=5)
    assert ab.value == pytest.approx(ba.value, abs=1e-10)
    assert (ab.ci_low, ab.ci_high) == pytest.approx((ba.ci_low, ba.ci_high), abs=1e-10)
    again = gaussian_mi(xa, xb, n_boot=30, seed=5)
    assert (again.value, again.se) == (ab.value, ab.se)
    assert gaussian_mi(xa, xb, n_boot=30, seed=6).se != ab.se


def test_gaussian_mi_permutation_test_and_normal_interval() -> None:
    xa, xb, _ = _views(0, n_samples=300)
    dep = gaussian_mi(xa, xb, n_boot=0, n_perm=30)
    assert dep.details["p_value"] == pytest.approx(1 / 31)
    assert abs(dep.details["null_mean"]) < 0.05
    se = dep.details["se_crossfit"]
    assert dep.se == se and dep.ci_high - dep.value == pytest.approx(1.959964 * se, rel=1e-5)
    rng = np.random.default_rng(0)
    indep = gaussian_mi(xa, rng.normal(size=xb.shape), n_boot=0, n_perm=30)
    assert indep.details["p_value"] > 0.05


def test_gaussian_mi_on_partially_observed_data_uses_shared_ids() -> None:
    data, truth = synthetic_multimodal(**{**SETTING, "missing": 0.25}, seed=0)  # type: ignore[arg-type]
    both = data.mask("a") & data.mask("b")
    with pytest.raises(ValueError, match=r"xb has 4000 non-finite value\(s\) in 500 row"):
        gaussian_mi(data.matrix("a"), data.matrix("b"))
    est = gaussian_mi(data.matrix("a")[both], data.matrix("b")[both], n_boot=100)
    assert est.n == 1500 and est.ci_low <= truth.mi_between("a", "b") <= est.ci_high


def _replicated_independent_views(seed: int = 0):
    """40 'drugs' × 5 replicates; the views are independent across drugs."""
    rng = np.random.default_rng(seed)
    drug = np.repeat(np.arange(40), 5)
    xa = rng.normal(size=(40, 6))[drug] + 0.2 * rng.normal(size=(200, 6))
    xb = rng.normal(size=(40, 5))[drug] + 0.2 * rng.normal(size=(200, 5))
    return xa, xb, drug


def test_grouped_gaussian_mi_does_not_count_replicates_as_evidence() -> None:
    xa, xb, drug = _replicated_independent_views()
    naive = gaussian_mi(xa, xb, n_boot=100, seed=0)
    grouped = gaussian_mi(xa, xb, n_boot=100, seed=0, groups=drug)
    # a drug's replicates in the training folds leak its pairing into the held-out one
    # (measured: 0.16 [0.04, 0.28] ungrouped; −0.03 [−0.16, 0.10] grouped)
    assert naive.ci_low > 0.0
    assert grouped.ci_low <= 0.0 <= grouped.ci_high and grouped.value < naive.value - 0.1
    assert grouped.details["n_groups"] == 40 and naive.details["n_groups"] == 200


def test_cluster_bootstrap_keeps_groups_whole_and_sizes_their_error() -> None:
    from phenocast.metrics._mi import _group_codes, _resample

    rng = np.random.default_rng(1)
    drug = np.repeat(np.arange(30), 4)
    codes = _group_codes(np.array([f"d{g}" for g in drug], dtype=object), drug.size)
    idx, copy = _resample(codes, np.random.default_rng(0))
    assert idx.size == drug.size  # equal group sizes: the resample has n rows
    for c in np.unique(copy):  # each copy is one whole group
        members = idx[copy == c]
        assert np.unique(drug[members]).size == 1 and members.size == 4
    shared = rng.normal(size=30)[drug] + 0.1 * rng.normal(size=drug.size)
    naive = predictive_mi(shared, np.zeros_like(shared), n_boot=500, seed=0)
    grouped = predictive_mi(shared, np.zeros_like(shared), n_boot=500, seed=0, groups=drug)
    assert grouped.value == naive.value
    assert 1.5 < grouped.se / naive.se < 2.5  # ≈ √4 for four near-copies per group
    with pytest.raises(ValueError, match=r"one label per sample"):
        predictive_mi(shared, shared, groups=drug[:-1])
    with pytest.raises(ValueError, match=r"fewer than n_folds=5"):
        gaussian_mi(rng.normal(size=(20, 2)), rng.normal(size=(20, 2)), groups=np.arange(20) % 3)


def test_gaussian_mi_bad_inputs() -> None:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50, 3))
    with pytest.raises(ValueError, match="xa has 50 rows but xb has 40"):
        gaussian_mi(x, x[:40])
    with pytest.raises(ValueError, match="shrinkage must be"):
        gaussian_mi(x, x, shrinkage="oas")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2 samples per fold"):
        gaussian_mi(x[:6], x[:6])
    with pytest.raises(ValueError, match="n_components must be >= 1"):
        gaussian_mi(x, x, n_components=0)
    with pytest.raises(ValueError, match="constant"):
        gaussian_mi(np.ones((50, 2)), x, n_boot=0)
    one_d = gaussian_mi(x[:, 0], x[:, 0] + rng.normal(size=50), n_boot=0, shrinkage=0.1)
    assert one_d.details["n_components"] == (1, 1) and one_d.details["shrinkage"] == 0.1


# ------------------------------------------------------------------------- predictive_mi
def _bivariate(rho: float, n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    a = rng.normal(size=n)
    b = rho * a + math.sqrt(1 - rho**2) * rng.normal(size=n)
    # the true densities: log N(b; rho a, 1 - rho^2) and log N(b; 0, 1)
    cond = -0.5 * (math.log(2 * math.pi * (1 - rho**2)) + (b - rho * a) ** 2 / (1 - rho**2))
    marg = -0.5 * (math.log(2 * math.pi) + b**2)
    return cond, marg


@pytest.mark.parametrize("rho", [0.0, 0.5, 0.9])
def test_predictive_mi_with_true_densities_is_unbiased(rho: float) -> None:
    cond, marg = _bivariate(rho, 5000, seed=int(10 * rho))
    est = predictive_mi(cond, marg, seed=0)
    true = -0.5 * math.log(1 - rho**2)
    assert est.ci_low <= true <= est.ci_high
    assert est.value == pytest.approx(np.mean(cond - marg))
    assert est.se == pytest.approx(est.details["se_analytic"], rel=0.1)
    assert est.estimator == "predictive" and est.n == 5000


def test_predictive_mi_seeded_normal_interval_and_errors() -> None:
    cond, marg = _bivariate(0.5, 200, seed=1)
    assert predictive_mi(cond, marg, seed=3) == predictive_mi(cond, marg, seed=3)
    normal = predictive_mi(cond, marg, n_boot=0)
    assert normal.se == normal.details["se_analytic"]
    with pytest.raises(ValueError, match="same length"):
        predictive_mi(cond, marg[:-1])
    with pytest.raises(ValueError, match=r"log_p_marg has 1 non-finite"):
        predictive_mi(cond, np.where(np.arange(200) == 3, -np.inf, marg))
    with pytest.raises(ValueError, match="confidence must be in"):
        predictive_mi(cond, marg, confidence=95)


# ------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_cmea_l1000_and_cellpainting_share_information() -> None:
    mm = run_or_skip(load, "cmea_cdrp_u2os")
    est = gaussian_mi(mm.matrix("l1000"), mm.matrix("cellpainting"), n_boot=50, n_perm=20)
    # ~0.3 nats with 163 compounds: above every shuffled pairing, though the bootstrap
    # interval of so few samples reaches 0
    assert 0.1 < est.value < 1.0
    assert est.details["p_value"] == pytest.approx(1 / 21)


@pytest.mark.realdata
def test_cellbox_proteins_predict_phenotypes() -> None:
    mm = run_or_skip(load, "cellbox_korkut2015")
    est = gaussian_mi(mm.matrix("proteins"), mm.matrix("phenotypes"), n_boot=50)
    assert est.ci_low > 0.3 and 1.0 < est.value < 4.0
