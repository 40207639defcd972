"""``Compositional.predict(residual=True)``: realistic cells, each predicted mean plus its start
cell's own (centred) residual, so the cells keep the start cells' variation and the mean; and
predictions of a readout that cannot be negative are never below 0."""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import pytest

from phenocast.data import register, synthetic
from phenocast.evaluate import distribution_scores
from phenocast.models import Compositional, CompositionalConfig


@pytest.fixture(scope="module")
def fitted():
    adata = synthetic(n_genes=20, n_cell_types=1, n_perturbations=3, cells_per_condition=40, seed=5)
    adata.X = np.asarray(adata.X, dtype=np.float32) - 1.0  # some values below 0
    reg = register(adata, perturbation="perturbation", control="control", x_kind="continuous")
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 6, "hidden": [32], "train": {"max_epochs": 20, "batch_size": 64}}
    )
    return adata, reg, Compositional(reg, cfg).fit(adata)


def _cells(adata, pert):
    return np.asarray(adata[adata.obs["perturbation"] == pert].X, dtype=np.float64)


def test_residual_cells_keep_the_mean_and_the_start_cells_variation(fitted):
    adata, _, model = fitted
    ctrl = adata[adata.obs["perturbation"] == "control"].copy()
    conds = pd.DataFrame({"perturbation": ["P0", "P1"]})
    plain = model.predict(ctrl, conds)
    cells = model.predict(ctrl, conds, residual=True)
    np.testing.assert_allclose(cells.layers["mean"], plain.X, rtol=1e-5, atol=1e-5)
    assert list(cells.obs_names) == list(plain.obs_names)
    x = np.asarray(ctrl.X, dtype=np.float64)
    for i in range(2):
        rows = (cells.obs["condition_index"] == i).to_numpy()
        got, mean = np.asarray(cells.X[rows], np.float64), cells.layers["mean"][rows]
        np.testing.assert_allclose(got.mean(0), mean.mean(0), atol=1e-4)  # continuous: no clip
        # the spread follows the start cells: per gene, the cells' deviations track the
        # start cells' own deviations
        dev, own = got - got.mean(0), x - x.mean(0)
        corr = [np.corrcoef(dev[:, g], own[:, g])[0, 1] for g in range(x.shape[1])]
        assert np.median(corr) > 0.5
        assert got.var(0).mean() > mean.var(0).mean()


def test_residual_cells_are_closer_in_distribution_than_means(fitted):
    adata, _, model = fitted
    ctrl = adata[adata.obs["perturbation"] == "control"].copy()
    conds = pd.DataFrame({"perturbation": ["P0", "P1", "P2"]})
    cells = model.predict(ctrl, conds, residual=True)
    for i, pert in enumerate(conds["perturbation"]):
        rows = (cells.obs["condition_index"] == i).to_numpy()
        true = _cells(adata, pert)
        drawn = distribution_scores(np.asarray(cells.X[rows], np.float64), true, key=pert)
        means = distribution_scores(cells.layers["mean"][rows], true, key=pert)
        assert drawn["energy"] < means["energy"]
        assert drawn["var_r2"] > means["var_r2"]


def test_residual_cells_are_clipped_at_zero_for_expression(tmp_path):
    adata = synthetic(n_genes=12, n_cell_types=1, n_perturbations=2, cells_per_condition=20, seed=1)
    reg = register(adata, perturbation="perturbation", control="control")
    assert reg.x_kind != "continuous"
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 4, "hidden": [16], "train": {"max_epochs": 2, "batch_size": 64}}
    )
    model = Compositional(reg, cfg).fit(adata)
    ctrl = adata[adata.obs["perturbation"] == "control"].copy()
    cells = model.predict(ctrl, pd.DataFrame({"perturbation": ["P0"]}), residual=True)
    assert np.asarray(cells.X).min() >= 0.0
    with pytest.raises(ValueError, match=r"residual=True.*out="):
        model.predict(ctrl, pd.DataFrame({"perturbation": ["P0"]}), residual=True,
                      out=tmp_path / "cells.h5ad")  # fmt: skip
    assert not (tmp_path / "cells.h5ad").exists()


def test_nonnegative_cells_keep_the_mean_zeros_and_spread():
    from phenocast.models.compositional._checks import nonnegative_cells

    rng = np.random.default_rng(0)
    cells = rng.normal(0.3, 1.0, size=(500, 6))
    mean = cells.mean(0)
    got = nonnegative_cells(cells, mean)
    assert got.min() >= 0.0
    np.testing.assert_allclose(got.mean(0), mean, rtol=1e-12)
    np.testing.assert_array_equal(got == 0, cells <= 0)  # the clipped cells, no others
    # on one gene the kept cells are scaled, not shifted: their order and ratios stay
    kept = cells[:, 0] > 0
    ratio = got[kept, 0] / cells[kept, 0]
    np.testing.assert_allclose(ratio, ratio[0])
    assert ratio[0] < 1.0  # clipping raised the mean, the scale brings it back


def _pushed_below_zero(model, by=2.0):
    """Make the model's decoded means ``by`` lower on every gene (some go below 0)."""
    decode = model.module.decode

    def lower(h, e, library=None):
        mean, var = decode(h, e, library)
        return mean - by, var

    model.module.decode = lower
    return model


def test_predictions_of_expression_are_never_below_zero():
    adata = synthetic(n_genes=12, n_cell_types=1, n_perturbations=2, cells_per_condition=20, seed=1)
    reg = register(adata, perturbation="perturbation", control="control")
    assert reg.x_kind == "log-normalized"
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 4, "hidden": [16], "train": {"max_epochs": 30, "batch_size": 64}}
    )
    model = _pushed_below_zero(Compositional(reg, cfg).fit(adata), by=5.0)
    ctrl = adata[adata.obs["perturbation"] == "control"].copy()
    conds = pd.DataFrame({"perturbation": ["P0", "P1"]})
    raw = model._predict_mean_raw(ctrl, conds)
    assert (raw < 0).any() and (raw > 0).any()
    np.testing.assert_allclose(model.predict_mean(ctrl, conds), np.maximum(raw, 0), atol=1e-6)
    plain = model.predict(ctrl, conds)
    assert np.asarray(plain.X).min() >= 0.0
    cells = model.predict(ctrl, conds, residual=True)
    assert np.asarray(cells.X).min() >= 0.0 and cells.layers["mean"].min() >= 0.0
    # the cells average to predict_mean's answer (the mean clipped at 0), not to the mean of
    # the per-cell means each clipped at 0, which sits higher on genes near 0
    per_cell = np.stack(
        [
            cells.layers["mean"][(cells.obs["condition_index"] == i).to_numpy()].mean(0)
            for i in range(2)
        ]
    )
    assert (per_cell > np.maximum(raw, 0) + 1e-5).any()
    for i in range(2):
        rows = (cells.obs["condition_index"] == i).to_numpy()
        got = np.asarray(cells.X[rows], np.float64).mean(0)
        np.testing.assert_allclose(got, np.maximum(raw[i], 0), atol=1e-5)


def test_predictions_of_a_continuous_readout_may_be_negative(fitted):
    adata, _, model = fitted
    model = _pushed_below_zero(copy.deepcopy(model), by=10.0)  # a copy: the fixture is shared
    ctrl = adata[adata.obs["perturbation"] == "control"].copy()
    conds = pd.DataFrame({"perturbation": ["P0", "P1"]})
    raw = model._predict_mean_raw(ctrl, conds)
    assert (raw < 0).any()
    np.testing.assert_allclose(model.predict_mean(ctrl, conds), raw, atol=1e-6)
