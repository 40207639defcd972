"""The user-facing MultiModalModel: cross-modal prediction, generation of unmeasured pairs,
mutual information, persistence and its errors, on synthetic data with known structure."""

from __future__ import annotations

import dataclasses
import json

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.multimodal import (
    MultiModalConfig,
    MultiModalData,
    MultiModalDataError,
    MultiModalModel,
    MultiModalTrainConfig,
    gaussian_mi,
    synthetic_multimodal,
)

CFG = MultiModalConfig(
    latent_dim=8,
    hidden=(32,),
    dropout=0.0,
    n_samples=100,
    train=MultiModalTrainConfig(max_epochs=400, patience=40, lr=5e-3),
)
DIMS = {"rna": 30, "morphology": 20}


def shuffled(data: MultiModalData, name: str, *, seed: int) -> MultiModalData:
    """``data`` with the rows of ``name`` permuted among its ids (labels kept in place)."""
    mods = {}
    for m in data.modalities:
        mask = data.mask(m)
        x = data.matrix(m)[mask]
        if m == name:
            x = x[np.random.default_rng(seed).permutation(len(x))]
        conds = data.conditions[mask]
        obs = pd.DataFrame(
            {"perturbation": [c.perturbation for c in conds], "dose": [c.dose for c in conds]},
            index=data.ids[mask],
        )
        mods[m] = ad.AnnData(x, obs=obs, var=pd.DataFrame(index=data.feature_names(m)))
    return MultiModalData.from_anndatas(mods)


def mse(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean((np.asarray(a) - np.asarray(b)) ** 2))


@pytest.fixture(scope="module")
def fitted():
    data, truth = synthetic_multimodal(n_samples=300, dims=DIMS, n_components=12, seed=1)
    split = data.folds(3, seed=0)[0]
    train, test = data.subset(split.train), data.subset(split.test)
    model = MultiModalModel(CFG).fit(train)
    return data, truth, train, test, model


def test_cross_modal_prediction_beats_the_mean_and_the_shuffled_pairing(fitted):
    _, _, train, test, model = fitted
    shuffled_model = MultiModalModel(CFG).fit(shuffled(train, "morphology", seed=0))
    for source, target in (("rna", "morphology"), ("morphology", "rna")):
        mean, var = model.predict_modality(test, source=source, target=target)
        assert list(mean.index) == list(test.ids)
        assert list(mean.columns) == list(test.feature_names(target))
        assert mean.shape == var.shape and (var.to_numpy() > 0).all()
        truth = test.matrix(target)
        base = mse(np.broadcast_to(np.nanmean(train.matrix(target), 0), truth.shape), truth)
        shuf, _ = shuffled_model.predict_modality(test, source=source, target=target)
        # measured, relative to the mean's MSE: rna -> morphology 0.43 (shuffled 1.02),
        # morphology -> rna 0.56 (shuffled 1.04)
        assert mse(mean, truth) < 0.7 * base
        assert mse(mean, truth) < 0.7 * mse(shuf, truth)
    # the target's values in the data are not used
    scrambled_target = shuffled(test, "morphology", seed=5)
    a, _ = model.predict_modality(scrambled_target, source=["rna"], target="morphology")
    b, _ = model.predict_modality(test, source="rna", target="morphology")
    pd.testing.assert_frame_equal(a, b)


def test_the_perturbation_prior_adds_to_the_sources(fitted):
    _, _, _, test, model = fitted
    for source, target in (("rna", "morphology"), ("morphology", "rna")):
        truth = test.matrix(target)
        alone, _ = model.predict_modality(test, source=source, target=target)
        both, var = model.predict_modality(
            test, source=source, target=target, use_perturbation=True
        )
        assert list(both.index) == list(test.ids) and (var.to_numpy() > 0).all()
        # measured MSE, sources alone vs with the prior: 0.342 vs 0.328 (rna -> morphology),
        # 0.540 vs 0.499 (morphology -> rna); the prior alone (generate) 0.570 and 0.609
        assert mse(both, truth) < mse(alone, truth)
    # a component the model never saw, without features: a clear error naming it
    mods = {}
    for m in test.modalities:
        obs = pd.DataFrame(
            {"perturbation": [f"NEW{i % 2}" for i in range(len(test))], "dose": 1.0},
            index=test.ids,
        )
        x, var_names = test.matrix(m), pd.DataFrame(index=test.feature_names(m))
        mods[m] = ad.AnnData(x, obs=obs, var=var_names)
    novel = MultiModalData.from_anndatas(mods)
    with pytest.raises(ValueError, match=r"Component\(s\) 'NEW0', 'NEW1' were not in the"):
        model.predict_modality(novel, source="rna", target="morphology", use_perturbation=True)
    # without the option, the same data predict from the sources alone
    model.predict_modality(novel, source="rna", target="morphology")


