"""Gene features as versioned data, and GO-annotation features reduced by a truncated SVD.

A gene's features are the singular vectors of the TF-IDF-weighted gene × GO-term matrix: two
genes annotated with the same specific terms get nearby vectors, and terms annotated to almost
every gene weigh little. The reduction is a randomised SVD (Halko, Martinsson & Tropp 2011)
with a fixed seed, so the same annotation table always gives the same features.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import ClassVar, Literal

import numpy as np
import pandas as pd

from ._table import FeatureTable

__all__ = ["GeneFeatures", "go_annotation_features"]


@dataclass(frozen=True, eq=False, repr=False)
class GeneFeatures(FeatureTable):
    """A ``(n_genes, dim)`` feature matrix keyed by gene symbol, with its provenance.

    ``content_hash`` identifies the numbers (genes and values), so a model can store which
    prior it was fitted with rather than the tensor itself; :meth:`missing` names the genes
    without features and :meth:`rows` refuses them.
    """

    kind: ClassVar[str] = "gene"
    genes: tuple[str, ...]
    matrix: np.ndarray
    source: str = ""
    method: str = ""
    _index: dict[str, int] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        self._check()

    @property
    def names(self) -> tuple[str, ...]:
        return self.genes


def _randomized_svd(
    a: object, k: int, *, oversample: int = 16, power: int = 3, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """Left singular vectors and values of the top ``k`` of a (sparse) matrix."""
    rng = np.random.default_rng(seed)
    n_cols = a.shape[1]  # type: ignore[attr-defined]
    omega = rng.standard_normal((n_cols, k + oversample))
    y = np.asarray(a @ omega)  # type: ignore[operator]
    q, _ = np.linalg.qr(y)
    for _ in range(power):  # power iterations sharpen the spectrum's top
        z, _ = np.linalg.qr(np.asarray(a.T @ q))  # type: ignore[attr-defined]
        q, _ = np.linalg.qr(np.asarray(a @ z))  # type: ignore[operator]
    b = np.asarray((a.T @ q).T)  # type: ignore[attr-defined]
    u_small, s, _ = np.linalg.svd(b, full_matrices=False)
    return (q @ u_small)[:, :k], s[:k]


def go_annotation_features(
    gene2go: pd.DataFrame,
    *,
    dim: int = 256,
    min_genes_per_term: int = 3,
    ontologies: Sequence[Literal["BP", "MF", "CC"]] = ("BP", "MF", "CC"),
    gene_types: Sequence[str] | None = ("protein-coding",),
    seed: int = 0,
) -> GeneFeatures:
    """Features of every annotated gene from its GO terms: TF-IDF, row-normalised, truncated
    SVD to ``dim`` dimensions (scaled by the singular values).

    Parameters
    ----------
    gene2go
        Columns ``symbol`` and ``go_id`` (and ``ontology``, ``gene_type`` to filter), as
        :func:`phenocast.data.load_gene2go` returns.
    dim
        Output dimensions (at most the number of terms kept).
    min_genes_per_term
        Terms annotated to fewer genes carry no shared information and are dropped.
    ontologies, gene_types
        Which annotations and genes to use (``gene_types=None``: all).
    seed
        Seed of the randomised SVD.
    """
    from scipy import sparse

    need = {"symbol", "go_id"} | ({"ontology"} if ontologies else set())
    missing = sorted(need - set(gene2go.columns))
    if missing:
        raise ValueError(
            f"gene2go lacks column(s) {missing}; expected symbol, go_id, ontology (see "
            "phenocast.data.load_gene2go)."
        )
    table = gene2go
    if ontologies:
        table = table[table["ontology"].isin(list(ontologies))]
    if gene_types is not None and "gene_type" in table.columns:
        table = table[table["gene_type"].isin(list(gene_types))]
    pairs = table[["symbol", "go_id"]].astype(str).drop_duplicates()
    counts = pairs["go_id"].value_counts()
    pairs = pairs[pairs["go_id"].map(counts) >= min_genes_per_term]
    if pairs.empty:
        raise ValueError("No GO term is annotated to enough genes; lower min_genes_per_term.")
    genes, gi = np.unique(pairs["symbol"].to_numpy(), return_inverse=True)
    terms, ti = np.unique(pairs["go_id"].to_numpy(), return_inverse=True)
    x = sparse.csr_matrix(
        (np.ones(len(pairs)), (gi, ti)), shape=(len(genes), len(terms)), dtype=np.float64
    )
    idf = np.log(len(genes) / np.asarray(x.sum(0)).ravel())
    x = x @ sparse.diags(idf)
    norms = np.sqrt(np.asarray(x.multiply(x).sum(1)).ravel())
    x = sparse.diags(1.0 / np.maximum(norms, 1e-12)) @ x
    k = min(dim, len(terms) - 1, len(genes) - 1)
    u, s = _randomized_svd(x.tocsr(), k, seed=seed)
    u *= np.sign(u[np.abs(u).argmax(0), range(u.shape[1])])  # a deterministic sign per axis
    return GeneFeatures(
        tuple(genes.tolist()),
        (u * s).astype(np.float32),
        source=f"gene2go ({len(pairs):,} gene-term pairs, {len(terms):,} terms)",
        method=f"GO TF-IDF SVD-{k} (seed {seed})",
    )
