"""GO-annotation gene features: genes that share specific terms are neighbours, the numbers are
reproducible, and genes without features are named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.featurize import GeneFeatures, go_annotation_features


def toy_gene2go() -> pd.DataFrame:
    rows = []
    # two modules of genes with their own terms, plus a term every gene has
    for g in range(6):
        rows.append((f"A{g}", "GO:A1", "BP"))
        rows.append((f"A{g}", "GO:A2", "MF"))
        rows.append((f"B{g}", "GO:B1", "BP"))
        rows.append((f"B{g}", "GO:B2", "CC"))
    for g in [*(f"A{i}" for i in range(6)), *(f"B{i}" for i in range(6))]:
        rows.append((g, "GO:ALL", "CC"))
    rows.append(("A0", "GO:RARE", "BP"))  # one gene only: dropped
    frame = pd.DataFrame(rows, columns=["symbol", "go_id", "ontology"])
    frame["gene_type"] = "protein-coding"
    return frame


def test_genes_sharing_terms_are_neighbours():
    feats = go_annotation_features(toy_gene2go(), dim=2)
    assert len(feats) == 12 and feats.dim == 2
    x = feats.rows(["A0", "A1", "B0"])
    assert np.linalg.norm(x[0] - x[1]) < 0.1 * np.linalg.norm(x[0] - x[2])
    again = go_annotation_features(toy_gene2go(), dim=2)
    assert again.content_hash == feats.content_hash
    np.testing.assert_array_equal(again.matrix, feats.matrix)
    assert "GO TF-IDF SVD-2" in repr(feats)


def test_unfeaturised_genes_are_named():
    feats = go_annotation_features(toy_gene2go(), dim=2)
    assert feats.missing(["A1", "ZZZ", "B2", "YYY"]) == ["ZZZ", "YYY"]
    with pytest.raises(KeyError, match=r"2 gene\(s\) have no features.*\['ZZZ', 'YYY'\]"):
        feats.rows(["A1", "ZZZ", "YYY"])


def test_bad_tables_and_feature_sets_are_refused():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['go_id'\]"):
        go_annotation_features(pd.DataFrame({"symbol": ["A"], "ontology": ["BP"]}))
    with pytest.raises(ValueError, match="No GO term is annotated to enough genes"):
        go_annotation_features(toy_gene2go(), min_genes_per_term=100)
    with pytest.raises(ValueError, match=r"more than once: \['a'\]"):
        GeneFeatures(("a", "a"), np.zeros((2, 3)))
    with pytest.raises(ValueError, match="one matrix row per gene"):
        GeneFeatures(("a", "b"), np.zeros((3, 3)))
