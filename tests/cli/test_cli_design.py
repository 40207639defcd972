"""`phenocast design`: one lab cycle from a candidate list and the measurements so far."""

from __future__ import annotations

import json

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


def test_design_lists_and_skips_candidates_without_features(files):
    root, _ = files
    (root / "candidates.txt").write_text("G40\nNOPE1\nG41\nNOPE2\nG42\n")
    result = invoke(root, "--batch-size", "10")
    assert result.exit_code == 0, result.stdout
    text = " ".join(result.stdout.split())
    assert "skipped 2 candidate(s) with no features (user features): NOPE1, NOPE2" in text
    assert set(pd.read_csv(root / "next.csv")["gene"]) == {"G40", "G41", "G42"}
    (root / "candidates.txt").write_text("NOPE1\nNOPE2\n")
    result = invoke(root, "--overwrite")
    assert result.exit_code == 2
    text = " ".join(result.stdout.split())
    assert "None of the 2 unmeasured candidate(s) has features (user features)" in text
    assert "['NOPE1', 'NOPE2']" in text


def test_design_names_bad_input(files):
    root, _ = files
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


def test_design_json_is_what_report_design_reads(files, tmp_path):
    from phenocast.data import register, synthetic
    from phenocast.models import Compositional, CompositionalConfig

    root, y = files
    res = pd.read_csv(root / "results.csv").assign(cycle=[0] * 10 + [1] * 10 + [2] * 10)
    res.to_csv(root / "results.csv", index=False)
    result = invoke(root, "--batch-size", "5", "--json", str(root / "curve.json"),
                    "--hit-threshold", "1.0")  # fmt: skip
    assert result.exit_code == 0, result.stdout
    curve = json.loads((root / "curve.json").read_text())
    hits = (y[:30] >= 1.0).reshape(3, 10).sum(axis=1).cumsum().tolist()
    assert curve == {"batchbald": hits} and hits[-1] > hits[0]

    cells = synthetic(n_genes=12, n_perturbations=2, doses=(1,), cells_per_condition=8, seed=0)
    cfg = CompositionalConfig.from_dict({"train": {"max_epochs": 1, "progress": False}})
    Compositional(register(cells, perturbation="perturbation", control="control"), cfg).fit(
        cells
    ).save(tmp_path / "model")
    out = tmp_path / "report.html"
    result = runner.invoke(
        app,
        ["report", str(tmp_path / "model"), "--out", str(out), "--design",
         str(root / "curve.json")],
        terminal_width=300,
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    page = out.read_text()
    assert 'data-figure="active-learning"' in page
    assert f"batchbald: {hits[-1]} after 3 cycles" in page


def test_design_json_names_a_bad_cycle_column(files):
    root, _ = files
    res = pd.read_csv(root / "results.csv").assign(cycle="first")
    res.to_csv(root / "results.csv", index=False)
    result = invoke(root, "--json", str(root / "curve.json"))
    assert result.exit_code == 2
    assert "column 'cycle' must hold whole numbers" in " ".join(result.stdout.split())
    assert not (root / "curve.json").exists()


def _helps(command, path=()):
    """Every help text of ``command`` and its subcommands, with where it is."""
    yield (*path, "(help)"), command.help or ""
    for param in command.params:
        yield (*path, param.name), getattr(param, "help", None) or ""
    for name, sub in getattr(command, "commands", {}).items():
        yield from _helps(sub, (*path, name))


def test_no_help_text_is_eaten_as_rich_markup():
    import typer
    from rich.text import Text

    texts = list(_helps(typer.main.get_command(app)))
    assert len(texts) > 50
    eaten = {
        where: text
        for where, text in texts
        if Text.from_markup(text).plain != text.replace("\\[", "[")
    }
    assert not eaten, eaten


def test_report_help_shows_the_design_format():
    result = runner.invoke(app, ["report", "--help"], terminal_width=300)
    assert result.exit_code == 0
    text = " ".join(result.stdout.replace("│", " ").split())  # the help box wraps lines
    assert "JSON {strategy: [cumulative hits after" in text


def test_design_proposes_gene_pairs(tmp_path):
    rng = np.random.default_rng(1)
    genes = [f"G{i}" for i in range(25)]
    x = rng.standard_normal((25, 4))
    feats = pd.DataFrame(x, columns=[f"f{j}" for j in range(4)])
    feats.insert(0, "gene", genes)
    feats.to_csv(tmp_path / "features.csv", index=False)
    pairs = [f"{a}+{b}" for k, a in enumerate(genes) for b in genes[k + 1 :]]
    (tmp_path / "candidates.txt").write_text("\n".join(pairs) + "\n")
    done = ["+".join(reversed(p.split("+"))) for p in pairs[:40]]  # either order
    y = rng.standard_normal(40)
    pd.DataFrame({"gene": done, "value": y}).to_csv(tmp_path / "results.csv", index=False)
    pd.DataFrame({"gene": genes, "value": x[:, 0]}).to_csv(tmp_path / "singles.csv", index=False)
    args = ["--pairs", "--singles", str(tmp_path / "singles.csv"), "--acquisition",
            "pair-portfolio", "--batch-size", "12"]  # fmt: skip
    result = invoke(tmp_path, *args)
    assert result.exit_code == 0, result.stdout
    batch = pd.read_csv(tmp_path / "next.csv")
    chosen = [p.split("+") for p in batch["gene"]]
    assert len(batch) == 12 and all(a < b for a, b in chosen)  # the pool's names: A < B
    assert not {frozenset(p) for p in chosen} & {frozenset(p.split("+")) for p in pairs[:40]}
    assert batch["reason"].str.startswith("portfolio arm").all()
    # bad input is named
    (tmp_path / "next.csv").unlink()
    bad = invoke(tmp_path, "--singles", str(tmp_path / "singles.csv"))
    assert bad.exit_code == 2 and "it needs --pairs" in bad.stdout
    (tmp_path / "candidates.txt").write_text("G1+G1\n")
    bad = invoke(tmp_path, "--pairs")
    assert bad.exit_code == 2 and "two different genes" in bad.stdout
