"""Data larger than memory: open ``.h5ad`` / zarr files with the matrix left on disk, read it in
row blocks, and write large AnnData files block by block.

An AnnData's matrix may be in memory (numpy, scipy sparse) or on disk: an ``.h5ad`` opened
``backed="r"`` (an h5py dataset or anndata's backed CSR/CSC dataset) or a zarr store opened by
:func:`read` (a zarr array or anndata's sparse dataset over a zarr group). Every reader here
accepts all of them and returns dense ``float32`` rows, so a caller never holds more than one
block of a large matrix.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "DiskDataError",
    "MatrixWriter",
    "dense_rows",
    "fingerprint",
    "is_on_disk",
    "read",
    "row_blocks",
    "take_rows",
]

#: Rows read at once by default (about 64 MB of float32 at 2,000 genes).
DEFAULT_BLOCK = 8192
#: The zarr format written (2 is readable by every anndata and zarr version).
ZARR_FORMAT = 2
#: What :func:`read` loads into memory (the matrices, ``X`` and ``layers``, stay on disk).
_TABLES = ("obs", "var", "uns", "obsm", "varm", "obsp", "varp")


class DiskDataError(ValueError):
    """A file on disk is not what phenocast expects (missing, unreadable, changed, not AnnData)."""


def _is_sparse_dataset(x: Any) -> bool:
    from anndata.abc import CSCDataset, CSRDataset

    return isinstance(x, CSRDataset | CSCDataset)


def is_on_disk(x: Any) -> bool:
    """Whether ``x`` (an AnnData or a matrix) keeps its values on disk.

    True for an AnnData opened ``backed="r"`` or by :func:`read` from zarr, and for h5py
    datasets, zarr arrays and anndata's backed sparse datasets.
    """
    from anndata import AnnData

    if isinstance(x, AnnData):
        return bool(x.isbacked) or is_on_disk(x.X)
    if _is_sparse_dataset(x):
        return True
    mod = type(x).__module__
    return mod.startswith(("h5py", "zarr"))


def _lazy_elem(group: Any, key: str) -> Any:
    """An element of an AnnData zarr / HDF5 group, matrices left on disk."""
    import anndata as ad

    elem = group[key]
    kind = dict(elem.attrs).get("encoding-type", "")
    if kind in ("csr_matrix", "csc_matrix"):
        return ad.io.sparse_dataset(elem)
    if kind == "array":
        return elem
    return ad.io.read_elem(elem)


def _open_group(path: Path) -> tuple[Any, Literal["h5ad", "zarr"]]:
    """The root group of the AnnData file at ``path`` (a zarr group or an open h5py file)."""
    if not path.exists():
        raise DiskDataError(f"No file or directory at {str(path)!r}; check the path.")
    if path.is_dir():
        import zarr

        try:
            group = zarr.open_group(str(path), mode="r")
        except Exception as exc:  # zarr raises several types for a non-store directory
            raise DiskDataError(
                f"{str(path)!r} is a directory but not a zarr store ({exc}); pass an .h5ad file "
                "or a store written by AnnData.write_zarr / phenocast convert."
            ) from exc
        if dict(group.attrs).get("encoding-type") != "anndata" or "obs" not in group:
            raise DiskDataError(
                f"{str(path)!r} is a zarr store but not an AnnData one (no 'anndata' encoding or "
                "no obs); write it with AnnData.write_zarr or phenocast convert."
            )
        return group, "zarr"
    import h5py

    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        raise DiskDataError(
            f"Cannot open {str(path)!r} as an .h5ad file ({exc}); pass an .h5ad file or a zarr "
            "store."
        ) from exc
    if "obs" not in f:
        f.close()
        raise DiskDataError(
            f"{str(path)!r} is an HDF5 file but not an AnnData one (no obs); write it with "
            "AnnData.write_h5ad or phenocast convert."
        )
    return f, "h5ad"


def read(path: str | os.PathLike[str]) -> AnnData:
    """Open an AnnData file with its matrices left on disk.

    ``.h5ad`` files open ``backed="r"``, with the layers on disk like ``X`` (anndata's own
    backed mode reads every layer into memory; a file written by anndata < 0.8 still opens
    that way). A zarr store (a directory written by ``AnnData.write_zarr``,
    :func:`phenocast.data.convert` or ``synthetic(out=...)``) opens with ``X`` and ``layers``
    as lazy on-disk arrays. Either way ``obs``, ``var``, ``uns``, ``obsm``, ``varm``, ``obsp``
    and ``varp`` are read into memory. Every phenocast function that takes an AnnData takes
    these, reading rows in blocks.

    Raises
    ------
    DiskDataError
        The path does not exist or is not an AnnData ``.h5ad`` file / zarr store.
    """
    import anndata as ad

    p = Path(path)
    group, fmt = _open_group(p)
    if fmt == "h5ad" and "encoding-type" not in group.attrs:
        group.close()  # written by anndata < 0.8: its own reader (which loads the layers)
        return ad.read_h5ad(p, backed="r")
    tables = {k: ad.io.read_elem(group[k]) for k in _TABLES if k in group}
    layers = {}
    if "layers" in group:
        layers = {k: _lazy_elem(group["layers"], k) for k in group["layers"]}
    if fmt == "h5ad":
        # anndata's backed mode would read every layer into memory; here they stay on disk
        if "raw" in group:
            raw = group["raw"]
            tables["raw"] = {k: ad.io.read_elem(raw[k]) for k in ("var", "varm") if k in raw}
        return ad.AnnData(filename=group, layers=layers or None, **tables)
    out = ad.AnnData(
        X=_lazy_elem(group, "X") if "X" in group else None, layers=layers or None, **tables
    )
    out.uns["phenocast_source"] = str(p.resolve())
    return out


def _block_of(x: Any, start: int, stop: int) -> Any:
    """Rows ``start:stop`` of any supported matrix (sparse stays sparse)."""
    import scipy.sparse as sp

    if sp.issparse(x) and not isinstance(x, sp.csr_matrix | sp.csr_array):
        x = x.tocsr()
    try:
        return x[start:stop]
    except Exception as exc:
        raise DiskDataError(
            f"Reading rows {start}:{stop} of the matrix failed ({type(exc).__name__}: {exc}); "
            "the file may be truncated or corrupt. Re-create it (e.g. phenocast convert) from "
            "the source."
        ) from exc


def _dense32(block: Any) -> np.ndarray:
    import scipy.sparse as sp

    if sp.issparse(block):
        block = block.toarray()
    return np.asarray(block, dtype=np.float32)


def dense_rows(x: Any, start: int = 0, stop: int | None = None) -> np.ndarray:
    """Rows ``start:stop`` (default: all) of ``x`` — in memory or on disk, dense or sparse —
    as a dense ``float32`` array."""
    return _dense32(_block_of(x, start, int(x.shape[0]) if stop is None else stop))


def row_blocks(
    x: Any, *, block: int = DEFAULT_BLOCK, dense: bool = True
) -> Iterator[tuple[int, int, Any]]:
    """Yield ``(start, stop, rows)`` over ``x`` in contiguous blocks of ``block`` rows.

    ``rows`` is dense ``float32`` (or, with ``dense=False``, the block as stored: a scipy
    sparse matrix for sparse data). Reads are sequential, so an on-disk matrix streams.
    """
    n = int(x.shape[0])
    for start in range(0, n, block):
        stop = min(start + block, n)
        part = _block_of(x, start, stop)
        yield start, stop, (_dense32(part) if dense else part)


def take_rows(
    x: Any, rows: np.ndarray, *, max_gap: int = 256, out: np.ndarray | None = None
) -> np.ndarray:
    """Dense ``float32`` rows ``rows`` (sorted ascending) of ``x``, written into ``out``
    (``(len(rows), n_cols)`` float32) when given.

    An in-memory matrix is indexed directly; an on-disk one is read as contiguous runs (runs
    closer than ``max_gap`` rows are read as one), never row by row.
    """
    rows = np.asarray(rows, dtype=np.int64)
    shape = (rows.size, int(x.shape[1]))
    if out is not None and (out.shape != shape or out.dtype != np.float32):
        raise ValueError(
            f"take_rows: out must be a float32 array of shape {shape}, got {out.dtype} {out.shape}."
        )
    if not is_on_disk(x):
        if out is None:
            return _dense32(x[rows])
        _dense_into(x[rows], out)
        return out
    if out is None:
        out = np.empty(shape, dtype=np.float32)
    if rows.size == 0:
        return out
    if np.any(np.diff(rows) < 0):
        raise ValueError("take_rows needs row indices sorted ascending.")
    breaks = np.flatnonzero(np.diff(rows) > max_gap) + 1
    # each run is written straight into its place in the result: a window of training rows
    # is hundreds of MB dense, and every extra copy of it costs about as much as reading it
    at = 0
    for run in np.split(rows, breaks):
        lo, hi = int(run[0]), int(run[-1]) + 1
        block = _block_of(x, lo, hi)
        if run.size != hi - lo:  # the run has gaps: keep the rows asked for
            block = block[run - lo]
        _dense_into(block, out[at : at + run.size])
        at += run.size
    return out


def _dense_into(block: Any, dest: np.ndarray) -> None:
    """Write ``block`` (dense or scipy sparse) into the ``float32`` array ``dest``."""
    import scipy.sparse as sp

    if sp.issparse(block):
        block = block.tocsr()
        if block.dtype != dest.dtype:
            block = block.astype(dest.dtype)
        if dest.flags.c_contiguous:
            block.toarray(out=dest)
            return
        block = block.toarray()
    dest[...] = np.asarray(block)


def fingerprint(adata: AnnData) -> dict[str, Any]:
    """What identifies an on-disk AnnData's file as it is now, from a few ``stat`` calls (it
    runs on every ``check_genes``): its path, shape, size and modification time (empty for
    in-memory data). A zarr store's size and time are those of its matrix directories (the
    number of entries, the newest time): rewriting a chunk replaces its file, which changes
    its directory's time."""
    path = adata.uns.get("phenocast_source") if not adata.isbacked else adata.filename
    if path is None or not is_on_disk(adata):
        return {}
    p = Path(str(path))
    if p.is_dir():
        x = p / "X"
        dirs = [p, x, *(c for c in x.iterdir() if c.is_dir())] if x.is_dir() else [p]
        size = sum(len(os.listdir(d)) for d in dirs)
        mtime = max(d.stat().st_mtime_ns for d in dirs)
    else:
        st = p.stat()
        size, mtime = st.st_size, st.st_mtime_ns
    return {
        "path": str(p.resolve()),
        "shape": [int(adata.n_obs), int(adata.n_vars)],
        "mtime_ns": int(mtime),
        "size": int(size),
    }


