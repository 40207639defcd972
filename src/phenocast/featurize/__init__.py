"""Perturbation featurisers: turn a gene or a drug into a vector, so a model can say something
about perturbations it never saw.

Feature tables (:class:`GeneFeatures`, :class:`DrugFeatures`) are versioned data; a
:class:`Featuriser` (``make_featuriser(name, **options)``, registry :data:`FEATURISERS`) turns
names into rows and names those it cannot featurise. Gene features come from GO annotations
(:func:`go_annotation_features`), a gene graph (:func:`spectral_gene_embedding`,
:func:`random_walk_embedding`) or both (:func:`propagate_features`, and the torch module
:class:`GraphSmoother`); drug features from SMILES (:func:`morgan_fingerprints`, needs RDKit).
Neither torch nor RDKit is imported until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._adjacency import adjacency_matrix, normalised_adjacency
from ._components import (
    ComponentFeatures,
    FeatureHashError,
    check_feature_options,
    resolve_featuriser,
)
from ._drugs import DrugFeatures, morgan_fingerprints, sciplex_smiles
from ._featurisers import (
    FEATURISERS,
    Featuriser,
    OneHotFeaturiser,
    TableFeaturiser,
    make_featuriser,
    register_featuriser,
)
from ._genes import GeneFeatures, go_annotation_features
from ._propagate import propagate_features, propagation_matrix
from ._spectral import largest_component, spectral_gene_embedding
from ._walks import random_walk_embedding, random_walks

if TYPE_CHECKING:  # pragma: no cover
    from ._gnn import GraphSmoother

__all__ = [
    "FEATURISERS",
    "ComponentFeatures",
    "DrugFeatures",
    "FeatureHashError",
    "Featuriser",
    "GeneFeatures",
    "GraphSmoother",
    "OneHotFeaturiser",
    "TableFeaturiser",
    "adjacency_matrix",
    "check_feature_options",
    "go_annotation_features",
    "largest_component",
    "make_featuriser",
    "morgan_fingerprints",
    "normalised_adjacency",
    "propagate_features",
    "propagation_matrix",
    "random_walk_embedding",
    "random_walks",
    "register_featuriser",
    "resolve_featuriser",
    "sciplex_smiles",
    "spectral_gene_embedding",
]


def __getattr__(name: str) -> Any:
    if name == "GraphSmoother":  # torch is only imported when the module is used
        from ._gnn import GraphSmoother

        return GraphSmoother
    raise AttributeError(f"module 'phenocast.featurize' has no attribute {name!r}")
