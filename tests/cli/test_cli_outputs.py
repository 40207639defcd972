"""Every command that writes checks its outputs before any work, refuses to replace a file
without --overwrite, and ends on Ctrl-C with one line, exit 130 and no partial file."""

from __future__ import annotations

import os
from pathlib import Path

import mudata
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import register, synthetic
from phenocast.models import Compositional
from phenocast.models.compositional import CompositionalConfig

runner = CliRunner()


def invoke(*args: str | Path):
    result = runner.invoke(app, [str(a) for a in args], terminal_width=300)
    result.text = " ".join(result.stdout.split())  # rich wraps long messages
    return result


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-outputs")
    data = synthetic(n_genes=20, n_cell_types=1, n_perturbations=3, cells_per_condition=10, seed=1)
    data.write_h5ad(root / "train.h5ad")
    reg = register(data, perturbation="perturbation", control="control")
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 4, "hidden": [8], "train": {"max_epochs": 2}}
    )
    Compositional(reg, cfg).fit(data).save(root / "model")
    pd.DataFrame({"perturbation": ["P0", "P1"]}).to_csv(root / "cond.csv", index=False)
    return root


#: Each writing command with its file output given as ``OUT`` (the rest need not exist: the
#: output is checked first), and the option the message names.
FILE_COMMANDS = {
    "predict": (["predict", "model", "--conditions", "cond.csv", "--out", "OUT"], "--out"),
    "screen": (["screen", "model", "--out", "OUT"], "--out"),
    "screen-merge": (["screen-merge", "a.json", "--out", "OUT"], "--out"),
    "report": (["report", "model", "--out", "OUT"], "--out"),
    "design": (["design", "--candidates", "c.txt", "--results", "r.csv", "--out", "OUT"], "--out"),
    "benchmark --json": (["benchmark", "--json", "OUT"], "--json"),
    "benchmark --markdown": (["benchmark", "--markdown", "OUT"], "--markdown"),
    "synthetic": (["synthetic", "--out", "OUT"], "--out"),
    "convert": (["convert", "train.h5ad", "OUT"], "DST"),
    "multimodal predict": (
        ["multimodal", "predict", "model", "d.h5mu", "-s", "a", "-t", "b", "--out", "OUT"],
        "--out",
    ),
    "multimodal generate": (
        ["multimodal", "generate", "model", "--conditions", "cond.csv", "-t", "b", "--out", "OUT"],
        "--out",
    ),
    "multimodal sample": (
        ["multimodal", "sample", "model", "--conditions", "cond.csv", "--out", "OUT"],
        "--out",
    ),
}


def _args(files: Path, name: str, out: Path) -> list[str | Path]:
    args, _ = FILE_COMMANDS[name]
    return [out if a == "OUT" else files / a if (files / a).exists() else a for a in args]


@pytest.mark.parametrize("name", list(FILE_COMMANDS))
def test_file_outputs_are_refused_before_any_work(name, files, tmp_path, monkeypatch):
    option = FILE_COMMANDS[name][1]
    taken = tmp_path / "taken.out"
    taken.write_text("the user's file")
    locked = tmp_path / "locked"
    locked.mkdir()
    real_access = os.access
    monkeypatch.setattr(os, "access", lambda p, m: Path(p) != locked and real_access(p, m))
    for out, message in [
        (taken, f"{option} {taken} exists; pass --overwrite to replace it."),
        (tmp_path, f"{option} {tmp_path} is a directory; give a file name inside it"),
        (taken / "x.csv", f"cannot write {taken / 'x.csv'}: {taken} is a file, not a folder."),
        (locked / "x.csv", f"cannot write {locked / 'x.csv'}: the folder {locked} is not writ"),
    ]:
        result = invoke(*_args(files, name, out))
        assert result.exit_code == 2, result.stdout
        assert message in result.text
        assert result.text.count("error:") == 1 and "Traceback" not in result.text
    assert taken.read_text() == "the user's file"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["locked", "taken.out"]


