"""The compositional model on synthetic data with known ground truth: it recovers held-out
conditions, its API keeps its promises, and bad input or bad save directories fail clearly."""

from __future__ import annotations

import json
import pickle
import random

import numpy as np
import pandas as pd
import pytest
import torch

from phenocast.data import RegistrationError, expected_profile, register, synthetic
from phenocast.evaluate.metrics import pearson_delta
from phenocast.models import Compositional, CompositionalConfig, create_model
from phenocast.models.compositional import ModelDirectoryError

FAST = {"max_epochs": 60, "patience": 15, "batch_size": 64, "lr": 0.01}


def config(**kw) -> CompositionalConfig:
    train = {**FAST, **kw.pop("train", {})}
    return CompositionalConfig.from_dict({"latent_dim": 16, "hidden": [64], **kw, "train": train})


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=60,
        n_cell_types=2,
        n_perturbations=3,
        combinations={"P0+P1": "additive"},
        doses=(0.1, 1.0, 10.0),
        cells_per_condition=40,
        effect_size=1.5,
        seed=7,
    )
    held = (
        (adata.obs["perturbation"].astype(str) == "P2")
        & (adata.obs["dose"].astype(str) == "1")
        & (adata.obs["cell_type"].astype(str) == "T1")
    ).to_numpy()
    held |= (adata.obs["perturbation"].astype(str) == "P0+P1").to_numpy()
    train = adata[~held].copy()
    reg = register(
        train, perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    return adata, train, reg


@pytest.fixture(scope="module")
def fitted(data):
    _, train, reg = data
    return Compositional(reg, config()).fit(train)


def controls_of(adata, cell_type):
    keep = adata.obs["is_control"].to_numpy() & (adata.obs["cell_type"] == cell_type).to_numpy()
    return adata[keep]


def test_recovers_a_held_out_dose_and_combination(data, fitted):
    adata, train, reg = data
    ctrl_cells = controls_of(adata, "T1")
    cond = pd.DataFrame(
        {"perturbation": ["P2", "P0+P1"], "dose": ["1", "1+1"], "cell_type": ["T1", "T1"]}
    )
    pred = fitted.predict_mean(ctrl_cells, cond)
    ctrl = expected_profile(adata, "control", "0", "T1")
    for row, (pert, dose) in enumerate([("P2", "1"), ("P0+P1", "1+1")]):
        truth = expected_profile(adata, pert, dose, "T1")
        assert pearson_delta(pred[row], truth, ctrl=ctrl) > 0.9, pert
    no_change = create_model("no-change", reg).fit(train).predict_mean(ctrl_cells, cond)
    truth = expected_profile(adata, "P0+P1", "1+1", "T1")
    assert np.linalg.norm(pred[1] - truth) < 0.5 * np.linalg.norm(no_change[1] - truth)
    assert fitted.history_.cells_per_second > 0 and fitted.history_.epochs


def test_predict_returns_per_cell_counterfactuals(data, fitted):
    adata, _, reg = data
    ctrl_cells = controls_of(adata, "T0")[:7]
    cond = pd.DataFrame({"perturbation": ["P1", "P2"], "dose": ["10", "0.1"]})
    out = fitted.predict(ctrl_cells, cond)
    assert out.shape == (14, reg.n_vars)
    assert set(out.layers) == {"mean", "variance"}
    assert (out.layers["variance"] > 0).all()
    assert out.obs["perturbation"].tolist() == ["P1"] * 7 + ["P2"] * 7
    assert out.obs["control_cell"].tolist()[:7] == ctrl_cells.obs_names.tolist()
    # the mean over cells is what predict_mean reports
    means = fitted.predict_mean(ctrl_cells, cond)
    np.testing.assert_allclose(out.X[:7].mean(0), means[0], rtol=1e-5, atol=1e-5)


def test_latent_and_dose_response(data, fitted):
    adata, _, _ = data
    z = fitted.latent(adata[:10])
    assert z.shape == (10, 16) and np.isfinite(z).all()
    with pytest.raises(ValueError, match=r"P2 at 100 \(trained 0.1–10\).*extrapolate=True"):
        fitted.dose_response("P2", [0.01, 0.1, 1, 10, 100], cell_type="T0")
    curve = fitted.dose_response("P2", [0.01, 0.1, 1, 10, 100], cell_type="T0", extrapolate=True)
    assert list(curve.index) == [0.01, 0.1, 1, 10, 100] and curve.shape[1] == adata.n_vars
    scale = fitted.module.dose_scale(
        torch.tensor([[2]] * 5), torch.tensor([[0.01], [0.1], [1.0], [10.0], [100.0]])
    )
    assert torch.all(scale[1:] >= scale[:-1])  # the sigmoid dose-response is monotone


def test_unknown_perturbation_covariate_and_genes(data, fitted):
    adata, _, _ = data
    ctrl_cells = controls_of(adata, "T0")
    with pytest.raises(RegistrationError, match=r"'P9' .*Known components: 'P0', 'P1', 'P2'"):
        fitted.predict_mean(ctrl_cells, pd.DataFrame({"perturbation": ["P9"], "dose": ["1"]}))
    bad = pd.DataFrame({"perturbation": ["P1"], "dose": ["1"], "cell_type": ["T7"]})
    unseen = r"\['T7'\] the model was never fitted on.*known: \['T0', 'T1'\]"
    with pytest.raises(RegistrationError, match=unseen):
        fitted.predict_mean(ctrl_cells, bad)
    with pytest.raises(RegistrationError, match=r"registered gene\(s\) missing \(e.g. \['G0000'"):
        fitted.predict_mean(
            ctrl_cells[:, 1:], pd.DataFrame({"perturbation": ["P1"], "dose": ["1"]})
        )


def test_save_load_round_trip(tmp_path, data, fitted):
    adata, _, _ = data
    ctrl_cells = controls_of(adata, "T1")
    cond = pd.DataFrame({"perturbation": ["P0+P1"], "dose": ["1+1"], "cell_type": ["T1"]})
    fitted.save(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json", "registry.json", "weights.pt",
    ]  # fmt: skip
    loaded = Compositional.load(tmp_path / "m")
    np.testing.assert_allclose(
        loaded.predict_mean(ctrl_cells, cond), fitted.predict_mean(ctrl_cells, cond), rtol=1e-6
    )
    np.testing.assert_allclose(
        loaded.predict_mean(None, cond), fitted.predict_mean(None, cond), rtol=1e-6
    )
    with pytest.raises(FileExistsError, match="overwrite=True"):
        fitted.save(tmp_path / "m")


class _Exploit:
    def __reduce__(self):
        import os

        return (os.system, ("touch pwned-by-pickle",))


def test_bad_save_directories(tmp_path, data, fitted, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ModelDirectoryError, match=r"config\.json is missing"):
        Compositional.load(tmp_path / "nothing")
    fitted.save(tmp_path / "m")
    # a weights file holding code: refused, and nothing is executed
    (tmp_path / "m" / "weights.pt").write_bytes(pickle.dumps(_Exploit()))
    with pytest.raises(ModelDirectoryError, match="could not be read as a plain tensor state dict"):
        Compositional.load(tmp_path / "m")
    assert not (tmp_path / "pwned-by-pickle").exists()
    fitted.save(tmp_path / "m2")
    (tmp_path / "m2" / "config.json").write_text('{"format": "something-else"}')
    with pytest.raises(ModelDirectoryError, match="not written by phenocast"):
        Compositional.load(tmp_path / "m2")
    fitted.save(tmp_path / "m3")
    (tmp_path / "m3" / "config.json").write_text("{not json")
    with pytest.raises(ModelDirectoryError, match="corrupt"):
        Compositional.load(tmp_path / "m3")
    # weights that do not match the config
    fitted.save(tmp_path / "m4")
    other = Compositional(fitted.registry, config(latent_dim=8))
    other.module = other._new_module()
    other._basal = fitted._basal
    torch.save(
        {f"module.{k}": v for k, v in other.module.state_dict().items()},
        tmp_path / "m4" / "weights.pt",
    )
    with pytest.raises(ModelDirectoryError, match=r"does not match config\.json"):
        Compositional.load(tmp_path / "m4")


def test_config_is_strict():
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['latent_dims'\]"):
        CompositionalConfig.from_dict({"latent_dims": 3})
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['epochs'\]"):
        CompositionalConfig.from_dict({"train": {"epochs": 3}})
    with pytest.raises(ValueError, match="dose_response must be one of"):
        CompositionalConfig(dose_response="hill")
    with pytest.raises(ValueError, match=r"anchor must name baselines.*got 'compositional'"):
        CompositionalConfig(anchor="compositional")
    with pytest.raises(ValueError, match="got 'additve'"):
        CompositionalConfig(anchor=["mean-shift", "additve"])
    with pytest.raises(ValueError, match="at least one baseline"):
        CompositionalConfig(anchor=[])
    for anchor in ("additive", ["additive", "mean-shift"]):
        cfg = config(anchor=anchor)
        assert CompositionalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(TypeError, match="CompositionalConfig"):
        Compositional(None, {"latent_dim": 3})  # type: ignore[arg-type]


def test_seeded_and_leaves_global_rng_alone(data):
    _, train, reg = data
    cond = pd.DataFrame({"perturbation": ["P1"], "dose": ["1"], "cell_type": ["T0"]})
    torch.manual_seed(123)
    random.seed(5)
    before = torch.rand(1)
    torch.manual_seed(123)
    cfg = config(train={"max_epochs": 3})
    a = Compositional(reg, cfg).fit(train).predict_mean(None, cond)
    after = torch.rand(1)
    assert torch.equal(before, after)  # fitting did not advance torch's global generator
    b = Compositional(reg, cfg).fit(train).predict_mean(None, cond)
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)


