"""The L1000 signature tasks across time and cell lines: folds as docs/benchmarks.md defines
them, nothing held out left in training, and the tasks run end to end."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.evaluate import TASKS, get_tasks, run_task
from phenocast.evaluate._runner import expand_models
from tests.conftest import run_or_skip

pytestmark = pytest.mark.realdata


@pytest.fixture(scope="module")
def time_folds():
    return run_or_skip(TASKS["l1000-time"].build, None)


@pytest.fixture(scope="module")
def line_folds():
    return run_or_skip(TASKS["l1000-cellline"].build, None)


def _rows(obs):
    cols = [obs["perturbation"].astype(str), obs["dose"], obs["time"], obs["cell_line"].astype(str)]
    return set(zip(*cols, strict=True))


def test_time_folds_hold_out_one_compound_at_one_time(time_folds):
    assert [f.name for f in time_folds] == [
        f"{d}-{t}h" for d in ("atorvastatin", "vemurafenib", "venlafaxine") for t in (6, 24)
    ]
    for fold in time_folds:
        drug, t = fold.name.rsplit("-", 1)
        t = float(t.rstrip("h"))
        obs, cond = fold.train.obs, fold.groups[0].conditions
        # no leakage: not one signature of (drug, t) is in training
        in_train = (obs["perturbation"].astype(str) == drug) & (obs["time"] == t)
        assert not in_train.any()
        assert fold.train.n_obs + sum(c.shape[0] for c in fold.groups[0].cells) <= 272
        assert set(cond["perturbation"].astype(str)) == {drug} and set(cond["time"]) == {t}
        # every scored condition has its (drug, dose, line) at the other time in training
        other = {(p, d, ln) for p, d, _, ln in _rows(obs)}
        pairs = zip(cond["dose"], cond["cell_line"].astype(str), strict=True)
        assert all((drug, d, ln) in other for d, ln in pairs)
        assert fold.registry.control is None and fold.registry.time_key == "time"
        assert fold.groups[0].controls is None and not fold.groups[0].ctrl.any()
    # 44 vemurafenib 24 h signatures have a 6 h partner; 38 conditions after replicates
    vem24 = next(f for f in time_folds if f.name == "vemurafenib-24h").groups[0]
    assert len(vem24.conditions) == 38 and sum(c.shape[0] for c in vem24.cells) == 44


def test_held_out_truth_is_the_mean_of_the_held_out_signatures(time_folds):
    from phenocast.data import load_l1000_cmapr_ds

    a = run_or_skip(load_l1000_cmapr_ds)
    group = time_folds[0].groups[0]
    row = group.conditions.iloc[0]
    same = (
        (a.obs["perturbation"].astype(str) == row["perturbation"])
        & (a.obs["dose"] == row["dose"])
        & (a.obs["time"] == row["time"])
        & (a.obs["cell_line"].astype(str) == row["cell_line"])
    ).to_numpy()
    np.testing.assert_allclose(group.truth[0], np.asarray(a.X[same]).mean(0), rtol=1e-6)


def test_cellline_folds_are_the_lines_with_every_compound_at_every_time(line_folds):
    names = [f.name for f in line_folds]
    assert names == ["A549", "HA1E", "HCC515", "MCF7", "PC3", "VCAP"]
    for fold in line_folds:
        assert fold.name not in set(fold.train.obs["cell_line"].astype(str))
        cond = fold.groups[0].conditions
        assert set(cond["cell_line"].astype(str)) == {fold.name}
        assert len(set(zip(cond["perturbation"].astype(str), cond["time"], strict=True))) == 6
        assert fold.train.n_obs + sum(c.shape[0] for c in fold.groups[0].cells) == 272


def test_the_time_task_runs_end_to_end_with_its_baselines():
    res = run_or_skip(
        run_task, TASKS["l1000-time"], expand_models("no-change,nearest-time,covariate-mean")
    )
    assert res.n_conditions == 124
    for name in ("nearest-time", "covariate-mean"):
        model = res.models[name]
        assert model.status == "ok" and model.note == ""
        assert set(model.values) == {"pearson_delta", "r2", "mse_top20_deg", "l2"}
        assert len(model.per_fold("pearson_delta")) == 6
    # a signature's 6 h / 24 h partner carries signal; predicting zero carries none
    assert res.models["nearest-time"].mean("pearson_delta") > 0.1
    assert np.isnan(res.models["no-change"].mean("pearson_delta"))
    assert res.models["no-change"].mean("mse_top20_deg") > res.models["nearest-time"].mean(
        "mse_top20_deg"
    )


def test_the_cellline_task_runs_with_the_same_time_transfer():
    res = run_or_skip(run_task, TASKS["l1000-cellline"], expand_models("transfer-same-time"))
    model = res.models["transfer-same-time"]
    assert model.status == "ok" and res.n_conditions == 42
    assert model.mean("pearson_delta") > 0.1


def test_signature_tasks_group():
    assert [t.name for t in get_tasks("l1000-signatures")] == ["l1000-time", "l1000-cellline"]
