"""`phenocast multimodal train / predict / generate / mi` on synthetic MuData, and errors."""

from __future__ import annotations

import anndata as ad
import mudata
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.multimodal import synthetic_multimodal

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, ["multimodal", *args], terminal_width=200)
    result.text = " ".join(result.stdout.split())  # rich wraps long messages
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("mm_cli")
    data, _ = synthetic_multimodal(
        n_samples=120, dims={"rna": 12, "morphology": 8}, n_components=6, missing=0.2, seed=3
    )
    with mudata.set_options(pull_on_update=False):  # mudata 0.3 warns of a future default
        data.to_mudata().write_h5mu(root / "data.h5mu")
    pd.DataFrame({"perturbation": ["C00+C01", "C02"], "dose": ["1+1", "1"]}).to_csv(
        root / "cond.csv", index=False
    )
    result = invoke("train", str(root / "data.h5mu"), "--out", str(root / "model"), "--epochs", "5")
    assert result.exit_code == 0, result.stdout
    return root, data


def test_train_writes_a_loadable_model(files):
    root, data = files
    from phenocast.multimodal import MultiModalModel

    model = MultiModalModel.load(root / "model")
    assert model.modalities_ == data.modalities and model.components_ == data.components
    again = invoke("train", str(root / "data.h5mu"), "--out", str(root / "model"))
    assert again.exit_code == 2 and "pass --overwrite" in again.text


@pytest.mark.parametrize("flag", [[], ["--use-perturbation"]])
def test_predict_writes_means_and_variances(files, flag):
    root, data = files
    out = root / f"pred{len(flag)}.h5ad"
    args = ["predict", str(root / "model"), str(root / "data.h5mu"), "-s", "rna"]
    result = invoke(*args, "-t", "morphology", "--out", str(out), *flag)
    assert result.exit_code == 0, result.stdout
    pred = ad.read_h5ad(out)
    measured = data.ids[data.mask("rna")]
    assert list(pred.obs_names) == [str(i) for i in measured]
    assert list(pred.var_names) == list(data.feature_names("morphology"))
    assert (pred.layers["variance"] > 0).all() and np.isfinite(pred.X).all()


def test_generate_sample_and_mi(files):
    root, _ = files
    out = root / "gen.h5ad"
    cond = str(root / "cond.csv")
    result = invoke(
        "generate", str(root / "model"), "--conditions", cond, "-t", "rna", "-o", str(out)
    )
    assert result.exit_code == 0, result.stdout
    assert list(ad.read_h5ad(out).obs_names) == ["C00+C01@1+1", "C02@1"]
    joint = root / "draws.h5mu"
    args = ["sample", str(root / "model"), "--conditions", cond, "-o", str(joint)]
    result = invoke(*args, "--n-draws", "4")
    assert result.exit_code == 0, result.stdout
    with mudata.set_options(pull_on_update=False):
        draws = mudata.read_h5mu(joint)
    assert set(draws.mod) == {"rna", "morphology"} and draws["rna"].n_obs == 8
    result = invoke(
        "mi", str(root / "data.h5mu"), "--a", "rna", "--b", "morphology", "--n-boot", "20"
    )
    assert result.exit_code == 0, result.stdout
    assert "I(rna; morphology) = " in result.text and "groups" in result.text


def test_clear_errors(files, tmp_path):
    root, _ = files
    model, data = str(root / "model"), str(root / "data.h5mu")
    cases = [
        (("train", "missing.h5mu", "--out", str(tmp_path / "m")), "neither a file nor a bundled"),
        (("predict", model, data, "-s", "rna", "-t", "protein", "-o", "x.h5ad"), "protein"),
        (("predict", str(tmp_path), data, "-s", "rna", "-t", "rna", "-o", "x.h5ad"), "missing"),
        (("mi", data, "--a", "rna", "--b", "nope"), "'nope' is not a readout"),
        (("mi", data, "--a", "rna", "--b", "morphology", "--groups", "x"), "--groups must be"),
        (("generate", model, "--conditions", "nope.csv", "-t", "rna", "-o", "x"), "does not exist"),
    ]
    bad = tmp_path / "bad.h5mu"
    bad.write_text("not hdf5")
    cases.append((("mi", str(bad), "--a", "rna", "--b", "morphology"), "not a readable .h5mu"))
    for args, message in cases:
        result = invoke(*args)
        assert result.exit_code == 2, (args, result.stdout)
        assert message in result.text, (args, result.stdout)


