"""Random-walk embeddings: walks follow weighted edges, genes of one clique end up closer than
genes of two, every component is embedded, and bad options are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.featurize import adjacency_matrix, random_walk_embedding, random_walks
from phenocast.knowledge import GeneGraph

from ._graphs import cliques, cosine


def test_walks_step_along_edges_in_proportion_to_weight():
    star = pd.DataFrame({"source": ["hub", "hub"], "target": ["x", "y"], "importance": [1, 3]})
    genes, w = adjacency_matrix(GeneGraph.from_edges(star))
    hub = genes.tolist().index("hub")
    walks = random_walks(w, np.full(4000, hub), length=3, rng=np.random.default_rng(0))
    assert np.all(walks[:, 0] == hub) and np.all(walks[:, 2] == hub)
    share_y = np.mean(walks[:, 1] == genes.tolist().index("y"))
    assert abs(share_y - 0.75) < 0.03
    dense = w.toarray()
    assert np.all(dense[walks[:, :-1].ravel(), walks[:, 1:].ravel()] > 0)
    with pytest.raises(ValueError, match="positive degree"):
        random_walks(w * 0, np.array([hub]), length=2, rng=np.random.default_rng(0))


def test_same_clique_genes_are_closer_than_genes_of_two_cliques():
    graph = cliques(6, 6, bridges=(("A0", "B0"),))
    feats = random_walk_embedding(graph, dim=4, walks_per_gene=50, walk_length=20, seed=1)
    sim = cosine(feats.matrix)
    is_a = np.array([g.startswith("A") for g in feats.genes])
    same = sim[np.equal.outer(is_a, is_a) & ~np.eye(len(is_a), dtype=bool)].mean()
    across = sim[np.not_equal.outer(is_a, is_a)].mean()
    assert same > across + 0.5
    again = random_walk_embedding(graph, dim=4, walks_per_gene=50, walk_length=20, seed=1)
    assert again.content_hash == feats.content_hash
    assert "random-walk PPMI SVD-4" in feats.method


def test_every_component_is_embedded_but_zero_weight_genes_are_not():
    edges = cliques(6, 4).edges
    extra = pd.DataFrame({"a": ["A1"], "b": ["Z"], "weight": [0.0]})
    graph = GeneGraph.from_edges(pd.concat([edges, extra]), source="a", target="b", weight="weight")
    feats = random_walk_embedding(graph, dim=3, seed=0)
    assert feats.missing(["A0", "B3", "Z"]) == ["Z"]
    assert "1 gene(s) without positive PMI have none" in feats.method


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"dim": 0}, "dim must be >= 1, got 0"),
        ({"walks_per_gene": 0}, "walks_per_gene must be >= 1, got 0"),
        ({"window": 0}, "window must be >= 1, got 0"),
        ({"walk_length": 1}, "walk_length must be >= 2, got 1"),
        ({"negative": 0}, "negative must be > 0, got 0"),
        ({"dim": 12}, r"has 6 gene\(s\) with positive-weight edges; a 12-dimensional"),
    ],
)
def test_bad_options_are_refused(options, message):
    with pytest.raises(ValueError, match=message):
        random_walk_embedding(cliques(6), **options)
