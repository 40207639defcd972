"""Models with perturbation features predict components they never saw: on synthetic data whose
effects are a linear map of known gene features, the compositional and linear models beat the
mean of the training perturbations for held-out genes; without features they refuse; saved
models rebuild their features and refuse different ones."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import RegistrationError, register
from phenocast.evaluate.metrics import pearson_delta
from phenocast.featurize import (
    FeatureHashError,
    GeneFeatures,
    TableFeaturiser,
    resolve_featuriser,
)
from phenocast.models import Compositional, CompositionalConfig, create_model
from phenocast.models._base import UnsupportedConditionError
from phenocast.models.baselines import Linear, LinearConfig

N_GENES, DIM, N_PERTS = 40, 6, 16
HELD = ("g14", "g15")


def _world(seed: int = 0):
    """Gene features F (one row per perturbed gene, plus two never-perturbed genes) and a map
    W: the effect of gene g is W f_g; cells are control + effect + noise."""
    rng = np.random.default_rng(seed)
    names = [f"g{i}" for i in range(N_PERTS)] + ["spare0", "spare1"]
    feats = rng.standard_normal((len(names), DIM))
    feats /= np.linalg.norm(feats, axis=1, keepdims=True)
    w = rng.standard_normal((N_GENES, DIM)) * 1.5
    base = rng.uniform(1.0, 3.0, N_GENES)
    rows, obs = [], []
    for name, f in [("control", None), *zip(names[:N_PERTS], feats[:N_PERTS], strict=True)]:
        effect = 0.0 if f is None else w @ f
        n = 60 if f is None else 30
        rows.append(base + effect + 0.3 * rng.standard_normal((n, N_GENES)))
        obs += [name] * n
    x = np.vstack(rows).astype(np.float32)
    adata = ad.AnnData(
        x,
        obs=pd.DataFrame({"perturbation": obs}, index=[f"c{i}" for i in range(len(obs))]),
        var=pd.DataFrame(index=[f"G{j}" for j in range(N_GENES)]),
    )
    table = GeneFeatures(genes=tuple(names), matrix=feats, source="test", method="random")
    truth = {n: base + w @ f for n, f in zip(names, feats, strict=True)}
    return adata, table, truth, base


@pytest.fixture(scope="module")
def world():
    adata, table, truth, base = _world()
    held = adata.obs["perturbation"].isin(HELD).to_numpy()
    train = adata[~held].copy()
    reg = register(train, perturbation="perturbation", control="control", x_kind="continuous")
    controls = train[train.obs["perturbation"] == "control"].copy()
    return train, reg, table, truth, base, controls


def _conditions(names):
    return pd.DataFrame({"perturbation": list(names)})


def _score(pred: np.ndarray, truth: dict, base: np.ndarray, names) -> float:
    return float(
        np.mean([pearson_delta(p, truth[n], ctrl=base) for p, n in zip(pred, names, strict=True)])
    )


def _config(**kw) -> CompositionalConfig:
    train = {"max_epochs": 80, "patience": 20, "batch_size": 64, "lr": 0.01, "seed": 0}
    return CompositionalConfig.from_dict(
        {"latent_dim": 12, "hidden": [32], "context_interaction": False, **kw, "train": train}
    )


@pytest.fixture(scope="module")
def fitted(world):
    train, reg, table, *_ = world
    return Compositional(reg, _config(), featuriser=table).fit(train)


def test_compositional_predicts_unseen_genes_from_features(world, fitted):
    train, reg, _, truth, base, controls = world
    assert set(HELD).isdisjoint(reg.components)
    pred = fitted.predict_mean(controls, _conditions(HELD))
    mean = create_model("mean-shift", reg).fit(train).predict_mean(controls, _conditions(HELD))
    ours, baseline = _score(pred, truth, base, HELD), _score(mean, truth, base, HELD)
    assert ours > 0.8, ours
    assert ours > baseline + 0.3, (ours, baseline)
    # a gene in the prior that no cell carried at all is predicted the same way
    spare = fitted.predict_mean(controls, _conditions(["spare0"]))
    assert _score(spare, truth, base, ["spare0"]) > 0.5
    # seen genes are still predicted well
    seen = ["g0", "g1", "g2"]
    assert _score(fitted.predict_mean(controls, _conditions(seen)), truth, base, seen) > 0.9


def test_unseen_gene_without_features_is_refused(world, fitted):
    *_, controls = world
    with pytest.raises(RegistrationError, match=r"nothere.*no features"):
        fitted.predict_mean(controls, _conditions(["nothere"]))


def test_without_featuriser_unseen_genes_are_refused(world):
    train, reg, *_, controls = world
    model = Compositional(reg, _config(train={"max_epochs": 2})).fit(train)
    with pytest.raises(RegistrationError, match="featuriser"):
        model.predict_mean(controls, _conditions(["g14"]))


def test_features_by_name_in_config(world, monkeypatch):
    from phenocast.featurize import FEATURISERS

    train, reg, table, truth, base, controls = world
    monkeypatch.setitem(FEATURISERS, "test_table", lambda: TableFeaturiser(table, name="t"))
    cfg = _config(features="test_table")
    model = Compositional(reg, cfg).fit(train)
    assert model.features_ is not None
    assert model.features_.content_hash.split("~")[0] == table.content_hash
    assert _score(model.predict_mean(controls, _conditions(HELD)), truth, base, HELD) > 0.8
    assert cfg.to_dict()["features"] == "test_table"  # the config names it, no tensor


def test_save_load_rebuilds_and_checks_features(world, fitted, tmp_path):
    *_, table, _, _, controls = world
    fitted.save(tmp_path / "m")
    with pytest.raises(ValueError, match="featuriser"):
        Compositional.load(tmp_path / "m")  # given as an object: must be given again
    loaded = Compositional.load(tmp_path / "m", featuriser=table)
    np.testing.assert_allclose(
        loaded.predict_mean(controls, _conditions(HELD)),
        fitted.predict_mean(controls, _conditions(HELD)),
        rtol=1e-5,
        atol=1e-5,
    )
    other = GeneFeatures(genes=table.genes, matrix=table.matrix[::-1].copy(), source="x")
    with pytest.raises(FeatureHashError, match="hash"):
        Compositional.load(tmp_path / "m", featuriser=other)
    # the same features recomputed elsewhere differ by rounding noise: the hash differs, the
    # fingerprint does not, and the model loads
    rng = np.random.default_rng(0)
    noisy = table.matrix * (1 + 1e-8 * rng.standard_normal(table.matrix.shape))
    recomputed = GeneFeatures(genes=table.genes, matrix=noisy.astype(np.float32), source="x")
    assert recomputed.content_hash != table.content_hash
    Compositional.load(tmp_path / "m", featuriser=recomputed)
    # one gene's row changed by 1 %: refused
    changed = table.matrix.copy()
    changed[3] *= 1.01
    edited = GeneFeatures(genes=table.genes, matrix=changed, source="x")
    with pytest.raises(FeatureHashError, match="not the ones the model was fitted with"):
        Compositional.load(tmp_path / "m", featuriser=edited)


def test_featureless_training_components(world):
    train, reg, table, *_ = world
    partial = GeneFeatures(genes=table.genes[2:], matrix=table.matrix[2:], source="t")
    model = Compositional(reg, _config(train={"max_epochs": 2}), featuriser=partial).fit(train)
    assert model.featureless_components_ == ("g0", "g1")
    with pytest.raises(RegistrationError, match=r"g0.*feature_residual"):
        Compositional(reg, _config(feature_residual=False), featuriser=partial).fit(train)
    nothing = GeneFeatures(genes=("a", "b"), matrix=np.eye(2), source="t")
    with pytest.raises(RegistrationError, match="none of the"):
        Compositional(reg, _config(), featuriser=nothing).fit(train)


def test_config_checks_feature_options():
    with pytest.raises(ValueError, match="featuriser"):
        CompositionalConfig(features="no_such_featuriser")
    with pytest.raises(ValueError, match="features is None"):
        CompositionalConfig(feature_options={"dim": 8})
    with pytest.raises(ValueError, match="feature_hidden"):
        CompositionalConfig(features="go_svd", feature_hidden=-1)


def test_linear_config_checks_its_new_options():
    with pytest.raises(ValueError, match="ridge_grid values must be >= 0"):
        LinearConfig(ridge_grid=(0.1, -1.0))
    with pytest.raises(ValueError, match="feature_options must be a dict"):
        LinearConfig(features="go_svd", feature_options=[("dim", 8)])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="features must name a featuriser"):
        LinearConfig(features="gosvd")
    assert LinearConfig.from_dict({"ridge_grid": [0.1, 1.0]}).ridge_grid == (0.1, 1.0)


def test_resolve_featuriser_rejects_other_objects():
    with pytest.raises(TypeError, match="Featuriser"):
        resolve_featuriser(None, None, object())  # type: ignore[arg-type]


def test_linear_with_features_predicts_unseen_genes(world):
    train, reg, table, truth, base, controls = world
    grid = (1e-3, 1e-2, 0.1, 1.0, 10.0)
    model = Linear(reg, LinearConfig(ridge_grid=grid), featuriser=table).fit(train)
    assert model.ridge_ in (1e-3, 1e-2, 0.1, 1.0, 10.0)
    pred = model.predict_mean(controls, _conditions(HELD))
    mean = create_model("mean-shift", reg).fit(train).predict_mean(controls, _conditions(HELD))
    ours, baseline = _score(pred, truth, base, HELD), _score(mean, truth, base, HELD)
    assert ours > 0.9 and ours > baseline + 0.3, (ours, baseline)
    # without features the linear model has no embedding for an unseen gene
    plain = create_model("linear", reg).fit(train)
    with pytest.raises(UnsupportedConditionError, match="g14"):
        plain.predict_mean(controls, _conditions(["g14"]))
    with pytest.raises(UnsupportedConditionError, match=r"nothere.*features"):
        model.predict_mean(controls, _conditions(["nothere"]))


@pytest.mark.realdata
def test_norman19_unseen_gene_through_named_go_features(tmp_path):
    """Real data: a gene held out of norman19 is predicted from GO annotations by a model that
    names its featuriser, and the saved model rebuilds the same features by name."""
    from phenocast.data import load_norman2019
    from tests.conftest import run_or_skip

    adata = run_or_skip(load_norman2019)
    pert = adata.obs["perturbation"].astype(str)
    singles = pert[~pert.str.contains(r"\+") & (pert != "control")]
    gene = sorted(singles.unique())[0]
    train = adata[(pert != gene).to_numpy() & ~pert.str.contains(r"\+").to_numpy()].copy()
    reg = register(train, perturbation="perturbation", control="control", dose="dose")
    controls = train[train.obs["perturbation"] == "control"].copy()
    frame = pd.DataFrame({"perturbation": [gene], "dose": ["1"]})
    opts = {"features": "go_svd", "feature_options": {"dim": 16}}
    linear = create_model("linear", reg, {**opts, "ridge_grid": [0.1, 1.0]}).fit(train)
    assert np.isfinite(linear.predict_mean(controls, frame)).all()
    cfg = CompositionalConfig.from_dict({**opts, "train": {"max_epochs": 2}})
    model = Compositional(reg, cfg).fit(train)
    assert gene not in reg.components
    pred = model.predict_mean(controls, frame)
    model.save(tmp_path / "m")
    loaded = Compositional.load(tmp_path / "m")  # featuriser rebuilt from its name
    np.testing.assert_allclose(loaded.predict_mean(controls, frame), pred, rtol=1e-5, atol=1e-5)


# Small molecules (name → SMILES) for an unseen-drug test; the structures are public facts.
_SMILES = {
    "aspirin": "CC(=O)OC1=CC=CC=C1C(=O)O",
    "salicylic_acid": "OC(=O)C1=CC=CC=C1O",
    "methyl_salicylate": "COC(=O)C1=CC=CC=C1O",
    "caffeine": "CN1C=NC2=C1C(=O)N(C(=O)N2C)C",
    "theophylline": "CN1C2=C(C(=O)N(C1=O)C)NC=N2",
    "theobromine": "CN1C=NC2=C1C(=O)NC(=O)N2C",
    "ibuprofen": "CC(C)CC1=CC=C(C=C1)C(C)C(=O)O",
    "naproxen": "COC1=CC2=CC=C(C=C2C=C1)C(C)C(=O)O",
    "ethanol": "CCO",
    "propanol": "CCCO",
}


def test_unseen_drug_at_doses_from_morgan_fingerprints():
    """Effects are a linear map of the drugs' fingerprints, scaled by a shared Hill curve; a
    drug held out entirely is predicted at each dose from its structure (9 training drugs span
    little of a 256-bit space, so the prediction holds for a drug with analogues in training)."""
    pytest.importorskip("rdkit")
    from phenocast.featurize import morgan_fingerprints

    fp = morgan_fingerprints(_SMILES, radius=2, n_bits=256)
    rng = np.random.default_rng(3)
    unit = fp.matrix / np.linalg.norm(fp.matrix, axis=1, keepdims=True)
    unit = unit - unit.mean(0)  # what the drugs share is not what tells them apart
    w = rng.standard_normal((N_GENES, fp.dim)) * 2.0
    base = rng.uniform(1.0, 3.0, N_GENES)
    doses = (0.1, 1.0, 10.0)
    rows, obs = [base + 0.2 * rng.standard_normal((60, N_GENES))], [("control", 0.0)] * 60
    truth = {}
    for name, f in zip(fp.drugs, unit, strict=True):
        for d in doses:
            mean = base + (d / (d + 1.0)) * (w @ f)
            truth[(name, d)] = mean
            rows.append(mean + 0.2 * rng.standard_normal((20, N_GENES)))
            obs += [(name, d)] * 20
    frame = pd.DataFrame(obs, columns=["perturbation", "dose"])
    frame.index = [f"c{i}" for i in range(len(frame))]
    adata = ad.AnnData(np.vstack(rows).astype(np.float32), obs=frame)
    held = "caffeine"  # its analogues theophylline and theobromine are in training
    train = adata[adata.obs["perturbation"] != held].copy()
    reg = register(train, perturbation="perturbation", control="control", dose="dose")
    controls = train[train.obs["perturbation"] == "control"].copy()
    model = Compositional(reg, _config(), featuriser=fp).fit(train)
    cond = pd.DataFrame({"perturbation": [held] * 3, "dose": [str(d) for d in doses]})
    pred = model.predict_mean(controls, cond)
    mean = create_model("mean-shift", reg).fit(train).predict_mean(controls, cond)
    ours = np.mean(
        [pearson_delta(p, truth[(held, d)], ctrl=base) for p, d in zip(pred, doses, strict=True)]
    )
    theirs = np.mean(
        [pearson_delta(p, truth[(held, d)], ctrl=base) for p, d in zip(mean, doses, strict=True)]
    )
    # the mean of the other drugs points the other way (effects are centred across drugs)
    assert ours > 0.5 and theirs < 0.0, (ours, theirs)
    # the effect grows with dose, as every training drug's did
    size = np.linalg.norm(pred - base, axis=1)
    assert size[0] < size[1] < size[2], size