@pytest.fixture(scope="module")
def dosed(tmp_path_factory):
    """A model trained at doses 0.5, 1 and 2 of every component."""
    root = tmp_path_factory.mktemp("mm_dosed")
    data, _ = synthetic_multimodal(n_samples=60, dims={"rna": 6, "morph": 4}, n_components=4)
    mdata = data.to_mudata()
    position = {sid: k for k, sid in enumerate(data.ids)}
    for mod in mdata.mod.values():  # an id's doses, the same in every modality
        mod.obs["dose"] = [
            "+".join(["0.5", "1", "2"][(position[sid] + j) % 3] for j in range(len(p.split("+"))))
            for sid, p in zip(mod.obs_names, mod.obs["perturbation"], strict=True)
        ]
    with mudata.set_options(pull_on_update=False):
        mdata.write_h5mu(root / "dosed.h5mu")
    result = invoke(
        "train", str(root / "dosed.h5mu"), "--out", str(root / "model"), "--epochs", "3"
    )
    assert result.exit_code == 0, result.stdout
    return root


def test_generate_and_sample_follow_the_dose_rule(dosed):
    root, model = dosed, str(dosed / "model")
    pd.DataFrame({"perturbation": ["C00", "C01+C02"], "dose": ["1", "1+300"]}).to_csv(
        root / "far.csv", index=False
    )
    pd.DataFrame({"perturbation": ["C00"]}).to_csv(root / "nodose.csv", index=False)
    far = ["--conditions", str(root / "far.csv")]
    result = invoke("generate", model, *far, "-t", "rna", "-o", str(root / "g.h5ad"))
    assert result.exit_code == 2 and "C02 at 300 (trained 0.5–2)" in result.text, result.text
    assert "--extrapolate" in result.text and not (root / "g.h5ad").exists()
    result = invoke(
        "generate", model, *far, "-t", "rna", "-o", str(root / "g.h5ad"), "--extrapolate"
    )
    assert result.exit_code == 0, result.stdout
    assert ad.read_h5ad(root / "g.h5ad").obs["extrapolated"].tolist() == [False, True]
    result = invoke("sample", model, *far, "-o", str(root / "s.h5mu"), "--n-draws", "2")
    assert result.exit_code == 2 and "C02 at 300" in result.text
    result = invoke(
        "sample", model, *far, "-o", str(root / "s.h5mu"), "--n-draws", "2", "--extrapolate"
    )
    assert result.exit_code == 0, result.stdout
    with mudata.set_options(pull_on_update=False):
        assert (
            mudata.read_h5mu(root / "s.h5mu").obs["extrapolated"].tolist()
            == [False] * 2 + [True] * 2
        )
    for command in (["generate", "-t", "rna", "-o", "x.h5ad"], ["sample", "-o", "x.h5mu"]):
        result = invoke(command[0], model, "--conditions", str(root / "nodose.csv"), *command[1:])
        assert result.exit_code == 2 and "has no 'dose' column" in result.text, result.text
        assert "trained at several doses" in result.text


def test_train_refuses_a_dose_column_that_does_not_exist(files, tmp_path):
    root, _ = files
    result = invoke(
        "train", str(root / "data.h5mu"), "--out", str(tmp_path / "m"), "--dose", "conc"
    )
    assert result.exit_code == 2 and "no dose column 'conc'" in result.text
    assert "'perturbation', 'dose'" in result.text and not (tmp_path / "m").exists()


@pytest.mark.realdata
def test_train_on_a_bundled_dataset_refuses_a_dose_column_it_lacks(tmp_path):
    import os

    from phenocast.data import DatasetNotFoundError
    from phenocast.multimodal import load

    try:
        load("cellbox_korkut2015")
    except DatasetNotFoundError as err:
        if os.environ.get("CI") == "true":
            raise
        pytest.skip(str(err))
    result = invoke("train", "cellbox_korkut2015", "--out", str(tmp_path / "m"), "--dose", "conc")
    assert result.exit_code == 2 and "no dose column 'conc'" in result.text, result.text
    assert "'perturbation'" in result.text and not (tmp_path / "m").exists()


def test_train_with_an_empty_dose_reads_every_component_at_dose_1(dosed, tmp_path):
    from phenocast.models import MultiModalModel

    assert MultiModalModel.load(dosed / "model").trained_with_doses  # the 'dose' column
    out = tmp_path / "m"
    data = str(dosed / "dosed.h5mu")
    result = invoke("train", data, "--out", str(out), "--dose", "", "--epochs", "2")
    assert result.exit_code == 0, result.text
    assert not MultiModalModel.load(out).trained_with_doses
