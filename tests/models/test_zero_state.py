"""A combination is the start cells plus each member's change plus the model's interaction,
so its prediction does not depend on where the model puts its zero-perturbation state.

The model learns its zero state and the components' effects together; moving the zero state
by ``v`` and every component's effect by ``−v`` predicts every single the same, and only the
control cells tell the two apart. Before the fix a pair counted ``−v`` twice."""

from __future__ import annotations

import copy
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from phenocast import screen
from phenocast.data import register, synthetic
from phenocast.models import Compositional, CompositionalConfig
from phenocast.models.compositional._zero import drift_multipliers, zero_charges


@pytest.fixture(scope="module")
def fitted():
    adata = synthetic(
        n_genes=25,
        n_cell_types=1,
        n_perturbations=4,
        combinations=0,
        doses=None,
        cells_per_condition=20,
        seed=3,
    )  # fmt: skip  (singles only: moving the zero state is then an exact symmetry of the fit)
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    cfg = CompositionalConfig(
        latent_dim=6, hidden=(24,), likelihood="gaussian", dose_response="none",
        context_interaction=False, train={"max_epochs": 30, "progress": False},
    )  # fmt: skip
    return adata, Compositional(reg, cfg).fit(adata)


def _moved_zero_state(model: Compositional, seed: int = 0) -> tuple[Compositional, np.ndarray]:
    """The same fit with its zero state moved by ``v = W u`` and every effect by ``−v``."""
    moved = copy.deepcopy(model)
    module = moved.module
    gen = torch.Generator().manual_seed(seed)
    u = torch.randn(module.pert_embedding.weight.shape[1], generator=gen)
    with torch.no_grad():
        v = module.effect_readout(u)
        last = [m for m in module.decoder if isinstance(m, torch.nn.Linear)][-1]
        last.bias += v
        module.pert_embedding.weight -= u
    return moved, v.numpy()


def test_predictions_do_not_depend_on_the_zero_state(fitted):
    adata, model = fitted
    moved, v = _moved_zero_state(model)
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    cond = pd.DataFrame({"perturbation": ["P0", "P1", "P0+P1", "P1+P2+P3", "control"]})
    cond["cell_type"] = "T0"
    before, after = model.predict_mean(ctrl, cond), moved.predict_mean(ctrl, cond)
    np.testing.assert_allclose(after, before, rtol=1e-4, atol=1e-4)
    # what the answer no longer depends on: the moved zero state sits v further from the cells
    assert np.abs(v).max() > 0.1
    moved_by = moved.zero_state_bias(ctrl) - model.zero_state_bias(ctrl)
    np.testing.assert_allclose(moved_by, v, rtol=1e-3, atol=1e-3)
    x = np.asarray(ctrl.X.toarray() if hasattr(ctrl.X, "toarray") else ctrl.X)
    # no components: the start cells' own mean; per-cell predictions average to predict_mean
    np.testing.assert_allclose(before[4], np.maximum(x.mean(0), 0), rtol=1e-4, atol=1e-4)
    cells = moved.predict(ctrl, cond.iloc[[2]])
    np.testing.assert_allclose(cells.layers["mean"].mean(0), after[2], rtol=1e-4, atol=1e-4)


def test_the_screen_composes_pairs_as_predict_mean_does(fitted):
    adata, model = fitted
    moved, _ = _moved_zero_state(model, seed=1)
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    hits = screen.run(moved, ["P0", "P1", "P2"], controls=ctrl, n_cells=ctrl.n_obs, top_k=100).hits
    pair = hits[hits["perturbation"] == "P0+P1"].iloc[0]
    cond = pd.DataFrame({"perturbation": ["P0+P1", "control"], "cell_type": ["T0", "T0"]})
    pm = model.predict_mean(ctrl, cond)  # the unmoved model: the same answer
    assert np.linalg.norm(pm[0] - pm[1]) == pytest.approx(pair["effect"], rel=1e-3)


