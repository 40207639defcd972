"""One lab cycle: ``propose`` refuses what it cannot rank, and ``gene_priors`` reads the gene
features it ranks with (a user's CSV, or GO from the data directory)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import DesignError, gene_priors, hit_curve, propose
from phenocast.featurize import GeneFeatures


@pytest.fixture
def features_csv(tmp_path):
    x = np.random.default_rng(0).standard_normal((40, 3))
    table = pd.DataFrame(x, columns=["f0", "f1", "f2"])
    table.insert(0, "gene", [f"G{i}" for i in range(40)])
    table.to_csv(tmp_path / "features.csv", index=False)
    return tmp_path / "features.csv", x


def test_propose_refuses_what_it_cannot_rank(features_csv):
    path, x = features_csv
    feats, _, _ = gene_priors(path)
    res = pd.DataFrame({"gene": [f"G{i}" for i in range(10)], "value": x[:10, 0]})
    with pytest.raises(DesignError, match="Every candidate has already been measured"):
        propose(["G0", "G1"], res, feats)
    one = pd.DataFrame({"gene": ["G0", "X9"], "value": [1.0, 2.0]})
    with pytest.raises(DesignError, match=r"Only 1 measured gene\(s\) have features.*\['X9'\]"):
        propose(["G5"], one, feats)
    with pytest.raises(DesignError, match=r"no numeric value for \['G0'\]"):
        propose(["G5"], pd.DataFrame({"gene": ["G0", "G1"], "value": ["n/a", 1]}), feats)
    with pytest.raises(DesignError, match=r"candidates lists \['G15'\] more than once"):
        propose(["G15", "G15"], res, feats)
    flat = res.assign(value=2.5)
    with pytest.raises(DesignError, match=r"All 10 measured values are 2\.5: .* mode='explore'"):
        propose(["G15", "G16"], flat, feats, mode="exploit")
    assert len(propose(["G15", "G16"], flat, feats, mode="explore", batch_size=1)) == 1


def test_propose_skips_and_lists_candidates_without_features(features_csv):
    path, x = features_csv
    feats, _, _ = gene_priors(path)
    res = pd.DataFrame({"gene": [f"G{i}" for i in range(10)], "value": x[:10, 0]})
    cands = ["G20", "NOPE2", "G21", "G0", "NOPE1", "G22"]
    batch = propose(cands, res, feats, batch_size=10)
    assert set(batch["gene"]) == {"G20", "G21", "G22"}
    assert batch.attrs["skipped"] == ["NOPE2", "NOPE1"]  # the measured G0 is not "skipped"
    assert batch.attrs["skipped_reason"] == "no features (user features)"
    assert propose(["G20"], res, feats).attrs["skipped"] == []
    with pytest.raises(DesignError, match=r"None of the 2 unmeasured candidate\(s\) has features"):
        propose(["NOPE1", "G0", "NOPE2"], res, feats)


def test_hit_curve_counts_cumulative_hits_per_cycle():
    res = pd.DataFrame(
        {"gene": list("abcdef"), "value": [5, 0, 1, 7, 2, 9], "cycle": [2, 0, 0, 1, 1, 2]}
    )
    assert hit_curve(res, strategy="ucb", threshold=5) == {"ucb": [0, 1, 3]}
    assert hit_curve(res.drop(columns="cycle"), strategy="x") == {"x": [1]}  # top decile: 9
    with pytest.raises(DesignError, match=r"column 'cycle' must hold whole numbers.*1\.5"):
        hit_curve(res.assign(cycle=[0, 1.5, 0, 0, 0, 0]), strategy="ucb")
    with pytest.raises(DesignError, match=r"lacks column\(s\) \['value'\]"):
        hit_curve(res.drop(columns="value"), strategy="ucb")


def test_gene_priors_reads_a_features_csv(features_csv):
    path, x = features_csv
    feats, graph, essential = gene_priors(str(path))
    assert isinstance(feats, GeneFeatures) and graph is None and essential == []
    assert feats.genes == tuple(f"G{i}" for i in range(40))
    np.testing.assert_allclose(feats.rows(["G3", "G0"]), x[[3, 0]])
    assert (feats.source, feats.method) == ("features.csv", "user features")
    batch = propose([f"G{i}" for i in range(40)], pd.DataFrame({"gene": ["G0", "G1", "G2"],
                    "value": [1.0, 0.0, 2.0]}), feats, batch_size=4)  # fmt: skip
    assert len(batch) == 4 and not set(batch["gene"]) & {"G0", "G1", "G2"}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("name,f0\nG1,1\n", "needs a 'gene' column and at least one feature column"),
        ("gene\nG1\n", "needs a 'gene' column and at least one feature column"),
        ("gene,f0\nG1,1\nG2,high\n", "could not convert string to float"),
    ],
)
def test_gene_priors_names_a_bad_features_file(tmp_path, text, message):
    path = tmp_path / "feats.csv"
    path.write_text(text)
    with pytest.raises(DesignError) as err:
        gene_priors(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_gene_priors_names_what_is_missing(tmp_path):
    with pytest.raises(DesignError, match=r"features file .*nope\.csv does not exist"):
        gene_priors(tmp_path / "nope.csv")
    with pytest.raises(FileNotFoundError, match="gene2go"):  # GO needs its datasets
        gene_priors(data_dir=tmp_path)
