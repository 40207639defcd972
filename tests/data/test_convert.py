"""convert: copies that equal their source, shuffles that are seeded permutations, formats and
storage changed, refusals, and nothing half-written when it fails."""

from __future__ import annotations

import warnings

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from phenocast.data import DiskDataError, convert, read, row_blocks

N, G = 300, 6


def _dense(m) -> np.ndarray:
    return np.concatenate([b for *_, b in row_blocks(m, block=50)])


@pytest.fixture(scope="module")
def source(tmp_path_factory):
    """An .h5ad (sparse X, a counts layer, obsm, uns, obs columns) and the same as zarr."""
    root = tmp_path_factory.mktemp("convert")
    rng = np.random.default_rng(0)
    counts = sp.random(N, G, density=0.4, format="csr", random_state=1, dtype=np.float32)
    counts.data = np.round(counts.data * 20) + 1
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(np.repeat(["control", "A", "B"], N // 3)),
            "dose": rng.uniform(size=N),
        },
        index=[f"cell{i}" for i in range(N)],
    )
    adata = ad.AnnData(
        X=sp.csr_matrix(np.log1p(counts.toarray())),
        obs=obs,
        var=pd.DataFrame({"symbol": list("abcdef")}, index=[f"G{i}" for i in range(G)]),
        layers={"counts": counts},
        obsm={"pca": rng.normal(size=(N, 2))},
        uns={"phenocast": {"x_kind": "log-normalized"}},
    )
    adata.write_h5ad(root / "src.h5ad")
    convert(root / "src.h5ad", root / "src.zarr")
    return root, adata


def _check_rows_match(out, want: ad.AnnData) -> np.ndarray:
    """``out``'s rows are ``want``'s rows under their names; return their positions in want."""
    idx = want.obs_names.get_indexer(out.obs_names)
    assert (idx >= 0).all() and len(np.unique(idx)) == want.n_obs == out.n_obs
    np.testing.assert_array_equal(_dense(out.X), want.X.toarray()[idx])
    np.testing.assert_array_equal(
        _dense(out.layers["counts"]), want.layers["counts"].toarray()[idx]
    )
    pd.testing.assert_frame_equal(out.obs, want.obs.iloc[idx])
    pd.testing.assert_frame_equal(out.var, want.var)
    np.testing.assert_array_equal(out.obsm["pca"], want.obsm["pca"][idx])
    assert {k: v for k, v in out.uns.items() if k != "phenocast_source"} == want.uns
    return idx


@pytest.mark.parametrize(
    ("src", "dst"),
    [
        ("src.h5ad", "o.zarr"),
        ("src.zarr", "o.h5ad"),
        ("src.h5ad", "o.h5ad"),
        ("src.zarr", "o.zarr"),
    ],
)
def test_a_copy_without_shuffle_equals_the_source(source, tmp_path, src, dst):
    root, adata = source
    out = convert(root / src, tmp_path / dst, chunk_rows=64, block=70)
    idx = _check_rows_match(out, adata)
    np.testing.assert_array_equal(idx, np.arange(N))
    assert sp.issparse(out.X[:5]) and sorted(p.name for p in tmp_path.iterdir()) == [dst]


def test_shuffle_is_a_seeded_permutation_mixed_in_windows(source, tmp_path):
    root, adata = source
    out = convert(root / "src.h5ad", tmp_path / "s.zarr", shuffle=True, seed=3, block=128)
    idx = _check_rows_match(out, adata)
    assert not np.array_equal(idx, np.arange(N))
    # pieces of 128 // 32 = 4 source rows stay in one output window of 128 rows, and a window
    # draws on pieces from all over the file
    window = np.empty(N, dtype=int)
    window[idx] = np.arange(N) // 128
    assert (window.reshape(-1, 4) == window[::4, None]).all()
    assert len(np.unique(window)) == 3 and np.ptp(idx[:128]) > N / 2
    same = convert(root / "src.zarr", tmp_path / "same.h5ad", shuffle=True, seed=3, block=128)
    assert list(same.obs_names) == list(out.obs_names)
    other = convert(
        root / "src.h5ad", tmp_path / "o.zarr", shuffle=True, seed=np.random.default_rng(4)
    )
    assert list(other.obs_names) != list(out.obs_names)
    # N <= block: one window, every row anywhere
    _check_rows_match(other, adata)


