"""The runner on synthetic folds: one rule for unsupported conditions, fold variants, JSON."""

from __future__ import annotations

import dataclasses
import json
import math

import numpy as np
import pytest

from phenocast.data import group_means, json_safe, register, synthetic, write_json
from phenocast.evaluate import (
    CALIBRATION_METHODS,
    NOISE_CEILING,
    BenchmarkResult,
    CalibrationSetup,
    Fold,
    QueryGroup,
    Task,
    calibrate_fold,
    calibration_summary,
    expand_models,
    first_folds,
    fit_fold,
    limits_report,
    predict_groups,
    run_benchmark,
    run_task,
    speed_report,
    subsample_groups,
    sweep_report,
    sweep_task,
    training_groups,
    validation_split,
)
from phenocast.models import create_model


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=30, n_cell_types=3, n_perturbations=4, combinations=0, doses=None,
        cells_per_condition=6, seed=0,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    return adata, reg


def _fold(data, held: list[str], *, unseen: tuple[str, ...] = ()) -> Fold:
    """Hold out ``held`` in cell type T1 (from T1's controls); ``unseen`` leaves training."""
    adata, reg = data
    obs = adata.obs
    in_t1 = (obs["cell_type"] == "T1").to_numpy()
    is_held = in_t1 & obs["perturbation"].isin(held).to_numpy()
    gone = obs["perturbation"].isin(unseen).to_numpy()
    sub = adata[is_held]
    codes = sub.obs["perturbation"].astype(str).map({p: i for i, p in enumerate(held)}).to_numpy()
    truth, _ = group_means(reg.matrix(sub), codes)
    ctrl_cells = adata[in_t1 & (obs["perturbation"] == "control").to_numpy()]
    conditions = sub.obs.groupby("perturbation", observed=True).head(1)
    conditions = conditions.set_index("perturbation", drop=False).loc[held, reg.condition_columns]
    ctrl = np.asarray(reg.matrix(ctrl_cells).mean(0)).ravel()
    x = np.asarray(reg.matrix(sub))
    cells = [x[codes == i] for i in range(len(held))]
    group = QueryGroup(ctrl_cells, conditions, truth, ctrl, cells)
    return Fold("T1", adata[~is_held & ~gone].copy(), reg, [group])


def _task(folds) -> Task:
    return Task("toy", "toy task", ("pearson_delta", "l2"), ("transfer",), lambda _d: folds)


def test_unsupported_conditions_are_nan_and_left_out_of_the_mean(data):
    fold = _fold(data, ["P0", "P3"], unseen=("P3",))
    model = create_model("transfer", fold.registry).fit(fold.train)
    preds, why = predict_groups(model, fold.groups)
    assert np.isfinite(preds[0][0]).all() and np.isnan(preds[0][1]).all()
    assert list(why) == ["P3"] and "never measured" in why["P3"]

    res = run_task(_task([fold]), expand_models("transfer,no-change"))
    transfer = res.models["transfer"]
    assert transfer.status == "ok"
    assert transfer.note.startswith("1 of 2 conditions n/a (transfer: condition 'P3")
    assert math.isnan(transfer.values["l2"]["T1"]["P3"])
    assert transfer.mean("l2") == pytest.approx(transfer.values["l2"]["T1"]["P0"])
    assert res.models["no-change"].note == ""


def test_a_model_that_predicts_no_condition_is_na_with_the_first_error(data):
    fold = _fold(data, ["P3"], unseen=("P3",))
    res = run_task(_task([fold]), expand_models("transfer"))
    transfer = res.models["transfer"]
    assert transfer.status == "n/a" and transfer.values == {}
    assert transfer.note == "transfer: condition 'P3@1' was never measured in training."
    assert res.models[NOISE_CEILING].status == "ok"


def test_fit_fold_matches_the_runner_and_takes_other_training_data(data):
    fold = _fold(data, ["P0", "P1"])
    task = _task([fold])
    fit = fit_fold(task, fold, "transfer")
    res = run_task(task, expand_models("transfer"))
    assert {m: {"T1": v} for m, v in fit.values.items()} == res.models["transfer"].values
    assert fit.unsupported == {}
    small, kept, total = subsample_groups(fold, 0.25)
    assert (kept, total) == (3, 10)  # ⌊2.5 + ½⌋ of 4 perturbations × 3 cell types − 2 held
    assert fit_fold(task, fold, "transfer", train=small).model.registry is fold.registry


def test_subsample_groups_is_nested_and_keeps_every_control(data):
    fold = _fold(data, ["P0"])
    full, n_full, _ = subsample_groups(fold, 1.0)
    half, n_half, _ = subsample_groups(fold, 0.5)
    quarter, n_quarter, n = subsample_groups(fold, 0.25)
    assert full is fold.train and (n_full, n_half, n_quarter, n) == (11, 6, 3, 11)
    assert set(quarter.obs_names) <= set(half.obs_names)
    is_ctrl = fold.train.obs["perturbation"] == "control"
    assert set(fold.train.obs_names[is_ctrl]) <= set(quarter.obs_names)


def test_training_groups_and_validation_split(data):
    fold = _fold(data, ["P0"])
    groups = training_groups(fold)
    assert [len(g.conditions) for g in groups] == [4, 3, 4]  # T1 lost P0 to the test
    assert all(g.truth.shape == (len(g.conditions), 30) for g in groups)
    inner, val, context = validation_split(fold)
    assert context == "T2"  # the next cell type after the test's T1
    assert sorted(val.conditions["perturbation"]) == ["P0", "P1", "P2", "P3"]
    assert [len(c) for c in val.cells] == [6] * 4
    assert not ((inner.obs["cell_type"] == "T2") & (inner.obs["perturbation"] != "control")).any()
    assert len(first_folds(_task([fold, fold]), 1).build(None)) == 1