def test_anchor_at_alpha_zero_is_the_baseline(data):
    adata, train, reg = data
    ctrl_cells = controls_of(adata, "T1")
    cond = pd.DataFrame({"perturbation": ["P0+P1"], "dose": ["1+1"], "cell_type": ["T1"]})
    model = Compositional(
        reg, config(anchor="additive", anchor_alphas=[0.0], train={"max_epochs": 3})
    )
    # additive cannot answer a held-out single: that is known before training, so the model is
    # the baseline and no network is trained
    with pytest.warns(UserWarning, match="no baseline of \\['additive'\\] can answer any of"):
        model.fit(train)
    assert model.module is None and model.history_.epochs == []
    assert model.anchor_.alpha == 0.0 and model.anchor_.baseline == "additive"
    base = create_model("additive", reg).fit(train).predict_mean(ctrl_cells, cond)
    np.testing.assert_allclose(model.predict_mean(ctrl_cells, cond), base, rtol=1e-6, atol=1e-6)
    assert model.anchor_.note.startswith("no validation condition could be scored")
    chosen = Compositional(reg, config(anchor="dose-interp", train={"max_epochs": 3})).fit(train)
    assert chosen.anchor_.n_groups >= 1 and set(chosen.anchor_.scores) == {
        0.0,
        0.25,
        0.5,
        0.75,
        1.0,
    }
    assert chosen.anchor_.scores[chosen.anchor_.alpha] == max(chosen.anchor_.scores.values())


