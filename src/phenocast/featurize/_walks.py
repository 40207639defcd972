"""Random-walk gene embeddings: DeepWalk's objective solved as a matrix factorisation.

Weighted random walks are simulated from every gene, pairs of genes within ``window`` steps are
counted, and the positive pointwise mutual information (PPMI) of the counts, shifted by
``log(negative)``, is factorised by a truncated SVD. Skip-gram with negative sampling, which
DeepWalk and node2vec train by SGD, implicitly factorises this same shifted PMI matrix
(Levy & Goldberg 2014; Qiu et al. 2018, NetMF), so the SVD gives the embedding without
training and deterministically for a seed.

Walks never leave a connected component, so every gene with at least one positive-weight edge
is embedded, small components included; genes whose edges all weigh zero cannot walk and get
no features.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from ._adjacency import adjacency_matrix, graph_provenance
from ._genes import GeneFeatures, _randomized_svd
from ._spectral import _sign_fix

if TYPE_CHECKING:  # pragma: no cover
    from scipy import sparse

    from ..knowledge import GeneGraph

__all__ = ["random_walk_embedding", "random_walks"]


def random_walks(
    adjacency: sparse.csr_matrix,
    starts: np.ndarray,
    *,
    length: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """``(len(starts), length)`` node indices of weighted random walks (all walkers advance
    together; the next node is drawn with probability proportional to the edge weight).

    Every start must have a positive degree.
    """
    w = adjacency.tocsr()
    indptr, indices = w.indptr, w.indices
    cum = np.cumsum(w.data, dtype=np.float64)
    before = np.concatenate([[0.0], cum])[indptr[:-1]]  # weight mass before each row
    deg = np.asarray(w.sum(axis=1)).ravel()
    if np.any(deg[starts] <= 0):
        raise ValueError("Every walk must start at a node with a positive degree.")
    walks = np.empty((len(starts), length), dtype=np.int64)
    cur = np.asarray(starts, dtype=np.int64)
    walks[:, 0] = cur
    for t in range(1, length):
        target = before[cur] + rng.random(len(cur)) * deg[cur]
        pos = np.searchsorted(cum, target, side="right")
        # floating-point round-off may land one past the row's last edge
        pos = np.minimum(pos, indptr[cur + 1] - 1)
        cur = indices[pos].astype(np.int64)
        walks[:, t] = cur
    return walks


def _cooccurrence(walks: np.ndarray, n: int, window: int) -> sparse.csr_matrix:
    """Symmetric counts of node pairs at most ``window`` steps apart on the same walk."""
    from scipy import sparse

    counts = sparse.csr_matrix((n, n), dtype=np.float64)
    for d in range(1, min(window, walks.shape[1] - 1) + 1):
        i, j = walks[:, :-d].ravel(), walks[:, d:].ravel()
        counts = counts + sparse.csr_matrix(
            (np.ones(len(i)), (i, j)), shape=(n, n), dtype=np.float64
        )
    return (counts + counts.T).tocsr()


def _shifted_ppmi(counts: sparse.csr_matrix, negative: float) -> sparse.csr_matrix:
    """``max(0, log(c_ij · total / (c_i c_j)) - log(negative))`` on the non-zero counts."""
    from scipy import sparse

    c = counts.tocoo()
    row = np.asarray(counts.sum(axis=1)).ravel()
    pmi = np.log(c.data * counts.sum() / (row[c.row] * row[c.col])) - np.log(negative)
    keep = pmi > 0
    return sparse.csr_matrix((pmi[keep], (c.row[keep], c.col[keep])), shape=counts.shape)


def random_walk_embedding(
    graph: GeneGraph,
    *,
    dim: int = 64,
    walks_per_gene: int = 10,
    walk_length: int = 40,
    window: int = 5,
    negative: float = 1.0,
    seed: int = 0,
) -> GeneFeatures:
    """DeepWalk-style features of every gene with a positive-weight edge.

    Parameters
    ----------
    graph
        A weighted gene graph (non-negative weights); walks step to a neighbour with
        probability proportional to the edge weight.
    dim
        Output dimensions.
    walks_per_gene, walk_length
        Walks started from each gene, and the genes on each (the start included).
    window
        Genes at most this many steps apart on a walk count as co-occurring.
    negative
        Skip-gram's number of negative samples: the PMI is shifted by ``log(negative)``;
        1 keeps every positive PMI.
    seed
        Seed of the walks and of the randomised SVD.

    Returns
    -------
    GeneFeatures
        Rows sorted by symbol; columns ``U · sqrt(S)`` of the shifted-PPMI SVD, signed so each
        axis's largest entry is positive.
    """
    checks = {"dim": dim, "walks_per_gene": walks_per_gene, "window": window}
    for name, value in checks.items():
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}.")
    if walk_length < 2:
        raise ValueError(f"walk_length must be >= 2, got {walk_length}.")
    if negative <= 0:
        raise ValueError(f"negative must be > 0, got {negative}.")
    genes, w = adjacency_matrix(graph)
    w.eliminate_zeros()
    deg = np.asarray(w.sum(axis=1)).ravel()
    walkable = np.flatnonzero(deg > 0)
    if len(walkable) < dim + 1:
        raise ValueError(
            f"The graph has {len(walkable)} gene(s) with positive-weight edges; a "
            f"{dim}-dimensional embedding needs at least {dim + 1}."
        )
    rng = np.random.default_rng(seed)
    walks = random_walks(w, np.repeat(walkable, walks_per_gene), length=walk_length, rng=rng)
    ppmi = _shifted_ppmi(_cooccurrence(walks, len(genes), window), negative)
    # a gene whose every co-occurrence is below chance would get a zero row: leave it out
    walkable = walkable[np.diff(ppmi.indptr)[walkable] > 0]
    ppmi = ppmi[walkable][:, walkable]
    k = min(dim, len(walkable) - 1)
    u, s = _randomized_svd(ppmi, k, seed=int(rng.integers(2**31)))
    unwalkable = len(genes) - len(walkable)
    others = f"; {unwalkable:,} gene(s) without positive PMI have none" if unwalkable else ""
    return GeneFeatures(
        tuple(genes[walkable].tolist()),
        _sign_fix(u * np.sqrt(s)).astype(np.float32),
        source=graph_provenance(graph),
        method=(
            f"random-walk PPMI SVD-{k} ({walks_per_gene} walks × {walk_length} per gene, "
            f"window {window}, negative {negative:g}{others}; seed {seed})"
        ),
    )