def test_demo_refuses_its_own_files_but_not_a_folder_holding_others(files, tmp_path, monkeypatch):
    import phenocast.report

    def fake_demo(out, **kwargs):
        (Path(out) / "figures").mkdir(parents=True)
        (Path(out) / "figures" / "a.png").write_text("new figure")
        (Path(out) / "report.html").write_text("new report")
        return Path(out)

    monkeypatch.setattr(phenocast.report, "run_demo", fake_demo)
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "notes.txt").write_text("the user's notes")
    assert invoke("demo", "--out", folder).exit_code == 0
    assert (folder / "report.html").read_text() == "new report"
    again = invoke("demo", "--out", folder)
    assert again.exit_code == 2
    assert f"--out {folder} already holds report.html, figures; pass --overwrite" in again.text
    assert invoke("demo", "--out", folder, "--overwrite").exit_code == 0
    assert sorted(p.name for p in folder.iterdir()) == ["figures", "notes.txt", "report.html"]
    assert [p.name for p in tmp_path.iterdir()] == ["demo"]  # no temporary folder left
    (tmp_path / "file").write_text("x")
    result = invoke("demo", "--out", tmp_path / "file")
    assert result.exit_code == 2 and "is a file, not a folder; give a folder" in result.text


def test_ctrl_c_in_demo_leaves_no_partial_report(files, tmp_path, monkeypatch):
    import phenocast.report

    def interrupted_demo(out, **kwargs):
        (Path(out) / "figures").mkdir(parents=True)
        (Path(out) / "figures" / "a.png").write_text("half")
        raise KeyboardInterrupt

    monkeypatch.setattr(phenocast.report, "run_demo", interrupted_demo)
    result = invoke("demo", "--out", tmp_path / "demo")
    assert result.exit_code == 130
    assert "interrupted: Stopped by Ctrl-C; no partial output was left." in result.text
    assert list(tmp_path.iterdir()) == []


def test_ctrl_c_while_predict_writes_leaves_no_file(files, tmp_path, monkeypatch):
    import anndata as ad

    def half_then_ctrl_c(self, path, **kwargs):
        Path(path).write_text("half an h5ad")
        raise KeyboardInterrupt

    monkeypatch.setattr(ad.AnnData, "write_h5ad", half_then_ctrl_c)
    out = tmp_path / "pred.h5ad"
    result = invoke("predict", files / "model", "--conditions", files / "cond.csv", "-o", out)
    assert result.exit_code == 130, result.stdout
    assert "interrupted: Stopped by Ctrl-C; no partial output was left." in result.text
    assert "Traceback" not in result.text
    assert list(tmp_path.iterdir()) == []  # neither the output nor its temporary file


