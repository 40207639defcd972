"""MC dropout: seeded sampling of dropout masks gives a reproducible Prediction whose epistemic
part is the spread across masks; models without dropout are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch

from phenocast.data import register, synthetic
from phenocast.models import Compositional, CompositionalConfig, MCDropout, Prediction


def _fit(reg, adata, dropout):
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [32], "dropout": dropout,
         "train": {"max_epochs": 4, "batch_size": 128, "progress": False}}
    )  # fmt: skip
    return Compositional(reg, cfg).fit(adata)


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=30, n_cell_types=1, n_perturbations=3, combinations=0, doses=None,
        cells_per_condition=20, seed=4,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    return adata, reg


@pytest.fixture(scope="module")
def mc(data):
    adata, reg = data
    return MCDropout(_fit(reg, adata, 0.2))


def _query(adata):
    cond = pd.DataFrame({"perturbation": ["P0", "P1+P2"], "cell_type": ["T0", "T0"]})
    return adata[adata.obs["is_control"].to_numpy()][:25], cond


def test_seeded_and_reproducible_without_touching_global_rng(data, mc):
    adata, _ = data
    controls, cond = _query(adata)
    state = torch.random.get_rng_state()
    a = mc.predict_uncertainty(controls, cond, n_samples=8, seed=3)
    assert torch.equal(state, torch.random.get_rng_state())
    b = mc.predict_uncertainty(controls, cond, n_samples=8, seed=3)
    c = mc.predict_uncertainty(controls, cond, n_samples=8, seed=4)
    assert isinstance(a, Prediction) and a.mean.shape == (2, 30)
    for part in ("mean", "epistemic", "aleatoric"):
        np.testing.assert_array_equal(getattr(a, part), getattr(b, part))
    assert not np.allclose(a.epistemic, c.epistemic)


def test_spread_is_positive_and_the_model_stays_deterministic(data, mc):
    adata, _ = data
    controls, cond = _query(adata)
    before = mc.predict_mean(controls, cond)
    pred = mc.predict_uncertainty(controls, cond, n_samples=10, seed=0)
    assert (pred.aleatoric > 0).all() and (pred.epistemic >= 0).all()
    # a gene predicted 0 under every mask (expression is clipped at 0) has no spread; every
    # other has some
    assert (pred.epistemic[before > 0] > 0).all()
    # masks shared across cells: the spread of a condition mean does not average away
    assert pred.epistemic.mean() > 1e-4
    assert not mc.model.module.training
    np.testing.assert_array_equal(mc.predict_mean(controls, cond), before)
    # the MC mean stays near the deterministic prediction
    assert np.abs(pred.mean - before).mean() < 3 * np.sqrt(pred.epistemic).mean()


def test_without_controls_the_aleatoric_part_is_zero(mc):
    cond = pd.DataFrame({"perturbation": ["P0"], "cell_type": ["T0"]})
    pred = mc.predict_uncertainty(None, cond, n_samples=4, seed=0)
    assert (pred.epistemic > 0).any() and not pred.aleatoric.any()


def test_bad_input_is_refused(data, mc):
    adata, reg = data
    controls, cond = _query(adata)
    with pytest.raises(ValueError, match=r"dropout > 0.*config dropout=0\.0"):
        MCDropout(_fit(reg, adata, 0.0))
    with pytest.raises(ValueError, match="fit it first"):
        MCDropout(Compositional(reg, CompositionalConfig(dropout=0.1)))
    with pytest.raises(ValueError, match=r"n_samples must be >= 2.*got 1"):
        mc.predict_uncertainty(controls, cond, n_samples=1)
    with pytest.raises(TypeError, match="n_samples must be an int"):
        mc.predict_uncertainty(controls, cond, n_samples=2.5)
