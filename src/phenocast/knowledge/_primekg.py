"""Reading PrimeKG-format edge lists: every input is validated here, and every fix-up is
stated in the graph's report."""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd

from ._kg import KnowledgeGraph, _as_set
from ._schema import (
    EDGE_KEY,
    N_EXAMPLES,
    NODE_FIELDS,
    PRIMEKG_COLUMNS,
    PRIMEKG_NODE_TYPES,
    KnowledgeGraphError,
    LoadReport,
)

__all__ = ["read_primekg"]


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
    repeated = edges.duplicated(EDGE_KEY)
    if repeated.any():
        n_dup = int(repeated.sum())
        examples = tuple(
            f"{r.x} -[{r.relation}]-> {r.y}"
            for r in edges[repeated].head(N_EXAMPLES).itertuples(index=False)
        )
        grouped = edges.groupby(EDGE_KEY, sort=False)["weight"]
        conflicts = int((grouped.nunique() > 1).sum())
        edges = grouped.max().reset_index()
    edges = edges.sort_values(EDGE_KEY, ignore_index=True)
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
            f"Column {name!r} of {where} holds floats (e.g. {values.iloc[0]}); ids and names "
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
    values = frame["weight"]
    if pd.api.types.is_numeric_dtype(values.dtype) and not pd.api.types.is_bool_dtype(values):
        w = values.to_numpy(dtype=float)
    else:
        # Python's float() parses the shortest repr exactly; pandas' fast parser may be off
        # by one ulp, which would change the content hash of a round-tripped file.
        w = np.array([_to_float(v) for v in values], dtype=float)
    bad = ~np.isfinite(w)
    if bad.any():
        rows = np.flatnonzero(bad)
        raise KnowledgeGraphError(
            f"Column 'weight' of {where} is not a finite number in {len(rows):,} row(s) "
            f"(e.g. rows {rows[:5].tolist()}: {frame['weight'].iloc[rows[:3]].tolist()}); "
            "fix them or drop the column (weights then default to 1)."
        )
    return w


def _to_float(value: object) -> float:
    try:
        return float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return np.nan


def _keys(source: np.ndarray, ids: np.ndarray) -> np.ndarray:
    return (pd.Series(source, dtype=object) + ":" + pd.Series(ids, dtype=object)).to_numpy()


def _node_table(cols: dict[str, np.ndarray], where: str) -> pd.DataFrame:
    """Distinct nodes of both edge ends; one (source, id) with two names or types is an error."""
    both = pd.DataFrame(
        {f: np.concatenate([cols[f"x_{f}"], cols[f"y_{f}"]]) for f in NODE_FIELDS}
    ).drop_duplicates()
    clash = both.duplicated(["source", "id"], keep=False)
    if clash.any():
        bad = both[clash].sort_values(["source", "id", "type", "name"])
        groups = list(bad.groupby(["source", "id"], sort=True))
        examples = "; ".join(
            f"{s}:{i} as {list(zip(g['type'], g['name'], strict=True))}"
            for (s, i), g in groups[:N_EXAMPLES]
        )
        raise KnowledgeGraphError(
            f"{len(groups):,} node(s) of {where} appear with more than one type or name: "
            f"{examples}. A node is its (x_source, x_id); give each one type and one name."
        )
    both.index = pd.Index(_keys(both["source"].to_numpy(), both["id"].to_numpy()), name="key")
    return both.sort_index()
