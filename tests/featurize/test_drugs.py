"""Drug features: Morgan fingerprints of known molecules, identical molecules give identical
vectors, unparseable SMILES are named, and the sci-Plex SMILES table loads."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.featurize import DrugFeatures, morgan_fingerprints, sciplex_smiles

from ..conftest import run_or_skip

ASPIRIN = "CC(=O)Oc1ccccc1C(=O)O"
ASPIRIN_AGAIN = "OC(=O)c1ccccc1OC(C)=O"  # the same molecule written from the other end


def test_fingerprints_of_known_molecules():
    pytest.importorskip("rdkit")
    fp = morgan_fingerprints(
        {"aspirin": ASPIRIN, "ethanol": "CCO", "benzene": "c1ccccc1", "copy": ASPIRIN_AGAIN},
        n_bits=1024,
    )
    assert fp.drugs == ("aspirin", "ethanol", "benzene", "copy") and fp.dim == 1024
    assert set(np.unique(fp.matrix)) <= {0.0, 1.0}
    bits = fp.matrix.sum(axis=1)
    assert np.all(bits > 0) and bits[0] > bits[1]
    # benzene: every atom is the same environment at each radius, so 3 on-bits (r = 0, 1, 2)
    assert bits[2] == 3
    np.testing.assert_array_equal(fp.rows(["aspirin"]), fp.rows(["copy"]))
    assert not np.array_equal(fp.rows(["aspirin"]), fp.rows(["ethanol"]))
    assert "Morgan r2 1024-bit (RDKit)" in repr(fp)
    r1 = morgan_fingerprints({"aspirin": ASPIRIN}, radius=1, n_bits=1024)
    assert r1.matrix.sum() < bits[0]


def test_identical_smiles_give_identical_vectors_and_hashes():
    pytest.importorskip("rdkit")
    one = morgan_fingerprints({"x": ASPIRIN, "y": ASPIRIN})
    np.testing.assert_array_equal(one.matrix[0], one.matrix[1])
    assert one.content_hash == morgan_fingerprints({"x": ASPIRIN, "y": ASPIRIN}).content_hash


def test_unparseable_smiles_are_all_named():
    pytest.importorskip("rdkit")
    with pytest.raises(ValueError, match=r"3 SMILES could not be parsed") as err:
        morgan_fingerprints({"ok": "CCO", "ring": "C1CC", "empty": "", "nan": float("nan")})
    assert "('ring', 'C1CC')" in str(err.value) and "('empty', '')" in str(err.value)
    assert "'nan'" in str(err.value) and "'ok'" not in str(err.value)


def test_bad_options_are_refused():
    with pytest.raises(ValueError, match="radius must be >= 0, got -1"):
        morgan_fingerprints({"x": "CCO"}, radius=-1)
    with pytest.raises(ValueError, match="n_bits must be >= 1, got 0"):
        morgan_fingerprints({"x": "CCO"}, n_bits=0)
    with pytest.raises(ValueError, match="No SMILES given"):
        morgan_fingerprints({})
    with pytest.raises(ValueError, match="table must be 'wells' or 'chemcpa', got 'lincs'"):
        sciplex_smiles(table="lincs")


def test_drug_features_name_what_they_lack():
    feats = DrugFeatures(("a", "b"), np.eye(2), method="toy")
    assert feats.missing(["a", "z"]) == ["z"] and "z" not in feats and len(feats) == 2
    with pytest.raises(KeyError, match=r"1 drug\(s\) have no features \(toy from unknown"):
        feats.rows(["a", "z"])
    with pytest.raises(ValueError, match=r"DrugFeatures lists drugs more than once: \['a'\]"):
        DrugFeatures(("a", "a"), np.eye(2))
    with pytest.raises(ValueError, match="one matrix row per drug: 2 drugs"):
        DrugFeatures(("a", "b"), np.eye(3))


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("table", "example"), [("wells", "Alisertib (MLN8237)"), ("chemcpa", "Alisertib")]
)
def test_sciplex_drugs_all_get_fingerprints(table, example):
    pytest.importorskip("rdkit")
    smiles = run_or_skip(sciplex_smiles, table=table)
    assert len(smiles) == 188 and example in smiles
    fp = morgan_fingerprints(smiles)
    assert fp.matrix.sum(axis=1).min() > 0
