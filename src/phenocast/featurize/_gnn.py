"""A small message-passing network in plain torch (no torch-geometric): ``k`` rounds of
``H ← σ(Â H W)`` over a fixed normalised adjacency ``Â``, or, without weights, ``Â^k X``.

The module maps a node-feature matrix of *all* graph genes to new node features; a model
indexes the rows of the genes it perturbs, so a gene never perturbed in training still gets a
representation from its own features and its neighbours'.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import torch
from torch import nn

from ._propagate import propagation_matrix

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

    from ..knowledge import GeneGraph

__all__ = ["GraphSmoother"]


class GraphSmoother(nn.Module):
    """Propagate node features over a normalised adjacency, with optional learnable weights.

    Parameters
    ----------
    adjacency
        ``(n, n)`` propagation matrix ``Â`` (scipy sparse or dense), e.g. from
        :func:`~phenocast.featurize.propagation_matrix`. It is a prior, not a weight: kept as a
        non-persistent buffer, so a saved state dict holds only the learned weights; a model
        stores :attr:`graph_hash` and rebuilds ``Â`` from the graph.
    hops
        Rounds of propagation ``k``.
    dims
        ``None``: parameter-free, ``forward(x) = Â^k x``. Otherwise the output width of each
        round's linear map (``len(dims) == hops``), with ``in_dim`` the input width; a ReLU
        follows every round but the last.
    in_dim
        Input feature width (needed with ``dims``).
    seed
        Seed of the weight initialisation (uniform ``±1/sqrt(fan_in)``, zero biases), drawn
        from a private :class:`torch.Generator`.
    graph_hash
        The graph's content hash, for the model's config.
    """

    def __init__(
        self,
        adjacency: sparse.spmatrix | np.ndarray,
        *,
        hops: int = 2,
        dims: Sequence[int] | None = None,
        in_dim: int | None = None,
        seed: int = 0,
        graph_hash: str = "",
    ) -> None:
        super().__init__()
        if hops < 1:
            raise ValueError(f"hops must be >= 1, got {hops}.")
        if dims is not None:
            if len(dims) != hops:
                raise ValueError(
                    f"dims needs one width per hop: {hops} hop(s), {len(dims)} width(s)."
                )
            if in_dim is None:
                raise ValueError("in_dim is needed when dims gives learnable weights.")
        coo = _as_coo(adjacency)
        if coo.shape[0] != coo.shape[1]:
            raise ValueError(f"adjacency must be square, got shape {tuple(coo.shape)}.")
        self.register_buffer("adjacency", coo, persistent=False)
        self.hops = hops
        self.graph_hash = graph_hash
        self.layers = nn.ModuleList()
        if dims is not None:
            gen = torch.Generator().manual_seed(seed)
            widths = [int(in_dim), *map(int, dims)]  # type: ignore[arg-type]
            for fan_in, fan_out in itertools.pairwise(widths):
                layer = nn.Linear(fan_in, fan_out)
                bound = 1.0 / math.sqrt(fan_in)
                with torch.no_grad():
                    layer.weight.copy_(torch.rand(fan_out, fan_in, generator=gen) * 2 - 1)
                    layer.weight.mul_(bound)
                    layer.bias.zero_()
                self.layers.append(layer)

    @classmethod
    def from_graph(
        cls,
        graph: GeneGraph,
        genes: Sequence[str],
        *,
        hops: int = 2,
        self_loops: float = 1.0,
        dims: Sequence[int] | None = None,
        in_dim: int | None = None,
        seed: int = 0,
    ) -> GraphSmoother:
        """The smoother of ``graph`` over ``genes`` (the rows of the features it will get)."""
        a = propagation_matrix(graph, genes, self_loops=self_loops)
        return cls(a, hops=hops, dims=dims, in_dim=in_dim, seed=seed, graph_hash=graph.content_hash)

    @property
    def learnable(self) -> bool:
        return len(self.layers) > 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(n, in_dim)`` node features → ``(n, out_dim)``."""
        a: torch.Tensor = self.adjacency  # type: ignore[assignment]
        if x.shape[0] != a.shape[0]:
            raise ValueError(
                f"x has {x.shape[0]} row(s) but the graph has {a.shape[0]} node(s); give one "
                "row per node, in the adjacency's order."
            )
        a = a.to(x.dtype)
        h = x
        for t in range(self.hops):
            h = torch.sparse.mm(a, h)
            if self.learnable:
                h = self.layers[t](h)
                if t < self.hops - 1:
                    h = torch.relu(h)
        return h

    def extra_repr(self) -> str:
        kind = "learnable" if self.learnable else "parameter-free"
        n = self.adjacency.shape[0]  # type: ignore[index]
        return f"nodes={n}, hops={self.hops}, {kind}"


def _as_coo(adjacency: object) -> torch.Tensor:
    from scipy import sparse

    coo = sparse.coo_matrix(adjacency)
    idx = torch.as_tensor(np.vstack([coo.row, coo.col]).astype(np.int64))
    vals = torch.as_tensor(coo.data, dtype=torch.float32)
    # checking the indices once costs little and rules out out-of-range reads later
    return torch.sparse_coo_tensor(idx, vals, coo.shape, check_invariants=True).coalesce()
