"""Registration: layouts, JSON round-trip, independence, and every bad-input message."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from phenocast.data import Condition, RegistrationError, Registry, parse_condition, register


def make(n=8, *, pert=None, dose=None, x=None, **cols) -> ad.AnnData:
    pert = pert or ["ctrl", "ctrl", "A", "A", "B", "B", "A+B", "B+A"][:n]
    obs = pd.DataFrame({"pert": pert}, index=[f"c{i}" for i in range(len(pert))])
    if dose is not None:
        obs["dose"] = dose
    for k, v in cols.items():
        obs[k] = v
    if x is None:
        x = np.arange(len(pert) * 3, dtype=float).reshape(len(pert), 3) + 1
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=["g0", "g1", "g2"]))


def test_combinations_are_split_and_canonical():
    a = make(dose=["0", "0", "1", "2", "1", "1", "1+0.5", "0.5+1"])
    reg = register(a, perturbation="pert", control="ctrl", dose="dose")
    assert reg.components == ("A", "B")
    assert reg.conditions == ("A+B@1+0.5", "A@1", "A@2", "B@1")
    keys = reg.conditions_of(a)
    assert keys.iloc[6] == keys.iloc[7] == "A+B@1+0.5"
    assert keys.iloc[0] == "control"


def test_list_valued_perturbations():
    a = make(pert=["ctrl", "A", "A+B"])
    a.obs["pert"] = pd.Series([["ctrl"][0], ["A"], ["B", "A"]], index=a.obs_names, dtype=object)
    a.obs["dose"] = pd.Series([None, [1.0], [0.5, 1.0]], index=a.obs_names, dtype=object)
    reg = register(a, perturbation="pert", control="ctrl", dose="dose")
    assert reg.conditions_of(a).tolist() == ["control", "A@1", "A+B@1+0.5"]


def test_registry_json_round_trip(tmp_path):
    a = make(dose=["0", "0", "1", "2", "1", "1", "1+0.5", "0.5+1"], ct=list("xyxyxyxy"))
    reg = register(a, perturbation="pert", control="ctrl", dose="dose", covariates=["ct"])
    assert Registry.from_json(reg.to_json()) == reg
    path = tmp_path / "sub" / "registry.json"
    reg.to_json(path)
    assert Registry.from_json(path) == reg
    assert not list(path.parent.glob("*.tmp"))


def test_unknown_registry_field_rejected():
    d = register(make(), perturbation="pert", control="ctrl").to_dict()
    d["colour"] = "blue"
    with pytest.raises(ValueError, match="Unknown registry field"):
        Registry.from_dict(d)


def test_two_registries_do_not_interfere():
    a = make(ct=list("xxyyxxyy"))
    b = make(pert=["none", "Q", "R", "Q+R"], x=np.ones((4, 3)), ct=["p", "q", "p", "q"])
    ra = register(a, perturbation="pert", control="ctrl", covariates=["ct"])
    rb = register(b, perturbation="pert", control="none", covariates=["ct"])
    ra2 = register(a, perturbation="pert", control="ctrl", covariates=["ct"])
    assert ra == ra2
    assert rb.components == ("Q", "R") and ra.components == ("A", "B")
    assert ra.encode(a).covariates["ct"].tolist() == [0, 0, 1, 1, 0, 0, 1, 1]
    assert rb.encode(b).covariates["ct"].tolist() == [0, 1, 0, 1]
    with pytest.raises(RegistrationError, match="'Q'"):
        ra.encode(b.obs.assign(ct="x", pert=["ctrl", "Q", "A", "A"]))


def test_x_kind_detection():
    counts = make(x=np.ones((8, 3)) * 3)
    assert register(counts, perturbation="pert", control="ctrl").x_kind == "counts"
    lognorm = make(x=np.full((8, 3), 0.5))
    assert register(lognorm, perturbation="pert", control="ctrl").x_kind == "log-normalized"
    z = make(x=np.full((8, 3), -0.5))
    assert register(z, perturbation="pert", control="ctrl").x_kind == "continuous"
    sparse = make(x=sp.csr_matrix(np.eye(8, 3) * 2))
    assert register(sparse, perturbation="pert", control="ctrl").x_kind == "counts"


def test_encode_pads_and_indexes():
    a = make(dose=["0", "0", "1", "2", "1", "1", "1+0.5", "0.5+1"])
    reg = register(a, perturbation="pert", control="ctrl", dose="dose")
    enc = reg.encode(a)
    assert enc.components.shape == (8, 2)
    assert enc.components[0].tolist() == [-1, -1] and enc.is_control[:2].all()
    assert enc.components[6].tolist() == [0, 1] and enc.doses[6].tolist() == [1.0, 0.5]
    assert enc.components[7].tolist() == [0, 1] and enc.doses[7].tolist() == [1.0, 0.5]


def test_parse_condition_examples():
    assert parse_condition("B+A", "2+1", control=None) == Condition(("A", "B"), (1.0, 2.0))
    assert parse_condition("ctrl", float("nan"), control="ctrl").is_control


# ----------------------------------------------------------------- bad input, one per message


def test_missing_column():
    with pytest.raises(RegistrationError, match=r"perturbation column 'treatment' is not in obs"):
        register(make(), perturbation="treatment", control="ctrl")
    with pytest.raises(RegistrationError, match=r"covariate column 'donor'"):
        register(make(), perturbation="pert", control="ctrl", covariates=["donor"])
    with pytest.raises(RegistrationError, match=r"dose column 'dose'"):
        register(make(), perturbation="pert", control="ctrl", dose="dose")


def test_control_label_absent():
    with pytest.raises(RegistrationError, match=r"Control label 'DMSO' does not occur .*'pert'"):
        register(make(), perturbation="pert", control="DMSO")


def test_nan_dose():
    a = make(dose=[np.nan, np.nan, 1.0, np.nan, 1, 1, 1, 1], pert=["ctrl"] * 2 + ["A"] * 6)
    with pytest.raises(RegistrationError, match=r"'dose' has a NaN dose for perturbation 'A'"):
        register(a, perturbation="pert", control="ctrl", dose="dose")


def test_nan_dose_allowed_for_controls():
    a = make(dose=[np.nan, np.nan, 1.0, 1, 1, 1, 1, 1], pert=["ctrl"] * 2 + ["A"] * 6)
    assert register(a, perturbation="pert", control="ctrl", dose="dose").components == ("A",)


def test_negative_dose():
    a = make(dose=[0, 0, -1.0, 1, 1, 1, 1, 1], pert=["ctrl"] * 2 + ["A"] * 6)
    with pytest.raises(RegistrationError, match=r"invalid dose -1.0 .* non-negative"):
        register(a, perturbation="pert", control="ctrl", dose="dose")


def test_dose_count_mismatch():
    a = make(dose=["0", "0", "1", "1", "1", "1", "1", "1+1"])
    with pytest.raises(RegistrationError, match=r"gives 1 dose\(s\) but perturbation 'A\+B' has 2"):
        register(a, perturbation="pert", control="ctrl", dose="dose")


def test_non_numeric_dose():
    a = make(dose=["0", "0", "high", "1", "1", "1", "1+1", "1+1"])
    with pytest.raises(RegistrationError, match=r"value 'high' .* is not a number"):
        register(a, perturbation="pert", control="ctrl", dose="dose")


def test_nan_or_inf_in_x():
    x = np.ones((8, 3))
    x[2, 1] = np.nan
    x[3, 0] = np.inf
    with pytest.raises(RegistrationError, match=r"adata.X holds 1 NaN and 1 infinite"):
        register(make(x=x), perturbation="pert", control="ctrl")


def test_negative_values_declared_as_counts():
    x = np.ones((8, 3))
    x[0, 0] = -2
    with pytest.raises(RegistrationError, match=r"negative values but was declared as 'counts'"):
        register(make(x=x), perturbation="pert", control="ctrl", x_kind="counts")


def test_non_integer_counts():
    with pytest.raises(RegistrationError, match=r"non-integer values but was declared as counts"):
        register(make(x=np.full((8, 3), 0.5)), perturbation="pert", control="ctrl", x_kind="counts")


def test_duplicated_obs_names():
    a = make()
    a.obs_names = ["c0"] * 8
    with pytest.raises(
        RegistrationError, match=r"obs_names are not unique .*obs_names_make_unique"
    ):
        register(a, perturbation="pert", control="ctrl")


def test_empty_perturbation_string():
    with pytest.raises(RegistrationError, match=r"empty perturbation name in 'A\+'"):
        register(make(pert=["ctrl", "A", "A+", "B"]), perturbation="pert", control="ctrl")
    with pytest.raises(RegistrationError, match=r"empty perturbation name in ''"):
        register(make(pert=["ctrl", "A", "", "B"]), perturbation="pert", control="ctrl")


def test_missing_perturbation_value():
    a = make(pert=["ctrl", "A", "B", "A"])
    a.obs.loc["c2", "pert"] = None
    with pytest.raises(RegistrationError, match=r"'pert' has a missing value"):
        register(a, perturbation="pert", control="ctrl")


def test_missing_layer_and_covariate_nan():
    with pytest.raises(RegistrationError, match=r"Layer 'counts' not found"):
        register(make(), perturbation="pert", control="ctrl", layer="counts")
    a = make(ct=["x", None, "x", "y", "x", "y", "x", "y"])
    with pytest.raises(RegistrationError, match=r"Covariate column 'ct' has 1 missing"):
        register(a, perturbation="pert", control="ctrl", covariates=["ct"])


def test_genes_checked_against_registry():
    a = make()
    reg = register(a, perturbation="pert", control="ctrl")
    reg.check_genes(a)
    with pytest.raises(RegistrationError, match="another order"):
        reg.check_genes(a[:, ["g2", "g1", "g0"]])
    with pytest.raises(RegistrationError, match=r"1 registered gene\(s\) missing"):
        reg.check_genes(a[:, ["g0", "g1"]])
