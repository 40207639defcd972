"""Spectral gene embeddings: the Fiedler axis separates communities, only the largest component
is embedded, the numbers are reproducible, and bad graphs are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.featurize import adjacency_matrix, largest_component, spectral_gene_embedding
from phenocast.knowledge import GeneGraph

from ._graphs import cliques, planted_partition


def test_first_axis_separates_two_cliques_joined_by_one_edge():
    graph = cliques(6, 6, bridges=(("A0", "B0"),))
    feats = spectral_gene_embedding(graph, dim=2)
    assert feats.genes == tuple(sorted(graph.genes)) and feats.dim == 2
    fiedler = feats.rows([f"A{i}" for i in range(6)] + [f"B{i}" for i in range(6)])[:, 0]
    assert np.all(np.sign(fiedler[:6]) == -np.sign(fiedler[6:]))
    np.testing.assert_allclose(np.sqrt(np.mean(feats.matrix**2, axis=0)), 1.0, rtol=1e-5)
    assert "spectral-2" in feats.method and "cliques" in feats.source


def test_lanczos_path_recovers_planted_blocks_and_is_reproducible():
    graph = planted_partition(600, k_in=12, k_out=1, seed=0)  # above the dense-solver limit
    feats = spectral_gene_embedding(graph, dim=3, seed=7)
    axis = feats.matrix[:, 0]
    is_a = np.array([g.startswith("A") for g in feats.genes])
    agree = np.mean(np.sign(axis) == np.where(is_a, 1, -1))
    assert max(agree, 1 - agree) > 0.95
    again = spectral_gene_embedding(graph, dim=3, seed=7)
    assert again.content_hash == feats.content_hash


def test_only_the_largest_component_is_embedded_and_the_rest_are_named():
    graph = cliques(6, 4)
    keep, dropped = largest_component(graph)
    assert keep == [f"A{i}" for i in range(6)] and dropped == [f"B{i}" for i in range(4)]
    feats = spectral_gene_embedding(graph, dim=2)
    assert feats.missing(["A1", "B1", "B3"]) == ["B1", "B3"]
    assert "4 gene(s) outside it have none" in feats.method
    with pytest.raises(KeyError, match=r"2 gene\(s\) have no features.*\['B1', 'B3'\]"):
        feats.rows(["A0", "B1", "B3"])


def test_tied_components_go_to_the_alphabetically_first_gene():
    keep, dropped = largest_component(cliques(5, 5))
    assert keep[0] == "A0" and dropped[0] == "B0"


def test_genes_whose_edges_weigh_zero_are_isolated_not_embedded():
    edges = cliques(6, 6, bridges=(("A0", "B0"),)).edges
    extra = pd.DataFrame({"a": ["A1"], "b": ["Z"], "weight": [0.0]})
    graph = GeneGraph.from_edges(pd.concat([edges, extra]), source="a", target="b", weight="weight")
    assert "Z" in graph
    feats = spectral_gene_embedding(graph, dim=2)
    assert feats.missing(["Z", "A1"]) == ["Z"]


def test_adjacency_is_symmetric_and_aligned_by_name():
    graph = cliques(3, bridges=(("A2", "X"),))
    genes, w = adjacency_matrix(graph, genes=["X", "A0", "A2"])
    assert genes.tolist() == ["X", "A0", "A2"]
    np.testing.assert_array_equal(w.toarray(), [[0, 0, 1], [0, 0, 1], [1, 1, 0]])
    with pytest.raises(ValueError, match="more than once"):
        adjacency_matrix(graph, genes=["A0", "A0"])


def test_bad_graphs_and_options_are_refused():
    table = pd.DataFrame({"source": ["a", "b"], "target": ["b", "c"], "importance": [1.0, -0.5]})
    with pytest.raises(ValueError, match=r"1 edge\(s\) with a negative or non-finite weight.*b–c"):
        spectral_gene_embedding(GeneGraph.from_edges(table), dim=1)
    with pytest.raises(ValueError, match="dim must be >= 1, got 0"):
        spectral_gene_embedding(cliques(6), dim=0)
    with pytest.raises(
        ValueError, match=r"largest connected component has 4 gene\(s\); a 3-dimensional"
    ):
        spectral_gene_embedding(cliques(4, 3), dim=3)
    bad = GeneGraph(pd.DataFrame({"a": ["x"], "b": ["y"]}))
    with pytest.raises(ValueError, match=r"graph.edges lacks column\(s\) \['weight'\]"):
        adjacency_matrix(bad)