def test_generate_unmeasured_pairs_from_their_singles_beats_the_mean():
    data, _ = synthetic_multimodal(
        n_samples=120, dims=DIMS, n_components=10, effect_fraction=0.8, noise=0.2, seed=2
    )
    pairs = data.leave_one_pair_out()
    rng = np.random.default_rng(0)
    held = [pairs[i] for i in rng.choice(len(pairs), 12, replace=False)]
    test_ids = sorted({i for s in held for i in s.test})
    train = data.subset([i for i in data.ids if i not in set(test_ids)])
    model = MultiModalModel(CFG).fit(train)
    conds = data.conditions.loc[test_ids]
    frame = pd.DataFrame(
        {"perturbation": [c.perturbation for c in conds], "dose": [c.dose for c in conds]}
    )
    for target in ("rna", "morphology"):
        mean, var = model.generate(frame, target=target)
        assert list(mean.index) == [c.key for c in conds]
        truth = data.subset(test_ids).matrix(target)
        base = mse(np.broadcast_to(train.matrix(target).mean(0), truth.shape), truth)
        # measured: rna 0.89 vs mean 1.27; morphology 0.86 vs 1.25
        assert mse(mean, truth) < 0.85 * base
        assert (var.to_numpy() > 0).all()
    # strings parse as dose 1 and give the same
    again, _ = model.generate(list(frame["perturbation"]), target="rna", n_samples=0)
    zero, _ = model.generate(frame, target="rna", n_samples=0)
    np.testing.assert_allclose(again.to_numpy(), zero.to_numpy())


def test_joint_samples_share_their_latent_across_readouts():
    data, _ = synthetic_multimodal(
        n_samples=120, dims=DIMS, n_components=10, effect_fraction=0.8, noise=0.2, seed=2
    )
    model = MultiModalModel(CFG).fit(data)
    conds = ["C00+C01", "C02"]
    md = model.sample(conds, n_draws=400, seed=0)
    assert set(md.mod) == {"rna", "morphology"}
    assert list(md.obs_names[:2]) == ["C00+C01@1+1#0", "C00+C01@1+1#1"]
    assert list(md["rna"].obs["condition"].unique()) == ["C00+C01@1+1", "C02@1"]
    rna = md["rna"].X.reshape(2, 400, -1)
    morph = md["morphology"].X.reshape(2, 400, -1)
    mean, var = model.generate(conds, target="rna")
    # the draws' moments are generate's (Monte Carlo error at 400 draws; measured ≤ 0.16, 1.01)
    assert np.abs(rna.mean(1) - mean.to_numpy()).max() < 0.35
    assert 0.8 < float((rna.var(1) / var.to_numpy()).mean()) < 1.2
    # draws are joint: the readouts of one draw share its latent (measured ≈ 1.5 nats);
    # pairing each rna draw with another draw's morphology removes it
    rng = np.random.default_rng(0)
    for i in range(2):
        joint = gaussian_mi(rna[i], morph[i], n_boot=0)
        broken = gaussian_mi(rna[i], morph[i][rng.permutation(400)], n_boot=0)
        assert joint.ci_low > 0.5 and broken.value < 0.2
    again = model.sample(conds, n_draws=400, seed=0)
    np.testing.assert_array_equal(again["rna"].X, md["rna"].X)
    with pytest.raises(ValueError, match=r"n_draws must be an integer >= 1"):
        model.sample(conds, n_draws=0)


def test_samples_of_readouts_with_the_same_feature_names_stay_apart():
    rng = np.random.default_rng(0)
    obs = pd.DataFrame({"perturbation": ["A", "B", "A+B"] * 4, "dose": ["1", "1", "1+1"] * 4})
    obs.index = [f"s{i}" for i in range(12)]
    names = pd.DataFrame(index=[f"f{j}" for j in range(3)])
    mods = {m: ad.AnnData(rng.normal(size=(12, 3)), obs=obs, var=names) for m in ("x", "y")}
    model = MultiModalModel(CFG.with_train(max_epochs=2)).fit(MultiModalData.from_anndatas(mods))
    md = model.sample(["A+B"], n_draws=3)
    assert list(md["x"].var_names) == ["x:f0", "x:f1", "x:f2"]
    assert list(md["y"].var["feature_name"]) == ["f0", "f1", "f2"]


