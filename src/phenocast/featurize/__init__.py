"""Perturbation featurisers: turn a gene (or, later, a molecule) into a vector, so a model can
say something about perturbations it never saw.

Gene features come from GO annotations (:func:`go_annotation_features`) or a gene graph
(:func:`spectral_gene_embedding`, :func:`random_walk_embedding`).
"""

from ._adjacency import adjacency_matrix, normalised_adjacency
from ._genes import GeneFeatures, go_annotation_features
from ._spectral import largest_component, spectral_gene_embedding
from ._walks import random_walk_embedding, random_walks

__all__ = [
    "GeneFeatures",
    "adjacency_matrix",
    "go_annotation_features",
    "largest_component",
    "normalised_adjacency",
    "random_walk_embedding",
    "random_walks",
    "spectral_gene_embedding",
]
