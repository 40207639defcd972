"""Typed knowledge graphs in PrimeKG's edge-list format: validated reading, filters, alignment
to genes by symbol, neighbourhood queries, subgraphs and atomic export."""

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

if TYPE_CHECKING:  # pragma: no cover
    from ._graph import GeneGraph

__all__ = [
    "PRIMEKG_COLUMNS",
    "PRIMEKG_NODE_TYPES",
    "KnowledgeGraph",
    "KnowledgeGraphError",
    "LoadReport",
    "read_primekg",
]

PRIMEKG_COLUMNS: tuple[str, ...] = (
    "relation",
    "display_relation",
    "x_id",
    "x_type",
    "x_name",
    "x_source",
    "y_id",
    "y_type",
    "y_name",
    "y_source",
)
PRIMEKG_NODE_TYPES: frozenset[str] = frozenset(
    {
        "gene/protein",
        "drug",
        "effect/phenotype",
        "disease",
        "biological_process",
        "molecular_function",
        "cellular_component",
        "exposure",
        "pathway",
        "anatomy",
    }
)
_NODE_FIELDS = ("id", "type", "name", "source")
_EDGE_KEY = ["relation", "display_relation", "x", "y"]
_N_EXAMPLES = 3


class KnowledgeGraphError(ValueError):
    """A knowledge-graph table that cannot be read without guessing (the message says why)."""


@dataclass(frozen=True)
class LoadReport:
    """What reading a table changed, so no fix-up is silent.

    Attributes
    ----------
    rows
        Rows of the input table.
    duplicated_edges
        Rows that repeated an earlier (relation, display_relation, x, y) edge; they were merged
        into one edge with the largest weight.
    duplicate_examples
        Up to three of the repeated edges, as ``"x -[relation]-> y"``.
    conflicting_weights
        Merged edges whose repeats carried different weights.
    dropped_by_relation
        Rows left out by the ``relations=`` filter.
    ignored_columns
        Input columns that are not part of the format (e.g. PrimeKG's ``x_index``).
    extra_node_types
        Node types outside PrimeKG's ten that the caller allowed with ``node_types=``.
    notes
        Other changes stated by the constructor (e.g. annotation rows collapsed).
    """

    rows: int = 0
    duplicated_edges: int = 0
    duplicate_examples: tuple[str, ...] = ()
    conflicting_weights: int = 0
    dropped_by_relation: int = 0
    ignored_columns: tuple[str, ...] = ()
    extra_node_types: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def fixups(self) -> list[str]:
        """The changes made to the input, one sentence each (empty when it was read as is)."""
        out = list(self.notes)
        if self.duplicated_edges:
            out.append(
                f"merged {self.duplicated_edges:,} duplicated edge row(s) (largest weight kept; "
                f"{self.conflicting_weights:,} with differing weights), e.g. "
                + "; ".join(self.duplicate_examples)
            )
        if self.dropped_by_relation:
            out.append(f"left out {self.dropped_by_relation:,} row(s) by the relations filter")
        if self.ignored_columns:
            out.append(f"ignored column(s) {list(self.ignored_columns)}")
        if self.extra_node_types:
            out.append(f"allowed non-PrimeKG node type(s) {list(self.extra_node_types)}")
        return out

    def __str__(self) -> str:
        lines = self.fixups
        return f"{self.rows:,} rows read; " + ("; ".join(lines) if lines else "no fix-ups")


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
        h.update(self.nodes.to_csv(index=False, columns=list(_NODE_FIELDS)).encode())
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
            examples = sorted(set(shared))[:_N_EXAMPLES]
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
            info = self.nodes.loc[self.edges[end], list(_NODE_FIELDS)]
            for f in _NODE_FIELDS:
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