def test_without_a_perturbation_prior_the_prior_uses_are_refused(fitted):
    _, _, train, test, _ = fitted
    cfg = dataclasses.replace(CFG, conditional_prior=False).with_train(max_epochs=2)
    model = MultiModalModel(cfg).fit(train)
    for call in (
        lambda: model.generate(["C00"], target="rna"),
        lambda: model.sample(["C00"], n_draws=2),
        lambda: model.predict_modality(
            test, source="rna", target="morphology", use_perturbation=True
        ),
    ):
        with pytest.raises(ValueError, match=r"needs the perturbation prior"):
            call()


def test_mutual_information_is_near_the_truth_held_out_and_vanishes_when_shuffled(fitted):
    _, truth, train, test, model = fitted
    est = model.mutual_information(test, "rna", "morphology", n_boot=200, seed=0)
    assert est.estimator == "predictive" and est.n == len(test)
    assert est.ci_low <= est.value <= est.ci_high
    true_mi = truth.mi_between("rna", "morphology")
    # measured (analytic 4.37 nats): 3.58 [3.18, 3.92] with private latents; 2.05 [1.50, 2.58]
    # without, whose diagonal decoder covariances must also cover the private factors. With
    # these short training settings the estimate stays below the truth (benchmark
    # multimodal-synthetic-mi trains longer).
    assert 0.75 * true_mi < est.value < 1.05 * true_mi
    diagonal = MultiModalModel(dataclasses.replace(CFG, private_dim=0)).fit(train)
    est_diag = diagonal.mutual_information(test, "rna", "morphology", n_boot=0, seed=0)
    assert est_diag.value < est.value - 1.0
    shuffled_test = shuffled(test, "morphology", seed=1)
    null = model.mutual_information(shuffled_test, "rna", "morphology", n_boot=200, seed=0)
    assert null.value < est.value - 1.0
    # ids of one perturbation are resampled together: same value, a wider interval
    grouped = model.mutual_information(
        test, "rna", "morphology", n_boot=200, seed=0, groups="perturbation"
    )
    assert grouped.value == est.value and grouped.details["n_groups"] < len(test)
    assert grouped.ci_high - grouped.ci_low > est.ci_high - est.ci_low
    labels = [c.perturbation for c in test.conditions]
    same = model.mutual_information(test, "rna", "morphology", n_boot=200, seed=0, groups=labels)
    assert (same.ci_low, same.ci_high) == (grouped.ci_low, grouped.ci_high)
    with pytest.raises(ValueError, match=r"groups must be 'perturbation'"):
        model.mutual_information(test, "rna", "morphology", groups="drug")
    with pytest.raises(ValueError, match=r"one label per id of data \(100\)"):
        model.mutual_information(test, "rna", "morphology", groups=labels[:-1])


def test_save_load_round_trip(fitted, tmp_path):
    _, _, _, test, model = fitted
    path = model.save(tmp_path / "mm")
    meta = json.loads((path / "config.json").read_text())
    assert meta["format"] == "phenocast.multimodal_model" and meta["format_version"] == 2
    assert meta["phenocast_version"]
    registry = json.loads((path / "registry.json").read_text())
    assert registry["feature_names"]["rna"][:2] == ["rna_0", "rna_1"]
    assert len(registry["components"]) == 12
    again = MultiModalModel.load(path)
    a, va = model.predict_modality(test, source="rna", target="morphology", seed=3)
    b, vb = again.predict_modality(test, source="rna", target="morphology", seed=3)
    pd.testing.assert_frame_equal(a, b)
    pd.testing.assert_frame_equal(va, vb)
    g1, _ = model.generate(["C00+C05"], target="rna", n_samples=0)
    g2, _ = again.generate(["C00+C05"], target="rna", n_samples=0)
    pd.testing.assert_frame_equal(g1, g2)
    with pytest.raises(FileExistsError, match="overwrite=True"):
        model.save(path)
    model.save(path, overwrite=True)
    (path / "config.json").write_text(json.dumps({"format": "other"}))
    with pytest.raises(ValueError, match=r"not a phenocast\.multimodal_model"):
        MultiModalModel.load(path)
    with pytest.raises(FileNotFoundError, match=r"config\.json is missing"):
        MultiModalModel.load(tmp_path / "nothing")


