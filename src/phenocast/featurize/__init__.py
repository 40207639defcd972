"""Perturbation featurisers: turn a gene (or, later, a drug) into a vector, so a model can say
something about perturbations it never saw.

Gene features are versioned data (:class:`GeneFeatures`) from GO annotations
(:func:`go_annotation_features`), a gene graph (:func:`spectral_gene_embedding`,
:func:`random_walk_embedding`) or both (:func:`propagate_features`, and the torch module
:class:`GraphSmoother`, which imports torch only when used).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._adjacency import adjacency_matrix, normalised_adjacency
from ._genes import GeneFeatures, go_annotation_features
from ._propagate import propagate_features, propagation_matrix
from ._spectral import largest_component, spectral_gene_embedding
from ._walks import random_walk_embedding, random_walks

if TYPE_CHECKING:  # pragma: no cover
    from ._gnn import GraphSmoother

__all__ = [
    "GeneFeatures",
    "GraphSmoother",
    "adjacency_matrix",
    "go_annotation_features",
    "largest_component",
    "normalised_adjacency",
    "propagate_features",
    "propagation_matrix",
    "random_walk_embedding",
    "random_walks",
    "spectral_gene_embedding",
]


def __getattr__(name: str) -> Any:
    if name == "GraphSmoother":  # torch is only imported when the module is used
        from ._gnn import GraphSmoother

        return GraphSmoother
    raise AttributeError(f"module 'phenocast.featurize' has no attribute {name!r}")
