"""Tests for the seeded synthetic perturbation generator and its ground truth."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data._synthetic import SyntheticTruth, expected_profile, synthetic

DOSES = (0.01, 0.1, 1.0, 10.0)
KINDS = {"P0+P1": "synergistic", "P2+P3": "buffering", "P4+P5": "neomorphic", "P6+P7": "additive"}


@pytest.fixture(scope="module")
def adata() -> ad.AnnData:
    # 150 cells per condition: a delta's noise norm is ~0.9 (~1.5 with the default 50 cells)
    return synthetic(seed=0, cells_per_condition=150)


@pytest.fixture(scope="module")
def combo_data() -> ad.AnnData:
    return synthetic(seed=1, n_cell_types=1, combinations=KINDS, cells_per_condition=100)


def observed_means(adata: ad.AnnData) -> dict[str, np.ndarray]:
    key = (adata.obs["cell_type"].astype(str) + "|" + adata.obs["condition"].astype(str)).values
    df = pd.DataFrame(adata.X).groupby(key).mean()
    return {k: df.loc[k].to_numpy() for k in df.index}


def delta(means: dict[str, np.ndarray], cond: str, ct: str = "T0") -> np.ndarray:
    return means[f"{ct}|{cond}"] - means[f"{ct}|control@0"]


def truth_delta(adata: ad.AnnData, pert: str, dose: str | float, ct: str = "T0") -> np.ndarray:
    return expected_profile(adata, pert, dose, ct) - expected_profile(adata, "control", 0, ct)


def pearson(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def test_same_seed_identical_different_seed_differs() -> None:
    a, b = synthetic(seed=3, n_genes=50), synthetic(seed=3, n_genes=50)
    np.testing.assert_array_equal(a.X, b.X)
    pd.testing.assert_frame_equal(a.obs, b.obs)
    np.testing.assert_array_equal(
        a.uns["ground_truth"]["effects"], b.uns["ground_truth"]["effects"]
    )
    c = synthetic(seed=4, n_genes=50)
    assert not np.array_equal(a.X, c.X)
    assert not np.allclose(a.uns["ground_truth"]["effects"], c.uns["ground_truth"]["effects"])


def test_accepts_generator_and_records_reusable_seed() -> None:
    a = synthetic(seed=np.random.default_rng(7), n_genes=30)
    b = synthetic(seed=np.random.default_rng(7), n_genes=30)
    np.testing.assert_array_equal(a.X, b.X)
    again = synthetic(seed=a.uns["phenocast"]["seed"], n_genes=30)
    np.testing.assert_array_equal(a.X, again.X)


def test_ground_truth_independent_of_cell_numbers() -> None:
    a = synthetic(seed=5, n_genes=40, cells_per_condition=5)
    b = synthetic(seed=5, n_genes=40, cells_per_condition=20)
    for key in ("effects", "ec50", "hill", "gains", "basal_mean"):
        np.testing.assert_array_equal(a.uns["ground_truth"][key], b.uns["ground_truth"][key])


def test_anndata_conventions(adata: ad.AnnData) -> None:
    obs = adata.obs
    assert isinstance(adata.X, np.ndarray) and adata.X.dtype == np.float32
    assert obs.index.is_unique and list(adata.var_names[:2]) == ["G0000", "G0001"]
    assert {"perturbation", "dose", "cell_type", "is_control", "condition"} <= set(obs.columns)
    pert, dose = obs["perturbation"].astype(str), obs["dose"].astype(str)
    assert obs["is_control"].dtype == bool
    np.testing.assert_array_equal(obs["is_control"].to_numpy(), (pert == "control").to_numpy())
    assert set(dose[obs["is_control"]]) == {"0"}
    assert set(dose[pert == "P0"]) == {"0.01", "0.1", "1", "10"}
    assert (pert.str.count(r"\+") == dose.str.count(r"\+")).all()
    assert (obs["condition"].astype(str) == pert + "@" + dose).all()
    assert set(obs["cell_type"].astype(str)) == {"T0", "T1"}
    assert adata.uns["phenocast"] == {
        "dataset": "synthetic",
        "x_kind": "log-normalized",
        "control": "control",
        "dose_unit": "uM",
        "seed": 0,
    }
    gt = adata.uns["ground_truth"]
    assert gt["effects"].shape == (8, 200) and list(gt["perturbations"][:2]) == ["P0", "P1"]
    assert gt["basal_mean"].shape == (2, 200) and gt["gains"].shape == (2, 8)
    cm = gt["condition_means"]
    assert cm["mean"].shape == (len(cm["condition"]), 200)
    assert len(cm["condition"]) == obs.groupby(["cell_type", "condition"], observed=True).ngroups


def test_write_h5ad_roundtrip(adata: ad.AnnData, tmp_path) -> None:
    path = tmp_path / "synthetic.h5ad"
    adata.write_h5ad(path)
    back = ad.read_h5ad(path)
    np.testing.assert_array_equal(back.X, adata.X)
    for args in [("P1", 0.3, "T1"), ("P0+P4", "1+0.1", "T0"), ("control", 0, "T1")]:
        np.testing.assert_allclose(expected_profile(back, *args), expected_profile(adata, *args))
    empty = synthetic(seed=0, n_genes=10, n_perturbations=2, combinations=0, doses=None)
    empty.write_h5ad(tmp_path / "empty.h5ad")
    assert (
        ad.read_h5ad(tmp_path / "empty.h5ad").uns["ground_truth"]["combinations"]["kind"].size == 0
    )


def test_condition_means_match_observed(adata: ad.AnnData) -> None:
    obs_m = observed_means(adata)
    cm = adata.uns["ground_truth"]["condition_means"]
    keys = [f"{c}|{k}" for c, k in zip(cm["cell_type"], cm["condition"], strict=True)]
    # the expected means are unbiased: residuals look like the standard error of the sample mean
    key = (adata.obs["cell_type"].astype(str) + "|" + adata.obs["condition"].astype(str)).values
    groups = pd.DataFrame(adata.X).groupby(key)
    se = (groups.std() / np.sqrt(groups.size().to_numpy()[:, None])).loc[keys].to_numpy()
    resid = np.stack([obs_m[k] for k in keys]) - cm["mean"]
    z = np.abs(resid[se > 0] / se[se > 0])
    assert abs(resid.mean()) < 0.02
    assert np.median(z) < 0.8  # 0.674 for a standard normal
    assert (z > 4).mean() < 0.005
    # table and expected_profile agree
    i = keys.index("T1|P2@1")
    np.testing.assert_allclose(cm["mean"][i], expected_profile(adata, "P2", "1", "T1"))
    # strong effects are recovered in direction
    for ct in ("T0", "T1"):
        for p in adata.uns["ground_truth"]["perturbations"]:
            true = truth_delta(adata, p, 10, ct)
            if np.linalg.norm(true) > 3.0:
                assert pearson(delta(obs_m, f"{p}@10", ct), true) > 0.9


def test_effects_recovered_with_enough_cells() -> None:
    big = synthetic(seed=11, n_perturbations=4, combinations=0, cells_per_condition=300)
    obs_m = observed_means(big)
    n_checked = 0
    for ct in ("T0", "T1"):
        for p in big.uns["ground_truth"]["perturbations"]:
            for d in (1.0, 10.0):
                true = truth_delta(big, p, d, ct)
                if np.linalg.norm(true) > 2.0:  # noise norm of a 300-cell delta is ~0.5
                    n_checked += 1
                    assert pearson(delta(obs_m, f"{p}@{d:g}", ct), true) > 0.9
    assert n_checked >= 8


def test_dose_response_monotone_sigmoid(adata: ad.AnnData) -> None:
    gt = adata.uns["ground_truth"]
    model = SyntheticTruth.from_uns(gt)
    grid = np.logspace(-3, 2, 30)
    for p in range(len(model.perturbations)):
        s = np.array([model.scale(p, d) for d in grid])
        assert np.all(np.diff(s) > 0) and 0 < s[0] < 0.5 < s[-1] < 1
        assert model.scale(p, gt["ec50"][p]) == pytest.approx(0.5)
    obs_m = observed_means(adata)
    for p in model.perturbations:
        top = truth_delta(adata, p, 10)
        proj_true = [truth_delta(adata, p, d) @ top / (top @ top) for d in DOSES]
        proj_obs = [delta(obs_m, f"{p}@{d:g}") @ top / (top @ top) for d in DOSES]
        assert np.all(np.diff(proj_true) > 0)
        if np.linalg.norm(top) > 2.0:  # projection noise ~ 0.1 / |top|
            np.testing.assert_allclose(proj_obs, proj_true, atol=0.12)
            assert np.all(np.diff(proj_obs) > -0.08)
            assert proj_obs[-1] - proj_obs[0] > 0.5 * (proj_true[-1] - proj_true[0])


def test_expected_profile_between_tested_doses(adata: ad.AnnData) -> None:
    model = SyntheticTruth.from_uns(adata.uns["ground_truth"])
    direct = np.abs(adata.uns["ground_truth"]["effects"]) > 0.5  # strongly targeted genes
    for i, p in enumerate(model.perturbations):
        for d_lo, d_mid, d_hi in [(0.01, 0.03, 0.1), (0.1, 0.3, 1.0), (1.0, 3.0, 10.0)]:
            lo, mid, hi = (truth_delta(adata, p, d, "T1") for d in (d_lo, d_mid, d_hi))
            assert np.linalg.norm(lo) < np.linalg.norm(mid) < np.linalg.norm(hi)
            assert lo @ hi < mid @ hi < hi @ hi
            # directly targeted genes are in between; log-normalisation (a softmax) makes the
            # indirect, compositional shifts of the other genes slightly non-monotone
            low, high = np.minimum(lo, hi), np.maximum(lo, hi)
            target = direct[i] & (high - low > 0.1)
            assert np.all((low - 0.02 <= mid) & (mid <= high + 0.02) | ~target)
            # exactly between in log-rate space
            rates = [model.log_rate([p], [d], 1) for d in (d_lo, d_mid, d_hi)]
            low, high = np.minimum(rates[0], rates[2]), np.maximum(rates[0], rates[2])
            assert np.all((low - 1e-12 <= rates[1]) & (rates[1] <= high + 1e-12))


def test_additive_combinations(adata: ad.AnnData) -> None:
    gt = adata.uns["ground_truth"]
    obs_m = observed_means(adata)
    additive = [
        n
        for n, k in zip(*(gt["combinations"][x] for x in ("name", "kind")), strict=True)
        if k == "additive"
    ]
    assert additive
    for name in additive:
        a, b = name.split("+")
        for ct in ("T0", "T1"):
            true_sum = truth_delta(adata, a, 10, ct) + truth_delta(adata, b, 10, ct)
            assert pearson(truth_delta(adata, name, "10+10", ct), true_sum) > 0.98
            combo, sum_ = (
                delta(obs_m, f"{name}@10+10", ct),
                (delta(obs_m, f"{a}@10", ct) + delta(obs_m, f"{b}@10", ct)),
            )
            if np.linalg.norm(true_sum) > 3.0:  # well above the noise of three 50-cell deltas
                assert pearson(combo, sum_) > 0.9


def test_interactions_deviate_in_recorded_direction(combo_data: ad.AnnData) -> None:
    gt = combo_data.uns["ground_truth"]["combinations"]
    recorded = dict(zip(gt["name"], gt["kind"], strict=True))
    assert recorded == KINDS
    mags = dict(zip(gt["name"], gt["magnitude"], strict=True))
    assert mags["P0+P1"] > 0 > mags["P2+P3"] > -1 and mags["P6+P7"] == 0
    obs_m = observed_means(combo_data)
    for name, kind in KINDS.items():
        a, b = name.split("+")
        combo = delta(obs_m, f"{name}@10+10")
        add = delta(obs_m, f"{a}@10") + delta(obs_m, f"{b}@10")
        ratio = np.linalg.norm(combo) / np.linalg.norm(add)
        true_ratio = np.linalg.norm(truth_delta(combo_data, name, "10+10")) / np.linalg.norm(
            truth_delta(combo_data, a, 10) + truth_delta(combo_data, b, 10)
        )
        if kind == "synergistic":
            assert ratio > 1.15 and true_ratio > 1.15
        elif kind == "buffering":
            assert ratio < 0.85 and true_ratio < 0.85
        elif kind == "neomorphic":
            vec = gt["interaction"][list(KINDS).index(name)]
            assert pearson(combo - add, vec) > 0.5
        else:
            assert 0.85 < ratio < 1.15


def test_untested_combination_is_additive_in_log_rate(adata: ad.AnnData) -> None:
    model = SyntheticTruth.from_uns(adata.uns["ground_truth"])
    tested = {frozenset(n.split("+")) for n in adata.uns["ground_truth"]["combinations"]["name"]}
    pair = next(
        (a, b)
        for a in model.perturbations
        for b in model.perturbations
        if a != b and frozenset((a, b)) not in tested
    )
    eta = model.log_rate(list(pair), [1.0, 0.1], 1)
    expected = model.basal_log_rate[1] + sum(
        model.gains[1, model.perturbations.index(p)]
        * model.scale(model.perturbations.index(p), d)
        * model.effects[model.perturbations.index(p)]
        for p, d in zip(pair, (1.0, 0.1), strict=True)
    )
    np.testing.assert_allclose(eta, expected)
    prof = expected_profile(adata, "+".join(pair), "1+0.1", "T1")
    np.testing.assert_allclose(prof, model.expected_log_normalized(expected))


def test_counts_and_log_normalized_share_signal() -> None:
    counts = synthetic(seed=2, n_genes=60, output="counts")
    logn = synthetic(seed=2, n_genes=60)
    X = counts.X
    assert X.dtype == np.float32 and (X >= 0).all() and np.array_equal(X, np.round(X))
    assert counts.uns["phenocast"]["x_kind"] == "counts"
    assert (logn.X >= 0).all() and not np.array_equal(logn.X, np.round(logn.X))
    expected = np.log1p(X / X.sum(axis=1, keepdims=True) * 1e4)
    np.testing.assert_allclose(logn.X, expected, rtol=1e-5, atol=1e-5)


def test_cell_types_differ_in_basal_profile(adata: ad.AnnData) -> None:
    basal = adata.uns["ground_truth"]["basal_mean"]
    assert np.abs(basal[0] - basal[1]).mean() > 0.2
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    t0 = ctrl.X[ctrl.obs["cell_type"].to_numpy() == "T0"]
    t1 = ctrl.X[ctrl.obs["cell_type"].to_numpy() == "T1"]
    within = np.linalg.norm(t0[::2].mean(0) - t0[1::2].mean(0))
    assert np.linalg.norm(t0.mean(0) - t1.mean(0)) > 4 * within
    # the same perturbation acts in the same direction but with a cell-type-specific gain
    gains = adata.uns["ground_truth"]["gains"]
    assert not np.allclose(gains[0], gains[1])
    model = SyntheticTruth.from_uns(adata.uns["ground_truth"])
    d0 = model.log_rate(["P3"], [10.0], 0) - model.basal_log_rate[0]
    d1 = model.log_rate(["P3"], [10.0], 1) - model.basal_log_rate[1]
    np.testing.assert_allclose(d1, d0 * gains[1, 3] / gains[0, 3])


def test_genetic_screen_and_dose_grid() -> None:
    gen = synthetic(seed=0, n_genes=30, doses=None, combinations=["P0+P1"])
    assert set(gen.obs["dose"].astype(str)) == {"0", "1", "1+1"}
    assert not gen.uns["ground_truth"]["dose_response"]
    np.testing.assert_allclose(
        expected_profile(gen, "P0", 1, "T0"), expected_profile(gen, "P0", 5.0, "T0")
    )
    small = synthetic(seed=0, n_genes=20, n_perturbations=2)  # default: min(4, possible pairs)
    assert list(small.uns["ground_truth"]["combinations"]["name"]) == ["P0+P1"]
    np.testing.assert_allclose(
        expected_profile(small.uns["ground_truth"], "P0+P1", np.array([0.1, 1.0]), "T1"),
        expected_profile(small, "P0+P1", "0.1+1", "T1"),
    )
    grid = synthetic(seed=0, n_genes=30, doses=(0.1, 1.0), combinations=1, combination_doses="grid")
    combos = grid.obs.loc[grid.obs["perturbation"].astype(str).str.contains(r"\+"), "dose"]
    assert set(combos.astype(str)) == {"0.1+0.1", "0.1+1", "1+0.1", "1+1"}


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"n_genes": 0}, "n_genes must be an integer >= 1"),
        ({"n_cell_types": 0}, "n_cell_types must be an integer >= 1"),
        ({"n_perturbations": 0}, "n_perturbations must be an integer >= 1"),
        ({"cells_per_condition": 0}, "cells_per_condition must be an integer >= 1"),
        ({"latent_dim": 2.5}, "latent_dim must be an integer >= 1"),
        ({"n_controls_per_cell_type": 0}, "n_controls_per_cell_type must be >= 1"),
        ({"output": "raw"}, "output must be one of"),
        ({"combination_doses": "diag"}, "combination_doses must be 'matched' or 'grid'"),
        ({"basal_noise": -1.0}, "basal_noise must be >= 0"),
        ({"effect_size": -1.0}, "effect_size must be >= 0"),
        ({"cell_type_gain_sd": -0.1}, "cell_type_gain_sd must be >= 0"),
        ({"interaction_strength": -1.0}, "interaction_strength must be >= 0"),
        ({"dispersion": -0.5}, "dispersion must be >= 0"),
        ({"effect_fraction": 0.0}, r"effect_fraction must be in \(0, 1\]"),
        ({"interaction_fraction": 1.5}, r"interaction_fraction must be in \[0, 1\]"),
        ({"library_size": 0.0}, "library_size must be > 0"),
        ({"interaction_kinds": ("additive",)}, "interaction_kinds must be a non-empty subset"),
        ({"interaction_kinds": ()}, "interaction_kinds must be a non-empty subset"),
        ({"doses": ()}, "doses must not be empty"),
        ({"doses": (0.0, 1.0)}, "doses must be positive"),
        ({"doses": (1.0, 1.0)}, "doses must be unique"),
        ({"seed": -1}, "seed must be >= 0"),
        ({"combinations": 29}, "combinations=29 must be between 0 and the 28 possible pairs"),
        ({"combinations": -1}, "must be between 0 and"),
        ({"combinations": "P0+P1"}, "combinations must be an int, a sequence"),
        ({"combinations": ["P0+P1+P2"]}, "must name exactly two perturbations"),
        ({"combinations": ["P0+P9"]}, r"names unknown perturbation\(s\) \['P9'\]"),
        ({"combinations": ["P0+P0"]}, "repeats a perturbation"),
        ({"combinations": ["P0+P1", "P1+P0"]}, "duplicate combination 'P1\\+P0'"),
        ({"combinations": {"P0+P1": "antagonistic"}}, r"unknown interaction kind\(s\)"),
    ],
)
def test_bad_parameters(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        synthetic(n_genes=kwargs.pop("n_genes", 20), **kwargs)


def test_bad_seed_type() -> None:
    with pytest.raises(TypeError, match=r"seed must be an int or a numpy\.random\.Generator"):
        synthetic(seed="0")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("args", "match"),
    [
        (("P0", 1.0, "T9"), "unknown cell type 'T9'"),
        (("P0+Q1", 1.0, "T0"), r"unknown perturbation\(s\) \['Q1'\]"),
        (("P0+P0", 1.0, "T0"), "repeats a component"),
        (("P0+P1", "1", "T0"), "does not match 2 component"),
        (("P0", -1.0, "T0"), "doses must be >= 0"),
    ],
)
def test_expected_profile_errors(adata: ad.AnnData, args: tuple, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        expected_profile(adata, *args)
