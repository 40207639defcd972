"""The compositional model on data larger than memory: streamed minibatches, streamed basal
means, and per-cell predictions written to disk block by block."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...data import MatrixWriter, Registry, dense_rows, is_on_disk, read
from ...train import DENSE_LIMIT_BYTES, READ_IN_BYTES

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ...train import TrainConfig
    from ._model import Compositional
    from ._module import Batch

#: Start cells encoded and decoded at once when predicting block by block.
PREDICT_BLOCK = 8192


def streams(matrix: Any, config: TrainConfig) -> bool:
    """Whether a fit reads ``matrix`` in blocks (``config.data_path``; ``"auto"``: on disk and
    larger than :data:`phenocast.train.READ_IN_BYTES` as dense float32, or larger than
    :data:`phenocast.train.DENSE_LIMIT_BYTES`)."""
    if config.data_path != "auto":
        return config.data_path == "stream"
    n, g = (int(s) for s in matrix.shape)
    dense = n * g * 4
    return (is_on_disk(matrix) and dense > READ_IN_BYTES) or dense > DENSE_LIMIT_BYTES


def contexts(model: Compositional, meta: Batch, obs: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Per row: the integer context (covariates, then time) and whether it is a control."""
    keys = pd.Series(["|".join(map(str, r)) for r in meta.covariates.tolist()])
    if model.registry.time_key is not None:
        keys = keys + "|" + obs[model.registry.time_key].astype(str).to_numpy()
    context = pd.factorize(keys)[0].astype(np.int64)
    is_control = (meta.components < 0).all(1).numpy()
    return context, is_control


def streamed_loaders(
    model: Compositional,
    matrix: Any,
    meta: Batch,
    obs: pd.DataFrame,
    train_rows: np.ndarray,
    val_rows: np.ndarray,
) -> tuple[Any, Any]:
    """Block-shuffled training and validation minibatches over ``matrix``."""
    from ...train import BlockBatches
    from ._module import Batch

    tcfg = model.config.train
    fields = {k: v for k, v in vars(meta).items() if k not in ("x", "basal_x", "library")}
    pair = model.config.basal == "control" and model.registry.control is not None
    context, is_control = contexts(model, meta, obs) if pair else (None, None)
    nb = model.likelihood == "nb"

    def extra(x: Any) -> dict[str, Any]:
        return {"library": x.sum(1)} if nb else {}

    common = dict(
        block_rows=tcfg.block_rows,
        context=context,
        is_control=is_control,
        extra=extra,
        seed=tcfg.seed,
    )
    train = BlockBatches(
        matrix,
        fields,
        Batch,
        rows=np.asarray(train_rows),
        batch_size=tcfg.batch_size_for(len(train_rows)),
        shuffle=True,
        window=tcfg.window,
        **common,  # type: ignore[arg-type]
    )
    val = None
    if len(val_rows):
        val = BlockBatches(
            matrix,
            fields,
            Batch,
            rows=np.asarray(val_rows),
            batch_size=4096,
            shuffle=False,
            window=1,
            **common,  # type: ignore[arg-type]
        )
    return train, val


