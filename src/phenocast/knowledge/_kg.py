"""Typed knowledge graphs: filters, alignment to genes by symbol, neighbourhood queries,
subgraphs, projection to a GeneGraph and atomic export in PrimeKG's format."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._align import Alignment, align_names
from ._schema import N_EXAMPLES, NODE_FIELDS, PRIMEKG_COLUMNS, KnowledgeGraphError, LoadReport

if TYPE_CHECKING:  # pragma: no cover
    from ._graph import GeneGraph

__all__ = ["KnowledgeGraph"]


@dataclass(frozen=True, eq=False)
class KnowledgeGraph:
    """A typed, versioned knowledge graph: nodes with types and names, directed typed edges.

    A node is identified by its ``source`` and ``id`` (PrimeKG's ``x_source``, ``x_id``: ids
    are only unique within their source, e.g. NCBI gene 9796 and MONDO disease 9796), and is
    referred to by its key ``"source:id"`` (``"NCBI:7157"``, ``"symbol:TP53"``). Queries also
    accept a bare id or a name when it names one node only.

    Build it with :func:`read_primekg` or the constructors :meth:`from_go_graph`,
    :meth:`from_gene2go` and :meth:`from_progeny`; both tables are kept sorted, so equal
    content gives an equal :attr:`content_hash` whatever the input's row order.

    Attributes
    ----------
    nodes
        Indexed by key (sorted), columns ``id``, ``type``, ``name``, ``source``: exactly the
        endpoints of the edges (an edge list cannot hold isolated nodes).
    edges
        Columns ``relation``, ``display_relation``, ``x``, ``y`` (node keys) and ``weight``
        (float; 1.0 where the input has none), one row per distinct
        (relation, display_relation, x, y), sorted by those.
    source
        Where the graph came from (file, release); not part of the content hash.
    report
        The fix-ups made while reading (see :class:`LoadReport`).
    """

    nodes: pd.DataFrame
    edges: pd.DataFrame
    source: str = ""
    report: LoadReport = field(default_factory=LoadReport)

    # --- constructors ----------------------------------------------------------------------

    @classmethod
    def from_go_graph(
        cls, table: pd.DataFrame | None = None, *, data_dir: str | os.PathLike[str] | None = None
    ) -> KnowledgeGraph:
        """The GO-similarity gene graph (:func:`phenocast.data.load_go_graph`) as gene — gene
        edges ``go_similarity`` weighted by the Jaccard importance, directed as in the file
        (``source`` → ``target``; each target keeps its 20 most similar genes).

        Genes are keyed by symbol (``"symbol:TP53"``); pass ``table`` to use an edge table
        with the same columns instead of the shared file.
        """
        from ._primekg import _from_rows
        from ._sources import go_graph_rows

        rows, source = go_graph_rows(table, data_dir=data_dir)
        return _from_rows(rows, where="the GO graph", source=source)

    @classmethod
    def from_gene2go(
        cls,
        table: pd.DataFrame | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        exclude_evidence: Iterable[str] = (),
    ) -> KnowledgeGraph:
        """Gene → GO term annotations (:func:`phenocast.data.load_gene2go`), typed by ontology.

        Genes are keyed by NCBI Entrez id (``"NCBI:7157"``, named by symbol); terms by GO id
        (``"GO:GO:0008150"``), typed ``biological_process`` / ``molecular_function`` /
        ``cellular_component`` with relations ``bioprocess_protein`` / ``molfunc_protein`` /
        ``cellcomp_protein``. A gene-term pair repeated once per evidence code becomes one
        edge of weight 1 (stated in :attr:`report`); ``exclude_evidence=("IEA", "ND")`` drops
        those evidence codes first.
        """
        from ._primekg import _from_rows
        from ._sources import gene2go_rows

        rows, source, notes = gene2go_rows(
            table, data_dir=data_dir, exclude_evidence=exclude_evidence
        )
        return _from_rows(rows, where="gene2go", source=source, notes=notes)

    @classmethod
    def from_progeny(
        cls,
        table: pd.DataFrame | None = None,
        *,
        data_dir: str | os.PathLike[str] | None = None,
        top100: bool = True,
    ) -> KnowledgeGraph:
        """PROGENy pathway → gene footprint weights (:func:`phenocast.data.load_progeny`).

        Pathways are ``pathway`` nodes keyed ``"PROGENy:EGFR"``; genes ``"symbol:..."``; the
        edge weight is PROGENy's signed weight (the p-value is not kept). ``top100=False``
        gives the full model (274,143 edges).
        """
        from ._primekg import _from_rows
        from ._sources import progeny_rows

        rows, source = progeny_rows(table, data_dir=data_dir, top100=top100)
        return _from_rows(rows, where="PROGENy", source=source)

    # --- description -----------------------------------------------------------------------

    @property
    def relations(self) -> list[str]:
        return sorted(self.edges["relation"].unique())

    @property
    def node_types(self) -> list[str]:
        return sorted(self.nodes["type"].unique())

    @cached_property
    def content_hash(self) -> str:
        """First 16 hex digits of the SHA-256 of the sorted node and edge tables."""
        h = hashlib.sha256()
        h.update(self.nodes.to_csv(index=False, columns=list(NODE_FIELDS)).encode())
        h.update(self.edges.to_csv(index=False).encode())
        return h.hexdigest()[:16]

    def __len__(self) -> int:
        return len(self.edges)

    def __contains__(self, node: object) -> bool:
        return isinstance(node, str) and node in self.nodes.index

    def __repr__(self) -> str:
        return (
            f"KnowledgeGraph({len(self.nodes):,} nodes of {len(self.node_types)} type(s), "
            f"{len(self.edges):,} edges of {len(self.relations)} relation(s), "
            f"hash {self.content_hash}, {self.source!r})"
        )

    # --- lookups ---------------------------------------------------------------------------

    @cached_property
    def _lookup(self) -> tuple[dict[str, list[str]], dict[str, list[str]]]:
        keys = self.nodes.index.to_numpy()
        by_id = {k: list(keys[v]) for k, v in self.nodes.groupby("id").indices.items()}
        by_name = {k: list(keys[v]) for k, v in self.nodes.groupby("name").indices.items()}
        return by_id, by_name

    def resolve(self, node: str) -> str:
        """The key of ``node``, given as a key, a bare id or a name that names one node."""
        if node in self.nodes.index:
            return node
        by_id, by_name = self._lookup
        for what, table in (("id", by_id), ("name", by_name)):
            hits = table.get(node, [])
            if len(hits) == 1:
                return hits[0]
            if len(hits) > 1:
                raise KnowledgeGraphError(
                    f"{node!r} is the {what} of {len(hits)} nodes ({hits[:5]}); "
                    "pass the key (source:id) of the one you mean."
                )
        raise KnowledgeGraphError(
            f"{node!r} is not a node key, id or name of this graph ({len(self.nodes):,} nodes; "
            f"keys look like {self.nodes.index[0]!r})."
        )

    def _relation_mask(self, relations: str | Iterable[str] | None) -> np.ndarray:
        if relations is None:
            return np.ones(len(self.edges), dtype=bool)
        wanted = _as_set(relations)
        unknown = sorted(wanted - set(self.relations))
        if unknown:
            raise KnowledgeGraphError(
                f"Unknown relation(s) {unknown}; this graph has {self.relations}."
            )
        return self.edges["relation"].isin(wanted).to_numpy()

    # --- queries ---------------------------------------------------------------------------

    def neighbours(self, node: str, *, relation: str | Iterable[str] | None = None) -> pd.DataFrame:
        """The edges at ``node`` in either direction, heaviest first.

        Parameters
        ----------
        node
            A key, or an id or name that names one node.
        relation
            Only edges of this relation (or these relations).

        Returns
        -------
        pandas.DataFrame
            One row per edge: ``node`` (the neighbour's key), ``id``, ``type``, ``name``,
            ``relation``, ``display_relation``, ``weight`` and ``direction`` (``"out"`` when
            ``node`` is the edge's x, ``"in"`` when it is its y).
        """
        key = self.resolve(node)
        keep = self._relation_mask(relation)
        x, y = self.edges["x"].to_numpy(), self.edges["y"].to_numpy()
        parts = []
        for direction, here, there in (("out", x, y), ("in", y, x)):
            mask = keep & (here == key)
            part = self.edges.loc[mask, ["relation", "display_relation", "weight"]].copy()
            part.insert(0, "node", there[mask])
            part["direction"] = direction
            parts.append(part)
        out = pd.concat(parts, ignore_index=True)
        info = self.nodes.loc[out["node"], ["id", "type", "name"]].reset_index(drop=True)
        out = pd.concat([out[["node"]], info, out.drop(columns="node")], axis=1)
        return out.sort_values(["weight", "node"], ascending=[False, True], ignore_index=True)

    def filter(
        self,
        *,
        relations: str | Iterable[str] | None = None,
        node_types: str | Iterable[str] | None = None,
    ) -> KnowledgeGraph:
        """The edges of the given relations whose two ends are of the given node types (and
        the nodes they touch). Unknown relations or types are an error naming them."""
        keep = self._relation_mask(relations)
        if node_types is not None:
            wanted = _as_set(node_types)
            unknown = sorted(wanted - set(self.node_types))
            if unknown:
                raise KnowledgeGraphError(
                    f"Unknown node type(s) {unknown}; this graph has {self.node_types}."
                )
            ok = self.nodes["type"].isin(wanted)
            good = set(self.nodes.index[ok.to_numpy()])
            keep &= self.edges["x"].isin(good).to_numpy() & self.edges["y"].isin(good).to_numpy()
        what = ", ".join(
            f"{name}={sorted(_as_set(v))}"
            for name, v in (("relations", relations), ("node_types", node_types))
            if v is not None
        )
        return self._take(keep, note=f"filtered ({what or 'nothing'})")

    def subgraph(
        self,
        nodes: str | Iterable[str],
        *,
        hops: int = 1,
        relations: str | Iterable[str] | None = None,
    ) -> KnowledgeGraph:
        """The graph induced on ``nodes`` and everything within ``hops`` edges of them
        (edges followed in either direction; only ``relations`` when given)."""
        if isinstance(hops, bool) or not isinstance(hops, int) or hops < 0:
            raise KnowledgeGraphError(f"hops must be an integer >= 0, got {hops!r}.")
        seeds = [nodes] if isinstance(nodes, str) else list(nodes)
        if not seeds:
            raise KnowledgeGraphError("subgraph needs at least one seed node.")
        reached = {self.resolve(n) for n in seeds}
        keep = self._relation_mask(relations)
        x, y = self.edges["x"][keep], self.edges["y"][keep]
        for _ in range(hops):
            at_x, at_y = x.isin(reached).to_numpy(), y.isin(reached).to_numpy()
            grown = reached | set(y[at_x]) | set(x[at_y])
            if len(grown) == len(reached):
                break
            reached = grown
        inside = self.edges["x"].isin(reached).to_numpy() & self.edges["y"].isin(reached)
        return self._take(
            keep & inside.to_numpy(), note=f"subgraph of {len(seeds)} seed(s), {hops} hop(s)"
        )

    def _take(self, mask: np.ndarray, *, note: str) -> KnowledgeGraph:
        edges = self.edges[mask].reset_index(drop=True)
        used = np.union1d(edges["x"].to_numpy(dtype=str), edges["y"].to_numpy(dtype=str))
        nodes = self.nodes.loc[used]
        report = LoadReport(rows=len(self.edges), notes=(f"{note} from {self.content_hash}",))
        return KnowledgeGraph(nodes, edges, f"{self.source} [{note}]", report)

    # --- genes -----------------------------------------------------------------------------

    def align(self, var_names: Iterable[str], *, node_type: str = "gene/protein") -> Alignment:
        """Match ``var_names`` to nodes of ``node_type`` by name (gene symbol).

        Exact matches first; names left over are matched ignoring case and reported apart;
        names that fit several nodes are ambiguous and not matched; the rest are unmatched.
        Nothing is dropped silently: see :class:`Alignment`.
        """
        if node_type not in set(self.node_types):
            raise KnowledgeGraphError(
                f"The graph has no {node_type!r} nodes; it has {self.node_types}."
            )
        of_type = self.nodes[self.nodes["type"].to_numpy() == node_type]
        return align_names(var_names, of_type.index.to_numpy(), of_type["name"].to_numpy())

    def gene_graph(
        self,
        *,
        relations: str | Iterable[str] | None = None,
        node_type: str = "gene/protein",
        name: str | None = None,
    ) -> GeneGraph:
        """Project the ``node_type`` — ``node_type`` edges to a :class:`GeneGraph` keyed by
        node name (symbol): undirected, the larger weight of an edge listed both ways.

        Two different gene nodes with the same name would merge silently in a symbol-keyed
        graph, so they are an error naming them.
        """
        from ._graph import GeneGraph

        genes = self.filter(relations=relations, node_types=node_type)
        if not len(genes):
            raise KnowledgeGraphError(
                f"The graph has no {node_type!r} — {node_type!r} edges"
                + (f" of relation(s) {sorted(_as_set(relations))}" if relations else "")
                + f"; its relations are {self.relations}."
            )
        names = genes.nodes["name"]
        shared = names[names.duplicated(keep=False)]
        if len(shared):
            examples = sorted(set(shared))[:N_EXAMPLES]
            raise KnowledgeGraphError(
                f"{shared.nunique():,} name(s) belong to more than one {node_type!r} node, "
                f"e.g. {examples}; a symbol-keyed GeneGraph would merge them. Filter the graph "
                "to one source first."
            )
        table = pd.DataFrame(
            {
                "a": names.loc[genes.edges["x"]].to_numpy(),
                "b": names.loc[genes.edges["y"]].to_numpy(),
                "weight": genes.edges["weight"].to_numpy(),
            }
        )
        label = name if name is not None else f"{self.source} (hash {self.content_hash})"
        return GeneGraph.from_edges(table, source="a", target="b", weight="weight", name=label)

    # --- export ----------------------------------------------------------------------------

    def to_frame(self) -> pd.DataFrame:
        """The edges in PrimeKG's columns plus ``weight`` (what :meth:`to_csv` writes)."""
        cols: dict[str, object] = {
            "relation": self.edges["relation"].to_numpy(),
            "display_relation": self.edges["display_relation"].to_numpy(),
        }
        for end in ("x", "y"):
            info = self.nodes.loc[self.edges[end], list(NODE_FIELDS)]
            for f in NODE_FIELDS:
                cols[f"{end}_{f}"] = info[f].to_numpy()
        cols["weight"] = self.edges["weight"].to_numpy()
        return pd.DataFrame(cols, columns=[*PRIMEKG_COLUMNS, "weight"])

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the graph as a PrimeKG-format CSV (``weight`` as an 11th column; gzip when
        the name ends in ``.gz``), atomically: a temporary file renamed onto ``path``.
        :func:`read_primekg` reads it back to the same content hash."""
        from phenocast.data import atomic_write

        frame = self.to_frame()
        gz = str(path).endswith(".gz")
        return atomic_write(
            path, lambda p: frame.to_csv(p, index=False, compression="gzip" if gz else None)
        )


def _as_set(values: str | Iterable[str]) -> set[str]:
    return {values} if isinstance(values, str) else set(values)