def read_primekg(
    path_or_frame: str | os.PathLike[str] | pd.DataFrame,
    *,
    node_types: Iterable[str] | None = None,
    relations: str | Iterable[str] | None = None,
    source: str | None = None,
) -> KnowledgeGraph:
    """Read a knowledge graph in PrimeKG's ``kg.csv`` column format.

    Parameters
    ----------
    path_or_frame
        A CSV file (``.gz`` is fine) or a DataFrame with the columns ``relation``,
        ``display_relation``, ``x_id``, ``x_type``, ``x_name``, ``x_source``, ``y_id``,
        ``y_type``, ``y_name``, ``y_source`` and optionally a numeric ``weight``. Other
        columns (PrimeKG's ``x_index``, ``y_index``) are ignored and reported.
    node_types
        The node types the table may hold; default PrimeKG's ten (:data:`PRIMEKG_NODE_TYPES`).
        Pass e.g. ``PRIMEKG_NODE_TYPES | {"cell_type"}`` to allow more.
    relations
        Keep only rows of these relations (the rest are counted in the report).
    source
        The version string to keep with the graph; default the file's path.

    Returns
    -------
    KnowledgeGraph
        With :attr:`KnowledgeGraph.report` stating every fix-up (merged duplicated edges,
        ignored columns, filtered rows).

    Raises
    ------
    KnowledgeGraphError
        Missing columns, empty cells, float ids, non-numeric weights, unknown node types or
        relations, or one (source, id) with two names or types; the message names them.
    """
    if isinstance(path_or_frame, pd.DataFrame):
        frame, where = path_or_frame, "the table"
        label = source if source is not None else "DataFrame"
    else:
        where = str(path_or_frame)
        if not Path(where).is_file():
            raise KnowledgeGraphError(f"{where} is not a file.")
        # dtype=str and no NA parsing: ids and names such as "NA" or "0012" stay as written
        frame = pd.read_csv(where, dtype=str, keep_default_na=False)
        label = source if source is not None else where
    return _from_rows(frame, where=where, source=label, node_types=node_types, relations=relations)


def _from_rows(
    frame: pd.DataFrame,
    *,
    where: str,
    source: str,
    node_types: Iterable[str] | None = None,
    relations: str | Iterable[str] | None = None,
    notes: tuple[str, ...] = (),
) -> KnowledgeGraph:
    """Validate a PrimeKG-format table and build the graph (the one path every reader takes)."""
    missing = [c for c in PRIMEKG_COLUMNS if c not in frame.columns]
    if missing:
        raise KnowledgeGraphError(
            f"{where} lacks column(s) {missing}. A PrimeKG-format table needs "
            f"{list(PRIMEKG_COLUMNS)} (optional: 'weight'); it has {list(frame.columns)}. "
            "Rename or add the columns."
        )
    ignored = tuple(c for c in frame.columns if c not in PRIMEKG_COLUMNS and c != "weight")
    n_rows = len(frame)
    cols = {c: _text_column(frame[c], c, where) for c in PRIMEKG_COLUMNS}
    weight = _weight_column(frame, where)

    keep = np.ones(n_rows, dtype=bool)
    if relations is not None:
        wanted = _as_set(relations)
        present = set(np.unique(cols["relation"]))
        unknown = sorted(wanted - present)
        if unknown:
            raise KnowledgeGraphError(
                f"relations={unknown} do not occur in {where}; it has {sorted(present)}."
            )
        keep = np.isin(cols["relation"], list(wanted))
        cols = {c: v[keep] for c, v in cols.items()}
        weight = weight[keep]

    allowed = set(PRIMEKG_NODE_TYPES if node_types is None else node_types)
    types = set(np.unique(cols["x_type"])) | set(np.unique(cols["y_type"]))
    unknown_types = sorted(types - allowed)
    if unknown_types:
        counts = {
            t: int((cols["x_type"] == t).sum() + (cols["y_type"] == t).sum()) for t in unknown_types
        }
        hint = (
            "pass node_types=PRIMEKG_NODE_TYPES | {...} to allow them"
            if node_types is None
            else "add them to node_types="
        )
        raise KnowledgeGraphError(
            f"{where} has node type(s) not allowed: {counts} (node ends per type). The allowed "
            f"types are {sorted(allowed)}; if the new types are intended, {hint}; if they are "
            "typos, fix the file."
        )

    nodes = _node_table(cols, where)
    xkey = _keys(cols["x_source"], cols["x_id"])
    ykey = _keys(cols["y_source"], cols["y_id"])
    edges = pd.DataFrame(
        {
            "relation": cols["relation"],
            "display_relation": cols["display_relation"],
            "x": xkey,
            "y": ykey,
            "weight": weight,
        }
    )
    n_dup, examples, conflicts = 0, (), 0
    repeated = edges.duplicated(_EDGE_KEY)
    if repeated.any():
        n_dup = int(repeated.sum())
        examples = tuple(
            f"{r.x} -[{r.relation}]-> {r.y}"
            for r in edges[repeated].head(_N_EXAMPLES).itertuples(index=False)
        )
        grouped = edges.groupby(_EDGE_KEY, sort=False)["weight"]
        conflicts = int((grouped.nunique() > 1).sum())
        edges = grouped.max().reset_index()
    edges = edges.sort_values(_EDGE_KEY, ignore_index=True)
    report = LoadReport(
        rows=n_rows,
        duplicated_edges=n_dup,
        duplicate_examples=examples,
        conflicting_weights=conflicts,
        dropped_by_relation=int(n_rows - keep.sum()),
        ignored_columns=ignored,
        extra_node_types=tuple(sorted(types - PRIMEKG_NODE_TYPES)),
        notes=notes,
    )
    return KnowledgeGraph(nodes, edges, source, report)


