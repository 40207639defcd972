"""Knowledge graphs in PrimeKG's format: round trips, stable hashes, filters, alignment reports
and a clear message for every malformed input."""

from __future__ import annotations

import re
import time

import numpy as np
import pandas as pd
import pytest

from phenocast.knowledge import (
    PRIMEKG_COLUMNS,
    PRIMEKG_NODE_TYPES,
    GeneGraph,
    KnowledgeGraph,
    KnowledgeGraphError,
    read_primekg,
)
from tests.conftest import run_or_skip

GENE, NCBI = "gene/protein", "NCBI"
ROWS = [
    # PrimeKG lists an undirected edge in both directions (the TP53-MDM2 pair)
    ("protein_protein", "ppi", "7157", GENE, "TP53", NCBI, "4193", GENE, "MDM2", NCBI),
    ("protein_protein", "ppi", "4193", GENE, "MDM2", NCBI, "7157", GENE, "TP53", NCBI),
    ("protein_protein", "ppi", "3845", GENE, "KRAS", NCBI, "5594", GENE, "MAPK1", NCBI),
    ("drug_protein", "target", "DB00001", "drug", "Lepirudin", "DrugBank", "7157", GENE, "TP53",
     NCBI),
    # the same id in another source is another node
    ("disease_protein", "associated with", "7157", "disease", "Li-Fraumeni syndrome", "MONDO",
     "7157", GENE, "TP53", NCBI),
    ("bioprocess_protein", "interacts with", "6915", "biological_process", "apoptotic process",
     "GO", "7157", GENE, "TP53", NCBI),
    ("pathway_protein", "interacts with", "R-HSA-69563", "pathway", "p53 pathway", "REACTOME",
     "4193", GENE, "MDM2", NCBI),
]  # fmt: skip
FRAME = pd.DataFrame(ROWS, columns=list(PRIMEKG_COLUMNS))


def kg(frame: pd.DataFrame = FRAME, **kwargs) -> KnowledgeGraph:
    return read_primekg(frame, **kwargs)


def test_reading_builds_typed_nodes_keyed_by_source_and_id():
    g = kg()
    assert len(g) == 7 and len(g.nodes) == 8
    assert g.nodes.loc["NCBI:7157", "name"] == "TP53"
    assert g.nodes.loc["MONDO:7157", "type"] == "disease"
    assert g.node_types == sorted(["biological_process", "disease", "drug", GENE, "pathway"])
    assert "protein_protein" in g.relations and (g.edges["weight"] == 1.0).all()
    assert str(g.report) == "7 rows read; no fix-ups" and g.report.fixups == []
    assert "NCBI:7157" in g and "TP53" not in g  # membership is by key
    assert g.resolve("TP53") == "NCBI:7157" and g.resolve("DB00001") == "DrugBank:DB00001"
    assert g.source == "DataFrame" and "8 nodes of 5 type(s)" in repr(g)


def test_csv_round_trip_keeps_content_and_hash(tmp_path):
    g = kg(FRAME.assign(weight=[0.1, 0.2, 1 / 3, 1.0, 2.5, 0.7, 1e-12]))
    for name in ("kg.csv", "kg.csv.gz"):
        path = g.to_csv(tmp_path / name)
        back = read_primekg(path)
        assert back.content_hash == g.content_hash
        pd.testing.assert_frame_equal(back.nodes, g.nodes)
        pd.testing.assert_frame_equal(back.edges, g.edges)
        assert back.source == str(path)
    header = (tmp_path / "kg.csv").read_text().splitlines()[0]
    assert header == ",".join([*PRIMEKG_COLUMNS, "weight"])
    assert sorted(p.name for p in tmp_path.iterdir()) == ["kg.csv", "kg.csv.gz"]  # no temp files


def test_primekg_index_columns_are_ignored_and_reported(tmp_path):
    frame = FRAME.assign(x_index=range(7), y_index=range(7, 14))
    path = tmp_path / "kg.csv"
    frame.to_csv(path, index=False)
    g = read_primekg(path, source="PrimeKG test")
    assert g.report.ignored_columns == ("x_index", "y_index")
    assert g.report.fixups == ["ignored column(s) ['x_index', 'y_index']"]
    assert g.content_hash == kg().content_hash and g.source == "PrimeKG test"


