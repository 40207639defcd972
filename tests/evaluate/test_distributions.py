"""Distribution metrics: held-out cells scored against the observed cells, beside the means."""

from __future__ import annotations

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
    CELLS_MEAN,
    CELLS_MEAN_ONLY,
    CELLS_PER_CELL,
    CELLS_RESIDUAL,
    CELLS_SAMPLED,
    NOISE_CEILING,
    BenchmarkResult,
    DistributionScorer,
    Fold,
    QueryGroup,
    Task,
    distribution_scores,
    predicted_cells,
    run_task,
    variance_r2,
)
from phenocast.evaluate._runner import best_of

N_CELLS, N_GENES, LABELS = 40, 20, ("P0", "P1")


def _fold() -> Fold:
    """40 control cells and 2 conditions × 40 cells × 20 genes; P0 shifts genes 0–4 up, P1
    doubles the spread of genes 5–9."""
    rng = np.random.default_rng(0)
    scale = rng.uniform(0.5, 1.5, N_GENES)
    ctrl = rng.normal(2.0, scale, size=(N_CELLS, N_GENES))
    p0 = rng.normal(2.0, scale, size=(N_CELLS, N_GENES))
    p0[:, :5] += 3.0
    wide = scale.copy()
    wide[5:10] *= 3.0
    p1 = rng.normal(2.0, wide, size=(N_CELLS, N_GENES))
    blocks = [ctrl, p0, p1]
    obs = pd.DataFrame(
        {"perturbation": np.repeat(["control", *LABELS], N_CELLS)},
        index=[f"c{i}" for i in range(3 * N_CELLS)],
    )
    var = pd.DataFrame(index=[f"g{i}" for i in range(N_GENES)])
    data = ad.AnnData(np.concatenate(blocks), obs=obs, var=var)
    reg = register(data, perturbation="perturbation", control="control")
    group = QueryGroup(
        controls=data[:N_CELLS],
        conditions=pd.DataFrame({"perturbation": list(LABELS)}, index=list(LABELS)),
        truth=np.stack([b.mean(0) for b in blocks[1:]]),
        ctrl=ctrl.mean(0),
        cells=blocks[1:],
    )
    return Fold("toy", data, reg, [group])


@pytest.fixture(scope="module")
def fold() -> Fold:
    return _fold()


class _Means:
    """A mean-only model predicting each condition's observed mean."""

    def __init__(self, means: np.ndarray) -> None:
        self.means = means

    def predict_mean(self, controls: ad.AnnData, conditions: pd.DataFrame) -> np.ndarray:
        return self.means[[LABELS.index(p) for p in conditions["perturbation"]]]


class _Generative:
    """A per-cell model: each cell is the condition's mean, with the observed variance as its
    predicted noise (so only sampled cells recover the spread)."""

    def __init__(self, fold: Fold) -> None:
        self.cells = fold.groups[0].cells

    def predict(self, controls: ad.AnnData, conditions: pd.DataFrame) -> ad.AnnData:
        idx = [LABELS.index(p) for p in conditions["perturbation"]]
        n = controls.n_obs
        mean = np.concatenate([np.tile(self.cells[i].mean(0), (n, 1)) for i in idx])
        var = np.concatenate([np.tile(self.cells[i].var(0), (n, 1)) for i in idx])
        obs = pd.DataFrame({"condition_index": np.repeat(np.arange(len(idx)), n)})
        obs.index = obs.index.astype(str)
        out = ad.AnnData(mean, obs=obs)
        out.layers["variance"] = var
        return out


def _task(fold: Fold) -> Task:
    return Task("toy", "toy task", ("pearson_delta",), ("mean-shift",), lambda data_dir: [fold])


def test_perfect_prediction_scores_zero_energy_and_unit_variance_r2(fold):
    true = fold.groups[0].cells[1]
    got = distribution_scores(true.copy(), true)
    assert got["energy"] == pytest.approx(0.0, abs=1e-9)
    assert got["var_r2"] == pytest.approx(1.0)
    assert variance_r2(true, true) == pytest.approx(1.0)


