"""`phenocast train` and `phenocast predict` on synthetic data, and their errors."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import synthetic

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli")
    data = synthetic(
        n_genes=30,
        n_cell_types=2,
        n_perturbations=3,
        doses=(0.1, 1, 10),
        cells_per_condition=15,
        seed=2,
    )
    data.write_h5ad(root / "train.h5ad")
    ctrl = data[data.obs["is_control"].to_numpy()]
    pick = [ctrl[(ctrl.obs["cell_type"] == ct).to_numpy()][:5] for ct in ("T0", "T1")]
    ad.concat(pick).write_h5ad(root / "ctrl.h5ad")  # 5 start cells of each cell type
    pd.DataFrame(
        {"perturbation": ["P0", "P1+P2"], "dose": ["1", "1+0.1"], "cell_type": ["T0", "T1"]}
    ).to_csv(root / "cond.csv", index=False)
    result = runner.invoke(
        app,
        [
            "train",
            str(root / "train.h5ad"),
            "--out",
            str(root / "model"),
            "--dose",
            "dose",
            "-c",
            "cell_type",
            "--epochs",
            "3",
        ],
        terminal_width=200,
    )
    assert result.exit_code == 0, result.stdout
    return root


def test_train_writes_a_model_directory(files):
    assert {p.name for p in (files / "model").iterdir()} == {
        "config.json",
        "registry.json",
        "weights.pt",
    }


def test_predict_per_cell_and_mean(files):
    out = files / "pred.h5ad"
    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    result = runner.invoke(app, [*args, "--controls", str(files / "ctrl.h5ad"), "--out", str(out)])
    assert result.exit_code == 0, result.stdout
    pred = ad.read_h5ad(out)
    # each condition from the 5 start cells of its own cell type
    assert pred.shape == (10, 30) and set(pred.layers) == {"mean", "variance"}
    assert pred.obs["dose"].tolist()[-1] == "1+0.1"
    assert pred.obs["source_cell_type"].tolist() == ["T0"] * 5 + ["T1"] * 5
    assert not pred.obs["extrapolated"].any()
    result = runner.invoke(app, [*args, "--out", str(files / "mean.h5ad")])
    assert result.exit_code == 0, result.stdout
    assert ad.read_h5ad(files / "mean.h5ad").shape == (2, 30)


def test_predict_errors(files, tmp_path):
    bad = tmp_path / "bad.csv"
    pd.DataFrame({"perturbation": ["P7"], "dose": ["1"], "cell_type": ["T0"]}).to_csv(
        bad, index=False
    )
    result = runner.invoke(
        app,
        [
            "predict",
            str(files / "model"),
            "--conditions",
            str(bad),
            "--out",
            str(tmp_path / "x.h5ad"),
        ],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "'P7'" in result.stdout and "Known components" in result.stdout
    assert not (tmp_path / "x.h5ad").exists()
    result = runner.invoke(
        app,
        ["predict", str(tmp_path), "--conditions", str(bad), "--out", str(tmp_path / "x.h5ad")],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "config.json is missing" in " ".join(result.stdout.split())


def test_train_errors(files, tmp_path):
    result = runner.invoke(
        app,
        ["train", str(files / "train.h5ad"), "--out", str(tmp_path / "m"), "--control", "DMSO"],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "Control label 'DMSO' does not occur" in result.stdout
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"latent_dims": 4}')
    result = runner.invoke(
        app,
        ["train", str(files / "train.h5ad"), "--out", str(tmp_path / "m"), "--config", str(cfg)],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "Unknown option(s) ['latent_dims']" in result.stdout
    result = runner.invoke(
        app, ["train", str(tmp_path / "none.h5ad"), "--out", str(tmp_path / "m")]
    )
    assert result.exit_code == 2 and "does not exist" in " ".join(result.stdout.split())
    result = runner.invoke(
        app,
        ["train", str(files / "train.h5ad"), "--out", str(tmp_path / "m"), "--features", "gos"],
        terminal_width=300,
    )
    assert result.exit_code == 2 and "features must name a featuriser" in result.stdout
    assert "go_svd" in result.stdout


def test_screen_writes_ranked_hits(files):
    (files / "sig.csv").write_text("gene,direction\n" + "\n".join(
        f"{g},{d}" for g, d in zip(ad.read_h5ad(files / "ctrl.h5ad").var_names[:4],
                                   ["up", "up", "down", "down"], strict=True)
    ))  # fmt: skip
    out = files / "hits.csv"
    result = runner.invoke(
        app,
        ["screen", str(files / "model"), "--order", "2", "--doses", "0.1,10", "--cell-type",
         "T0", "--target", str(files / "sig.csv"), "--top", "5", "--out", str(out),
         "--controls", str(files / "ctrl.h5ad"), "--n-cells", "5"],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    hits = pd.read_csv(out)
    assert len(hits) == 5 and list(hits["rank"]) == [1, 2, 3, 4, 5]
    assert (hits["cell_type"] == "T0").all()
    assert hits["score"].is_monotonic_decreasing
    assert (hits["score"] == hits["target_similarity"]).all()
    assert "3 perturbations" not in result.stdout and "conditions scored by 'target'" in (
        " ".join(result.stdout.split())
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--perturbations", "P0,P7"], "Unknown perturbation(s) ['P7']"),
        (["--doses", "1,100"], "P0 at 100 (trained 0.1–10)"),
        (["--doses", "1,lots"], "--doses must be numbers"),
        (["--cell-type", "T9"], "Unknown value(s) ['T9'] of covariate 'cell_type'"),
        (["--target", "missing.csv"], "target file missing.csv does not exist"),
        (["--score", "non-additivity", "--order", "1"], "needs combinations"),
        (["--order", "0"], "max_order (--order) must be an integer >= 1, got 0"),
        (["--order", "2", "--min-order", "3"], "min_order (3) is larger than max_order (2)"),
        (["--max-conditions", "5"], "more than max_conditions=5"),
    ],
)
def test_screen_errors_are_named(files, args, message):
    result = runner.invoke(
        app,
        ["screen", str(files / "model"), "--out", str(files / "never.csv"), *args],
        terminal_width=300,
    )
    assert result.exit_code == 2
    assert message in " ".join(result.stdout.split())
    assert not (files / "never.csv").exists()


def test_screen_refuses_a_target_file_without_values(files):
    bad = files / "bad.csv"
    bad.write_text("gene,weight\nG1,1\n")
    result = runner.invoke(
        app,
        ["screen", str(files / "model"), "--out", str(files / "never.csv"), "--target", str(bad)],
        terminal_width=300,
    )
    assert result.exit_code == 2
    assert "needs a 'value' or a 'direction' column" in " ".join(result.stdout.split())


def test_report_writes_one_html_page(files):
    hits = files / "report-hits.csv"
    result = runner.invoke(app, ["screen", str(files / "model"), "--top", "10", "--out", str(hits)])
    assert result.exit_code == 0, result.stdout
    (files / "design.json").write_text('{"random": [0, 1, 1], "greedy": [1, 2, 4]}')
    out = files / "report.html"
    result = runner.invoke(
        app,
        ["report", str(files / "model"), "--out", str(out), "--data", str(files / "train.h5ad"),
         "--screen", str(hits), "--design", str(files / "design.json"), "--dose-response", "P0",
         "--title", "cli <test>"],
        terminal_width=200,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    page = out.read_text()
    for name in ("latent-cells", "latent-perturbations", "dose-response", "screen-hits",
                 "active-learning"):  # fmt: skip
        assert f'data-figure="{name}"' in page, name
    assert "cli &lt;test&gt;" in page and "<script" not in page


def test_report_errors_are_named(files):
    out = files / "never.html"
    bad = files / "bad.json"
    bad.write_text("{not json")
    for args, message in (
        (["--benchmark", str(files / "nope.json")], "does not exist"),
        (["--design", str(bad)], "is not valid JSON"),
        (["--dose-response", "P9"], "P9"),
    ):
        result = runner.invoke(
            app, ["report", str(files / "model"), "--out", str(out), *args], terminal_width=300
        )
        assert result.exit_code == 2, (args, result.stdout)
        assert message in " ".join(result.stdout.split()), (args, result.stdout)
    assert not out.exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene,value\nG1,1\nG2,lots\n", "column 'value' is not a number for genes ['G2']"),
        ("gene,value\nG1,1\nG1,2\n", "genes listed twice: ['G1']"),
        ("gene,direction\nG1,up\nG2,sideways\n", "must be 'up' or 'down', found ['sideways']"),
        ("name,value\nG1,1\n", "needs a 'gene' column"),
    ],
)
def test_screen_target_files_are_checked(files, text, message):
    bad = files / "target.csv"
    bad.write_text(text)
    result = runner.invoke(
        app,
        ["screen", str(files / "model"), "--out", str(files / "never.csv"), "--target", str(bad)],
        terminal_width=300,
    )
    assert result.exit_code == 2
    assert message in " ".join(result.stdout.split())


def test_train_and_predict_on_disk_when_the_data_are_large(files, tmp_path, monkeypatch):
    import numpy as np

    import phenocast.train

    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    args += ["--controls", str(files / "ctrl.h5ad")]
    small = tmp_path / "small.h5ad"
    assert runner.invoke(app, [*args, "--out", str(small)]).exit_code == 0
    # pretend every matrix is too large for memory: read on disk, predictions streamed
    monkeypatch.setattr(phenocast.train, "DENSE_LIMIT_BYTES", 1)
    large = tmp_path / "large.h5ad"
    result = runner.invoke(app, [*args, "--out", str(large)])
    assert result.exit_code == 0, result.stdout
    a, b = ad.read_h5ad(small), ad.read_h5ad(large)
    assert list(a.obs_names) == list(b.obs_names)
    np.testing.assert_allclose(b.X, a.layers["mean"], rtol=1e-5, atol=1e-6)
    # training from a zarr store on disk
    synthetic(
        n_genes=30, n_perturbations=3, cells_per_condition=15, seed=2, out=tmp_path / "t.zarr"
    )
    train = ["train", str(tmp_path / "t.zarr"), "--out", str(tmp_path / "m"), "--dose", "dose"]
    result = runner.invoke(app, [*train, "-c", "cell_type", "--epochs", "2"], terminal_width=200)
    assert result.exit_code == 0, result.stdout
    assert (tmp_path / "m" / "weights.pt").is_file()


def test_outputs_are_checked_before_any_work(files, tmp_path):
    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    taken = tmp_path / "taken.h5ad"
    taken.write_text("the user's file")
    for out, message in [
        (taken, "exists; pass --overwrite"),
        (tmp_path, "is a directory; give a file name"),
        (taken / "x.h5ad", "is a file, not a folder"),
    ]:
        result = runner.invoke(app, [*args, "--out", str(out)], terminal_width=300)
        assert result.exit_code == 2, result.stdout
        assert message in " ".join(result.stdout.split())
    assert taken.read_text() == "the user's file"  # untouched
    result = runner.invoke(app, [*args, "--out", str(taken), "--overwrite"])
    assert result.exit_code == 0, result.stdout
    screen = ["screen", str(files / "model"), "--out", str(taken)]
    result = runner.invoke(app, screen, terminal_width=300)
    assert result.exit_code == 2 and "exists; pass --overwrite" in " ".join(result.stdout.split())
    train = ["train", str(files / "train.h5ad"), "--out", str(taken), "--dose", "dose"]
    result = runner.invoke(app, train, terminal_width=300)
    assert result.exit_code == 2
    assert "is a file, not a directory" in " ".join(result.stdout.split())


def predict_cli(files, conditions, out, *extra):
    args = ["predict", str(files / "model"), "--conditions", str(conditions), "--out", str(out)]
    result = runner.invoke(app, [*args, *extra], terminal_width=300)
    return result, " ".join(result.stdout.split())


def test_predict_cross_context(files, tmp_path):
    ctrl = ["--controls", str(files / "ctrl.h5ad")]
    crossed = tmp_path / "crossed.h5ad"
    result, _ = predict_cli(files, files / "cond.csv", crossed, *ctrl, "--cross-context")
    assert result.exit_code == 0, result.stdout
    pred = ad.read_h5ad(crossed)
    assert pred.n_obs == 20  # every start cell under each condition
    assert pred.obs["source_cell_type"].tolist() == (["T0"] * 5 + ["T1"] * 5) * 2
    t1 = tmp_path / "t1.csv"
    pd.DataFrame({"perturbation": ["P0"], "dose": ["1"], "cell_type": ["T1"]}).to_csv(
        t1, index=False
    )
    only_t0 = tmp_path / "t0.h5ad"
    cells = ad.read_h5ad(files / "ctrl.h5ad")
    cells[(cells.obs["cell_type"] == "T0").to_numpy()].copy().write_h5ad(only_t0)
    result, text = predict_cli(files, t1, tmp_path / "x.h5ad", "--controls", str(only_t0))
    assert result.exit_code == 2 and "cell_type='T1'" in text and "--cross-context" in text


def test_predict_extrapolate_and_the_dose_column(files, tmp_path):
    far = tmp_path / "far.csv"
    pd.DataFrame(
        {"perturbation": ["P0", "P1"], "dose": ["1", "500"], "cell_type": ["T0"] * 2}
    ).to_csv(far, index=False)
    for i, extra in enumerate(([], ["--controls", str(files / "ctrl.h5ad")])):
        out = tmp_path / f"far{i}.h5ad"
        result, text = predict_cli(files, far, out, *extra)
        assert result.exit_code == 2 and "P1 at 500 (trained 0.1–10)" in text, text
        assert "--extrapolate" in text and not out.exists()
        result, _ = predict_cli(files, far, out, *extra, "--extrapolate")
        assert result.exit_code == 0, result.stdout
        obs = ad.read_h5ad(out).obs
        flags = dict(zip(obs["perturbation"].astype(str), obs["extrapolated"], strict=True))
        assert flags == {"P0": False, "P1": True}
    nodose = tmp_path / "nodose.csv"
    pd.DataFrame({"perturbation": ["P0"], "cell_type": ["T0"]}).to_csv(nodose, index=False)
    result, text = predict_cli(files, nodose, tmp_path / "n.h5ad")
    assert result.exit_code == 2 and "lacks the dose column 'dose'" in text


def test_predict_residual_cells(files, tmp_path):
    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    plain, cells = tmp_path / "plain.h5ad", tmp_path / "cells.h5ad"
    start = ["--controls", str(files / "ctrl.h5ad")]
    assert runner.invoke(app, [*args, *start, "--out", str(plain)]).exit_code == 0
    result = runner.invoke(app, [*args, *start, "--residual", "--out", str(cells)])
    assert result.exit_code == 0, result.stdout
    a, b = ad.read_h5ad(plain), ad.read_h5ad(cells)
    np.testing.assert_allclose(b.layers["mean"], a.X, rtol=1e-5, atol=1e-6)
    assert not np.allclose(b.X, a.X)  # the start cells' own residuals were added
    result = runner.invoke(app, [*args, "--residual", "--out", str(tmp_path / "x.h5ad")])
    assert result.exit_code == 2 and "give --controls" in result.stdout
    assert not (tmp_path / "x.h5ad").exists()


def test_predict_residual_refuses_an_output_too_large_to_hold(files, tmp_path, monkeypatch):
    import phenocast.train

    monkeypatch.setattr(phenocast.train, "DENSE_LIMIT_BYTES", 100)  # 20 cells × 30 genes: more
    args = ["predict", str(files / "model"), "--conditions", str(files / "cond.csv")]
    out = tmp_path / "x.h5ad"
    start = ["--controls", str(files / "ctrl.h5ad")]
    result = runner.invoke(app, [*args, *start, "--residual", "--out", str(out)])
    assert result.exit_code == 2 and "holds the predictions in memory" in result.stdout
    assert "drop --residual" in result.stdout and not out.exists()
