"""A weighted gene-gene graph keyed by symbol, with neighbourhood queries."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

__all__ = ["GeneGraph"]


@dataclass(frozen=True, eq=False)
class GeneGraph:
    """Undirected weighted edges between genes (an edge listed in either direction counts once,
    with the larger weight).

    Build it with :meth:`from_edges` from any edge table, e.g.
    :func:`phenocast.data.load_go_graph` (``source``, ``target``, ``importance``).
    """

    edges: pd.DataFrame  # columns a, b, weight with a < b
    source: str = ""
    _adj: dict[str, list[tuple[str, float]]] = field(default_factory=dict, repr=False)

    @classmethod
    def from_edges(
        cls,
        table: pd.DataFrame,
        *,
        source: str = "source",
        target: str = "target",
        weight: str | None = "importance",
        name: str = "",
    ) -> GeneGraph:
        missing = [c for c in (source, target, weight) if c is not None and c not in table]
        if missing:
            raise ValueError(
                f"The edge table lacks column(s) {missing}; it has {list(table.columns)}."
            )
        a = table[source].astype(str).to_numpy()
        b = table[target].astype(str).to_numpy()
        w = (
            np.ones(len(table))
            if weight is None
            else pd.to_numeric(table[weight], errors="coerce").to_numpy(dtype=float)
        )
        if np.isnan(w).any():
            raise ValueError(f"Column {weight!r} has non-numeric weights.")
        keep = a != b
        lo, hi = np.where(a < b, a, b)[keep], np.where(a < b, b, a)[keep]
        frame = (
            pd.DataFrame({"a": lo, "b": hi, "weight": w[keep]})
            .groupby(["a", "b"], as_index=False)["weight"]
            .max()
        )
        adj: dict[str, list[tuple[str, float]]] = {}
        for x, y, v in frame.itertuples(index=False):
            adj.setdefault(x, []).append((y, float(v)))
            adj.setdefault(y, []).append((x, float(v)))
        for lst in adj.values():
            lst.sort(key=lambda t: -t[1])
        return cls(frame, name, adj)

    @property
    def genes(self) -> list[str]:
        return sorted(self._adj)

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256(self.edges.to_csv(index=False).encode())
        return h.hexdigest()[:16]

    def __contains__(self, gene: object) -> bool:
        return gene in self._adj

    def neighbours(self, gene: str) -> list[tuple[str, float]]:
        """``(neighbour, weight)`` pairs, heaviest first; empty for an unknown gene."""
        return list(self._adj.get(gene, []))

    def neighbourhood(self, genes: Iterable[str]) -> dict[str, tuple[float, str]]:
        """Every neighbour of ``genes`` (not in ``genes``) → (summed weight, heaviest source)."""
        seeds = set(genes)
        out: dict[str, tuple[float, str]] = {}
        best: dict[str, float] = {}
        for g in sorted(seeds):
            for n, w in self._adj.get(g, []):
                if n in seeds:
                    continue
                total, src = out.get(n, (0.0, g))
                if w > best.get(n, -np.inf):
                    best[n], src = w, g
                out[n] = (total + w, src)
        return out

    def subgraph(self, genes: Sequence[str]) -> GeneGraph:
        keep = set(genes)
        sub = self.edges[self.edges["a"].isin(keep) & self.edges["b"].isin(keep)]
        return GeneGraph.from_edges(
            sub, source="a", target="b", weight="weight", name=f"{self.source} (subgraph)"
        )

    def __repr__(self) -> str:
        return f"GeneGraph({len(self._adj)} genes, {len(self.edges)} edges, {self.source})"
