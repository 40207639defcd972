"""`phenocast synthetic` and `phenocast convert`: files larger than memory, and errors."""

from __future__ import annotations

import inspect

import numpy as np
import pytest
from typer.testing import CliRunner

from phenocast.cli import app
from phenocast.data import convert, read, row_blocks, synthetic

runner = CliRunner()


def invoke(*args: str):
    result = runner.invoke(app, [str(a) for a in args], terminal_width=200)
    result.text = " ".join(result.stdout.split())  # rich wraps long messages
    return result


def _dense(m) -> np.ndarray:
    return np.concatenate([b for *_, b in row_blocks(m, block=500)])


@pytest.fixture(scope="module")
def screen(tmp_path_factory):
    root = tmp_path_factory.mktemp("cli_data")
    result = invoke(
        "synthetic", "--cells", 600, "--genes", 12, "--perturbations", 3, "--cell-types", 2,
        "--output", "counts", "--seed", 5, "--out", root / "s.zarr",
    )  # fmt: skip
    assert result.exit_code == 0, result.stdout
    return root, result


def test_synthetic_writes_the_library_s_data_and_says_so(screen):
    root, result = screen
    disk = read(root / "s.zarr")
    assert abs(disk.n_obs - 600) / 600 < 0.05 and disk.n_vars == 12
    assert disk.uns["phenocast"]["x_kind"] == "counts"
    assert set(disk.obs["cell_type"]) == {"T0", "T1"}
    assert f"wrote {disk.n_obs:,} × 12 (CSR, counts) to {root / 's.zarr'} in" in result.text
    mem = synthetic(n_cells=600, n_genes=12, n_perturbations=3, output="counts", seed=5)
    np.testing.assert_array_equal(_dense(disk.X), mem.X)


def test_synthetic_refusals(screen, tmp_path):
    root, _ = screen
    again = invoke("synthetic", "--out", root / "s.zarr", "--genes", 5)
    assert again.exit_code == 2
    assert f"--out {root / 's.zarr'} exists; pass --overwrite" in again.text
    bad = invoke("synthetic", "--out", tmp_path / "x.zarr", "--output", "count")
    assert bad.exit_code == 2 and "output must be one of" in bad.text and "'count'" in bad.text
    assert not list(tmp_path.iterdir())


def test_convert_shuffles_to_dense_h5ad_with_a_summary(screen, tmp_path):
    root, _ = screen
    src = read(root / "s.zarr")
    out = tmp_path / "shuffled.h5ad"
    args = ["convert", root / "s.zarr", out, "--shuffle", "--seed", 1, "--dense"]
    result = invoke(*args, "--chunk-rows", 16, "--block", 128)
    assert result.exit_code == 0, result.stdout
    assert f"(dense, shuffled, seed 1) to {out} in" in result.text
    got = read(out)
    idx = src.obs_names.get_indexer(got.obs_names)
    assert sorted(idx) == list(range(src.n_obs)) and not np.array_equal(idx, np.sort(idx))
    np.testing.assert_array_equal(got.X[:], _dense(src.X)[idx])
    assert got.X.chunks == (16, 12)
    # the same seed through the library gives the same order
    again = convert(root / "s.zarr", tmp_path / "lib.zarr", shuffle=True, seed=1, block=128)
    assert list(again.obs_names) == list(got.obs_names)
    got.file.close()


def test_convert_refusals(screen, tmp_path):
    root, _ = screen
    missing = invoke("convert", tmp_path / "none.h5ad", tmp_path / "o.zarr")
    assert missing.exit_code == 2 and "No file or directory at" in missing.text
    same = invoke("convert", root / "s.zarr", root / "s.zarr", "--overwrite")
    assert same.exit_code == 2 and "is the input" in same.text
    layer = invoke("convert", root / "s.zarr", tmp_path / "o.zarr", "--layer", "counts")
    assert layer.exit_code == 2 and "Layer 'counts' not found" in layer.text
    assert "available layers: none" in layer.text
    (tmp_path / "o.h5ad").write_text("keep me")
    exists = invoke("convert", root / "s.zarr", tmp_path / "o.h5ad")
    assert exists.exit_code == 2 and "exists; pass --overwrite to replace it" in exists.text
    assert (tmp_path / "o.h5ad").read_text() == "keep me"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["o.h5ad"]


def test_the_options_take_the_library_s_defaults():
    help_text = invoke("convert", "--help").text
    for name in ("chunk_rows", "block", "seed"):
        default = inspect.signature(convert).parameters[name].default
        assert f"[default: {default}]" in help_text
    help_text = invoke("synthetic", "--help").text
    assert f"[default: {inspect.signature(synthetic).parameters['n_genes'].default}]" in help_text
