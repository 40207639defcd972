"""`phenocast screen --shard I/N` and `phenocast screen-merge`: shards written by separate
runs (one in its own process) merge into the very CSV one run writes; bad shard specs and
bad merges are refused by name, writing nothing."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import register, synthetic
from phenocast.models import Compositional
from phenocast.models.compositional import CompositionalConfig

runner = CliRunner()


@pytest.fixture(scope="module")
def files(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli-shard")
    data = synthetic(
        n_genes=30, n_cell_types=2, n_perturbations=4, doses=(0.1, 1, 10),
        cells_per_condition=12, seed=4,
    )  # fmt: skip
    reg = register(
        data, perturbation="perturbation", control="control", dose="dose",
        covariates=["cell_type"],
    )  # fmt: skip
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [16], "train": {"max_epochs": 3, "progress": False}}
    )
    Compositional(reg, cfg).fit(data).save(root / "model")
    data[data.obs["is_control"].to_numpy()].copy().write_h5ad(root / "ctrl.h5ad")
    return root


def invoke(*args: str | Path, env: dict[str, str] | None = None):
    return runner.invoke(app, [str(a) for a in args], terminal_width=300, env=env)


def said(result) -> str:
    return " ".join(result.stdout.split())


def screen_args(files: Path) -> list[str | Path]:
    return ["screen", files / "model", "--order", "2", "--top", "12", "--controls",
            files / "ctrl.h5ad", "--n-cells", "5"]  # fmt: skip


def test_shards_and_merge_write_the_single_run_csv(files, tmp_path):
    whole = tmp_path / "whole.csv"
    result = invoke(*screen_args(files), "--out", whole)
    assert result.exit_code == 0, result.stdout
    shards = tmp_path / "shards"
    for i in (0, 2):
        result = invoke(*screen_args(files), "--shard", f"{i}/3", "--out", shards / f"{i}.json")
        assert result.exit_code == 0, result.stdout
        assert f"shard {i}/3:" in said(result) and "in the screen)" in said(result)
    # shard 1 in a process of its own, as a cluster would run it
    cmd = [sys.executable, "-m", "phenocast.cli", *map(str, screen_args(files)),
           "--shard", "1/3", "--out", str(shards / "1.json")]  # fmt: skip
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=300)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert sorted(p.name for p in shards.iterdir()) == ["0.json", "1.json", "2.json"]
    merged = tmp_path / "merged.csv"
    result = invoke("screen-merge", *sorted(shards.iterdir()), "--out", merged)
    assert result.exit_code == 0, result.stdout
    assert "3 shards merged" in said(result) and "wrote 12 hits" in said(result)
    assert merged.read_text() == whole.read_text()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["merged.csv", "shards", "whole.csv"]


def test_auto_shard_reads_torchrun_variables(files, tmp_path):
    out = tmp_path / "auto.json"
    result = invoke(
        *screen_args(files), "--shard", "auto", "--out", out, env={"RANK": "2", "WORLD_SIZE": "4"}
    )
    assert result.exit_code == 0, result.stdout
    assert "shard 2/4:" in said(result) and out.is_file()


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ("3/2", "--shard: shard index must be < N: got shard 3 of 2; shards are numbered 0 … 1"),
        ("2/2", "shard index must be < N"),
        ("x/2", "--shard: shard must be I/N with integers I and N"),
        ("1/two", "shard must be I/N with integers I and N"),
        ("3", "shard must be I/N with integers I and N (shard I of N, counted from 0; e.g. 0/4)"),
        ("0/0", "--shard: N (the number of shards) must be >= 1, got 0"),
        ("-1/3", "--shard: shard index must be >= 0, got -1"),
    ],
)
def test_bad_shard_specs_are_named(files, tmp_path, spec, message):
    out = tmp_path / "never.json"
    result = invoke(*screen_args(files), "--shard", spec, "--out", out)
    assert result.exit_code == 2, result.stdout
    assert message in said(result)
    assert not out.exists()


def test_a_shard_is_written_as_json(files, tmp_path):
    result = invoke(*screen_args(files), "--shard", "0/2", "--out", tmp_path / "hits.csv")
    assert result.exit_code == 2
    assert "give --out a .json file (e.g. shards/0.json)" in said(result)
    assert not any(tmp_path.iterdir())
    result = invoke(*screen_args(files), "--shard", "auto", "--out", tmp_path / "a.json",
                    env={"RANK": "0"})  # fmt: skip
    assert result.exit_code == 2 and "['WORLD_SIZE'] is not set" in said(result)


@pytest.fixture(scope="module")
def shards(files, tmp_path_factory):
    root = tmp_path_factory.mktemp("shards")
    for i in range(3):
        result = invoke(*screen_args(files), "--shard", f"{i}/3", "--out", root / f"{i}.json")
        assert result.exit_code == 0, result.stdout
    result = invoke(*screen_args(files)[:-2], "--n-cells", "4", "--shard", "1/3", "--out",
                    root / "other-1.json")  # fmt: skip
    assert result.exit_code == 0, result.stdout
    return root


def test_bad_merges_are_named(shards, tmp_path):
    out = tmp_path / "merged.csv"
    bad_csv = tmp_path / "hits.csv"
    bad_csv.write_text("rank,perturbation\n1,P0\n")
    cases = [
        ([shards / "0.json", shards / "2.json"], "shard(s) [1] of 3 are missing"),
        ([shards / "0.json", shards / "1.json", shards / "1.json", shards / "2.json"],
         f"shard 1/3 is given 2 times ({shards / '1.json'}, {shards / '1.json'})"),
        ([shards / "0.json", shards / "other-1.json", shards / "2.json"],
         "The shards come from different screens: start_cells is"),
        ([shards / "0.json", bad_csv], f"{bad_csv} is not a screen result"),
        ([shards / "0.json", tmp_path / "none.json"], "none.json does not exist"),
    ]  # fmt: skip
    for paths, message in cases:
        result = invoke("screen-merge", *paths, "--out", out)
        assert result.exit_code == 2, (paths, result.stdout)
        assert message in said(result), (message, said(result))
        assert not out.exists()
    result = invoke("screen-merge", "--out", out)
    assert result.exit_code == 2 and not out.exists()
