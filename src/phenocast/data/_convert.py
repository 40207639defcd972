"""Rewrite a large AnnData file into the layout that trains fastest, in bounded memory: stored in
chunks of rows (dense) or as CSR, optionally with its rows pre-shuffled."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ._ondisk import (
    DEFAULT_BLOCK,
    MatrixWriter,
    _block_of,
    _format_of,
    _is_sparse_dataset,
    read,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["convert"]

#: When shuffling, the source is read in pieces of ``block // SHUFFLE_PIECES_PER_WINDOW`` rows
#: (at most ``SHUFFLE_PIECE_ROWS``) and the pieces of one window of ``block`` rows are mixed;
#: see :func:`convert`.
SHUFFLE_PIECE_ROWS = 256
SHUFFLE_PIECES_PER_WINDOW = 32
#: ``uns`` keys that describe where an opened file came from, not the data.
_OPENING_KEYS = ("phenocast_source",)


def _matrices(adata: AnnData, layer: str | None, src: Path) -> tuple[Any, dict[str, Any]]:
    """The output's ``X`` and layers: the source's, or the one ``layer`` as ``X``."""
    if layer is not None:
        if layer not in adata.layers:
            raise ValueError(
                f"Layer {layer!r} not found in {str(src)!r}; available layers: "
                f"{sorted(adata.layers) or 'none'}. Pass layer=None to copy X and every layer."
            )
        return adata.layers[layer], {}
    if adata.X is None:
        raise ValueError(
            f"{str(src)!r} has no X; pass layer= one of {sorted(adata.layers)} to write it as X."
        )
    return adata.X, {k: adata.layers[k] for k in adata.layers}


def _is_sparse(x: Any) -> bool:
    import scipy.sparse as sp

    return bool(sp.issparse(x) or _is_sparse_dataset(x))


def _windows(
    n: int, *, block: int, shuffle: bool, rng: np.random.Generator
) -> Iterator[tuple[list[tuple[int, int]], np.ndarray | None]]:
    """``(runs, perm)`` per output window: the source row ranges read (ascending) and the order
    of the window's rows in the output (``None``: as read)."""
    if not shuffle:
        for start in range(0, n, block):
            yield [(start, min(start + block, n))], None
        return
    piece = min(SHUFFLE_PIECE_ROWS, max(1, block // SHUFFLE_PIECES_PER_WINDOW))
    per_window = max(1, block // piece)
    order = rng.permutation(-(-n // piece))
    for w in range(0, len(order), per_window):
        runs: list[tuple[int, int]] = []
        for p in np.sort(order[w : w + per_window]):
            start, stop = int(p) * piece, min((int(p) + 1) * piece, n)
            if runs and runs[-1][1] == start:  # neighbouring pieces: one read
                runs[-1] = (runs[-1][0], stop)
            else:
                runs.append((start, stop))
        yield runs, rng.permutation(sum(b - a for a, b in runs))


def _read_window(
    x: Any, runs: list[tuple[int, int]], perm: np.ndarray | None, *, sparse: bool, dtype: Any
) -> Any:
    """The rows ``runs`` of ``x`` in the order ``perm``, as CSR or dense ``dtype``."""
    import scipy.sparse as sp

    parts = [_block_of(x, a, b) for a, b in runs]
    if sparse:
        csr = [sp.csr_matrix(p, dtype=dtype) for p in parts]
        out = csr[0] if len(csr) == 1 else sp.vstack(csr, format="csr")
    else:
        dense = [p.toarray() if sp.issparse(p) else np.asarray(p) for p in parts]
        out = np.concatenate(dense).astype(dtype, copy=False)
    return out if perm is None else out[perm]


def _rows_of(runs: list[tuple[int, int]], perm: np.ndarray | None) -> np.ndarray:
    rows = np.concatenate([np.arange(a, b) for a, b in runs])
    return rows if perm is None else rows[perm]


@contextmanager
def _progress(enabled: bool, total: int, what: str) -> Iterator[Callable[[int], None]]:
    """A Rich bar of rows written (``advance(k)``); a no-op when not ``enabled``."""
    if not enabled:
        yield lambda k: None
        return
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    with Progress(
        TextColumn(what),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("rows ·"),
        TimeElapsedColumn(),
        TextColumn("· ETA"),
        TimeRemainingColumn(),
    ) as bar:
        task = bar.add_task(what, total=total)
        yield lambda k: bar.advance(task, k)


def _check_rows(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
        raise ValueError(f"{name} must be an integer >= 1, got {value!r}.")
    return int(value)


def _reorder(value: Any, rows: np.ndarray, index: pd.Index) -> Any:
    """``value``'s rows ``rows`` (an obsm entry: array, sparse matrix or DataFrame)."""
    if isinstance(value, pd.DataFrame):
        return value.iloc[rows].set_axis(index)
    return value[rows]


def convert(
    src: str | os.PathLike[str],
    dst: str | os.PathLike[str],
    *,
    layer: str | None = None,
    chunk_rows: int = 4096,
    shuffle: bool = False,
    seed: int | np.random.Generator = 0,
    sparse: bool | None = None,
    block: int = DEFAULT_BLOCK,
    overwrite: bool = False,
    progress: bool = False,
) -> AnnData:
    """Rewrite a large ``.h5ad`` / zarr AnnData into the on-disk layout that trains fastest.

    The source is opened with its matrices on disk and copied ``block`` rows at a time, so
    memory holds one block of each matrix (plus ``obs`` and ``obsm``, which are kept whole),
    never a whole matrix. The output is written to a temporary sibling of ``dst`` and moved
    onto it only when complete: if anything fails, no partial file is left and an existing
    ``dst`` is untouched.

    Parameters
    ----------
    src
        An ``.h5ad`` file or an AnnData zarr store (see :func:`read`).
    dst
        ``*.h5ad`` or ``*.zarr``; not ``src`` itself.
    layer
        ``None`` copies ``X`` and every layer as they are. A layer name writes that layer as
        the output's ``X`` and nothing else, so a model reading ``X`` trains on it and the file
        holds one matrix.
    chunk_rows
        Rows per stored chunk of a dense output (chunks of ``chunk_rows x n_vars``): the unit a
        chunk-shuffling loader reads at once. A sparse output is CSR.
    shuffle
        Write the rows in a seeded random order. To read the source in bounded memory the
        order is random in two levels, not a uniform permutation of all rows: the source is
        cut into pieces of ``p = min(256, max(1, block // 32))`` consecutive rows, the pieces
        are put in a uniformly random order and taken ``k = block // p`` at a time (32 at the
        default ``block``, more for a larger one), and the rows of each such window (at most
        ``block`` rows) are put in a uniformly random order. So two rows of the same source
        piece always land in the same output window, within ``block`` rows of each other, and
        any window or chunk of the output draws on at most ``k`` pieces taken at random from
        the whole file: a source sorted by condition becomes chunks that mix up to ``k``
        places of it. When all pieces fit in one window (``n_obs <= k * p``, about ``block``)
        the permutation is uniform. The same ``seed`` and ``block`` give the same order.
    seed
        Integer seed or :class:`numpy.random.Generator` of the shuffle.
    sparse
        Store the output as CSR (``True``) or dense chunks (``False``); ``None`` keeps the
        source's ``X`` (or ``layer``) storage.
    block
        Rows read and written at once: the memory bound.
    overwrite
        Replace an existing ``dst`` (only once the new file is complete).
    progress
        Show a Rich progress bar of rows written.

    Returns
    -------
    anndata.AnnData
        The output, opened on disk by :func:`read`.

    Notes
    -----
    ``obs`` (all columns), ``var``, ``uns``, ``obsm`` (reordered with the rows) and ``varm``
    are kept; ``raw``, ``obsp`` and ``varp`` are not copied. Layers are stored like ``X``
    (CSR or dense) and every matrix in the source's dtype (their common dtype when they
    differ). ``obs`` names must be unique.

    Raises
    ------
    DiskDataError
        ``src`` does not exist or is not an AnnData file, or reading it fails part way.
    FileExistsError
        ``dst`` exists and ``overwrite`` is false.
    ValueError
        ``dst`` is ``src``, is not named ``*.h5ad`` / ``*.zarr``, ``layer`` is not in the
        source, the source's ``obs`` names repeat, or ``chunk_rows`` / ``block`` is not a
        positive integer.
    """
    src_p, dst_p = Path(src), Path(dst)
    chunk_rows = _check_rows("chunk_rows", chunk_rows)
    block = _check_rows("block", block)
    if src_p.resolve() == dst_p.resolve():
        raise ValueError(
            f"The output {str(dst_p)!r} is the input; write to a new path (the input is read "
            "while the output is written), then move it if you want to replace the input."
        )
    _format_of(dst_p)
    if dst_p.exists() and not overwrite:
        raise FileExistsError(
            f"{str(dst_p)!r} exists; pass overwrite=True (CLI: --overwrite) to replace it."
        )
    source = read(src_p)
    try:
        x, layers = _matrices(source, layer, src_p)
        obs = source.obs
        if not obs.index.is_unique:
            dup = obs.index[obs.index.duplicated()][:3].tolist()
            raise ValueError(
                f"{str(src_p)!r} repeats obs names (e.g. {dup}); convert keeps each row's name, "
                "so they must be unique. Make them unique (AnnData.obs_names_make_unique) and "
                "write the source again."
            )
        out_sparse = _is_sparse(x) if sparse is None else bool(sparse)
        dtype = np.result_type(*(m.dtype for m in (x, *layers.values())))
        rng = np.random.default_rng(seed)
        windows = list(_windows(obs.shape[0], block=block, shuffle=shuffle, rng=rng))
        order = np.concatenate([_rows_of(*w) for w in windows]) if windows else np.arange(0)
        writer = MatrixWriter(
            dst_p,
            source.var,
            sparse=out_sparse,
            chunk_rows=chunk_rows,
            layers=tuple(layers),
            overwrite=overwrite,
            dtype=dtype,
        )
        what = "shuffling" if shuffle else "converting"
        with writer, _progress(progress, obs.shape[0], what) as advance:
            done = 0
            for runs, perm in windows:
                blocks = [
                    _read_window(m, runs, perm, sparse=out_sparse, dtype=dtype)
                    for m in (x, *layers.values())
                ]
                rows = order[done : done + blocks[0].shape[0]]
                writer.append(
                    blocks[0], obs.iloc[rows], **dict(zip(layers, blocks[1:], strict=True))
                )
                done += len(rows)
                advance(len(rows))
            out_index = obs.index[order].astype(str)
            writer.close(
                uns={k: v for k, v in source.uns.items() if k not in _OPENING_KEYS},
                obsm={k: _reorder(source.obsm[k], order, out_index) for k in source.obsm},
                varm={k: source.varm[k] for k in source.varm},
            )
    finally:
        if source.isbacked:
            source.file.close()
    return read(dst_p)
