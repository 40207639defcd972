"""Parameter-free message passing: smooth given gene features over a gene graph.

``X_k = Â^k X`` with ``Â = D̃^-1/2 (W + s I) D̃^-1/2`` (the GCN propagation rule of Kipf &
Welling 2017 without weights, as in SGC, Wu et al. 2019). A gene's features become a weighted
average of its own and its neighbours', so genes with sparse annotations borrow from similar
genes. :class:`~phenocast.featurize.GraphSmoother` is the same operator as a torch module,
optionally with learnable weights.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Literal

import numpy as np

from ._adjacency import adjacency_matrix, graph_provenance, normalised_adjacency
from ._genes import GeneFeatures

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

    from ..knowledge import GeneGraph

__all__ = ["propagate_features", "propagation_matrix"]


def propagation_matrix(
    graph: GeneGraph, genes: Sequence[str], *, self_loops: float = 1.0
) -> sparse.csr_matrix:
    """``Â`` over ``genes`` (in that order): edges to genes outside ``genes`` are ignored, and a
    gene without edges keeps its own features (its row is ``e_i``).

    Parameters
    ----------
    graph
        Non-negative edge weights.
    genes
        Row / column order.
    self_loops
        Weight ``s`` of each gene's edge to itself; must be positive, so every gene keeps part
        of its own features and no row is empty.
    """
    if not self_loops > 0:
        raise ValueError(
            f"self_loops must be > 0 (a gene without neighbours would lose its features), got "
            f"{self_loops}."
        )
    _, w = adjacency_matrix(graph, genes=genes)
    return normalised_adjacency(w, self_loops=self_loops)


def propagate_features(
    features: GeneFeatures,
    graph: GeneGraph,
    *,
    hops: int = 2,
    self_loops: float = 1.0,
    combine: Literal["last", "concat"] = "last",
) -> GeneFeatures:
    """Smooth ``features`` over ``graph`` for ``hops`` steps.

    Parameters
    ----------
    features
        Input features, e.g. :func:`go_annotation_features`. Only these genes are propagated
        over (the graph is restricted to them); a gene in the graph without input features gets
        none, so :meth:`GeneFeatures.missing` still names it.
    graph
        Gene graph with non-negative weights.
    hops
        Number of propagation steps ``k`` (0 returns the input numbers).
    self_loops
        Weight of each gene's own features at every step (``s`` above, > 0).
    combine
        ``"last"``: ``Â^k X``; ``"concat"``: ``[X, ÂX, …, Â^k X]`` side by side
        (``(k + 1) · dim`` columns), so a model can weigh each radius.

    Returns
    -------
    GeneFeatures
        The genes of ``features`` in their order, float32.
    """
    if hops < 0:
        raise ValueError(f"hops must be >= 0, got {hops}.")
    if combine not in ("last", "concat"):
        raise ValueError(f"combine must be 'last' or 'concat', got {combine!r}.")
    a = propagation_matrix(graph, features.genes, self_loops=self_loops)
    x = features.matrix.astype(np.float64)
    steps = [x]
    for _ in range(hops):
        steps.append(a @ steps[-1])
    out = np.hstack(steps) if combine == "concat" else steps[-1]
    return GeneFeatures(
        features.genes,
        out.astype(np.float32),
        source=f"{features.method} from {features.source}; graph {graph_provenance(graph)}",
        method=(
            f"{hops}-hop propagation ({combine}, self-loops {self_loops:g}) of {features.method}"
        ),
    )
