"""`phenocast design`: one lab cycle from a candidate list and the measurements so far."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from phenocast.cli import app

runner = CliRunner()


@pytest.fixture
def files(tmp_path):
    rng = np.random.default_rng(0)
    genes = [f"G{i}" for i in range(120)]
    x = rng.standard_normal((120, 5))
    feats = pd.DataFrame(x, columns=[f"f{j}" for j in range(5)])
    feats.insert(0, "gene", genes)
    feats.to_csv(tmp_path / "features.csv", index=False)
    y = x @ np.array([2.0, -1.0, 0.5, 0.0, 0.0])
    pd.DataFrame({"gene": genes[:30], "value": y[:30]}).to_csv(
        tmp_path / "results.csv", index=False
    )
    (tmp_path / "candidates.txt").write_text("\n".join(genes) + "\n")
    return tmp_path, y


def invoke(root, *args):
    return runner.invoke(
        app,
        ["design", "--candidates", str(root / "candidates.txt"), "--results",
         str(root / "results.csv"), "--features", str(root / "features.csv"), "--out",
         str(root / "next.csv"), *args],
        terminal_width=300,
    )  # fmt: skip


@pytest.mark.parametrize(
    ("mode", "criterion"), [("explore", "batchbald"), ("exploit", "portfolio")]
)
def test_design_proposes_unmeasured_genes_with_reasons(files, mode, criterion):
    root, y = files
    result = invoke(root, "--mode", mode, "--batch-size", "10")
    assert result.exit_code == 0, result.stdout
    batch = pd.read_csv(root / "next.csv")
    assert len(batch) == 10 and batch["gene"].is_unique
    assert not set(batch["gene"]) & {f"G{i}" for i in range(30)}
    assert (batch["criterion"] == criterion).all() and batch["reason"].notna().all()
    assert (batch["uncertainty"] > 0).all()
    if mode == "exploit":  # without a graph or essential genes: hit-model, greedy and random
        arm = batch["reason"].str.extract(r"^portfolio arm (\S+) ")[0]
        assert set(arm) <= {"hit-model", "greedy", "random"} and arm.nunique() >= 2
        top = {f"G{i}" for i in np.argsort(-y[30:])[:20] + 30}
        modelled = batch.loc[arm != "random", "gene"]
        assert len(set(modelled) & top) >= 0.7 * len(modelled)  # the model arms: true top genes


def test_design_names_bad_input(files):
    root, _ = files
    (root / "candidates.txt").write_text("G1\nNOPE1\nG2\nNOPE2\n")
    result = invoke(root)
    assert result.exit_code == 2
    assert "2 candidate(s) have no features" in " ".join(result.stdout.split())
    assert "['NOPE1', 'NOPE2']" in result.stdout
    (root / "candidates.txt").write_text("G50\nG51\n")
    res = pd.read_csv(root / "results.csv")
    pd.concat([res, res.head(1)]).to_csv(root / "results.csv", index=False)
    result = invoke(root)
    assert result.exit_code == 2 and "measures ['G0'] more than once" in result.stdout
    res.rename(columns={"value": "lfc"}).to_csv(root / "results.csv", index=False)
    result = invoke(root)
    assert result.exit_code == 2 and "needs 'gene' and 'value'" in " ".join(result.stdout.split())
    res.to_csv(root / "results.csv", index=False)
    result = invoke(root, "--mode", "both")
    assert result.exit_code == 2 and "mode must be 'explore' or 'exploit'" in result.stdout
    assert not (root / "next.csv").exists()


def test_design_without_features_needs_go_in_the_data_dir(files):
    root, _ = files
    result = runner.invoke(
        app,
        ["design", "--candidates", str(root / "candidates.txt"), "--results",
         str(root / "results.csv"), "--data-dir", str(root / "empty"), "--out",
         str(root / "next.csv")],
        terminal_width=300,
    )  # fmt: skip
    assert result.exit_code == 2 and "gene2go" in result.stdout
    assert " ".join(result.stdout.split()).endswith("(or pass --features).")
    assert not (root / "next.csv").exists()


def test_design_with_the_hit_model_ranks_by_hit_probability(files):
    root, y = files
    result = invoke(root, "--acquisition", "hit-model", "--batch-size", "10")
    assert result.exit_code == 0, result.stdout
    batch = pd.read_csv(root / "next.csv")
    assert (batch["criterion"] == "hit-model").all()
    assert batch["reason"].str.startswith("predicted hit probability").all()
    top = {f"G{i}" for i in np.argsort(-y[30:])[:20] + 30}
    assert len(set(batch["gene"]) & top) >= 5  # the top decile is learnable here


def test_design_names_a_missing_llm_backend(files, monkeypatch):
    for var in ("PHENOCAST_LLM_URL", "PHENOCAST_LLM_MODEL", "PHENOCAST_LLM_BACKEND"):
        monkeypatch.delenv(var, raising=False)
    root, _ = files
    result = invoke(root, "--acquisition", "llm")
    assert result.exit_code == 2
    assert "needs a backend" in " ".join(result.stdout.split())
    assert not (root / "next.csv").exists()
