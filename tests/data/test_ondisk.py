"""Data on disk: the block readers, the block writer, synthetic(out=) and register on disk."""

from __future__ import annotations

import anndata as ad
import h5py
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import phenocast as pc
from phenocast.data import (
    DiskDataError,
    MatrixWriter,
    dense_rows,
    is_on_disk,
    read,
    row_blocks,
    take_rows,
)


def _write(path, x, *, sparse, chunk=7):
    var = pd.DataFrame(index=[f"g{i}" for i in range(x.shape[1])])
    with MatrixWriter(path, var, sparse=sparse, chunk_rows=16) as w:
        for s in range(0, x.shape[0], chunk):
            block = x[s : s + chunk]
            obs = pd.DataFrame(
                {"p": ["a"] * block.shape[0]}, index=[f"c{s + i}" for i in range(block.shape[0])]
            )
            w.append(block if sparse else block.toarray(), obs)
        w.close(uns={"note": "hi"})
    return path


@pytest.mark.parametrize("name", ["x.zarr", "x.h5ad"])
@pytest.mark.parametrize("sparse", [True, False])
def test_writer_round_trip_and_block_readers(tmp_path, name, sparse):
    x = sp.random(53, 11, density=0.3, format="csr", dtype=np.float32, random_state=1)
    a = read(_write(tmp_path / name, x, sparse=sparse))
    assert is_on_disk(a) and is_on_disk(a.X)
    assert a.shape == (53, 11) and list(a.obs_names[:2]) == ["c0", "c1"]
    assert a.uns["note"] == "hi"
    want = x.toarray()
    got = np.concatenate([b for *_, b in row_blocks(a.X, block=10)])
    np.testing.assert_array_equal(got, want)
    rows = np.array([0, 3, 4, 30, 52])
    np.testing.assert_array_equal(take_rows(a.X, rows, max_gap=2), want[rows])
    np.testing.assert_array_equal(dense_rows(a.X, 5, 9), want[5:9])
    # nothing but the finished file is left in the folder
    assert sorted(p.name for p in tmp_path.iterdir()) == [name]


@pytest.mark.parametrize("sparse", [True, False])
@pytest.mark.parametrize("dtype", [np.int32, np.float64])
def test_take_rows_gives_float32_rows_of_any_stored_type(tmp_path, sparse, dtype):
    x = sp.random(40, 7, density=0.4, format="csr", dtype=np.float64, random_state=2)
    x.data = np.ceil(x.data * 9)
    a = read(_write(tmp_path / "x.zarr", x.astype(dtype), sparse=sparse))
    want = x.toarray().astype(np.float32)
    for rows in (np.arange(3, 29), np.array([0, 1, 2, 9, 10, 39]), np.array([17])):
        got = take_rows(a.X, rows, max_gap=3)
        assert got.dtype == np.float32 and got.flags.c_contiguous
        np.testing.assert_array_equal(got, want[rows])
        buffer = np.full((len(rows) + 2, 7), -1.0, dtype=np.float32)
        assert take_rows(a.X, rows, out=buffer[2:]) is not None
        np.testing.assert_array_equal(buffer[2:], want[rows])
        assert (buffer[:2] == -1).all()
    with pytest.raises(ValueError, match=r"out must be a float32 array of shape \(2, 7\)"):
        take_rows(a.X, np.array([0, 1]), out=np.zeros((3, 7), dtype=np.float32))


def test_writer_error_leaves_nothing_and_keeps_existing(tmp_path):
    path = tmp_path / "out.zarr"
    x = sp.random(20, 4, density=0.5, format="csr", dtype=np.float32, random_state=0)
    _write(path, x, sparse=True)
    with pytest.raises(FileExistsError, match="overwrite"):
        MatrixWriter(path, pd.DataFrame(index=list("abcd")), sparse=True)
    var = pd.DataFrame(index=list("abcd"))
    with pytest.raises(RuntimeError, match="boom"):
        with MatrixWriter(path, var, sparse=True, overwrite=True) as w:
            w.append(x[:5], pd.DataFrame(index=[f"n{i}" for i in range(5)]))
            raise RuntimeError("boom")
    # the old file is intact and no temporary file is left
    assert read(path).shape == (20, 4)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]
    with pytest.raises(ValueError, match=r"\*.h5ad or \*.zarr"):
        MatrixWriter(tmp_path / "out.csv", var, sparse=True)
    with pytest.raises(ValueError, match="does not fit"):
        with MatrixWriter(tmp_path / "y.h5ad", var, sparse=True) as w:
            w.append(x[:5], pd.DataFrame(index=[f"n{i}" for i in range(4)]))
    with pytest.raises(ValueError, match=r"\{'pca': 4\}, not 5; give one row per written row"):
        with MatrixWriter(tmp_path / "y.h5ad", var, sparse=True) as w:
            w.append(x[:5], pd.DataFrame(index=[f"n{i}" for i in range(5)]))
            w.close(obsm={"pca": np.zeros((4, 2))})
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.zarr"]


def test_read_refuses_what_is_not_anndata(tmp_path):
    with pytest.raises(DiskDataError, match="No file"):
        read(tmp_path / "missing.h5ad")
    (tmp_path / "plain").mkdir()
    with pytest.raises(DiskDataError, match="zarr"):
        read(tmp_path / "plain")
    bad = tmp_path / "bad.h5ad"
    bad.write_text("not hdf5")
    with pytest.raises(DiskDataError, match=r"bad\.h5ad"):
        read(bad)


