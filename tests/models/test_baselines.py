"""Baselines recover what they promise on data with exactly known effects."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import register
from phenocast.evaluate import expand_models
from phenocast.models import (
    MODELS,
    UnsupportedConditionError,
    create_model,
    model_names,
    register_model,
)

G = 6
RNG = np.random.default_rng(1)
BASAL = {"x": RNG.normal(size=G) + 5, "y": RNG.normal(size=G) + 5}
EFFECT = {"A": RNG.normal(size=G), "B": RNG.normal(size=G)}


def hill(d: float) -> float:
    return d / (d + 1.0)


def truth(pert: str, dose: str, ct: str) -> np.ndarray:
    out = BASAL[ct].copy()
    if pert != "ctrl":
        for p, d in zip(pert.split("+"), dose.split("+"), strict=True):
            out += EFFECT[p] * hill(float(d))
    return out


def dataset(conditions, *, cells=3) -> ad.AnnData:
    rows, xs = [], []
    for pert, dose, ct in conditions:
        for _ in range(cells):
            rows.append({"pert": pert, "dose": dose, "ct": ct})
            xs.append(truth(pert, dose, ct))
    obs = pd.DataFrame(rows, index=[f"c{i}" for i in range(len(rows))])
    return ad.AnnData(np.array(xs), obs=obs, var=pd.DataFrame(index=[f"g{i}" for i in range(G)]))


BASE = [("ctrl", "0", "x"), ("ctrl", "0", "y")]
SINGLES = [(p, d, ct) for p in "AB" for d in ("0.1", "1", "10") for ct in "xy"]
TRAIN = dataset([*BASE, *SINGLES])
REG = register(TRAIN, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])


def predict(name, conds, *, config=None, train=TRAIN, reg=REG, ct="x"):
    model = create_model(name, reg, config).fit(train)
    frame = pd.DataFrame(conds, columns=["pert", "dose", "ct"])
    controls = train[(train.obs["pert"] == "ctrl") & (train.obs["ct"] == ct)]
    return model.predict_mean(controls, frame)


def test_all_names_registered():
    assert set(model_names()) >= {
        "no-change",
        "mean-shift",
        "additive",
        "transfer",
        "nearest-dose",
        "dose-interp",
        "entity-additive",
        "linear",
    }


def test_no_change_is_the_control_mean():
    np.testing.assert_allclose(predict("no-change", [("A", "1", "x")])[0], BASAL["x"])


def test_additive_is_exact_on_additive_truth():
    pred = predict("additive", [("A+B", "1+10", "x"), ("B+A", "10+1", "x")])
    np.testing.assert_allclose(pred[0], truth("A+B", "1+10", "x"))
    np.testing.assert_allclose(pred[1], pred[0])


def test_additive_refuses_an_unmeasured_dose():
    with pytest.raises(UnsupportedConditionError, match="never measured alone at dose 3"):
        predict("additive", [("A", "3", "x")])


def test_transfer_moves_a_condition_to_a_new_context():
    train = dataset([*BASE, ("A", "1", "x"), ("A", "1", "y")])
    keep = ~((train.obs["pert"] == "A") & (train.obs["ct"] == "y")).to_numpy()
    sub = train[keep].copy()
    reg = register(sub, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])
    pred = predict("transfer", [("A", "1", "y")], train=sub, reg=reg, ct="y")
    np.testing.assert_allclose(pred[0], truth("A", "1", "y"))  # effects are context-free here
    with pytest.raises(UnsupportedConditionError, match="never measured"):
        predict("transfer", [("B", "1", "y")], train=sub, reg=reg, ct="y")


def test_mean_shift_averages_all_training_deltas():
    pred = predict("mean-shift", [("A", "1", "x")])[0]
    deltas = [EFFECT[p] * hill(float(d)) for p, d, _ in SINGLES]
    np.testing.assert_allclose(pred, BASAL["x"] + np.mean(deltas, axis=0))


def test_mean_shift_pooled_per_context():
    # context x has A only, y has B only: the per-context mean differs from the pooled one
    conds = [(p, d, ct) for p, ct in (("A", "x"), ("B", "y")) for d in ("0.1", "1", "10")]
    train = dataset([*BASE, *conds])
    reg = register(train, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])
    got = predict("mean-shift", [("B", "1", "x")], config={"pool": "context"}, train=train, reg=reg)
    mean_a = np.mean([EFFECT["A"] * hill(float(d)) for d in ("0.1", "1", "10")], axis=0)
    np.testing.assert_allclose(got[0], BASAL["x"] + mean_a)
    pooled = predict("mean-shift", [("B", "1", "x")], train=train, reg=reg)[0]
    assert not np.allclose(pooled, got[0])
    with pytest.raises(ValueError, match="pool must be"):
        create_model("mean-shift", reg, {"pool": "cell"})
    # the linear model with a per-context intercept and an overwhelming penalty is that mean
    cfg = {"intercept": "context", "ridge": 1e12}
    lin = predict("linear", [("B", "1", "x")], config=cfg, train=train, reg=reg)
    np.testing.assert_allclose(lin[0], got[0], atol=1e-8)
    with pytest.raises(ValueError, match="intercept must be"):
        create_model("linear", reg, {"intercept": "line"})


def test_nearest_dose_and_ties():
    train = dataset([*BASE, ("A", "0.1", "x"), ("A", "10", "x")])
    reg = register(train, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])
    lower = predict("nearest-dose", [("A", "1", "x")], train=train, reg=reg)[0]
    upper = predict(
        "nearest-dose", [("A", "1", "x")], config={"tie": "upper"}, train=train, reg=reg
    )[0]
    np.testing.assert_allclose(lower, truth("A", "0.1", "x"))
    np.testing.assert_allclose(upper, truth("A", "10", "x"))
    near = predict("nearest-dose", [("A", "5", "x")], train=train, reg=reg)[0]
    np.testing.assert_allclose(near, truth("A", "10", "x"))
    with pytest.raises(ValueError, match="tie must be 'lower' or 'upper'"):
        create_model("nearest-dose", reg, {"tie": "middle"})


def test_dose_interp_is_linear_in_log_dose():
    train = dataset([*BASE, ("A", "0.1", "x"), ("A", "10", "x")])
    reg = register(train, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])
    mid = predict("dose-interp", [("A", "1", "x")], train=train, reg=reg)[0]
    expected = 0.5 * (truth("A", "0.1", "x") + truth("A", "10", "x"))
    np.testing.assert_allclose(mid, expected)
    beyond = predict("dose-interp", [("A", "100", "x")], train=train, reg=reg)[0]
    np.testing.assert_allclose(beyond, truth("A", "10", "x"))  # no extrapolation


def test_entity_additive_recovers_additive_scores():
    # synergy-like data without controls: y = b + a_drug1 + a_drug2 + c_line
    a = {"d1": 1.0, "d2": -2.0, "d3": 0.5, "d4": 3.0}
    c = {"L1": 0.0, "L2": 4.0}
    rows, ys = [], []
    for _i, p in enumerate(["d1+d2", "d1+d3", "d2+d4", "d3+d4", "d1+d4"]):
        for line in c:
            rows.append({"pert": p, "line": line})
            ys.append(1.5 + sum(a[x] for x in p.split("+")) + c[line])
    obs = pd.DataFrame(rows, index=[f"r{i}" for i in range(len(rows))])
    data = ad.AnnData(np.array(ys)[:, None], obs=obs, var=pd.DataFrame(index=["synergy"]))
    reg = register(data, perturbation="pert", control=None, covariates=["line"])
    model = create_model("entity-additive", reg).fit(data)
    query = pd.DataFrame({"pert": ["d2+d3"], "line": ["L2"]})
    assert model.predict_mean(None, query)[0, 0] == pytest.approx(1.5 - 2 + 0.5 + 4)
    ridge = create_model("entity-ridge", reg).fit(data)
    assert ridge.penalty_ in ridge.config.penalties
    assert abs(ridge.predict_mean(None, query)[0, 0] - 4.0) < 1.5


def test_linear_reproduces_combinations_of_seen_singles():
    pred = predict("linear", [("A+B", "1+1", "x"), ("A", "1", "x")])
    t = truth("A+B", "1+1", "x")
    r = np.corrcoef(pred[0] - BASAL["x"], t - BASAL["x"])[0, 1]
    assert r > 0.95
    r_single = np.corrcoef(pred[1] - BASAL["x"], truth("A", "1", "x") - BASAL["x"])[0, 1]
    assert r_single > 0.95
    with pytest.raises(
        UnsupportedConditionError, match=r"not in the registry|never measured alone"
    ):
        predict("linear", [("C", "1", "x")])


def test_predict_before_fit_and_bad_config():
    model = create_model("additive", REG)
    with pytest.raises(RuntimeError, match="not fitted"):
        model.predict_mean(None, pd.DataFrame({"pert": ["A"], "dose": ["1"], "ct": ["x"]}))
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['n_component'\]"):
        create_model("linear", REG, {"n_component": 3})
    with pytest.raises(KeyError, match="Unknown model 'lnear'"):
        create_model("lnear", REG)


def test_model_specs_expand_variants():
    labels = [label for label, _, _ in expand_models("no-change,nearest-dose")]
    assert labels == ["no-change", "nearest-dose[lower]", "nearest-dose[upper]"]
    assert expand_models("nearest-dose[upper]")[0][2] == {"tie": "upper"}
    with pytest.raises(KeyError, match="no variant 'middle'"):
        expand_models("nearest-dose[middle]")
    assert "linear" in MODELS


def test_a_taken_model_name_is_refused():
    class Other:
        pass

    with pytest.raises(ValueError, match="'linear' is already a registered model"):
        register_model("linear")(Other)
    assert MODELS["linear"].name == "linear" and not hasattr(Other, "name")
