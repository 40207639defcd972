"""cell-eval as a second yardstick: the export is what cell-eval reads, scored by its own code."""

from __future__ import annotations

import builtins
import json
import math

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import register
from phenocast.evaluate import (
    CELL_EVAL_CONTROL,
    CELL_EVAL_PERT_COL,
    CELLS_MEAN,
    CELLS_PER_CELL,
    CellEvalScorer,
    Fold,
    QueryGroup,
    Task,
    cell_eval,
    cell_eval_pair,
    predicted_cells,
    score_cell_eval,
)
from phenocast.evaluate._runner import run_task

N_CELLS, N_GENES, LABELS = 30, 50, ("P0", "P1", "P2")


def _cells(rng: np.random.Generator, up: slice | None) -> np.ndarray:
    """Log-normalised-looking cells; ``up`` genes have an 8-fold higher rate."""
    rate = np.full(N_GENES, 2.0)
    if up is not None:
        rate[up] *= 8.0
    return np.log1p(rng.gamma(2.0, rate / 2.0, size=(N_CELLS, N_GENES)))


def _fold() -> Fold:
    """30 control cells and 3 conditions × 30 cells × 50 genes; condition k raises genes
    10k … 10k+9, so each has its own DE genes."""
    rng = np.random.default_rng(0)
    blocks = [_cells(rng, None)] + [_cells(rng, slice(10 * k, 10 * k + 10)) for k in range(3)]
    names = ["control", *LABELS]
    obs = pd.DataFrame(
        {"perturbation": np.repeat(names, N_CELLS)},
        index=[f"c{i}" for i in range(4 * N_CELLS)],
    )
    data = ad.AnnData(
        np.concatenate(blocks), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(N_GENES)])
    )
    reg = register(data, perturbation="perturbation", control="control")
    controls = data[(data.obs["perturbation"] == "control").to_numpy()]
    group = QueryGroup(
        controls=controls,
        conditions=pd.DataFrame({"perturbation": list(LABELS)}, index=list(LABELS)),
        truth=np.stack([b.mean(0) for b in blocks[1:]]),
        ctrl=blocks[0].mean(0),
        cells=blocks[1:],
    )
    return Fold("toy", data, reg, [group])


@pytest.fixture(scope="module")
def fold() -> Fold:
    return _fold()


class _Cells:
    """A model with a per-cell ``predict``: condition i's cells are ``cells[i]``."""

    def __init__(self, cells: list[np.ndarray]) -> None:
        self.cells = cells

    def predict(self, controls: ad.AnnData, conditions: pd.DataFrame) -> ad.AnnData:
        index = [LABELS.index(p) for p in conditions["perturbation"]]
        x = np.concatenate([self.cells[i] for i in index])
        obs = pd.DataFrame({"condition_index": np.repeat(np.arange(len(index)), N_CELLS)})
        obs.index = obs.index.astype(str)
        return ad.AnnData(x, obs=obs)


class _Means:
    """A mean-only model returning fixed profiles."""

    def __init__(self, means: np.ndarray) -> None:
        self.means = means

    def predict_mean(self, controls: ad.AnnData, conditions: pd.DataFrame) -> np.ndarray:
        return self.means[[LABELS.index(p) for p in conditions["perturbation"]]]


def test_export_is_cell_evals_layout(fold):
    group = fold.groups[0]
    real, pred = cell_eval_pair(fold, group, group.cells)
    for a in (real, pred):
        assert list(a.var_names) == list(fold.registry.var_names)
        counts = a.obs[CELL_EVAL_PERT_COL].value_counts()
        assert counts.to_dict() == {CELL_EVAL_CONTROL: N_CELLS, **dict.fromkeys(LABELS, N_CELLS)}
    ctrl_real = real[real.obs[CELL_EVAL_PERT_COL] == CELL_EVAL_CONTROL].X
    ctrl_pred = pred[pred.obs[CELL_EVAL_PERT_COL] == CELL_EVAL_CONTROL].X
    np.testing.assert_array_equal(ctrl_real, ctrl_pred)  # the predicted side keeps the controls
    np.testing.assert_allclose(
        real[real.obs[CELL_EVAL_PERT_COL] == "P1"].X, group.cells[1], rtol=1e-6
    )