def streamed_basal_means(
    model: Compositional, matrix: Any, meta: Batch, rows: np.ndarray | None = None
) -> dict[str, Any]:
    """Mean basal latent per covariate context, encoding one block of cells at a time (of the
    cells ``rows`` only, when given)."""
    import torch

    cov = meta.covariates.numpy()
    keep = None
    if rows is not None:
        keep = np.zeros(int(matrix.shape[0]), dtype=bool)
        keep[rows] = True
    sums: dict[tuple, torch.Tensor] = {}
    counts: dict[tuple, int] = {}
    total, n = None, 0
    for start in range(0, int(matrix.shape[0]), PREDICT_BLOCK):
        stop = min(start + PREDICT_BLOCK, int(matrix.shape[0]))
        here = np.arange(start, stop) if keep is None else start + np.flatnonzero(keep[start:stop])
        if not here.size:
            continue
        x = dense_rows(matrix, start, stop)[here - start]
        block = _with_x(model, meta.take(torch.from_numpy(here)), x)
        z = model._encode(block)
        total = z.sum(0) if total is None else total + z.sum(0)
        n += z.shape[0]
        uniq, codes = np.unique(cov[here], axis=0, return_inverse=True)
        for g, key in enumerate(map(tuple, uniq.tolist())):
            idx = torch.from_numpy(np.flatnonzero(codes.ravel() == g))
            sums[key] = sums.get(key, 0) + z[idx].sum(0)
            counts[key] = counts.get(key, 0) + len(idx)
    means = {k: sums[k] / counts[k] for k in sums}
    return {"contexts": means, "all": total / max(n, 1)}


def _with_x(model: Compositional, meta: Batch, x: np.ndarray) -> Batch:
    import torch

    xt = torch.from_numpy(x)
    meta.x = xt
    meta.library = xt.sum(1) if model.likelihood == "nb" else None
    return meta


def control_blocks(
    controls: AnnData, registry: Registry, block: int = PREDICT_BLOCK
) -> Iterator[AnnData]:
    """``controls`` as in-memory AnnData blocks of at most ``block`` cells (itself when it is
    in memory and no larger), so start cells on disk or in the millions stream. A block holds
    the registered matrix (``X`` or the registered layer) densely."""
    import anndata as ad

    if not is_on_disk(controls) and controls.n_obs <= block:
        yield controls
        return
    registry.check_genes(controls)
    x = registry.matrix(controls)
    for start in range(0, controls.n_obs, block):
        stop = min(start + block, controls.n_obs)
        rows = dense_rows(x, start, stop)
        part = ad.AnnData(rows, obs=controls.obs.iloc[start:stop], var=controls.var[[]])
        if registry.layer is not None:
            part.layers[registry.layer] = rows
        yield part


def predict_to_file(
    model: Compositional,
    controls: AnnData,
    conditions: pd.DataFrame,
    out: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    block: int = PREDICT_BLOCK,
    cross_context: bool = False,
    extrapolated: np.ndarray | None = None,
) -> AnnData:
    """The start cells of each condition's context (every cell with ``cross_context``) under
    that condition, written to ``out`` (``.h5ad`` / ``.zarr``) block by block: ``X`` the
    mean, layer ``variance``; returned opened on disk. ``extrapolated`` flags conditions
    (from :meth:`Compositional.check_doses`) for the obs column of that name."""
    from ._anchor import cell_shift
    from ._checks import readout_values
    from ._counterfactual import cell_obs, counterfactuals

    reg = model.registry
    flags = np.zeros(len(conditions), dtype=bool) if extrapolated is None else extrapolated
    shift = cell_shift(model, controls, conditions, cross_context=cross_context)
    var = pd.DataFrame(index=list(reg.var_names))
    with MatrixWriter(out, var, sparse=False, layers=("variance",), overwrite=overwrite) as writer:
        for i in range(len(conditions)):
            row = conditions.iloc[i : i + 1]
            for part in control_blocks(controls, reg, block):
                for _, mean, variance, rows in counterfactuals(
                    model, part, row, cross_context=cross_context
                ):
                    if rows is None or not len(rows):
                        continue  # no start cell of the condition's context in this block
                    obs = cell_obs(model, part, row, 0, rows, flags[i : i + 1])
                    obs["condition_index"] = i
                    obs.index = [f"{c}-{i}" for c in obs["control_cell"]]
                    for col in obs.columns:
                        if obs[col].dtype == object:
                            obs[col] = obs[col].astype(str)
                    m = readout_values(reg, mean.numpy() + (0.0 if shift is None else shift[i]))
                    writer.append(m, obs, variance=variance.numpy())
        writer.close()
    return read(Path(out))
