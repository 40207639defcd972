"""Anchoring a user can trust: where no group can be held out the fit says why, decides before
training and trains no network it would discard; the recommended configuration is one call."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.data import register, synthetic
from phenocast.models import Compositional, CompositionalConfig, create_model
from phenocast.models.compositional import ANCHOR_BASELINES


@pytest.fixture(scope="module")
def singles():
    adata = synthetic(
        n_genes=20, n_cell_types=1, n_perturbations=4, combinations=0, doses=None,
        cells_per_condition=10, seed=0,
    )  # fmt: skip
    return adata, register(adata, perturbation="perturbation", control="control")


@pytest.fixture(scope="module")
def two_types():
    adata = synthetic(
        n_genes=20, n_cell_types=2, n_perturbations=3, combinations=0, doses=None,
        cells_per_condition=10, seed=1,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control",
                   covariates=["cell_type"])  # fmt: skip
    return adata, reg


def test_singles_only_data_cannot_validate_the_anchor_and_trains_nothing(singles, monkeypatch):
    adata, reg = singles

    def no_training(self, *args, **kwargs):
        raise AssertionError("the network was trained although α = 0 was already decided")

    monkeypatch.setattr(Compositional, "_fit_core", no_training)
    model = Compositional(reg, CompositionalConfig(anchor=("additive", "mean-shift")))
    with pytest.warns(
        UserWarning, match=r"cannot choose α on this data: each of the 4 perturbed"
    ) as rec:
        model.fit(adata)
    msg = str(rec[0].message)
    assert "e.g. singles only: P0, P1, P2, P3" in msg and "anchor=None" in msg
    assert "no perturbed group with controls" not in msg  # the old, wrong reason
    assert model.anchor_.alpha == 0.0 and model.anchor_.baseline == "additive"
    assert "each of the 4 perturbed groups" in model.anchor_.note
    assert model.module is None and "no network" in repr(model)
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    cond = pd.DataFrame({"perturbation": ["P1", "P0+P2"]})
    base = create_model("additive", reg).fit(adata).predict_mean(ctrl, cond)
    pd.testing.assert_frame_equal(pd.DataFrame(model.predict_mean(ctrl, cond)), pd.DataFrame(base))
    with pytest.raises(RuntimeError, match=r"is its baseline 'additive'.*anchor=None"):
        model.predict(ctrl[:3], cond)


def test_a_validated_anchor_still_trains(two_types):
    # a second context of the same perturbations makes groups to hold out: the reason goes away
    adata, reg = two_types
    cfg = CompositionalConfig.recommended(
        baseline="mean-shift", latent_dim=4, hidden=[16], train={"max_epochs": 2}
    )
    model = Compositional(reg, cfg).fit(adata)
    assert model.module is not None and model.anchor_.n_groups >= 1 and model.anchor_.scores


def test_the_recommended_configuration_is_the_benchmarks_anchored_one():
    from phenocast.evaluate import TASKS

    # every benchmark task's compositional[anchored] is the preset with the task's baselines
    # first, so the preset cannot drift from the benchmarks' configuration
    anchored = [t for t in TASKS.values() if "compositional" in t.model_options]
    assert {"norman-combos", "kang-ood-celltype"} <= {t.name for t in anchored}
    for task in anchored:
        anchor = task.model_options["compositional"]["anchor"]
        assert set(ANCHOR_BASELINES) <= set(anchor)  # every task tries every recommended one
        # the task's own lead candidates, then the recommended ones in their order
        presets = [CompositionalConfig.recommended(baseline=anchor[:k]).anchor for k in (1, 2, 3)]
        assert anchor in presets, task.name
    cfg = CompositionalConfig.recommended(train={"max_epochs": 7}, latent_dim=8)
    assert cfg.anchor[0] == "mean-shift" and set(cfg.anchor) == set(ANCHOR_BASELINES)
    assert cfg.train.max_epochs == 7 and cfg.latent_dim == 8
    assert CompositionalConfig().anchor is None  # the default stays the model alone
    with pytest.raises(ValueError, match=r"anchor must name baselines.*got 'additve'"):
        CompositionalConfig.recommended(baseline="additve")


def _anchored(reg, **train):
    cfg = CompositionalConfig.recommended(
        baseline="mean-shift", latent_dim=4, hidden=[16],
        train={"max_epochs": 4, "progress": False, **train},
    )  # fmt: skip
    return Compositional(reg, cfg)


def test_the_two_fits_side_by_side_equal_them_one_after_the_other_on_one_thread(two_types):
    from phenocast.train import fork_unavailable

    if fork_unavailable():
        pytest.skip(f"cannot fork here: {fork_unavailable()}")
    adata, reg = two_types
    both = _anchored(reg).fit(adata)  # threads left to phenocast: side by side
    one = _anchored(reg, num_threads=1).fit(adata)  # a fixed count: one after the other
    assert both.anchor_.side_by_side and not one.anchor_.side_by_side
    assert both.config.train.num_threads is None  # the config is restored after the fit
    assert both.history_.threads == 1
    assert (both.anchor_.baseline, both.anchor_.alpha) == (one.anchor_.baseline, one.anchor_.alpha)
    assert both.anchor_.scores == one.anchor_.scores and both.anchor_.n_groups >= 1
    ctrl = adata[adata.obs["is_control"].to_numpy()]
    cond = pd.DataFrame({"perturbation": ["P0", "P1"], "cell_type": ["T0", "T1"]})
    np.testing.assert_array_equal(both.predict_mean(ctrl, cond), one.predict_mean(ctrl, cond))


def test_a_failed_validation_fit_in_the_child_fails_the_fit(two_types, monkeypatch):
    from phenocast.train import fork_unavailable

    if fork_unavailable():
        pytest.skip(f"cannot fork here: {fork_unavailable()}")
    adata, reg = two_types
    real = Compositional._fit_core

    def fails_on_validation(self, data, rows=None):
        if rows is not None:
            raise FloatingPointError("the validation fit's loss is NaN")
        return real(self, data, rows)

    monkeypatch.setattr(Compositional, "_fit_core", fails_on_validation)
    with pytest.raises(FloatingPointError, match="loss is NaN") as err:
        _anchored(reg).fit(adata)
    assert "child process running _validation_fit_alone" in "\n".join(err.value.__notes__)


def test_when_the_fits_run_one_after_the_other(two_types, tmp_path):
    from phenocast.models.compositional._anchor import side_by_side_reason

    adata, reg = two_types
    assert "num_threads=2 fixes" in side_by_side_reason(_anchored(reg, num_threads=2), adata)
    kept = _anchored(reg, checkpoint_dir=str(tmp_path))
    assert side_by_side_reason(kept, adata) == "a checkpoint is kept"
    streamed = _anchored(reg, data_path="stream")
    assert side_by_side_reason(streamed, adata) == "the data are streamed from disk"