def test_perfect_prediction_scores_best_and_a_wrong_one_worse(fold):
    group = fold.groups[0]
    perfect, ceiling = score_cell_eval(*cell_eval_pair(fold, group, group.cells), ceiling=True)
    assert sorted(perfect.index) == list(LABELS)
    assert set(perfect.columns) == {"mae", "overlap_at_N", "discrimination_score_l1"}
    np.testing.assert_allclose(perfect["overlap_at_N"], 1.0)
    np.testing.assert_allclose(perfect["mae"], 0.0, atol=1e-7)
    np.testing.assert_allclose(perfect["discrimination_score_l1"], 1.0)
    assert 0.0 < ceiling["overlap_at_N"] <= 1.0 and math.isnan(ceiling["mae"])
    # each condition predicted with the next one's cells: other DE genes, other effect
    rolled = [group.cells[1], group.cells[2], group.cells[0]]
    wrong, _ = score_cell_eval(*cell_eval_pair(fold, group, rolled))
    assert (wrong["overlap_at_N"] < 0.2).all()
    assert (wrong["mae"] > 0.3).all()
    assert (wrong["discrimination_score_l1"] < 1.0).all()


def test_discrimination_is_na_for_a_single_condition(fold):
    group = fold.groups[0]
    one = QueryGroup(
        group.controls, group.conditions.iloc[:1], group.truth[:1], group.ctrl, group.cells[:1]
    )
    scores, _ = score_cell_eval(*cell_eval_pair(fold, one, one.cells))
    assert math.isnan(scores.loc["P0", "discrimination_score_l1"])
    assert scores.loc["P0", "overlap_at_N"] == pytest.approx(1.0)


def test_mean_only_model_gets_controls_plus_its_mean_change(fold):
    group = fold.groups[0]
    means = np.random.default_rng(1).uniform(0.5, 2.0, size=(3, N_GENES))
    cells, kind, why = predicted_cells(_Means(means), fold, group)
    assert kind == CELLS_MEAN and why == {}
    ctrl = np.asarray(group.controls.X, dtype=np.float64)
    for i in range(3):
        np.testing.assert_allclose(cells[i], ctrl + (means[i] - ctrl.mean(0)))
        np.testing.assert_allclose(cells[i].mean(0), means[i])
    # a negative predicted value is set to 0 in the export (log-normalised data)
    _, pred = cell_eval_pair(fold, group, [c - 5.0 for c in cells])
    assert pred.X.min() == 0.0


def test_a_rounding_sized_mean_change_leaves_the_controls_unchanged(fold):
    group = fold.groups[0]
    ctrl = np.asarray(group.controls.X, dtype=np.float64)
    means = np.tile(ctrl.mean(0).astype(np.float32).astype(np.float64), (3, 1))
    means[1, :10] += 1.0  # one real change beside float32 rounding
    cells, _, _ = predicted_cells(_Means(means), fold, group)
    np.testing.assert_array_equal(cells[0], ctrl)
    np.testing.assert_allclose(cells[1][:, :10], ctrl[:, :10] + 1.0, atol=1e-6)
    np.testing.assert_array_equal(cells[1][:, 10:], ctrl[:, 10:])


def test_per_cell_model_exports_its_own_cells(fold):
    group = fold.groups[0]
    cells, kind, _ = predicted_cells(_Cells(group.cells[::-1]), fold, group)
    assert kind == CELLS_PER_CELL
    for got, want in zip(cells, group.cells[::-1], strict=True):
        np.testing.assert_array_equal(got, want)


