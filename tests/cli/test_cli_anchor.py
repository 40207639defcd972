"""`phenocast train` with an anchor the data cannot validate: a clean refusal, nothing written."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import synthetic

runner = CliRunner()


def test_train_refuses_to_save_an_anchor_that_trained_no_network(tmp_path):
    synthetic(
        n_genes=15, n_cell_types=1, n_perturbations=3, combinations=0, doses=None,
        cells_per_condition=8, seed=0,
    ).write_h5ad(tmp_path / "singles.h5ad")  # fmt: skip
    cfg = tmp_path / "cfg.json"
    cfg.write_text('{"anchor": "additive"}')
    out = tmp_path / "m"
    with pytest.warns(UserWarning, match="cannot choose α on this data"):
        result = runner.invoke(
            app,
            ["train", str(tmp_path / "singles.h5ad"), "--out", str(out), "--config", str(cfg)],
            terminal_width=300,
        )
    text = " ".join(result.stdout.split())
    assert result.exit_code == 2, text
    assert "is its baseline 'additive'" in text and "anchor=None" in text
    assert "was not written" in text and not out.exists()