def test_charges_follow_how_each_component_was_trained():
    # A, B alone; A+E (E only beside A); C+D (only together); F trained nowhere
    a, b, c, d, e, f = range(6)
    cells = np.array([[-1, -1], [a, -1], [b, -1], [a, e], [c, d], [a, -1]])
    charges, trained = zero_charges(cells, 6)
    np.testing.assert_allclose(charges, [1, 1, 0.5, 0.5, 0, 1], atol=1e-9)
    assert trained == [(a,), (a, e), (b,), (c, d)]
    model = SimpleNamespace(zero_charges_=charges, trained_combinations_=trained)
    asked = np.array([[a, b], [b, a], [a, e], [b, e], [c, -1], [a, -1], [-1, -1], [f, a], [9, -1]])
    # A+B untrained: one drift more; A+E trained: its own fit; B+E: 1 + 0 − 1; C alone: −½;
    # A trained; no components: −1 (the start cells' mean); F and an index past the
    # vocabulary (a featurised unseen component) count as trained alone
    np.testing.assert_allclose(
        drift_multipliers(model, asked), [1, 1, 0, 0, -0.5, 0, -1, 1, 0], atol=1e-9
    )


def test_a_trained_combination_keeps_the_models_own_fit_and_the_charges_are_saved(tmp_path):
    adata = synthetic(
        n_genes=25, n_cell_types=1, n_perturbations=3, combinations=2, doses=None,
        cells_per_condition=20, seed=3,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    cfg = CompositionalConfig(
        latent_dim=6,
        hidden=(24,),
        likelihood="gaussian",
        train={"max_epochs": 5, "progress": False},
    )
    model = Compositional(reg, cfg).fit(adata)
    trained = sorted({p for p in adata.obs["perturbation"].astype(str) if "+" in p})
    assert trained  # the synthetic set trains doubles
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    cond = pd.DataFrame({"perturbation": trained, "cell_type": "T0"})
    own = model.predict_mean(ctrl, cond)
    np.testing.assert_array_equal(
        drift_multipliers(model, np.array([[reg.components.index(c) for c in t.split("+")]
                                           for t in trained])), 0.0)  # fmt: skip
    model.save(tmp_path / "m")
    back = Compositional.load(tmp_path / "m")
    np.testing.assert_allclose(back.zero_charges_, model.zero_charges_)
    assert back.trained_combinations_ == model.trained_combinations_
    np.testing.assert_allclose(back.predict_mean(ctrl, cond), own, rtol=1e-5, atol=1e-6)


def test_trained_combinations_are_found_in_any_order_and_with_huge_indices():
    from phenocast.models.compositional._zero import _is_trained

    trained = [(1, 2), (4,), (3, 5, 10**7)]
    rows = np.array([[2, 1, -1], [-1, 4, -1], [10**7, 3, 5], [1, -1, -1], [1, 2, 4]])
    # the huge index makes one integer per row overflow: the set lookup answers instead
    np.testing.assert_array_equal(_is_trained(rows, trained), [True, True, True, False, False])
    np.testing.assert_array_equal(
        _is_trained(rows[:, :2], trained[:2]), [True, True, False, False, True]
    )


def test_a_model_folder_saved_before_the_charges_predicts_as_it_did(fitted, tmp_path):
    import json

    adata, model = fitted
    model.save(tmp_path / "m")
    config = tmp_path / "m" / "config.json"
    meta = json.loads(config.read_text())
    del meta["zero_charges"], meta["trained_combinations"]
    config.write_text(json.dumps(meta))
    old = Compositional.load(tmp_path / "m")
    assert old.zero_charges_ is None
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    cond = pd.DataFrame({"perturbation": ["P0", "P0+P1", "control"], "cell_type": "T0"})
    now, before = model.predict_mean(ctrl, cond), old.predict_mean(ctrl, cond)
    b = model.zero_state_bias(ctrl)
    # the single is the same; the pair and the control keep the model's own frame
    np.testing.assert_allclose(before[0], now[0], rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(before[1], np.maximum(now[1] - b, 0), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(before[2], np.maximum(now[2] + b, 0), rtol=1e-4, atol=1e-4)
