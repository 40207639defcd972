"""Small gene graphs with known structure for the featuriser tests."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd

from phenocast.knowledge import GeneGraph


def cliques(*sizes: int, bridges: tuple[tuple[str, str], ...] = ()) -> GeneGraph:
    """Complete graphs on ``A0..``, ``B0..``, … (unit weights), plus ``bridges`` edges."""
    rows = []
    for letter, size in zip("ABCDEFG", sizes, strict=False):
        names = [f"{letter}{i}" for i in range(size)]
        rows += [(a, b, 1.0) for a, b in itertools.combinations(names, 2)]
    rows += [(a, b, 1.0) for a, b in bridges]
    table = pd.DataFrame(rows, columns=["source", "target", "importance"])
    return GeneGraph.from_edges(table, name="cliques")


def planted_partition(n_per_block: int, *, k_in: int, k_out: int, seed: int) -> GeneGraph:
    """Two blocks (``A*``, ``B*``): each gene links to ``k_in`` random genes of its block and
    ``k_out`` of the other."""
    rng = np.random.default_rng(seed)
    blocks = {c: [f"{c}{i:04d}" for i in range(n_per_block)] for c in "AB"}
    rows = []
    for c, other in (("A", "B"), ("B", "A")):
        for g in blocks[c]:
            rows += [(g, h, 1.0) for h in rng.choice(blocks[c], k_in, replace=False) if h != g]
            rows += [(g, h, 1.0) for h in rng.choice(blocks[other], k_out, replace=False)]
    table = pd.DataFrame(rows, columns=["source", "target", "importance"])
    return GeneGraph.from_edges(table, name="planted")


def cosine(x: np.ndarray) -> np.ndarray:
    x = x / np.linalg.norm(x, axis=1, keepdims=True)
    return x @ x.T