def test_ids_that_look_like_numbers_or_na_keep_their_text(tmp_path):
    frame = FRAME.copy()
    frame.loc[2, ["x_id", "x_name"]] = ["0012", "NA"]
    path = tmp_path / "kg.csv"
    frame.to_csv(path, index=False)
    g = read_primekg(path)
    assert g.nodes.loc["NCBI:0012", "name"] == "NA"


def test_hash_is_stable_under_row_and_column_order_but_not_content():
    g = kg()
    shuffled = FRAME.sample(frac=1.0, random_state=0)[list(reversed(FRAME.columns))]
    assert kg(shuffled).content_hash == g.content_hash
    assert kg(FRAME, source="another label").content_hash == g.content_hash
    assert kg(FRAME.assign(weight=2.0)).content_hash != g.content_hash
    renamed = FRAME.replace({"Lepirudin": "lepirudin"})
    assert kg(renamed).content_hash != g.content_hash


def test_filters_keep_relations_and_node_types():
    g = kg()
    ppi = g.filter(relations="protein_protein")
    assert ppi.relations == ["protein_protein"] and len(ppi) == 3
    assert ppi.node_types == [GENE] and len(ppi.nodes) == 4  # only nodes the edges touch
    genes_drugs = g.filter(node_types=[GENE, "drug"])
    assert genes_drugs.relations == ["drug_protein", "protein_protein"]
    assert genes_drugs.report.notes[0].startswith("filtered (node_types=['drug', 'gene/protein'])")
    assert len(g.filter(relations="drug_protein", node_types=GENE)) == 0
    read = kg(relations=["protein_protein", "drug_protein"])
    assert len(read) == 4 and read.report.dropped_by_relation == 3
    assert "left out 3 row(s) by the relations filter" in read.report.fixups


def test_align_reports_exact_case_insensitive_ambiguous_and_unmatched():
    frame = pd.concat(
        [FRAME, FRAME.iloc[[2]].assign(x_id="999", x_source="HGNC")], ignore_index=True
    )  # a second gene node named KRAS
    al = kg(frame).align(["TP53", "mdm2", "KRAS", "NOPE", "TP53", "NOPE"])
    assert al.node_keys == ("NCBI:7157", "NCBI:4193", None, None, "NCBI:7157", None)
    assert al.case_insensitive == {"mdm2": "MDM2"}
    assert al.ambiguous == {"KRAS": ("HGNC:999", "NCBI:3845")}
    assert al.unmatched == ("NOPE",) and al.duplicated == ("NOPE", "TP53")
    assert al.mask.tolist() == [True, True, False, False, True, False]
    assert al.matched == {"TP53": "NCBI:7157", "mdm2": "NCBI:4193"}
    assert al.summary() == (
        "3 of 6 names matched (1 only ignoring case); 1 unmatched, e.g. ['NOPE']; "
        "1 ambiguous, e.g. ['KRAS']; 2 duplicated in var_names"
    )
    # names are matched among nodes of one type: the disease 'Li-Fraumeni syndrome' is not a gene
    assert kg().align(["Li-Fraumeni syndrome"]).unmatched == ("Li-Fraumeni syndrome",)
    assert kg().align(["Li-Fraumeni syndrome"], node_type="disease").mask.all()


def test_neighbours_follow_both_directions_and_relations():
    g = kg()
    near = g.neighbours("TP53")
    assert sorted(near["node"]) == [
        "DrugBank:DB00001",
        "GO:6915",
        "MONDO:7157",
        "NCBI:4193",
        "NCBI:4193",
    ]
    assert set(near["direction"]) == {"in", "out"}
    assert list(near.columns) == [
        "node", "id", "type", "name", "relation", "display_relation", "weight", "direction"
    ]  # fmt: skip
    ppi = g.neighbours("NCBI:7157", relation="protein_protein")
    assert ppi["name"].tolist() == ["MDM2", "MDM2"]
    assert g.neighbours("MONDO:7157")["node"].tolist() == ["NCBI:7157"]


