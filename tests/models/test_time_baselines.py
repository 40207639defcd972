"""The time baselines on a hand-made table of signatures already relative to control."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import register
from phenocast.models import UnsupportedConditionError, create_model

# (drug, dose, time, line) → signature; one gene per entry keeps the arithmetic visible
ROWS = {
    ("A", 1.0, 6.0, "L1"): [1.0, 0.0, 0.0],
    ("A", 1.0, 24.0, "L1"): [2.0, 0.0, 0.0],
    ("A", 1.0, 6.0, "L2"): [0.0, 4.0, 0.0],
    ("A", 1.0, 24.0, "L2"): [0.0, 8.0, 0.0],
    ("A", 10.0, 24.0, "L2"): [0.0, 0.0, 16.0],
    ("B", 1.0, 6.0, "L1"): [3.0, 3.0, 3.0],
    ("B", 1.0, 48.0, "L3"): [5.0, 5.0, 5.0],
}


def signatures(rows=ROWS) -> ad.AnnData:
    obs = pd.DataFrame(
        [{"drug": d, "dose": x, "time": t, "line": ln} for d, x, t, ln in rows],
        index=[f"s{i}" for i in range(len(rows))],
    )
    var = pd.DataFrame(index=["g0", "g1", "g2"])
    return ad.AnnData(np.array(list(rows.values())), obs=obs, var=var)


def predict(name, queries, *, train=None):
    train = signatures() if train is None else train
    reg = register(
        train, perturbation="drug", control=None, dose="dose", time="time", covariates=["line"]
    )
    model = create_model(name, reg).fit(train)
    frame = pd.DataFrame(queries, columns=["drug", "dose", "time", "line"])
    return model.predict_mean(None, frame)


def test_nearest_time_takes_the_same_drug_dose_and_line_at_the_closest_time():
    out = predict("nearest-time", [("A", 1.0, 20.0, "L1"), ("A", 1.0, 12.0, "L2")])
    np.testing.assert_allclose(out[0], [2, 0, 0])  # 24 h is nearer to 20 h than 6 h
    np.testing.assert_allclose(out[1], [0, 4, 0])  # 6 h vs 24 h: 6 and 12 h away
    tie = predict("nearest-time", [("A", 1.0, 15.0, "L2")])  # 9 h from both: the earlier
    np.testing.assert_allclose(tie[0], [0, 4, 0])


def test_nearest_time_refuses_a_condition_the_line_never_measured():
    with pytest.raises(UnsupportedConditionError, match="never measured"):
        predict("nearest-time", [("A", 10.0, 6.0, "L1")])  # A at 10 µM only in L2


def test_nearest_time_needs_a_time_column():
    train = signatures()
    reg = register(train, perturbation="drug", control=None, dose="dose", covariates=["line"])
    with pytest.raises(UnsupportedConditionError, match="no time column"):
        create_model("nearest-time", reg).fit(train)


def test_covariate_mean_averages_the_lines_signatures_over_drugs_and_times():
    out = predict("covariate-mean", [("A", 10.0, 6.0, "L1"), ("B", 1.0, 6.0, "L2")])
    np.testing.assert_allclose(out[0], np.mean([[1, 0, 0], [2, 0, 0], [3, 3, 3]], axis=0))
    np.testing.assert_allclose(out[1], np.mean([[0, 4, 0], [0, 8, 0], [0, 0, 16]], axis=0))
    with pytest.raises(UnsupportedConditionError, match="no perturbed training data"):
        predict("covariate-mean", [("A", 1.0, 6.0, "L9")])


def test_transfer_same_time_averages_other_lines_at_the_same_dose_and_time():
    # A at 1 µM, 24 h in a new line L3: mean of L1 and L2 at 24 h, never the 6 h ones
    out = predict("transfer-same-time", [("A", 1.0, 24.0, "L3"), ("A", 1.0, 6.0, "L1")])
    np.testing.assert_allclose(out[0], [1, 4, 0])
    np.testing.assert_allclose(out[1], [1, 0, 0])  # the line's own signature when measured
    with pytest.raises(UnsupportedConditionError, match="never measured at time 48"):
        predict("transfer-same-time", [("A", 1.0, 48.0, "L1")])


def test_time_baselines_add_their_delta_to_the_control_cells_given():
    train = signatures(
        {
            ("ctrl", 0.0, 6.0, "L1"): [10.0, 10.0, 10.0],
            ("ctrl", 0.0, 24.0, "L1"): [20.0, 20.0, 20.0],
            ("A", 1.0, 6.0, "L1"): [11.0, 10.0, 10.0],
        }
    )
    reg = register(
        train, perturbation="drug", control="ctrl", dose="dose", time="time", covariates=["line"]
    )
    model = create_model("nearest-time", reg).fit(train)
    query = pd.DataFrame([("A", 1.0, 24.0, "L1")], columns=["drug", "dose", "time", "line"])
    controls = train[(train.obs["drug"] == "ctrl").to_numpy() & (train.obs["time"] == 24.0)]
    # the 24 h controls plus the 6 h Δ (its own 6 h control subtracted)
    np.testing.assert_allclose(model.predict_mean(controls, query)[0], [21, 20, 20])


def test_the_compositional_model_anchors_on_data_relative_to_control():
    from phenocast.models.compositional import Compositional, CompositionalConfig

    rng = np.random.default_rng(0)
    rows = {
        (d, 1.0, t, ln): list(rng.normal(size=3) + (t / 24.0) * (d == "A"))
        for d in "AB"
        for t in (6.0, 24.0)
        for ln in ("L1", "L2", "L3")
    }
    train = signatures(rows)
    reg = register(
        train, perturbation="drug", control=None, dose="dose", time="time", covariates=["line"]
    )
    cfg = CompositionalConfig(anchor=("nearest-time",), train={"max_epochs": 2})
    model = Compositional(reg, cfg).fit(train)
    # without control cells, validation groups are taken from any context
    assert model.anchor_.baseline == "nearest-time" and model.anchor_.n_groups >= 1
    assert model.anchor_.note == ""
    query = pd.DataFrame([("A", 1.0, 24.0, "L1")], columns=["drug", "dose", "time", "line"])
    assert np.isfinite(model.predict_mean(None, query)).all()
