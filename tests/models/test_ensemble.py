"""Ensembles: the mean of independently seeded members, their spread as epistemic variance,
and a screen that ranks by it."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast import screen
from phenocast.data import register, synthetic
from phenocast.models import Compositional, CompositionalConfig, Ensemble


def member(reg, seed):
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [32],
         "train": {"max_epochs": 30, "batch_size": 128, "progress": False, "seed": seed}}
    )  # fmt: skip
    return Compositional(reg, cfg)


@pytest.fixture(scope="module")
def fitted():
    adata = synthetic(
        n_genes=30, n_cell_types=1, n_perturbations=3, combinations=0, doses=None,
        cells_per_condition=20, seed=4,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    return adata, Ensemble(lambda s: member(reg, s), n_members=3).fit(adata)


def test_members_differ_and_the_mean_is_theirs(fitted):
    adata, ens = fitted
    cond = pd.DataFrame({"perturbation": ["P0", "P1+P2"], "cell_type": ["T0", "T0"]})
    controls = adata[adata.obs["is_control"].to_numpy()][:25]
    pred = ens.predict_uncertainty(controls, cond)
    each = np.stack([m.predict_mean(controls, cond) for m in ens.members])
    np.testing.assert_allclose(pred.mean, each.mean(0), rtol=1e-6)
    np.testing.assert_allclose(pred.epistemic, each.var(0, ddof=1), rtol=1e-6)
    assert (pred.epistemic > 0).all() and (pred.aleatoric > 0).all()
    # an unseen combination is more uncertain than a trained single
    assert pred.epistemic[1].mean() > pred.epistemic[0].mean()
    np.testing.assert_allclose(ens.predict_mean(controls, cond), pred.mean)


def test_a_screen_ranks_by_ensemble_uncertainty(fitted):
    _, ens = fitted
    res = screen.run(ens, max_order=2, score="uncertainty", top_k=10)
    assert res.path == "generic" and res.hits["uncertainty"].is_monotonic_decreasing
    top = res.hits.iloc[0]
    cond = pd.DataFrame({"perturbation": [top["perturbation"]], "cell_type": [top["cell_type"]]})
    direct = ens.predict_uncertainty(None, cond)
    assert top["uncertainty"] == pytest.approx(direct.variance.mean(), rel=1e-6)


def test_bad_ensembles_are_refused():
    with pytest.raises(ValueError, match="at least 2 members"):
        Ensemble(lambda s: None, n_members=1)
    with pytest.raises(ValueError, match="3 distinct values"):
        Ensemble(lambda s: None, n_members=3, seeds=[0, 0, 1])
    with pytest.raises(RuntimeError, match="not fitted"):
        Ensemble(lambda s: None, n_members=2).predict_mean(None, pd.DataFrame())


def test_an_ensemble_passes_the_dose_rule_and_the_context_rule_to_its_members():
    from phenocast.models import DoseRangeError

    adata = synthetic(
        n_genes=20, n_cell_types=2, n_perturbations=2, combinations=0, doses=(0.1, 1),
        cells_per_condition=10, seed=5,
    )  # fmt: skip
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose",
        covariates=["cell_type"],
    )  # fmt: skip
    ens = Ensemble(lambda s: member(reg, s), n_members=2).fit(adata)
    assert ens.trained_doses_ == ens.members[0].trained_doses_
    far = pd.DataFrame({"perturbation": ["P0"], "dose": ["50"], "cell_type": ["T1"]})
    with pytest.raises(DoseRangeError, match="extrapolate"):
        ens.predict_mean(None, far)
    assert np.isfinite(ens.predict_mean(None, far, extrapolate=True)).all()
    t0 = adata[(adata.obs["is_control"] & (adata.obs["cell_type"] == "T0")).to_numpy()][:5]
    with pytest.raises(ValueError, match="cross_context"):  # T1 asked, only T0 cells given
        ens.predict_mean(t0, far, extrapolate=True)
    crossed = ens.predict_uncertainty(t0, far, cross_context=True, extrapolate=True)
    assert np.isfinite(crossed.mean).all() and (crossed.aleatoric > 0).all()
    # a screen over the ensemble now knows the trained doses: it refuses, then marks
    with pytest.raises(screen.ScreenError, match="outside"):
        screen.run(ens, doses=[50.0], max_order=1)
    marked = screen.run(ens, doses=[50.0], max_order=1, extrapolate=True)
    assert marked.hits["extrapolated"].all()