def test_subgraph_grows_by_hops_and_is_induced():
    g = kg()
    assert len(g.subgraph("KRAS", hops=0)) == 0
    one = g.subgraph(["KRAS"], hops=1)
    assert sorted(one.nodes.index) == ["NCBI:3845", "NCBI:5594"]
    two = g.subgraph("p53 pathway", hops=2)  # pathway -> MDM2 -> TP53
    assert sorted(two.nodes.index) == ["NCBI:4193", "NCBI:7157", "REACTOME:R-HSA-69563"]
    three = g.subgraph("p53 pathway", hops=3)
    assert set(three.nodes.index) == set(g.nodes.index) - {"NCBI:3845", "NCBI:5594"}
    ppi_only = g.subgraph("MDM2", hops=2, relations="protein_protein")
    assert ppi_only.relations == ["protein_protein"] and len(ppi_only) == 2
    assert "subgraph of 1 seed(s), 2 hop(s)" in ppi_only.source


def test_gene_graph_projects_gene_gene_edges_to_symbols():
    gg = kg(FRAME.assign(weight=[0.4, 0.6, 0.2, 1, 1, 1, 1])).gene_graph(name="toy")
    assert isinstance(gg, GeneGraph) and gg.source == "toy"
    assert gg.neighbours("TP53") == [("MDM2", 0.6)]  # the pair listed both ways counts once
    assert gg.genes == ["KRAS", "MAPK1", "MDM2", "TP53"]


# --- constructors from phenocast's priors (small tables in the shared files' columns) ---------


def test_go_graph_constructor_keeps_direction_and_weight():
    table = pd.DataFrame(
        {"source": ["A", "B", "C"], "target": ["B", "A", "A"], "importance": [0.5, 0.4, 0.2]}
    )
    g = KnowledgeGraph.from_go_graph(table)
    assert len(g) == 3 and g.relations == ["go_similarity"] and g.node_types == [GENE]
    assert g.nodes.loc["symbol:A", "name"] == "A"
    assert g.gene_graph().neighbours("A") == [("B", 0.5), ("C", 0.2)]
    assert g.content_hash == KnowledgeGraph.from_go_graph(table.iloc[::-1]).content_hash


GENE2GO = pd.DataFrame(
    {
        "symbol": ["TP53", "TP53", "TP53", "MDM2"],
        "entrez": [7157, 7157, 7157, 4193],
        "gene_type": "protein-coding",
        "go_id": ["GO:0006915", "GO:0006915", "GO:0005634", "GO:0005634"],
        "ontology": ["BP", "BP", "CC", "CC"],
        "evidence": ["IDA", "IEA", "IDA", "IEA"],
        "term": ["apoptotic process", "apoptotic process", "nucleus", "nucleus"],
    }
)


def test_gene2go_constructor_types_terms_by_ontology_and_states_the_collapse():
    g = KnowledgeGraph.from_gene2go(GENE2GO)
    assert len(g) == 3
    assert g.nodes.loc["GO:GO:0006915", "type"] == "biological_process"
    assert g.nodes.loc["GO:GO:0005634", "type"] == "cellular_component"
    assert g.nodes.loc["NCBI:7157", "name"] == "TP53"
    assert g.relations == ["bioprocess_protein", "cellcomp_protein"]
    assert g.report.fixups == [
        "collapsed 4 annotation rows to 3 gene-term edges (one row per evidence code in the "
        "file; weight 1)"
    ]
    strict = KnowledgeGraph.from_gene2go(GENE2GO, exclude_evidence=["IEA"])
    assert len(strict) == 2 and "MDM2" not in set(strict.nodes["name"])
    assert strict.report.fixups[0] == "left out 2 annotation(s) with evidence ['IEA']"
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape(
            "The graph has no 'gene/protein' — 'gene/protein' edges; its relations are "
            "['bioprocess_protein', 'cellcomp_protein']."
        ),
    ):
        g.gene_graph()


def test_progeny_constructor_links_pathways_to_genes_with_signed_weights():
    table = pd.DataFrame(
        {
            "gene": ["TP53", "MDM2", "EGR1"],
            "pathway": ["p53", "p53", "EGFR"],
            "weight": [3.5, 2.0, -1.25],
            "p.value": [1e-9, 1e-6, 1e-3],
        }
    )
    g = KnowledgeGraph.from_progeny(table)
    assert g.node_types == [GENE, "pathway"] and g.relations == ["pathway_footprint"]
    near = g.neighbours("EGFR")
    assert near[["name", "weight"]].values.tolist() == [["EGR1", -1.25]]
    assert g.align(["EGR1", "egr1x"]).unmatched == ("egr1x",)