def test_write_json_is_strict_and_atomic(tmp_path):
    obj = {1: (np.float32(0.5), float("nan")), "a": np.arange(2), "b": np.inf, "p": tmp_path}
    assert json_safe(obj) == {"1": [0.5, None], "a": [0, 1], "b": None, "p": str(tmp_path)}
    path = write_json(tmp_path / "out" / "x.json", obj)
    assert json.loads(path.read_text())["1"] == [0.5, None]
    assert path.read_text().endswith("}\n") and list(path.parent.iterdir()) == [path]
    with pytest.raises(TypeError):
        write_json(tmp_path / "y.json", {"x": object()})
    assert not (tmp_path / "y.json").exists()


def test_sweep_task_fits_every_share_and_adds_the_full_fits_to_the_table(data):
    fold = _fold(data, ["P0", "P1"])
    task = dataclasses.replace(
        _task([fold]), model_options={"compositional": {"anchor": "transfer"}}
    )
    tr = run_task(task, expand_models("transfer"), keep_predictions=True)
    variants = expand_models("compositional")
    tiny = {"latent_dim": 4, "hidden": [16], "train": {"max_epochs": 2, "progress": False}}
    run = sweep_task(
        tr, variants, sweep_labels=["compositional[alone]"], fractions=(1.0, 0.25), overrides=tiny
    )
    assert run.baseline == "transfer"
    assert [(r.label, r.fraction) for r in run.fits] == [
        ("compositional[anchored]", 1.0), ("compositional[alone]", 1.0),
        ("compositional[alone]", 0.25),
    ]  # fmt: skip
    full = run.fits_for("compositional[alone]")[0]
    assert (full.n_groups_kept, run.fits[-1].n_groups_kept) == (10, 3)
    assert len(full.train_values) == 10 and full.alpha is None
    assert run.fits[0].alpha is not None and run.fits[0].anchor_baseline == "transfer"
    assert [b.fraction for b in run.baselines] == [1.0, 0.25]
    assert set(run.baselines[0].values) == {"P0", "P1"}
    assert list(tr.models) == ["transfer", *(v[0] for v in variants), NOISE_CEILING]
    alone = tr.models["compositional[alone]"]
    assert alone.values["pearson_delta"]["T1"] == full.ood["pearson_delta"]
    rows = sweep_report([run], ["compositional[alone]"], (1.0, 0.25)).rows
    assert [r[1:3] for r in rows] == [["100%", "10/10"], ["25%", "3/10"]]
    assert len(limits_report([run], [v[0] for v in variants]).rows) == 2
    assert "compositional[alone]" in speed_report([run], ["compositional[alone]"]).markdown()


def test_calibrate_fold_scores_every_method_on_the_held_out_conditions(data):
    fold = _fold(data, ["P0", "P1"])
    setup = CalibrationSetup(members=2, train={"max_epochs": 2, "progress": False}, samples=3)
    rec = calibrate_fold(_task([fold]), fold, setup, levels=(0.8,))
    assert rec["validation_context"] == "T2" and rec["n_validation_conditions"] == 4
    assert (rec["n_test_conditions"], rec["n_genes"]) == (2, 30)
    assert list(rec["methods"]) == [m[0] for m in CALIBRATION_METHODS]
    for label, _source, mode in CALIBRATION_METHODS:
        scores = rec["methods"][label]
        assert 0.0 <= scores["coverage_80"] <= 1.0 and np.isfinite(scores["nll"])
        assert ("calibration" in scores) == (mode is not None)
    assert math.isnan(rec["methods"]["constant σ² [ensemble mean]"]["spearman"])
    summary = calibration_summary([rec, rec])
    assert summary["deep ensemble"]["nll"] == pytest.approx(rec["methods"]["deep ensemble"]["nll"])


def test_benchmark_json_writes_unsupported_conditions_as_null(data, tmp_path):
    fold = _fold(data, ["P0", "P3"], unseen=("P3",))
    res = BenchmarkResult([run_task(_task([fold]), expand_models("transfer"))])
    saved = json.loads(res.write_json(tmp_path / "r.json").read_text())
    l2 = saved["tasks"]["toy"]["models"]["transfer"]["metrics"]["l2"]
    assert l2["per_condition"]["T1"]["P3"] is None
    assert l2["mean"] == pytest.approx(l2["per_condition"]["T1"]["P0"])


def test_models_of_other_data_are_refused_by_the_runner_with_their_benchmark_named():
    with pytest.raises(KeyError, match=r"'multimodal' learns from multimodal data.*run_multimodal"):
        expand_models("additive,multimodal")
    with pytest.raises(KeyError, match=r"Unknown model 'lnear'; available models: no-change"):
        expand_models("lnear")
    assert "multimodal" not in str([name for _, name, _ in expand_models("additive,linear")])


def test_baselines_in_a_model_list_are_the_task_s_own_once_each(data):
    fold = _fold(data, ["P0"])
    task = dataclasses.replace(_task([fold]), baselines=("transfer", "mean-shift"))
    res = run_benchmark([task], "no-change,transfer,baselines", progress=False)
    assert list(res.tasks[0].models)[:3] == ["no-change", "transfer", "mean-shift"]


def test_on_fit_takes_several_hooks(data):
    fold = _fold(data, ["P0"])
    seen: list[tuple[str, str]] = []
    run_task(
        _task([fold]),
        expand_models("transfer"),
        on_fit=[lambda t, label, f, fit: seen.append(("a", label)), None,
                lambda t, label, f, fit: seen.append(("b", label))],
    )  # fmt: skip
    assert seen == [("a", "transfer"), ("b", "transfer")]
