"""phenocast's shared priors (GO graph, gene2go, PROGENy) as PrimeKG-format rows.

The files are read only through :mod:`phenocast.data`'s loaders (imported here, lazily: they
pull in anndata); each function returns the rows :func:`~phenocast.knowledge.read_primekg`
validates, plus a version string.
"""

from __future__ import annotations

import os
from collections.abc import Iterable

import numpy as np
import pandas as pd

from ._schema import KnowledgeGraphError

__all__ = ["gene2go_rows", "go_graph_rows", "progeny_rows"]

_ONTOLOGY = {
    # ontology -> (node type, relation), PrimeKG's names
    "BP": ("biological_process", "bioprocess_protein"),
    "MF": ("molecular_function", "molfunc_protein"),
    "CC": ("cellular_component", "cellcomp_protein"),
}


def _require(table: pd.DataFrame, columns: list[str], what: str) -> None:
    missing = [c for c in columns if c not in table.columns]
    if missing:
        raise KnowledgeGraphError(
            f"The {what} table lacks column(s) {missing}; it needs {columns} "
            f"(it has {list(table.columns)})."
        )


def _rows(
    relation: str | np.ndarray,
    display: str | np.ndarray,
    x: tuple[object, object, object, str],
    y: tuple[object, object, object, str],
    weight: object,
) -> pd.DataFrame:
    """A PrimeKG-format frame; ``x`` / ``y`` are (id, type, name, source) arrays or scalars."""
    n = len(next(v for v in (*x, *y, weight) if isinstance(v, np.ndarray | pd.Series)))
    cols: dict[str, object] = {"relation": relation, "display_relation": display}
    for end, parts in (("x", x), ("y", y)):
        for f, v in zip(("id", "type", "name", "source"), parts, strict=True):
            cols[f"{end}_{f}"] = v
    cols["weight"] = weight
    return pd.DataFrame(cols, index=pd.RangeIndex(n))


def go_graph_rows(
    table: pd.DataFrame | None, *, data_dir: str | os.PathLike[str] | None
) -> tuple[pd.DataFrame, str]:
    if table is None:
        from phenocast.data import load_go_graph

        table = load_go_graph(data_dir=data_dir)
        source = (
            "GO Jaccard gene similarity, top 20 per target (go_jaccard_top20_proteincoding."
            "csv.gz; org.Hs.eg.db 3.16, go-basic 2022-07-01)"
        )
    else:
        source = "GO-similarity edge table"
    _require(table, ["source", "target", "importance"], "GO graph")
    a = table["source"].to_numpy(dtype=object)
    b = table["target"].to_numpy(dtype=object)
    gene = "gene/protein"
    rows = _rows(
        "go_similarity",
        "GO Jaccard",
        (a, gene, a, "symbol"),
        (b, gene, b, "symbol"),
        table["importance"].to_numpy(),
    )
    return rows, source


def gene2go_rows(
    table: pd.DataFrame | None,
    *,
    data_dir: str | os.PathLike[str] | None,
    exclude_evidence: Iterable[str],
) -> tuple[pd.DataFrame, str, tuple[str, ...]]:
    if table is None:
        from phenocast.data import load_gene2go

        table = load_gene2go(data_dir=data_dir)
        source = "gene2go (org.Hs.eg.db 3.16, NCBI 2022-Sep12; GO.db 3.16)"
    else:
        source = "gene2go table"
    _require(table, ["symbol", "entrez", "go_id", "ontology", "evidence", "term"], "gene2go")
    notes: list[str] = []
    excluded = {exclude_evidence} if isinstance(exclude_evidence, str) else set(exclude_evidence)
    if excluded:
        unknown = sorted(excluded - set(table["evidence"]))
        if unknown:
            raise KnowledgeGraphError(
                f"exclude_evidence={unknown} do not occur in gene2go; its evidence codes are "
                f"{sorted(set(table['evidence']))}."
            )
        drop = table["evidence"].isin(excluded)
        notes.append(f"left out {int(drop.sum()):,} annotation(s) with evidence {sorted(excluded)}")
        table = table[~drop.to_numpy()]
    bad = sorted(set(table["ontology"]) - set(_ONTOLOGY))
    if bad:
        raise KnowledgeGraphError(
            f"gene2go has ontology value(s) {bad}; expected {sorted(_ONTOLOGY)} (BP, MF, CC)."
        )
    if table["entrez"].isna().any():
        raise KnowledgeGraphError(
            f"gene2go lacks the entrez id in {int(table['entrez'].isna().sum()):,} row(s), "
            "and genes are keyed by it; drop those rows or fill the ids."
        )
    pairs = table.drop_duplicates(["entrez", "go_id"])
    if len(pairs) < len(table):
        notes.append(
            f"collapsed {len(table):,} annotation rows to {len(pairs):,} gene-term edges "
            "(one row per evidence code in the file; weight 1)"
        )
    ont = pairs["ontology"].to_numpy()
    kinds = np.array([_ONTOLOGY[o][0] for o in ont], dtype=object)
    relation = np.array([_ONTOLOGY[o][1] for o in ont], dtype=object)
    entrez = pairs["entrez"].astype("int64").astype(str).to_numpy(dtype=object)
    symbol = pairs["symbol"].to_numpy(dtype=object)
    go_id = pairs["go_id"].to_numpy(dtype=object)
    rows = _rows(
        relation,
        "annotated with",
        (entrez, "gene/protein", symbol, "NCBI"),
        (go_id, kinds, pairs["term"].to_numpy(dtype=object), "GO"),
        np.ones(len(pairs)),
    )
    return rows, source, tuple(notes)


def progeny_rows(
    table: pd.DataFrame | None, *, data_dir: str | os.PathLike[str] | None, top100: bool
) -> tuple[pd.DataFrame, str]:
    if table is None:
        from phenocast.data import load_progeny

        table = load_progeny(data_dir=data_dir, top100=top100)
        which = "top 100 genes per pathway" if top100 else "full model"
        source = f"PROGENy 1.20.0 human, {which} (Schubert et al. 2018)"
    else:
        source = "PROGENy table"
    _require(table, ["gene", "pathway", "weight"], "PROGENy")
    pathway = table["pathway"].to_numpy(dtype=object)
    gene = table["gene"].to_numpy(dtype=object)
    rows = _rows(
        "pathway_footprint",
        "PROGENy weight",
        (pathway, "pathway", pathway, "PROGENy"),
        (gene, "gene/protein", gene, "symbol"),
        table["weight"].to_numpy(),
    )
    return rows, source
