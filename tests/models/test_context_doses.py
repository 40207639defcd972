"""Counterfactuals start from the start cells of the condition's own context (crossing is an
option), and doses outside the trained range follow one rule: refused by name, or predicted
and marked with ``extrapolate=True``."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import RegistrationError, register, synthetic
from phenocast.models import (
    Compositional,
    CompositionalConfig,
    DoseRangeError,
    UnsupportedConditionError,
    check_dose_range,
    create_model,
    dose_requests,
    predict_rows,
)
from phenocast.models.compositional._anchor import AnchorFit
from phenocast.models.compositional._large import predict_to_file


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=24,
        n_cell_types=2,
        n_perturbations=2,
        doses=(0.1, 1.0, 10.0),
        cells_per_condition=15,
        seed=3,
    )
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    return adata, reg


@pytest.fixture(scope="module")
def model(data):
    adata, reg = data
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [32], "train": {"max_epochs": 3, "batch_size": 64}}
    )
    return Compositional(reg, cfg).fit(adata)


def controls(adata, *cell_types, n=4):
    parts = []
    for ct in cell_types:
        keep = adata.obs["is_control"].to_numpy() & (adata.obs["cell_type"] == ct).to_numpy()
        parts.append(adata[keep][:n])
    return ad.concat(parts) if len(parts) > 1 else parts[0].copy()


def table(perts, doses, cell_types=None):
    frame = pd.DataFrame({"perturbation": perts, "dose": doses})
    if cell_types is not None:
        frame["cell_type"] = cell_types
    return frame


# ------------------------------------------------------------------ context matching
def test_a_condition_starts_only_from_cells_of_its_context(data, model):
    adata, _ = data
    both = controls(adata, "T0", "T1")
    cond = table(["P0", "P1"], ["1", "10"], ["T1", "T0"])
    out = model.predict(both, cond)
    assert out.n_obs == 8  # 4 cells of each condition's context, not all 8 under each
    first = out.obs[out.obs["condition_index"] == 0]
    t1 = both.obs_names[both.obs["cell_type"] == "T1"].tolist()
    assert first["control_cell"].tolist() == t1
    assert set(first["source_cell_type"]) == {"T1"}
    second = out.obs[out.obs["condition_index"] == 1]
    assert set(second["source_cell_type"]) == {"T0"}
    # the other context's cells play no part: the same as giving the matching cells only
    only = model.predict_mean(controls(adata, "T1"), cond.iloc[:1])
    np.testing.assert_allclose(model.predict_mean(both, cond)[:1], only, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(out.X[:4].mean(0), only[0], rtol=1e-5, atol=1e-5)


def test_cross_context_starts_from_every_cell_relabelled(data, model):
    adata, _ = data
    both = controls(adata, "T0", "T1")
    cond = table(["P0"], ["1"], ["T1"])
    crossed = model.predict(both, cond, cross_context=True)
    assert crossed.n_obs == 8
    assert crossed.obs["source_cell_type"].tolist() == both.obs["cell_type"].astype(str).tolist()
    assert (crossed.obs["cell_type"] == "T1").all()
    # the T1 cells answer as when matched; the T0 cells are moved into T1
    matched = model.predict(both, cond)
    from_t1 = crossed.obs["source_cell_type"].to_numpy() == "T1"
    np.testing.assert_allclose(crossed.X[from_t1], matched.X, rtol=1e-5, atol=1e-6)
    own = model.predict(both, table(["P0"], ["1"], ["T0"]))
    assert not np.allclose(crossed.X[~from_t1], own.X, atol=1e-4)
    mean = model.predict_mean(both, cond, cross_context=True)
    np.testing.assert_allclose(crossed.X.mean(0), mean[0], rtol=1e-5, atol=1e-5)


def test_conditions_without_the_covariate_keep_each_cells_context(data, model):
    adata, _ = data
    both = controls(adata, "T0", "T1")
    out = model.predict(both, table(["P1"], ["1"]))
    assert out.n_obs == 8
    assert out.obs["source_cell_type"].tolist() == both.obs["cell_type"].astype(str).tolist()
    own = model.predict(both, table(["P1"], ["1"], ["T0"]))
    from_t0 = out.obs["source_cell_type"].to_numpy() == "T0"
    np.testing.assert_allclose(out.X[from_t0], own.X, rtol=1e-5, atol=1e-6)


def test_no_start_cell_of_the_context_is_an_error(data, model, tmp_path):
    adata, _ = data
    t0 = controls(adata, "T0")
    cond = table(["P0", "P1"], ["1", "1"], ["T0", "T1"])
    message = (
        r"row 1 asks for cell_type='T1', but none of the 4 start cells has that value "
        r".*contexts are \[\{'cell_type': 'T0'\}\].*cross_context=True \(CLI: --cross-context\)"
    )
    with pytest.raises(RegistrationError, match=message):
        model.predict(t0, cond)
    with pytest.raises(RegistrationError, match=message):
        model.predict_mean(t0, cond)
    with pytest.raises(RegistrationError, match=message):
        model.predict(t0, cond, out=tmp_path / "never.h5ad")
    assert not (tmp_path / "never.h5ad").exists()
    assert model.predict(t0, cond, cross_context=True).n_obs == 8


def test_predict_to_file_matches_contexts_and_marks_sources(data, model, tmp_path):
    adata, _ = data
    both = controls(adata, "T0", "T1")
    cond = table(["P0", "P1"], ["1", "1000"], ["T1", "T0"])
    memory = model.predict(both, cond, extrapolate=True)
    out = model.predict(both, cond, out=tmp_path / "p.h5ad", extrapolate=True)
    assert out.obs["source_cell_type"].tolist() == memory.obs["source_cell_type"].tolist()
    flags = model.check_doses(cond, extrapolate=True)
    # in blocks of 3 start cells, some blocks hold no cell of a condition's context
    out = predict_to_file(model, both, cond, tmp_path / "b.h5ad", block=3, extrapolated=flags)
    assert out.n_obs == memory.n_obs == 8
    assert out.obs["source_cell_type"].tolist() == memory.obs["source_cell_type"].tolist()
    assert out.obs["extrapolated"].astype(bool).tolist() == [False] * 4 + [True] * 4
    np.testing.assert_allclose(np.asarray(out.X[:]), memory.X, rtol=1e-5, atol=1e-6)


def test_the_anchor_baseline_sees_the_same_start_cells(data, model):
    adata, reg = data
    anchored = Compositional.__new__(Compositional)
    anchored.__dict__.update(model.__dict__)
    anchored.anchor_ = AnchorFit("no-change", 0.5)
    anchored._anchor_model = create_model("no-change", reg).fit(adata)
    cond = table(["P0"], ["1"], ["T1"])
    both, t1 = controls(adata, "T0", "T1"), controls(adata, "T1")
    np.testing.assert_allclose(
        anchored.predict_mean(both, cond), anchored.predict_mean(t1, cond), rtol=1e-6
    )
    crossed = anchored.predict_mean(both, cond, cross_context=True)
    assert not np.allclose(crossed, anchored.predict_mean(t1, cond), atol=1e-4)


# ------------------------------------------------------------------ doses
def test_doses_outside_the_trained_range_are_refused_or_marked(data, model):
    adata, _ = data
    t0 = controls(adata, "T0")
    cond = table(["P0", "P0+P1"], ["1", "1000+1"])
    message = r"P0 at 1000 \(trained 0.1–10\)\. Pass extrapolate=True \(CLI: --extrapolate\)"
    with pytest.raises(DoseRangeError, match=message):
        model.predict(t0, cond)
    with pytest.raises(DoseRangeError, match=message):
        model.predict_mean(None, cond.assign(cell_type="T0"))
    out = model.predict(t0, cond, extrapolate=True)
    assert out.obs.groupby("condition_index")["extrapolated"].first().tolist() == [False, True]
    assert model.check_doses(cond, extrapolate=True).tolist() == [False, True]
    assert np.isfinite(model.predict_mean(t0, cond, extrapolate=True)).all()


def test_a_table_without_the_dose_column_is_an_error(data, model):
    adata, _ = data
    with pytest.raises(RegistrationError, match=r"lacks the dose column 'dose'.*'1\+0.5'"):
        model.predict(controls(adata, "T0"), pd.DataFrame({"perturbation": ["P0"]}))


def test_predict_rows_passes_extrapolate_to_models_that_check(data, model):
    adata, reg = data
    t0 = controls(adata, "T0")
    cond = table(["P0", "P1"], ["1", "50"], ["T0", "T0"])
    cond.index = ["in", "out"]
    reasons: dict[str, str] = {}
    rows = predict_rows(model, t0, cond, n_genes=reg.n_vars, reasons=reasons)
    assert np.isfinite(rows[0]).all() and np.isnan(rows[1]).all()
    assert "P1 at 50 (trained 0.1–10)" in reasons["out"]
    assert np.isfinite(predict_rows(model, t0, cond, n_genes=reg.n_vars, extrapolate=True)).all()
    baseline = create_model("no-change", reg).fit(adata)  # checks no doses: the flag is moot
    assert np.isfinite(predict_rows(baseline, t0, cond, n_genes=24, extrapolate=True)).all()


def test_check_dose_range_rule():
    trained = {"A": (0.1, 1.0, 10.0), "B": (1.0,)}
    requests = [[("A", 0.1)], [("A", np.float32(10.0))], [("A", 5.0), ("B", 2.0)], [], [("C", 1)]]
    flags = check_dose_range(requests, trained, extrapolate=True)
    assert flags.tolist() == [False, False, True, False, True]  # C: range unknown
    with pytest.raises(DoseRangeError, match=r"2 dose\(s\) .*B at 2 \(trained 1–1\); C at 1 "):
        check_dose_range(requests, trained, extrapolate=False)
    assert issubclass(DoseRangeError, UnsupportedConditionError)
    assert not check_dose_range(requests, None, extrapolate=False).any()  # none recorded
    from phenocast.data import parse_conditions

    parsed = parse_conditions(table(["A+C", "control"], ["2+3", "0"]), control="control")
    assert dose_requests(parsed, {"A", "B"}) == [[("A", 2.0)], []]


def test_start_cells_without_the_covariate_column_are_named(data, model):
    adata, _ = data
    t0 = controls(adata, "T0")
    del t0.obs["cell_type"]
    with pytest.raises(RegistrationError, match="cell_type"):
        model.predict(t0, table(["P0"], ["1"], ["T0"]))