def test_read_keeps_h5ad_layers_on_disk_and_reads_the_tables(tmp_path):
    x = sp.random(30, 5, density=0.4, format="csr", dtype=np.float32, random_state=2)
    a = ad.AnnData(
        X=x,
        layers={"counts": x * 2, "dense": x.toarray()},
        obsm={"pca": np.arange(60.0).reshape(30, 2)},
        obs=pd.DataFrame({"p": ["a"] * 30}, index=[f"c{i}" for i in range(30)]),
    )
    a.raw = a.copy()
    a.write_h5ad(tmp_path / "a.h5ad")
    b = read(tmp_path / "a.h5ad")
    # anndata's backed mode would load the layers; read keeps them on disk like X
    assert b.isbacked and all(is_on_disk(b.layers[k]) for k in ("counts", "dense"))
    np.testing.assert_array_equal(dense_rows(b.layers["counts"], 3, 9), (x * 2).toarray()[3:9])
    np.testing.assert_array_equal(b.obsm["pca"], a.obsm["pca"])
    assert b.raw is not None and b.raw.shape == (30, 5)
    np.testing.assert_array_equal(b[:4].to_memory().layers["dense"], x.toarray()[:4])
    b.file.close()
    # a file without the encoding metadata of anndata >= 0.8 opens with anndata's reader
    with h5py.File(tmp_path / "a.h5ad", "r+") as f:
        del f.attrs["encoding-type"]
    old = read(tmp_path / "a.h5ad")
    assert old.isbacked and old.shape == (30, 5)
    old.file.close()
    plain = tmp_path / "plain.h5"
    with h5py.File(plain, "w") as f:
        f["x"] = np.zeros(3)
    with pytest.raises(DiskDataError, match="not an AnnData one"):
        read(plain)


def test_synthetic_out_matches_in_memory_and_registers_on_disk(tmp_path):
    kw = dict(n_genes=30, n_perturbations=3, cells_per_condition=6, output="counts", seed=4)
    mem = pc.data.synthetic(**kw)
    disk = pc.data.synthetic(**kw, out=tmp_path / "s.zarr", block=10_000)
    assert is_on_disk(disk)
    np.testing.assert_array_equal(disk.X[:].toarray(), mem.X)
    pd.testing.assert_frame_equal(disk.obs, mem.obs)
    # written in blocks: same shape and obs, other draws, still counts
    blocked = pc.data.synthetic(**kw, out=tmp_path / "b.h5ad", block=25)
    assert blocked.shape == mem.shape
    args = dict(
        perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    r_mem = pc.data.register(mem, **args)
    r_disk = pc.data.register(blocked, **args)
    assert r_disk.x_kind == r_mem.x_kind == "counts"
    assert r_disk.conditions == r_mem.conditions
    assert r_disk.summary["source"]["shape"] == list(mem.shape)
    with pytest.raises(FileExistsError):
        pc.data.synthetic(**kw, out=tmp_path / "s.zarr")


def test_synthetic_n_cells_sets_the_size():
    a = pc.data.synthetic(n_genes=10, n_cells=2000, seed=0)
    assert abs(a.n_obs - 2000) / 2000 < 0.05


def test_register_on_disk_finds_nan_and_detects_a_changed_file(tmp_path):
    x = np.abs(np.random.default_rng(0).normal(size=(40, 5))).astype(np.float32)
    x[33, 2] = np.nan
    var = pd.DataFrame(index=list("abcde"))
    obs = pd.DataFrame({"p": ["ctrl"] * 20 + ["A"] * 20}, index=[f"c{i}" for i in range(40)])
    with MatrixWriter(tmp_path / "n.zarr", var, sparse=False, chunk_rows=8) as w:
        for s in range(0, 40, 8):
            w.append(x[s : s + 8], obs.iloc[s : s + 8])
        w.close()
    with pytest.raises(pc.data.RegistrationError, match="1 NaN"):
        pc.data.register(read(tmp_path / "n.zarr"), perturbation="p", control="ctrl")
    x[33, 2] = 1.0
    path = tmp_path / "ok.h5ad"
    with MatrixWriter(path, var, sparse=False) as w:
        w.append(x, obs)
        w.close()
    reg = pc.data.register(read(path), perturbation="p", control="ctrl")
    assert reg.x_kind == "log-normalized"
    reg.check_genes(read(path))  # unchanged: fine
    with MatrixWriter(path, var, sparse=False, overwrite=True) as w:
        w.append(np.vstack([x, x]), pd.concat([obs, obs.set_axis([f"d{i}" for i in range(40)])]))
        w.close()
    with pytest.raises(DiskDataError, match="changed on disk"):
        reg.check_genes(read(path))


def test_a_chunk_that_fails_to_decode_is_named(tmp_path):
    x = np.arange(64 * 4, dtype=np.float32).reshape(64, 4)
    var = pd.DataFrame(index=list("abcd"))
    obs = pd.DataFrame(index=[f"c{i}" for i in range(64)])
    with MatrixWriter(tmp_path / "d.zarr", var, sparse=False, chunk_rows=16) as w:
        w.append(x, obs)
        w.close()
    chunks = sorted(p for p in (tmp_path / "d.zarr" / "X").iterdir() if p.name[0].isdigit())
    chunks[1].write_bytes(b"not a compressed chunk")
    a = read(tmp_path / "d.zarr")
    np.testing.assert_array_equal(dense_rows(a.X, 0, 16), x[:16])  # other chunks still read
    with pytest.raises(DiskDataError, match=r"rows 0:64 .* corrupt"):
        list(row_blocks(a.X, block=64))