def test_storage_layer_and_chunks_change(source, tmp_path):
    root, adata = source
    dense = convert(root / "src.h5ad", tmp_path / "d.zarr", sparse=False, chunk_rows=32)
    assert not sp.issparse(dense.X[:2]) and dense.X.chunks == (32, G)
    _check_rows_match(dense, adata)
    back = convert(tmp_path / "d.zarr", tmp_path / "s.h5ad", sparse=True, progress=True)
    assert sp.issparse(back.X[:2])
    _check_rows_match(back, adata)
    back.file.close()
    counts = convert(root / "src.zarr", tmp_path / "c.h5ad", layer="counts", sparse=False)
    assert not counts.layers and counts.X.dtype == np.float32
    np.testing.assert_array_equal(counts.X[:], adata.layers["counts"].toarray())
    counts.file.close()


def test_refusals_name_the_problem(source, tmp_path):
    root, _ = source
    with pytest.raises(DiskDataError, match="No file"):
        convert(tmp_path / "missing.h5ad", tmp_path / "o.zarr")
    with pytest.raises(FileExistsError, match="overwrite=True"):
        convert(root / "src.h5ad", root / "src.zarr")
    with pytest.raises(ValueError, match="is the input"):
        convert(root / "src.h5ad", root / "src.h5ad", overwrite=True)
    with pytest.raises(ValueError, match=r"'count' not found .* available layers: \['counts'\]"):
        convert(root / "src.h5ad", tmp_path / "o.zarr", layer="count")
    with pytest.raises(ValueError, match=r"\*\.h5ad or \*\.zarr"):
        convert(root / "src.h5ad", tmp_path / "o.loom")
    with pytest.raises(ValueError, match="chunk_rows must be an integer >= 1, got 0"):
        convert(root / "src.h5ad", tmp_path / "o.zarr", chunk_rows=0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # anndata warns of the repeated names
        dup = ad.AnnData(np.zeros((3, 2), np.float32), obs=pd.DataFrame(index=["a", "b", "a"]))
        dup.write_h5ad(tmp_path / "dup.h5ad")
        with pytest.raises(ValueError, match=r"repeats obs names \(e.g. \['a'\]\)"):
            convert(tmp_path / "dup.h5ad", tmp_path / "o.zarr")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["dup.h5ad"]


@pytest.mark.parametrize("dst", ["out.zarr", "out.h5ad"])
def test_a_failure_part_way_leaves_nothing_and_keeps_the_old_output(
    source, tmp_path, monkeypatch, dst
):
    root, adata = source
    convert(root / "src.h5ad", tmp_path / dst, block=100)
    from phenocast.data import _convert

    calls = []
    real = _convert._block_of

    def failing(x, start, stop):
        calls.append(start)
        if len(calls) > 3:
            raise DiskDataError("Reading rows failed (disk gone)")
        return real(x, start, stop)

    monkeypatch.setattr(_convert, "_block_of", failing)
    with pytest.raises(DiskDataError, match="disk gone"):
        convert(root / "src.h5ad", tmp_path / dst, shuffle=True, block=64, overwrite=True)
    with pytest.raises(DiskDataError, match="disk gone"):
        convert(root / "src.zarr", tmp_path / f"new-{dst}", block=64)
    assert sorted(p.name for p in tmp_path.iterdir()) == [dst]
    monkeypatch.undo()
    old = read(tmp_path / dst)
    np.testing.assert_array_equal(_check_rows_match(old, adata), np.arange(N))