def test_a_shifted_or_squeezed_prediction_scores_worse(fold):
    true = fold.groups[0].cells[1]
    good = distribution_scores(true, true)
    shifted = distribution_scores(true + 1.0, true)
    assert shifted["energy"] > good["energy"] + 0.5
    assert shifted["var_r2"] == pytest.approx(1.0)  # a shift leaves the variances alone
    squeezed = true.mean(0) + 0.3 * (true - true.mean(0))
    sq = distribution_scores(squeezed, true)
    assert sq["energy"] > 0.1 and sq["var_r2"] < 0.5


def test_energy_subsamples_to_the_cap_reproducibly(fold):
    true = fold.groups[0].cells[0]
    pred = true + 0.5
    a = distribution_scores(pred, true, max_cells=10, seed=3, key="x")
    b = distribution_scores(pred, true, max_cells=10, seed=3, key="x")
    c = distribution_scores(pred, true, max_cells=10, seed=4, key="x")
    assert a == b and a["energy"] != c["energy"]
    assert a["var_r2"] == c["var_r2"]  # the variance R² uses every cell
    with pytest.raises(ValueError, match="max_cells must be at least 2"):
        distribution_scores(pred, true, max_cells=1)
    assert math.isnan(distribution_scores(pred[:1], true)["energy"])


def test_variance_r2_rejects_mismatched_genes():
    with pytest.raises(ValueError, match="differ in genes: 3 vs 4"):
        variance_r2(np.ones((5, 3)), np.ones((5, 4)))
    with pytest.raises(ValueError, match="at least 2 cells"):
        variance_r2(np.ones((1, 3)), np.ones((5, 3)))


def test_per_cell_baseline_is_controls_plus_mean_change(fold):
    group = fold.groups[0]
    means = np.stack([c.mean(0) for c in group.cells])
    variances: list = []
    cells, kind, _ = predicted_cells(_Means(means), fold, group, variances=variances)
    assert kind == CELLS_MEAN and variances == [None, None]
    ctrl = np.asarray(group.controls.X, dtype=np.float64)
    for i in range(2):
        np.testing.assert_allclose(cells[i], ctrl + means[i] - ctrl.mean(0))
    # the right means with the controls' spread: P1's tripled spread is missed
    p1 = distribution_scores(cells[1], group.cells[1])
    assert p1["var_r2"] < distribution_scores(group.cells[1], group.cells[1])["var_r2"] - 0.5


def test_hook_attaches_the_columns_with_the_ceiling_and_both_cell_kinds(fold, tmp_path):
    scorer = DistributionScorer(max_cells=30, seed=0)
    result = run_task(
        _task(fold), [("mean-shift", "mean-shift", {})], on_fit=scorer
    )  # fitted on the real runner
    gen = _Generative(fold)
    scorer(_task(fold), "gen", fold, type("Fit", (), {"model": gen})())
    from phenocast.evaluate import ModelResult

    result.models = {"mean-shift": result.models["mean-shift"], "gen": ModelResult("gen"), **{
        NOISE_CEILING: result.models[NOISE_CEILING]
    }}  # fmt: skip
    scorer.attach(BenchmarkResult([result]))
    assert result.extra_metrics == {"dist:energy": False, "dist:var_r2": True}
    assert "dist:energy" in result.metrics and "dist:var_r2" in result.metrics
    assert list(result.models) == ["mean-shift", "gen", "gen · mean cells", NOISE_CEILING]
    for name in result.models:
        assert set(result.models[name].values["dist:energy"]["toy"]) == set(LABELS), name
    assert "controls + mean change" in result.models["mean-shift"].note
    assert CELLS_SAMPLED in result.models["gen"].note
    assert CELLS_MEAN_ONLY in result.models["gen · mean cells"].note
    # mean cells have no spread: sampling the predicted noise recovers the variances
    assert result.models["gen"].mean("dist:var_r2") > 0.5
    assert result.models["gen · mean cells"].mean("dist:var_r2") < 0.0
    assert result.models["gen"].mean("dist:energy") < result.models["gen · mean cells"].mean(
        "dist:energy"
    )
    # lower energy is better; the ceiling is never "best"
    assert best_of(result, "dist:energy") == {"gen"}
    ceiling = result.models[NOISE_CEILING].mean("dist:energy")
    assert 0.0 < ceiling < result.models["gen · mean cells"].mean("dist:energy")
    saved = json.loads(BenchmarkResult([result]).write_json(tmp_path / "r.json").read_text())
    assert "dist:var_r2" in saved["tasks"]["toy"]["metrics"]