def test_scorer_on_the_runner_scores_every_model(fold, tmp_path):
    task = Task(
        "toy",
        "toy task",
        ("pearson_delta",),
        ("no-change",),
        lambda data_dir: [fold],
    )
    scorer = CellEvalScorer(ceiling=False)
    result = run_task(task, [("no-change", "no-change", {})], on_fit=scorer)
    got = scorer.scores("toy")
    assert set(got.table["model"]) == {"no-change"}
    assert set(got.table["cells"]) == {CELLS_MEAN}
    # no change predicted: the controls again, so no DE gene recovered
    overlap = got.table[got.table["metric"] == "overlap_at_N"]["value"]
    assert (overlap == 0.0).all() and len(overlap) == 3
    from phenocast.evaluate import BenchmarkResult

    scorer.attach(BenchmarkResult([result]))
    assert "ce:mae" in result.metrics and result.extra_metrics["ce:mae"] is False
    res = result.models["no-change"]
    assert set(res.values["ce:mae"]["toy"]) == set(LABELS)
    assert "controls + mean change" in res.note
    out = BenchmarkResult([result]).write_json(tmp_path / "r.json")
    saved = json.loads(out.read_text())["tasks"]["toy"]
    assert "ce:overlap_at_N" in saved["metrics"]
    assert saved["models"]["no-change"]["metrics"]["ce:overlap_at_N"]["mean"] == 0.0


def test_cell_eval_refuses_a_task_without_log_expression(fold):
    neg = Fold(fold.name, fold.train, fold.registry, [fold.groups[0]])
    group = neg.groups[0]
    bad = QueryGroup(
        group.controls, group.conditions, group.truth, group.ctrl, [c - 10 for c in group.cells]
    )
    task = Task(
        "neg",
        "negative values",
        ("pearson_delta",),
        ("no-change",),
        lambda d: [Fold(fold.name, fold.train, fold.registry, [bad])],
    )
    with pytest.raises(ValueError, match="negative values"):
        cell_eval(task, "no-change", ceiling=False)


def test_missing_cell_eval_names_the_extra(monkeypatch):
    real_import = builtins.__import__

    def no_cell_eval(name, *args, **kwargs):
        if name == "cell_eval" or name.startswith("cell_eval."):
            raise ImportError("No module named 'cell_eval'")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_cell_eval)
    with pytest.raises(ImportError, match=r'pip install -e "\.\[eval\]"'):
        CellEvalScorer()
    result = CliRunner().invoke(
        app, ["benchmark", "-t", "norman-combos", "--metrics", "cell-eval"], terminal_width=200
    )
    assert result.exit_code != 0 and 'pip install -e ".[eval]"' in " ".join(result.output.split())


def test_cli_rejects_an_unknown_yardstick():
    result = CliRunner().invoke(
        app, ["benchmark", "-t", "norman-combos", "--metrics", "celleval"], terminal_width=200
    )
    assert result.exit_code != 0 and "Unknown --metrics" in result.output


def test_overall_score_is_cell_evals_against_the_no_change_row(fold):
    from phenocast.evaluate import BenchmarkResult, ModelResult

    task = Task("toy", "toy task", ("pearson_delta",), ("no-change",), lambda data_dir: [fold])
    scorer = CellEvalScorer(ceiling=False)
    result = run_task(task, [("no-change", "no-change", {})], on_fit=scorer)
    group = fold.groups[0]
    shuffled = [group.cells[(i + 1) % 3] for i in range(3)]  # each condition's cells wrong
    for label, cells in (("perfect", group.cells), ("swapped", shuffled)):
        scorer(task, label, fold, type("Fit", (), {"model": _Cells(cells)})())
        result.models[label] = ModelResult(label)
    scorer.attach(BenchmarkResult([result]))
    assert result.extra_metrics["ce:avg_score"] is True
    score = {name: result.models[name].mean("ce:avg_score") for name in result.models}
    assert score["no-change"] == 0.0  # the reference against itself
    assert 0.5 < score["perfect"] <= 1.0
    assert score["swapped"] < score["perfect"]
    # by hand with cell-eval's own normalisation: the mean of the clipped improvements
    per = {
        m: {k: result.models[k].mean(f"ce:{m}") for k in ("perfect", "no-change")}
        for m in ("overlap_at_N", "mae", "discrimination_score_l1")
    }
    parts = [
        max(0.0, (per[m]["perfect"] - per[m]["no-change"]) / (1 - per[m]["no-change"]))
        for m in ("overlap_at_N", "discrimination_score_l1")
    ] + [max(0.0, 1 - per["mae"]["perfect"] / per["mae"]["no-change"])]
    assert score["perfect"] == pytest.approx(np.mean(parts), rel=1e-6)
