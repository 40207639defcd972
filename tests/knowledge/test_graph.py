"""Gene graphs: undirected, deduplicated, neighbourhoods summed over seed genes."""

from __future__ import annotations

import pandas as pd
import pytest

from phenocast.knowledge import GeneGraph

EDGES = pd.DataFrame(
    {
        "source": ["A", "B", "A", "C", "D", "A"],
        "target": ["B", "A", "C", "D", "D", "E"],
        "importance": [0.5, 0.7, 0.2, 0.9, 1.0, 0.1],
    }
)


def test_edges_are_undirected_and_deduplicated():
    g = GeneGraph.from_edges(EDGES, name="toy")
    assert len(g.edges) == 4  # A-B (max weight), A-C, C-D, A-E; the D-D self loop is dropped
    assert g.neighbours("A") == [("B", 0.7), ("C", 0.2), ("E", 0.1)]
    assert g.neighbours("D") == [("C", 0.9)]
    assert g.neighbours("unknown") == []
    assert "A" in g and "Z" not in g
    assert g.content_hash == GeneGraph.from_edges(EDGES.iloc[::-1]).content_hash


def test_neighbourhood_sums_weights_and_names_the_strongest_seed():
    g = GeneGraph.from_edges(EDGES)
    near = g.neighbourhood(["A", "D"])
    assert set(near) == {"B", "C", "E"}
    assert near["C"] == pytest.approx((1.1, "D"))
    assert near["B"] == pytest.approx((0.7, "A"))
    sub = g.subgraph(["A", "B", "C"])
    assert len(sub.edges) == 2


def test_bad_edge_tables_are_refused():
    with pytest.raises(ValueError, match=r"lacks column\(s\) \['importance'\]"):
        GeneGraph.from_edges(EDGES.drop(columns="importance"))
    bad = EDGES.assign(importance=["x"] * len(EDGES))
    with pytest.raises(ValueError, match="non-numeric weights"):
        GeneGraph.from_edges(bad)
