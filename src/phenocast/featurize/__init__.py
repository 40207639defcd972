"""Perturbation featurisers: turn a gene (or, later, a molecule) into a vector, so a model can
say something about perturbations it never saw."""

from ._genes import GeneFeatures, go_annotation_features

__all__ = ["GeneFeatures", "go_annotation_features"]