# --- every bad input has a clear message --------------------------------------------------------


def test_missing_columns_are_named_with_the_expected_list():
    msg = (
        "the table lacks column(s) ['x_source', 'y_type']. A PrimeKG-format table needs "
        "['relation', 'display_relation', 'x_id', 'x_type', 'x_name', 'x_source', 'y_id', "
        "'y_type', 'y_name', 'y_source'] (optional: 'weight')"
    )
    with pytest.raises(KnowledgeGraphError, match=re.escape(msg)):
        kg(FRAME.drop(columns=["x_source", "y_type"]))


def test_unknown_node_types_are_an_error_unless_allowed():
    frame = FRAME.replace({"drug": "drugg"})
    frame.loc[0, "y_type"] = "cell_type"
    frame.loc[1, "x_type"] = "cell_type"
    with pytest.raises(KnowledgeGraphError) as err:
        kg(frame)
    assert "has node type(s) not allowed: {'cell_type': 2, 'drugg': 1} (node ends per type)" in str(
        err.value
    )
    assert "pass node_types=PRIMEKG_NODE_TYPES | {...} to allow them" in str(err.value)
    assert "if they are typos, fix the file" in str(err.value)
    frame = frame.replace({"drugg": "drug"})
    frame.loc[0, "y_type"] = frame.loc[1, "x_type"] = "gene/protein"
    frame.loc[2, "y_type"] = "cell_type"  # now a new node 5594 of type cell_type only
    g = kg(frame, node_types=PRIMEKG_NODE_TYPES | {"cell_type"})
    assert g.report.extra_node_types == ("cell_type",)
    assert "allowed non-PrimeKG node type(s) ['cell_type']" in g.report.fixups
    with pytest.raises(KnowledgeGraphError, match=r"add them to node_types="):
        kg(frame, node_types=[GENE, "drug", "disease", "biological_process", "pathway"])


def test_duplicated_edges_are_merged_and_reported():
    frame = pd.concat([FRAME, FRAME.iloc[[0, 0, 3]]], ignore_index=True)
    frame["weight"] = [1.0] * 7 + [1.0, 3.0, 1.0]
    g = kg(frame)
    assert len(g) == 7 and g.report.duplicated_edges == 3
    assert g.report.conflicting_weights == 1
    assert g.report.duplicate_examples == (
        "NCBI:7157 -[protein_protein]-> NCBI:4193",
        "NCBI:7157 -[protein_protein]-> NCBI:4193",
        "DrugBank:DB00001 -[drug_protein]-> NCBI:7157",
    )
    assert g.report.fixups[0].startswith(
        "merged 3 duplicated edge row(s) (largest weight kept; 1 with differing weights), e.g. "
    )
    assert g.edges.set_index(["relation", "x", "y"])["weight"].max() == 3.0


def test_one_id_with_two_names_or_types_is_an_error():
    frame = FRAME.copy()
    frame.loc[2, "x_name"] = "KRAS2"
    frame = pd.concat([frame, FRAME.iloc[[2]]], ignore_index=True)
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape(
            "1 node(s) of the table appear with more than one type or name: NCBI:3845 as "
            "[('gene/protein', 'KRAS'), ('gene/protein', 'KRAS2')]. A node is its "
            "(x_source, x_id); give each one type and one name."
        ),
    ):
        kg(frame)
    frame = FRAME.copy()
    frame.loc[0, "x_type"] = "disease"
    with pytest.raises(KnowledgeGraphError, match=r"NCBI:7157 as \[\('disease', 'TP53'\)"):
        kg(frame)