def _text_column(values: pd.Series, name: str, where: str) -> np.ndarray:
    if pd.api.types.is_float_dtype(values.dtype):
        raise KnowledgeGraphError(
            f"Column {name!r} of {where} holds floats (e.g. {values.iloc[0]!r}); ids and names "
            "must keep their text: read the file with dtype=str, keep_default_na=False."
        )
    empty = values.isna().to_numpy()
    text = values.astype(str).to_numpy(dtype=object)
    empty |= text == ""
    if empty.any():
        rows = np.flatnonzero(empty)
        raise KnowledgeGraphError(
            f"Column {name!r} of {where} is empty in {len(rows):,} row(s) (e.g. rows "
            f"{rows[:5].tolist()}); every edge needs all ten PrimeKG fields. Fill or drop them."
        )
    return text


def _weight_column(frame: pd.DataFrame, where: str) -> np.ndarray:
    if "weight" not in frame.columns:
        return np.ones(len(frame))
    w = pd.to_numeric(frame["weight"], errors="coerce").to_numpy(dtype=float)
    bad = ~np.isfinite(w)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise KnowledgeGraphError(
            f"Column 'weight' of {where} is not a finite number in {len(rows):,} row(s) "
            f"(e.g. rows {rows[:5].tolist()}: {frame['weight'].iloc[rows[:3]].tolist()}); "
            "fix them or drop the column (weights then default to 1)."
        )
    return w


def _keys(source: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (pd.Series(source, dtype=object) + ":" + pd.Series(ids, dtype=object)).to_numpy()


def _node_table(cols: dict[str, np.ndarray], where: str) -> pd.DataFrame:
    """Distinct nodes of both edge ends; one (source, id) with two names or types is an error."""
    both = pd.DataFrame(
        {f: np.concatenate([cols[f"x_{f}"], cols[f"y_{f}"]]) for f in _NODE_FIELDS}
    ).drop_duplicates()
    clash = both.duplicated(["source", "id"], keep=False)
    if clash.any():
        bad = both[clash].sort_values(["source", "id", "type", "name"])
        groups = list(bad.groupby(["source", "id"], sort=True))
        examples = "; ".join(
            f"{s}:{i} as {list(zip(g['type'], g['name'], strict=True))}"
            for (s, i), g in groups[:_N_EXAMPLES]
        )
        raise KnowledgeGraphError(
            f"{len(groups):,} node(s) of {where} appear with more than one type or name: "
            f"{examples}. A node is its (x_source, x_id); give each one type and one name."
        )
    both.index = pd.Index(_keys(both["source"].to_numpy(), both["id"].to_numpy()), name="key")
    return both.sort_index()
