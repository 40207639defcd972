"""The featuriser protocol and registry: every registered name builds, options are checked,
one-hot knows only the seen names, and prior-based featurisers cover unseen ones."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.featurize import (
    FEATURISERS,
    Featuriser,
    GeneFeatures,
    OneHotFeaturiser,
    TableFeaturiser,
    make_featuriser,
    register_featuriser,
)

from ..conftest import run_or_skip
from ._graphs import cliques


def test_registry_lists_the_featurisers():
    expected = {"onehot", "table", "go_svd", "spectral", "random_walk", "graph_smooth", "morgan"}
    assert expected <= set(FEATURISERS)


def test_onehot_knows_only_the_seen_names():
    f = make_featuriser("onehot").fit(["TP53", "KRAS", "TP53"])
    assert isinstance(f, Featuriser) and f.vocabulary == ["KRAS", "TP53"] and f.dim == 2
    np.testing.assert_array_equal(f.transform(["TP53", "KRAS"]), [[0, 1], [1, 0]])
    assert f.missing(["MYC", "KRAS", "EGFR"]) == ["MYC", "EGFR"]
    with pytest.raises(KeyError, match=r"2 name\(s\) were not seen in fit.*\['MYC', 'EGFR'\]"):
        f.transform(["MYC", "KRAS", "EGFR"])
    assert f.content_hash == OneHotFeaturiser().fit(["KRAS", "TP53"]).content_hash
    assert repr(f) == "OneHotFeaturiser(2 names)"


def test_onehot_must_be_fitted_on_something():
    f = OneHotFeaturiser()
    with pytest.raises(RuntimeError, match=r"not fitted; call fit\(names\)"):
        f.transform(["a"])
    with pytest.raises(RuntimeError, match="not fitted"):
        f.missing(["a"])
    with pytest.raises(ValueError, match="needs at least one name"):
        f.fit([])


def test_graph_featurisers_cover_genes_unseen_in_fit():
    graph = cliques(6, 6, bridges=(("A0", "B0"),))
    for name, options in [
        ("spectral", {"dim": 2}),
        ("random_walk", {"dim": 2, "walks_per_gene": 5}),
    ]:
        f = make_featuriser(name, graph=graph, **options).fit(["A0", "B0"])
        assert isinstance(f, Featuriser) and f.name == name and f.dim == 2
        x = f.transform(["A3", "B5"])  # never seen in fit
        assert x.shape == (2, 2) and x.dtype == np.float32 and np.all(np.isfinite(x))
        assert f.missing(["A3", "NOT_A_GENE"]) == ["NOT_A_GENE"]
        with pytest.raises(KeyError, match=r"1 gene\(s\) have no features.*NOT_A_GENE"):
            f.transform(["A3", "NOT_A_GENE"])


def test_table_and_graph_smooth_wrap_given_features():
    graph = cliques(3, bridges=(("A0", "X"),))
    feats = GeneFeatures(("A0", "A1", "A2"), np.eye(3, dtype=np.float32), method="eye")
    table = make_featuriser("table", features=feats)
    assert table.content_hash == feats.content_hash and "eye" in repr(table)
    smooth = make_featuriser("graph_smooth", features=feats, graph=graph, hops=1)
    assert smooth.missing(["X", "A1"]) == ["X"] and smooth.dim == 3
    assert not np.allclose(smooth.transform(["A0"]), feats.rows(["A0"]))
    with pytest.raises(TypeError, match="needs GeneFeatures or DrugFeatures, got ndarray"):
        TableFeaturiser(np.eye(3))  # type: ignore[arg-type]


def test_morgan_featuriser_from_given_smiles():
    pytest.importorskip("rdkit")
    f = make_featuriser("morgan", smiles={"ethanol": "CCO", "benzene": "c1ccccc1"}, n_bits=64)
    assert f.dim == 64 and f.missing(["ethanol", "water"]) == ["water"]
    with pytest.raises(KeyError, match=r"1 drug\(s\) have no features \(Morgan r2 64-bit"):
        f.transform(["water"])


def test_unknown_names_and_options_are_refused():
    with pytest.raises(KeyError, match=r"Unknown featuriser 'deepwalk'; choose one of \["):
        make_featuriser("deepwalk")
    with pytest.raises(
        TypeError, match=r"'spectral' has no option\(s\) \['dims'\]; its options are \['graph'"
    ):
        make_featuriser("spectral", dims=3)
    with pytest.raises(TypeError, match=r"'onehot' has no option\(s\) \['dim'\]"):
        make_featuriser("onehot", dim=2)


def test_a_registered_factory_is_built_by_name():
    @register_featuriser("_test_identity")
    def _identity(*, genes: tuple[str, ...] = ("a", "b")) -> TableFeaturiser:
        return TableFeaturiser(GeneFeatures(genes, np.eye(len(genes))), name="_test_identity")

    try:
        f = make_featuriser("_test_identity", genes=("x", "y", "z"))
        assert f.dim == 3 and f.transform(["z"]).tolist() == [[0.0, 0.0, 1.0]]
    finally:
        del FEATURISERS["_test_identity"]


def test_a_taken_featuriser_name_is_refused():
    with pytest.raises(ValueError, match="'onehot' is already a registered featuriser"):
        register_featuriser("onehot")(lambda: None)
    onehot = FEATURISERS["onehot"]
    assert register_featuriser("onehot")(onehot) is onehot  # the same factory again: no-op


@pytest.mark.realdata
def test_default_priors_load_from_the_data_directory():
    from phenocast.data import load_gene2go

    run_or_skip(load_gene2go)  # skip without the shared data
    f = make_featuriser("go_svd", dim=8)
    assert f.dim == 8 and f.missing(["TP53", "NOT_A_GENE"]) == ["NOT_A_GENE"]


def test_importing_featurize_loads_neither_torch_nor_rdkit():
    import subprocess
    import sys

    code = "import sys, phenocast.featurize; print(sorted({'torch', 'rdkit'} & set(sys.modules)))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"