def test_a_task_without_cells_is_unscored(fold):
    group = fold.groups[0]
    bare = Fold(
        "toy",
        fold.train,
        fold.registry,
        [QueryGroup(None, group.conditions, group.truth, group.ctrl)],
    )
    scorer = DistributionScorer()
    task = _task(bare)
    scorer(task, "m", bare, type("Fit", (), {"model": None})())
    assert "no control cells" in scorer.unscored["toy"]
    assert scorer.scores("toy").table.empty


def test_cli_rejects_an_unknown_yardstick_and_names_distributions():
    result = CliRunner().invoke(
        app, ["benchmark", "-t", "norman-combos", "--metrics", "distribution"], terminal_width=200
    )
    assert result.exit_code != 0 and "Unknown --metrics" in result.output
    assert "distributions" in result.output


def test_cli_metrics_distributions_adds_the_columns(fold, monkeypatch, tmp_path):
    import phenocast.evaluate as ev

    monkeypatch.setattr(ev, "get_tasks", lambda spec: [_task(fold)])
    out = tmp_path / "r.json"
    result = CliRunner().invoke(
        app,
        ["benchmark", "-t", "toy", "-m", "mean-shift", "--metrics", "means,distributions",
         "--dist-max-cells", "20", "--json", str(out)],
        terminal_width=250,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "dist:" in result.output  # the table's columns (narrow ones wrap)
    task = json.loads(out.read_text())["tasks"]["toy"]
    assert task["metrics"] == ["pearson_delta", "dist:energy", "dist:var_r2"]
    saved = task["models"]
    assert not math.isnan(saved["mean-shift"]["metrics"]["dist:energy"]["mean"])
    assert saved[NOISE_CEILING]["metrics"]["dist:var_r2"]["mean"] is not None


def test_cli_without_distributions_adds_no_columns(fold, monkeypatch, tmp_path):
    import phenocast.evaluate as ev

    monkeypatch.setattr(ev, "get_tasks", lambda spec: [_task(fold)])
    out = tmp_path / "r.json"
    args = ["benchmark", "-t", "toy", "-m", "mean-shift", "--json", str(out)]
    result = CliRunner().invoke(app, args, terminal_width=250)
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["tasks"]["toy"]["metrics"] == ["pearson_delta"]


class _Residual(_Generative):
    """A per-cell model whose ``predict`` takes ``residual``: then ``X`` is each mean plus its
    start cell's centred values (the start cells' spread), ``layers["mean"]`` the means."""

    def predict(
        self, controls: ad.AnnData, conditions: pd.DataFrame, *, residual: bool = False
    ) -> ad.AnnData:
        out = super().predict(controls, conditions)
        out.layers["mean"] = out.X.copy()
        if residual:
            x = np.asarray(controls.X, dtype=np.float64)
            out.X = out.X + np.tile(x - x.mean(0), (len(conditions), 1))
        return out


def test_a_model_that_takes_residual_is_scored_on_residual_cells_with_a_sampled_row(fold):
    group = fold.groups[0]
    means: list = []
    model = _Residual(fold)
    cells, kind, _ = predicted_cells(model, fold, group, means=means)
    assert kind == CELLS_RESIDUAL
    ctrl = np.asarray(group.controls.X, dtype=np.float64)
    np.testing.assert_allclose(cells[0] - means[0], ctrl - ctrl.mean(0))
    plain, kind, _ = predicted_cells(model, fold, group, residual=False)
    assert kind == CELLS_PER_CELL
    np.testing.assert_allclose(plain[0], means[0])
    scorer = DistributionScorer(max_cells=30, seed=0)
    scorer(_task(fold), "res", fold, type("Fit", (), {"model": model})())
    table = scorer.scores("toy").table
    assert set(table["model"]) == {"res", "res · sampled noise", NOISE_CEILING}
    assert set(table[table["model"] == "res"]["cells"]) == {CELLS_RESIDUAL}
    assert set(table[table["model"] == "res · sampled noise"]["cells"]) == {CELLS_SAMPLED}
    # P1 triples the spread of genes 5-9, which the start cells' residuals do not have and
    # the sampled noise (the observed variance) does
    p1 = table[(table["condition"] == "P1") & (table["metric"] == "var_r2")]
    by = dict(zip(p1["model"], p1["value"], strict=True))
    assert by["res · sampled noise"] > by["res"]
