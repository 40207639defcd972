"""The runner asks models to extrapolate only where that is the task's point: a held-out top
dose is scored on such a task, and is an unsupported condition (with the reason) elsewhere."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from phenocast.data import group_means, register, synthetic
from phenocast.evaluate import TASKS, Fold, QueryGroup, Task, fit_fold


@pytest.fixture(scope="module")
def fold():
    adata = synthetic(
        n_genes=20, n_cell_types=1, n_perturbations=2, combinations=0, doses=(0.1, 1.0, 10.0),
        cells_per_condition=8, seed=1,
    )  # fmt: skip
    obs = adata.obs
    held = (obs["perturbation"] == "P0").to_numpy() & (obs["dose"].astype(str) == "10").to_numpy()
    train = adata[~held].copy()
    reg = register(train, perturbation="perturbation", control="control", dose="dose")
    sub = adata[held]
    truth, _ = group_means(reg.matrix(sub), np.zeros(sub.n_obs, dtype=np.int64))
    conditions = sub.obs.iloc[:1][reg.condition_columns]
    conditions.index = ["P0 10"]
    controls = adata[obs["is_control"].to_numpy()]
    ctrl = np.asarray(reg.matrix(controls).mean(0)).ravel()
    group = QueryGroup(controls, conditions, truth, ctrl, [np.asarray(reg.matrix(sub))])
    return Fold("top-dose", train, reg, [group])


def test_the_top_dose_is_scored_only_where_the_task_extrapolates(fold):
    task = Task("toy-dose", "top dose held out", ("pearson_delta",), (), lambda _d: [fold])
    options = {"anchor": None, "latent_dim": 4, "hidden": [16], "train": {"max_epochs": 2}}
    refused = fit_fold(task, fold, "compositional", options)
    assert "P0 at 10 (trained 0.1–1)" in refused.unsupported["P0 10"]
    assert np.isnan(refused.predictions[0]).all()
    allowed = fit_fold(dataclasses.replace(task, extrapolate=True), fold, "compositional", options)
    assert allowed.unsupported == {} and np.isfinite(allowed.predictions[0]).all()
    baseline = fit_fold(task, fold, "no-change")  # checks no doses
    assert baseline.unsupported == {}


def test_the_top_dose_tasks_extrapolate():
    flagged = {name for name, task in TASKS.items() if task.extrapolate}
    assert flagged == {"l1000-dose-b", "cellpainting-dose-b"}