def test_ctrl_c_during_a_screen_exits_130_with_one_line(files, tmp_path, monkeypatch):
    import phenocast.cli._screen as cli_screen

    def ctrl_c(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(cli_screen, "run", ctrl_c)
    result = invoke("screen", files / "model", "--out", tmp_path / "hits.csv")
    assert result.exit_code == 130
    assert result.text == "interrupted: Stopped by Ctrl-C; no partial output was left."
    assert list(tmp_path.iterdir()) == []


def test_train_resumes_from_its_checkpoint(files, tmp_path):
    train = ["train", files / "train.h5ad", "--checkpoint-dir", tmp_path / "ckpt"]
    first = invoke(*train, "--out", tmp_path / "m2", "--epochs", "2")
    assert first.exit_code == 0, first.stdout
    assert "2 epochs" in first.text
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["last.ckpt"]
    more = invoke(*train, "--out", tmp_path / "m3", "--epochs", "3", "--resume")
    assert more.exit_code == 0, more.stdout
    assert "fitted on" in more.text and ": 3 epochs" in more.text  # 2 + 1, not 3 anew
    assert [p.name for p in (tmp_path / "ckpt").iterdir()] == ["last.ckpt"]


def test_train_resume_refusals_name_the_flag_and_folder(files, tmp_path):
    train = ["train", files / "train.h5ad", "--out", tmp_path / "m"]
    result = invoke(*train, "--resume")
    assert result.exit_code == 2
    assert "--resume needs --checkpoint-dir: the folder of the run to continue." in result.text
    empty = tmp_path / "empty"
    result = invoke(*train, "--resume", "--checkpoint-dir", empty)
    assert result.exit_code == 2
    assert f"--resume: {empty} holds no checkpoint to resume from" in result.text
    (tmp_path / "f").write_text("x")
    result = invoke(*train, "--checkpoint-dir", tmp_path / "f")
    assert result.exit_code == 2 and "is a file, not a folder; give a folder." in result.text
    assert not (tmp_path / "m").exists()


@pytest.fixture(scope="module")
def mm_data(tmp_path_factory):
    from phenocast.multimodal import synthetic_multimodal

    root = tmp_path_factory.mktemp("mm-outputs")
    data, _ = synthetic_multimodal(
        n_samples=40, dims={"rna": 6, "morphology": 4}, n_components=4, missing=0.1, seed=1
    )
    with mudata.set_options(pull_on_update=False):
        data.to_mudata().write_h5mu(root / "data.h5mu")
    return root / "data.h5mu"


def test_ctrl_c_in_multimodal_training_writes_no_model(mm_data, tmp_path, monkeypatch):
    from phenocast.models.multimodal._module import MultiModalModule

    def ctrl_c(self, *args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(MultiModalModule, "loss", ctrl_c)
    out = tmp_path / "model"
    result = invoke("multimodal", "train", mm_data, "--out", out, "--epochs", "2")
    assert result.exit_code == 130, result.stdout
    assert "Training was interrupted (Ctrl-C) in epoch 0" in result.text
    assert f"The model directory {out} was not written." in result.text
    assert list(tmp_path.iterdir()) == []


def test_multimodal_train_resumes(mm_data, tmp_path):
    args = ["multimodal", "train", mm_data, "--checkpoint-dir", tmp_path / "ckpt"]
    assert invoke(*args, "--out", tmp_path / "a", "--epochs", "2").exit_code == 0
    more = invoke(*args, "--out", tmp_path / "b", "--epochs", "3", "--resume")
    assert more.exit_code == 0, more.stdout
    assert ": 3 epochs" in more.text
    seed = invoke(*args, "--out", tmp_path / "c", "--epochs", "4", "--resume", "--seed", "9")
    assert seed.exit_code == 2
    assert "it was written by a different run (" in seed.text and "seed 0, not 9" in seed.text


def test_mi_of_a_readout_with_itself_is_refused(mm_data):
    result = invoke("multimodal", "mi", mm_data, "--a", "rna", "--b", "rna", "--n-boot", "2")
    assert result.exit_code == 2
    assert "--a and --b are both 'rna': a readout shares infinite information" in result.text


def test_mi_names_constant_features_and_leaves_them_out(mm_data, tmp_path):
    from phenocast.multimodal import MultiModalData

    with mudata.set_options(pull_on_update=False):
        mdata = mudata.read_h5mu(mm_data)
        rna = mdata.mod["rna"]
        rna.X[:, [0, 2]] = 1.5
        mdata.write_h5mu(tmp_path / "const.h5mu")
    names = list(MultiModalData.from_mudata(mdata).feature_names("rna"))
    result = invoke(
        "multimodal", "mi", tmp_path / "const.h5mu", "--a", "rna", "--b", "morphology",
        "--n-boot", "2", "--groups", "none",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    assert "warning: readout 'rna' has 2 constant feature(s) on these samples" in result.text
    assert f"({names[0]}, {names[2]}); they carry no information and are left out." in result.text
    assert "I(rna; morphology) =" in result.text
