"""The PrimeKG edge-list schema: columns, node types, the error and the fix-up report."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = [
    "PRIMEKG_COLUMNS",
    "PRIMEKG_NODE_TYPES",
    "KnowledgeGraphError",
    "LoadReport",
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
NODE_FIELDS = ("id", "type", "name", "source")
EDGE_KEY = ["relation", "display_relation", "x", "y"]
N_EXAMPLES = 3


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