def check_fingerprint(adata: AnnData, stored: dict[str, Any] | None, *, what: str) -> None:
    """Refuse ``adata`` if it is the file ``stored`` describes but that file has changed."""
    if not stored:
        return
    now = fingerprint(adata)
    if not now or now.get("path") != stored.get("path"):
        return
    # a view of the file (some of its cells) has its own shape; the file's size and time tell
    keys = ("size", "mtime_ns") if adata.is_view else ("shape", "size", "mtime_ns")
    changed = [k for k in keys if now.get(k) != stored.get(k)]
    if changed:
        raise DiskDataError(
            f"{stored['path']!r} changed on disk after {what} ({', '.join(changed)} differ: "
            f"was {[stored.get(k) for k in changed]}, now {[now.get(k) for k in changed]}). "
            "Register the data again (phenocast.data.register) so the registry describes the "
            "file as it is."
        )


class MatrixWriter:
    """Write an AnnData file (``.h5ad`` or zarr) block by block, in bounded memory.

    ``append`` adds rows (dense or scipy sparse, to ``X`` and optionally named layers) with
    their ``obs`` rows; ``close`` writes ``obs`` / ``var`` / ``uns`` and moves the finished
    file onto ``path``. Until then everything lives in a temporary sibling of ``path``, so an
    interrupted write never leaves a half-written file where the user's output goes; use it as
    a context manager to have the temporary file removed on error.

    Parameters
    ----------
    path
        ``*.h5ad`` or ``*.zarr`` (a directory). An existing file is only replaced with
        ``overwrite``.
    var
        The genes (index = var_names).
    sparse
        Store ``X`` (and layers) as CSR (counts) rather than dense.
    chunk_rows
        Rows per stored chunk (dense) — the unit a block-shuffled reader fetches.
    layers
        Names of the layers appended beside ``X``.
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        var: pd.DataFrame,
        *,
        sparse: bool,
        chunk_rows: int = 4096,
        layers: tuple[str, ...] = (),
        overwrite: bool = False,
        dtype: Any = np.float32,
    ) -> None:
        self.path = Path(path)
        fmt = _format_of(self.path)
        if self.path.exists() and not overwrite:
            raise FileExistsError(
                f"{str(self.path)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it."
            )
        self.format: Literal["h5ad", "zarr"] = fmt
        self.var = var
        self.sparse, self.chunk_rows, self.layers = sparse, int(chunk_rows), tuple(layers)
        self.dtype = np.dtype(dtype)
        self.n_rows = 0
        self._obs: list[pd.DataFrame] = []
        self.path.parent.mkdir(parents=True, exist_ok=True)
        suffix = ".zarr" if fmt == "zarr" else ".h5ad"
        self._tmp = Path(
            tempfile.mkdtemp(prefix=f".{self.path.name}.", suffix=".tmp", dir=self.path.parent)
        )
        self._file_path = self._tmp / f"data{suffix}"
        self._open()
        self._closed = False

    def _open(self) -> None:
        if self.format == "zarr":
            import zarr

            self._root = zarr.open_group(str(self._file_path), mode="w", zarr_format=ZARR_FORMAT)
        else:
            import h5py

            self._root = h5py.File(self._file_path, "w")
        self._datasets: dict[str, Any] = {}

    def _key(self, name: str) -> str:
        return "X" if name == "X" else f"layers/{name}"

    def _start(self, name: str, block: Any) -> None:
        import anndata as ad
        import scipy.sparse as sp

        n_vars = self.var.shape[0]
        key = self._key(name)
        if name != "X" and "layers" not in self._root:
            grp = self._root.create_group("layers")
            grp.attrs.update({"encoding-type": "dict", "encoding-version": "0.1.0"})
        if self.sparse:
            csr = sp.csr_matrix(block, dtype=self.dtype)
            kwargs: dict[str, Any] = {"chunks": (max(self.chunk_rows * 64, 1 << 16),)}
            with ad.settings.override(zarr_write_format=ZARR_FORMAT):
                ad.io.write_elem(self._root, key, csr, dataset_kwargs=kwargs)
            self._datasets[name] = ad.io.sparse_dataset(self._root[key])
            return
        dense = np.asarray(block, dtype=self.dtype)
        chunks = (self.chunk_rows, n_vars)
        if self.format == "zarr":
            arr = self._root.create_array(
                key, shape=dense.shape, chunks=chunks, dtype=self.dtype, fill_value=0
            )
            arr[:] = dense
        else:
            arr = self._root.create_dataset(
                key,
                data=dense,
                chunks=(min(self.chunk_rows, max(len(dense), 1)), n_vars),
                maxshape=(None, n_vars),
            )
        arr.attrs.update({"encoding-type": "array", "encoding-version": "0.2.0"})
        self._datasets[name] = arr

    def _append_one(self, name: str, block: Any) -> None:
        import scipy.sparse as sp

        if name not in self._datasets:
            self._start(name, block)
            return
        ds = self._datasets[name]
        if self.sparse:
            ds.append(sp.csr_matrix(block, dtype=self.dtype))
            return
        dense = np.asarray(block, dtype=self.dtype)
        n0 = ds.shape[0]
        ds.resize((n0 + dense.shape[0], ds.shape[1]))
        ds[n0:] = dense

    def append(self, x: Any, obs: pd.DataFrame, **layers: Any) -> None:
        """Add the rows ``x`` (and the same rows of each layer) described by ``obs``."""
        if self._closed:
            raise RuntimeError("This writer is closed.")
        if x.shape[0] != len(obs) or x.shape[1] != self.var.shape[0]:
            raise ValueError(
                f"A block of shape {tuple(x.shape)} does not fit {len(obs)} obs rows × "
                f"{self.var.shape[0]} genes."
            )
        if set(layers) != set(self.layers):
            raise ValueError(f"Give exactly the layers {list(self.layers)}, got {list(layers)}.")
        self._append_one("X", x)
        for name in self.layers:
            self._append_one(name, layers[name])
        self._obs.append(obs)
        self.n_rows += len(obs)

    def close(
        self,
        *,
        uns: dict[str, Any] | None = None,
        obsm: dict[str, Any] | None = None,
        varm: dict[str, Any] | None = None,
    ) -> Path:
        """Write ``obs``, ``var``, ``uns`` (and ``obsm`` / ``varm``: arrays with one row per
        written row / gene, in memory); move the file onto ``path``; return ``path``."""
        import anndata as ad

        if self._closed:
            return self.path
        if not self._obs:
            raise ValueError("Nothing was written; append at least one block before close().")
        obs = pd.concat(self._obs)
        obs.index = obs.index.astype(str)
        if not obs.index.is_unique:
            dup = obs.index[obs.index.duplicated()][:3].tolist()
            raise ValueError(f"obs names are not unique across blocks (e.g. {dup}).")
        for what, arrays, n, unit in (
            ("obsm", obsm, len(obs), "written row"),
            ("varm", varm, self.var.shape[0], "gene"),
        ):
            bad = {k: v.shape[0] for k, v in (arrays or {}).items() if v.shape[0] != n}
            if bad:
                raise ValueError(
                    f"{what} entries have these numbers of rows: {bad}, not {n}; give one row "
                    f"per {unit}."
                )
        with ad.settings.override(zarr_write_format=ZARR_FORMAT):
            ad.io.write_elem(self._root, "obs", obs)
            ad.io.write_elem(self._root, "var", self.var)
            ad.io.write_elem(self._root, "uns", dict(uns or {}))
            ad.io.write_elem(self._root, "obsm", dict(obsm or {}))
            ad.io.write_elem(self._root, "varm", dict(varm or {}))
            for key in ("obsp", "varp"):
                ad.io.write_elem(self._root, key, {})
            if not self.layers:
                ad.io.write_elem(self._root, "layers", {})
        self._root.attrs.update({"encoding-type": "anndata", "encoding-version": "0.1.0"})
        if self.format == "h5ad":
            self._root.close()
        if self.path.exists():
            _remove(self.path)
        os.replace(self._file_path, self.path)
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._closed = True
        return self.path

    def abort(self) -> None:
        """Drop everything written so far; ``path`` is left as it was."""
        if self._closed:
            return
        if self.format == "h5ad":
            try:
                self._root.close()
            except Exception:  # already closed or broken: removing the file is what matters
                pass
        shutil.rmtree(self._tmp, ignore_errors=True)
        self._closed = True

    def __enter__(self) -> MatrixWriter:
        return self

    def __exit__(self, exc_type: Any, *_: Any) -> None:
        if exc_type is not None:
            self.abort()


def _format_of(path: Path) -> Literal["h5ad", "zarr"]:
    name = path.name.lower()
    if name.endswith(".h5ad"):
        return "h5ad"
    if name.endswith(".zarr"):
        return "zarr"
    raise ValueError(f"Cannot tell the format of {str(path)!r}: name the output *.h5ad or *.zarr.")


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path)
    else:
        path.unlink()
