"""A :class:`~phenocast.knowledge.GeneGraph` as a sparse symmetric matrix aligned to genes by
name, and its normalisations."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

    from ..knowledge import GeneGraph

__all__ = ["adjacency_matrix", "graph_provenance", "normalised_adjacency"]


def adjacency_matrix(
    graph: GeneGraph, *, genes: Sequence[str] | None = None
) -> tuple[np.ndarray, sparse.csr_matrix]:
    """The symmetric weighted adjacency of ``graph`` over ``genes`` (default: the graph's genes,
    sorted); edges touching a gene outside ``genes`` are left out.

    Returns
    -------
    genes : numpy.ndarray of str
        Row / column names.
    adjacency : scipy.sparse.csr_matrix
        ``(n, n)`` float64, ``W[i, j] = W[j, i]`` = the edge's weight, zero diagonal.
    """
    from scipy import sparse

    edges = graph.edges
    missing = sorted({"a", "b", "weight"} - set(edges.columns))
    if missing:
        raise ValueError(f"graph.edges lacks column(s) {missing}; expected a, b, weight.")
    w = edges["weight"].to_numpy(dtype=np.float64)
    bad = ~np.isfinite(w) | (w < 0)
    if bad.any():
        first = edges[bad].iloc[0]
        raise ValueError(
            f"The graph has {int(bad.sum())} edge(s) with a negative or non-finite weight "
            f"(e.g. {first['a']}–{first['b']}: {first['weight']}); graph embeddings need "
            "non-negative weights."
        )
    names = np.asarray(sorted(graph.genes) if genes is None else list(genes), dtype=str)
    if len(set(names.tolist())) != len(names):
        raise ValueError("genes lists a gene more than once.")
    order = np.argsort(names, kind="stable")
    ranked = names[order]
    a, b = (edges[c].to_numpy(dtype=str) for c in ("a", "b"))
    ia = np.searchsorted(ranked, a).clip(max=max(len(ranked) - 1, 0))
    ib = np.searchsorted(ranked, b).clip(max=max(len(ranked) - 1, 0))
    keep = (ranked[ia] == a) & (ranked[ib] == b) if len(ranked) else np.zeros(len(a), bool)
    i, j = order[ia[keep]], order[ib[keep]]
    n = len(names)
    upper = sparse.coo_matrix((w[keep], (i, j)), shape=(n, n))
    return names, (upper + upper.T).tocsr()


def normalised_adjacency(
    adjacency: sparse.spmatrix, *, self_loops: float = 0.0
) -> sparse.csr_matrix:
    """``D^-1/2 (W + s I) D^-1/2`` with ``D`` the degrees of ``W + s I``; rows of zero degree
    stay zero."""
    from scipy import sparse

    if self_loops < 0:
        raise ValueError(f"self_loops must be >= 0, got {self_loops}.")
    n = adjacency.shape[0]
    w = sparse.csr_matrix(adjacency, dtype=np.float64)
    if self_loops:
        w = w + self_loops * sparse.identity(n, format="csr")
    deg = np.asarray(w.sum(axis=1)).ravel()
    inv = np.zeros(n)
    inv[deg > 0] = 1.0 / np.sqrt(deg[deg > 0])
    d = sparse.diags(inv)
    return (d @ w @ d).tocsr()


def graph_provenance(graph: GeneGraph) -> str:
    """``source (N edges, hash H)`` for a features' ``source`` string."""
    name = graph.source or "GeneGraph"
    return f"{name} ({len(graph.edges):,} edges, hash {graph.content_hash})"