def test_a_directory_saved_before_registry_json_still_loads(fitted, tmp_path):
    # format 1 kept what the model knows of its data in config.json, with no registry.json
    _, _, _, test, model = fitted
    path = model.save(tmp_path / "v2")
    meta = json.loads((path / "config.json").read_text())
    registry = json.loads((path / "registry.json").read_text())
    old = {**meta, **registry, "format_version": 1}
    del old["phenocast_version"]
    (path / "config.json").write_text(json.dumps(old))
    (path / "registry.json").unlink()
    again = MultiModalModel.load(path)
    a, _ = model.predict_modality(test, source="rna", target="morphology", seed=3)
    b, _ = again.predict_modality(test, source="rna", target="morphology", seed=3)
    pd.testing.assert_frame_equal(a, b)
    # a version-2 directory without its registry.json is incomplete, and says so
    path = model.save(tmp_path / "broken")
    (path / "registry.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"registry\.json is missing"):
        MultiModalModel.load(path)


def test_clear_errors(fitted):
    _, _, _, test, model = fitted
    with pytest.raises(RuntimeError, match="not fitted"):
        MultiModalModel(CFG).predict_modality(test, source="rna", target="morphology")
    with pytest.raises(TypeError, match="MultiModalConfig"):
        MultiModalModel({"latent_dim": 2})  # type: ignore[arg-type]
    with pytest.raises(KeyError, match="source 'protein' is not a modality"):
        model.predict_modality(test, source="protein", target="morphology")
    with pytest.raises(ValueError, match="also a source"):
        model.predict_modality(test, source="rna", target="rna")
    with pytest.raises(ValueError, match=r"'NEW1'.*not in the training data.*without a featuriser"):
        model.generate(["C00+NEW1"], target="rna")
    with pytest.raises(ValueError, match="no 'dose' column"):
        model.generate(pd.DataFrame({"perturbation": ["C00"]}), target="rna")
    with pytest.raises(TypeError, match="list of perturbation strings"):
        model.generate("C00", target="rna")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="a and b are the same"):
        model.mutual_information(test, "rna", "rna")
    other, _ = synthetic_multimodal(n_samples=20, dims={"rna": 5, "morphology": 20}, seed=0)
    with pytest.raises(MultiModalDataError, match="Modality 'rna' of the data has other features"):
        model.predict_modality(other, source="rna", target="morphology")
    with pytest.raises(MultiModalDataError, match="no modality 'rna'"):
        renamed, _ = synthetic_multimodal(n_samples=20, dims={"a": 30, "morphology": 20}, seed=0)
        model.predict_modality(renamed, source="rna", target="morphology")


def test_component_features_let_generate_embed_a_component_never_trained_on(tmp_path):
    from phenocast.featurize import DrugFeatures

    data, truth = synthetic_multimodal(n_samples=80, dims=DIMS, n_components=8, seed=3)
    # features: the true shared effects (plus the private ones), so they carry the signal
    assert truth.effects_shared is not None and truth.effects_private is not None
    table = DrugFeatures(
        drugs=truth.components,
        matrix=np.hstack([truth.effects_shared, *truth.effects_private.values()]),
    )
    unseen = truth.components[-1]
    keep = [i for i, c in zip(data.ids, data.conditions, strict=True) if unseen not in c.components]
    cfg = CFG.with_train(max_epochs=30)
    model = MultiModalModel(cfg).fit(data.subset(keep), featuriser=table)
    assert unseen not in model.components_
    mean, var = model.generate([unseen, f"{truth.components[0]}+{unseen}"], target="rna")
    assert mean.shape == (2, DIMS["rna"]) and np.isfinite(mean.to_numpy()).all()
    assert (var.to_numpy() > 0).all()
    # a component the table lacks is named in the error
    with pytest.raises(ValueError, match=r"'ZZZ'.*no features in table"):
        model.generate(["ZZZ"], target="rna")
    # a loaded model keeps the hash, not the featuriser: it asks for it, then checks it
    path = model.save(tmp_path / "feat")
    again = MultiModalModel.load(path)
    with pytest.raises(ValueError, match="pass the one used in fit"):
        again.generate([unseen], target="rna")
    same, _ = again.generate([unseen], target="rna", featuriser=table, seed=0)
    first, _ = model.generate([unseen], target="rna", seed=0)
    pd.testing.assert_frame_equal(same, first)
    other = DrugFeatures(drugs=table.drugs, matrix=table.matrix + 1.0)
    with pytest.raises(ValueError, match="not the ones the model was fitted with"):
        again.generate([unseen], target="rna", featuriser=other)


def test_registered_among_the_models_but_not_built_from_a_registry():
    from phenocast.data import register, synthetic
    from phenocast.models import MODELS, create_model, model_names

    assert "multimodal" in model_names() and MODELS["multimodal"] is MultiModalModel
    assert model_names(inputs="multimodal") == ["multimodal"]
    assert "multimodal" not in model_names(inputs="anndata")
    assert "additive" in model_names(inputs="anndata")
    adata = synthetic(n_genes=10, n_perturbations=2, cells_per_condition=5, seed=0)
    reg = register(adata, perturbation="perturbation", control="control", dose="dose")
    with pytest.raises(TypeError, match=r"learns from multimodal data.*MultiModalModel\(config\)"):
        create_model("multimodal", reg)