def test_anchor_candidates_are_compared_on_validation(data, tmp_path):
    adata, train, reg = data
    model = Compositional(
        reg, config(anchor=["additive", "dose-interp", "mean-shift"], train={"max_epochs": 3})
    ).fit(train)
    a = model.anchor_
    # additive declines held-out singles, so it has no scores and cannot be chosen
    assert set(a.candidates) == {"dose-interp", "mean-shift"}
    assert a.baseline in a.candidates
    best = {b: max(sc.values()) for b, sc in a.candidates.items()}
    assert best[a.baseline] == max(best.values())
    assert a.scores[a.alpha] == best[a.baseline]
    # the chosen baseline is what the refitted model blends with, and it survives a save
    ctrl_cells = controls_of(adata, "T1")
    cond = pd.DataFrame({"perturbation": ["P0"], "dose": ["1"], "cell_type": ["T1"]})
    model.save(tmp_path / "m")
    loaded = Compositional.load(tmp_path / "m")
    assert loaded.anchor_.baseline == a.baseline and loaded.anchor_.candidates == a.candidates
    np.testing.assert_allclose(
        loaded.predict_mean(ctrl_cells, cond), model.predict_mean(ctrl_cells, cond), rtol=1e-5
    )


def test_counts_with_a_negative_binomial(data):
    counts = synthetic(
        n_genes=40, n_cell_types=1, n_perturbations=2, combinations=0, doses=None,
        cells_per_condition=30, output="counts", seed=1,
    )  # fmt: skip
    reg = register(counts, perturbation="perturbation", control="control", covariates=["cell_type"])
    assert reg.x_kind == "counts"
    model = Compositional(reg, config(train={"max_epochs": 5})).fit(counts)
    assert model.likelihood == "nb"
    out = model.predict(
        counts[counts.obs["is_control"].to_numpy()][:5], pd.DataFrame({"perturbation": ["P0"]})
    )
    assert (out.X > 0).all() and (out.layers["variance"] >= out.X).all()


def test_components_absent_from_the_fitted_data_are_refused(data):
    adata, _, reg = data
    without_p2 = adata[(adata.obs["perturbation"].astype(str) != "P2").to_numpy()].copy()
    model = Compositional(reg, config(train={"max_epochs": 2})).fit(without_p2)
    cond = pd.DataFrame({"perturbation": ["P2"], "dose": ["1"], "cell_type": ["T0"]})
    with pytest.raises(RegistrationError, match=r"\['P2'\] are in the registry but absent"):
        model.predict_mean(None, cond)


def test_validation_groups_keep_every_component_in_training():
    from phenocast.models.compositional._anchor import validation_groups

    def components(key):
        return set(key.split("@")[0].split("+"))

    # singles only, one dose: every group holds a component no other group has
    singles = synthetic(
        n_genes=20, n_cell_types=1, n_perturbations=3, combinations=0, doses=None,
        cells_per_condition=10, seed=0,
    )  # fmt: skip
    reg = register(singles, perturbation="perturbation", control="control")
    mask, groups = validation_groups(singles, reg, fraction=0.5, seed=0)
    assert groups == [] and not mask.any()
    # doses, combinations and two contexts: held-out groups are answerable from the rest
    adata = synthetic(n_genes=20, n_cell_types=2, n_perturbations=3, combinations=2, seed=0)
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose",
        covariates=["cell_type"],
    )  # fmt: skip
    mask, groups = validation_groups(adata, reg, fraction=0.3, seed=0)
    assert groups
    keys = reg.conditions_of(adata).to_numpy()
    kept = set().union(*(components(k) for k in set(keys[~mask]) if k != "control"))
    for key, _ in groups:
        assert components(key) <= kept, key
