"""Message passing: the parameter-free propagation equals its matrix formula, the torch module
reproduces it and trains end to end, and bad inputs are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.featurize import GeneFeatures, propagate_features, propagation_matrix
from phenocast.knowledge import GeneGraph

from ._graphs import cliques


def path_graph() -> GeneGraph:
    table = pd.DataFrame(
        {"source": ["g0", "g1", "g2"], "target": ["g1", "g2", "g3"], "importance": [1, 2, 0.5]}
    )
    return GeneGraph.from_edges(table, name="path")


def features(genes: list[str], dim: int = 3, seed: int = 0) -> GeneFeatures:
    x = np.random.default_rng(seed).normal(size=(len(genes), dim))
    return GeneFeatures(tuple(genes), x.astype(np.float32), source="test", method="random")


def expected_operator(graph: GeneGraph, genes: list[str], s: float) -> np.ndarray:
    """``D̃^-1/2 (W + s I) D̃^-1/2`` built densely, edge by edge."""
    pos = {g: i for i, g in enumerate(genes)}
    w = np.eye(len(genes)) * s
    for a, b, v in graph.edges.itertuples(index=False):
        if a in pos and b in pos:
            w[pos[a], pos[b]] = w[pos[b], pos[a]] = v
    d = 1 / np.sqrt(w.sum(1))
    return d[:, None] * w * d[None, :]


def test_propagation_equals_the_matrix_formula():
    graph, genes = path_graph(), ["g3", "g0", "g2", "g1", "lonely"]
    feats = features(genes)
    a = expected_operator(graph, genes, 0.5)
    np.testing.assert_allclose(propagation_matrix(graph, genes, self_loops=0.5).toarray(), a)
    out = propagate_features(feats, graph, hops=3, self_loops=0.5)
    x = feats.matrix.astype(np.float64)
    np.testing.assert_allclose(out.matrix, a @ a @ a @ x, rtol=1e-5, atol=1e-6)
    assert out.genes == feats.genes
    np.testing.assert_allclose(out.rows(["lonely"]), feats.rows(["lonely"]), rtol=1e-6)
    assert "3-hop propagation" in out.method and "path" in out.source


def test_concat_keeps_every_radius_and_zero_hops_is_the_input():
    graph, genes = path_graph(), ["g0", "g1", "g2", "g3"]
    feats = features(genes, dim=2)
    both = propagate_features(feats, graph, hops=2, combine="concat")
    last = propagate_features(feats, graph, hops=2)
    assert both.dim == 6
    np.testing.assert_allclose(both.matrix[:, :2], feats.matrix)
    np.testing.assert_allclose(both.matrix[:, 4:], last.matrix)
    np.testing.assert_allclose(propagate_features(feats, graph, hops=0).matrix, feats.matrix)


def test_graph_genes_without_input_features_stay_missing():
    out = propagate_features(features(["g0", "g1"]), path_graph(), hops=2)
    assert out.missing(["g0", "g2", "g3"]) == ["g2", "g3"]


def test_bad_options_are_refused():
    feats, graph = features(["g0", "g1"]), path_graph()
    with pytest.raises(ValueError, match="hops must be >= 0, got -1"):
        propagate_features(feats, graph, hops=-1)
    with pytest.raises(ValueError, match="combine must be 'last' or 'concat', got 'sum'"):
        propagate_features(feats, graph, combine="sum")
    with pytest.raises(ValueError, match=r"self_loops must be > 0 .* got 0"):
        propagate_features(feats, graph, self_loops=0)


# --- the torch module ------------------------------------------------------------------------


def test_parameter_free_smoother_matches_propagate_features():
    torch = pytest.importorskip("torch")
    from phenocast.featurize import GraphSmoother

    graph = cliques(4, 3, bridges=(("A0", "B0"),))
    feats = features(sorted(graph.genes), dim=4)
    module = GraphSmoother.from_graph(graph, feats.genes, hops=2)
    assert not module.learnable and module.graph_hash == graph.content_hash
    out = module(torch.as_tensor(feats.matrix))
    ref = propagate_features(feats, graph, hops=2).matrix
    np.testing.assert_allclose(out.numpy(), ref, rtol=1e-5, atol=1e-6)
    assert "parameter-free" in repr(module)
    assert module.state_dict() == {}  # the adjacency is a prior, not a weight


def test_learnable_smoother_is_seeded_and_trains_end_to_end():
    torch = pytest.importorskip("torch")
    from phenocast.featurize import GraphSmoother

    graph = cliques(5, 5, bridges=(("A0", "B0"),))
    genes = sorted(graph.genes)
    x = torch.as_tensor(features(genes, dim=3).matrix)
    target = torch.tensor([1.0 if g.startswith("A") else -1.0 for g in genes])[:, None]
    make = lambda seed: GraphSmoother.from_graph(  # noqa: E731
        graph, genes, hops=2, dims=[8, 1], in_dim=3, seed=seed
    )
    module = make(0)
    assert module.learnable and module(x).shape == (10, 1)
    torch.testing.assert_close(make(0).state_dict(), module.state_dict())
    assert not torch.equal(make(1).layers[0].weight, module.layers[0].weight)
    opt = torch.optim.Adam(module.parameters(), lr=0.05)
    first = None
    for _ in range(100):
        opt.zero_grad()
        loss = torch.mean((module(x) - target) ** 2)
        loss.backward()
        opt.step()
        first = loss.item() if first is None else first
    assert loss.item() < 0.2 * first


def test_smoother_refuses_bad_shapes():
    torch = pytest.importorskip("torch")
    from phenocast.featurize import GraphSmoother

    a = np.eye(3)
    with pytest.raises(ValueError, match="hops must be >= 1, got 0"):
        GraphSmoother(a, hops=0)
    with pytest.raises(ValueError, match=r"one width per hop: 2 hop\(s\), 1 width\(s\)"):
        GraphSmoother(a, hops=2, dims=[4], in_dim=3)
    with pytest.raises(ValueError, match="in_dim is needed"):
        GraphSmoother(a, hops=1, dims=[4])
    with pytest.raises(ValueError, match=r"adjacency must be square, got shape \(3, 2\)"):
        GraphSmoother(np.ones((3, 2)))
    with pytest.raises(ValueError, match=r"x has 2 row\(s\) but the graph has 3 node\(s\)"):
        GraphSmoother(a)(torch.zeros(2, 4))