def test_empty_cells_float_ids_and_bad_weights_are_errors(tmp_path):
    frame = FRAME.copy()
    frame.loc[[1, 4], "y_name"] = ["", None]
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape("Column 'y_name' of the table is empty in 2 row(s) (e.g. rows [1, 4])"),
    ):
        kg(frame)
    floats = FRAME.assign(x_id=np.arange(7, dtype=float))
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape("Column 'x_id' of the table holds floats (e.g. 0.0); ids and names must"),
    ):
        kg(floats)
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape(
            "Column 'weight' of the table is not a finite number in 2 row(s) (e.g. rows [0, 3]: "
            "['high', 'inf'])"
        ),
    ):
        kg(FRAME.assign(weight=["high", "1", "2", "inf", "3", "4", "5"]))
    with pytest.raises(KnowledgeGraphError, match=r"nope\.csv is not a file\."):
        read_primekg(tmp_path / "nope.csv")


def test_unknown_names_in_queries_are_errors():
    g = kg()
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape(
            "relations=['ppi'] do not occur in the table; it has ['bioprocess_protein'"
        ),
    ):
        kg(relations="ppi")
    with pytest.raises(KnowledgeGraphError, match=re.escape("Unknown relation(s) ['ppi']")):
        g.filter(relations="ppi")
    with pytest.raises(KnowledgeGraphError, match=re.escape("Unknown node type(s) ['gene']")):
        g.filter(node_types="gene")
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape(
            "'7157' is the id of 2 nodes (['MONDO:7157', 'NCBI:7157']); pass the key (source:id)"
        ),
    ):
        g.neighbours("7157")
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape("'BRCA1' is not a node key, id or name of this graph (8 nodes; keys look"),
    ):
        g.subgraph(["TP53", "BRCA1"])
    with pytest.raises(KnowledgeGraphError, match=r"hops must be an integer >= 0, got -1"):
        g.subgraph("TP53", hops=-1)
    with pytest.raises(KnowledgeGraphError, match="subgraph needs at least one seed node"):
        g.subgraph([])
    with pytest.raises(KnowledgeGraphError, match=r"The graph has no 'cell' nodes; it has \["):
        g.align(["TP53"], node_type="cell")
    two = pd.concat([FRAME, FRAME.iloc[[2]].assign(x_id="9", x_source="HGNC")], ignore_index=True)
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape("1 name(s) belong to more than one 'gene/protein' node, e.g. ['KRAS']"),
    ):
        kg(two).gene_graph()


def test_bad_prior_tables_are_named():
    with pytest.raises(
        KnowledgeGraphError,
        match=re.escape("The GO graph table lacks column(s) ['importance']; it needs"),
    ):
        KnowledgeGraph.from_go_graph(pd.DataFrame({"source": ["A"], "target": ["B"]}))
    with pytest.raises(
        KnowledgeGraphError, match=re.escape("gene2go has ontology value(s) ['XX']; expected")
    ):
        KnowledgeGraph.from_gene2go(GENE2GO.assign(ontology="XX"))
    with pytest.raises(
        KnowledgeGraphError, match=re.escape("exclude_evidence=['IAE'] do not occur in gene2go")
    ):
        KnowledgeGraph.from_gene2go(GENE2GO, exclude_evidence="IAE")
    with pytest.raises(KnowledgeGraphError, match=r"gene2go lacks the entrez id in 1 row\(s\)"):
        KnowledgeGraph.from_gene2go(GENE2GO.assign(entrez=[7157, None, 7157, 4193]))


@pytest.mark.realdata
def test_real_go_graph_loads_fast_and_projects_to_the_gene_graph():
    from phenocast.data import load_go_graph

    start = time.perf_counter()
    g = run_or_skip(KnowledgeGraph.from_go_graph)
    seconds = time.perf_counter() - start
    assert len(g) == 371_121 and len(g.nodes) == 18_785 and g.node_types == [GENE]
    assert g.report.fixups == []
    assert seconds < 30, f"loading the GO graph took {seconds:.1f} s (target < 30 s)"
    reference = GeneGraph.from_edges(load_go_graph())
    assert g.gene_graph().content_hash == reference.content_hash
    al = g.align(["TP53", "kras", "NOT_A_GENE"])
    assert al.case_insensitive == {"kras": "KRAS"} and al.unmatched == ("NOT_A_GENE",)
    sub = g.subgraph("TP53", hops=1)
    assert set(sub.neighbours("TP53")["name"]) <= set(sub.nodes["name"])
