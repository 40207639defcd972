"""Replaying real screens: two-sided readouts, published hit lists, genes listed twice, genes
without features, precision and recall over the whole screen, and the screen's own batch sizes."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import ActiveLoop, ReplayOracle
from phenocast.featurize import GeneFeatures


def screen(n=300, d=6, noise=0.1, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, d))
    y = x @ rng.standard_normal(d) + noise * rng.standard_normal(n)
    genes = tuple(f"G{i}" for i in range(n))
    return GeneFeatures(genes, x.astype(np.float32), method="synthetic"), pd.Series(y, genes)


def test_direction_orients_the_score_and_the_hits():
    y = pd.Series([5.0, -9.0, 1.0, -2.0, 0.5], ["A", "B", "C", "D", "E"])
    up = ReplayOracle(y, hit_fraction=0.4)
    down = ReplayOracle(y, direction="down", hit_fraction=0.4)
    both = ReplayOracle(y, direction="both", hit_fraction=0.4)
    assert up.hits() == {"A", "C"}
    assert down.hits() == {"B", "D"}
    assert both.hits() == {"A", "B"}
    np.testing.assert_allclose(both.query(["B", "C"]), [9.0, 1.0])
    np.testing.assert_allclose(down.query(["B"]), [9.0])
    np.testing.assert_allclose(both.raw.loc[["B"]], [-9.0])  # the screen's own sign is kept
    with pytest.raises(ValueError, match="direction must be 'up', 'down' or 'both', got 'abs'"):
        ReplayOracle(y, direction="abs")


def test_a_two_sided_screen_is_replayed_on_its_absolute_value():
    feats, y = screen(n=400, noise=0.05, seed=2)
    y = y**2 * np.sign(y)  # strong hits at both ends
    oracle = ReplayOracle(y, direction="both", hit_fraction=0.05)
    res = ActiveLoop("bayesian-ridge", feats, oracle, "random", batch_size=20, cycles=2).run()
    picked = res.picks.set_index("gene")
    np.testing.assert_allclose(picked["value"], y.loc[picked.index])  # signed, as measured
    hit_genes = set(picked.index[picked["hit"]])
    top = set(y.abs().sort_values(ascending=False).index[:20])
    assert hit_genes <= top and res.n_hits == 20
    assert (y.loc[list(top)] < 0).any() and (y.loc[list(top)] > 0).any()


def test_a_published_hit_list_replaces_the_threshold():
    feats, y = screen(n=100)
    listed = ["G3", "G50", "G99", "NOT_MEASURED"]
    with pytest.warns(UserWarning, match=r"1 gene\(s\) of the hit list were not measured.*NOT_ME"):
        oracle = ReplayOracle(y, hits=listed)
    assert oracle.hits() == {"G3", "G50", "G99"}
    res = ActiveLoop("bayesian-ridge", feats, oracle, "random", batch_size=10, cycles=3).run()
    assert res.n_screen_hits == 3
    found = res.picks.loc[res.picks["hit"], "gene"]
    assert set(found) <= {"G3", "G50", "G99"}
    assert res.cycles["hits_found"].iloc[-1] == len(found)
    with pytest.raises(ValueError, match="None of the 2 genes of the hit list was measured"):
        ReplayOracle(y, hits=["X1", "X2"])
    with pytest.raises(ValueError, match=r"either hit_fraction .* or hits"):
        ReplayOracle(y, hits=["G3"], hit_fraction=0.1)


def test_genes_listed_twice_are_merged_by_the_mean_with_a_warning_naming_them():
    y = pd.Series([1.0, 3.0, 2.0, 10.0, 20.0], ["G0", "G0", "G1", "G2", "G2"])
    with pytest.warns(UserWarning, match=r"2 gene\(s\) more than once: \['G0', 'G2'\]"):
        oracle = ReplayOracle(y)
    assert oracle.values.to_dict() == {"G0": 2.0, "G1": 2.0, "G2": 15.0}


def test_genes_without_features_stay_in_the_pool_and_the_surrogate_learns_their_mean():
    feats, y = screen(n=300, seed=4)
    extra = [f"NOFEAT{i}" for i in range(60)]
    # the featureless genes are all strong: only the indicator column can tell the surrogate
    y_all = pd.concat([y, pd.Series(y.max() + 1.0, index=extra)])
    oracle = ReplayOracle(y_all, hit_fraction=0.1)
    loop = ActiveLoop("bayesian-ridge", feats, oracle, "greedy", batch_size=20, cycles=3, seed=0)
    assert len(loop.names) == 360 and loop.featureless_genes == tuple(extra)
    res = loop.run()
    assert res.meta["featureless"] == 60 and res.n_hits == res.n_screen_hits == 36
    later = res.picks[res.picks["cycle"] > 0]
    # after the first random batch, greedy knows the featureless genes are high and takes them
    assert later["featureless"].mean() > 0.9
    assert res.meta["featureless_picked"] == res.cycles["featureless_measured"].iloc[-1] > 50
    # left out, their hits stay in the screen: recall over the screen cannot reach them
    dropped = ActiveLoop("bayesian-ridge", feats, oracle, "greedy", batch_size=20, cycles=3,
                         featureless="drop").run()  # fmt: skip
    assert dropped.meta["pool"] == 300 and dropped.n_screen_hits == 36
    assert dropped.n_hits == 0 and dropped.cycles["recall"].max() == 0.0


def test_an_essential_prior_reaches_genes_without_features():
    feats, y = screen(n=200, seed=5)
    extra = [f"NOFEAT{i}" for i in range(30)]
    y_all = pd.concat([y, pd.Series(0.0, index=extra)])
    essential = extra[:8]
    res = ActiveLoop("bayesian-ridge", feats, ReplayOracle(y_all), "essential-first",
                     batch_size=10, cycles=1, essential=essential, seed=1).run()  # fmt: skip
    first_pick = res.picks[res.picks["cycle"] == 1]
    assert set(essential) - set(res.picks.loc[res.picks["cycle"] == 0, "gene"]) <= set(
        first_pick["gene"]
    )


def test_precision_and_recall_are_over_picks_and_over_the_whole_screen():
    feats, y = screen(n=200, seed=6)
    oracle = ReplayOracle(y, hit_fraction=0.1)  # 20 hits in the screen
    top = list(y.sort_values(ascending=False).index[:5])
    res = ActiveLoop("bayesian-ridge", feats, oracle, "greedy", batch_size=10, cycles=2,
                     exclude=top).run()  # fmt: skip
    cyc = res.cycles
    assert res.n_screen_hits == 20 and res.n_hits == 15
    np.testing.assert_allclose(cyc["precision"], cyc["hits_found"] / cyc["measured"])
    np.testing.assert_allclose(cyc["recall"], cyc["hits_found"] / 20)
    np.testing.assert_allclose(cyc["recall_in_pool"], cyc["hits_found"] / 15)
    assert res.recall(2) == cyc["recall"].iloc[-1] and res.precision(2) == cyc["precision"].iloc[-1]
    assert res.recall(2) < res.recall_in_pool(2)
    with pytest.warns(DeprecationWarning, match="hit_ratio is deprecated: it is recall_in_pool"):
        assert res.hit_ratio(2) == res.recall_in_pool(2)


def test_the_screens_own_batch_sizes_set_the_cycles():
    feats, y = screen(n=200)
    res = ActiveLoop("bayesian-ridge", feats, ReplayOracle(y), "greedy",
                     batch_size=[5, 12, 3], initial_size=8).run()  # fmt: skip
    assert list(res.cycles["measured"]) == [8, 13, 25, 28]
    assert res.picks.groupby("cycle").size().tolist() == [8, 5, 12, 3]
    assert res.meta["batch_sizes"] == [5, 12, 3]
    with pytest.raises(ValueError, match="batch_size lists 3 cycles but cycles=5"):
        ActiveLoop("bayesian-ridge", feats, ReplayOracle(y), "greedy", batch_size=[5, 5, 5],
                   cycles=5)  # fmt: skip
    with pytest.raises(ValueError, match=r"one size >= 1 per cycle, got \[5, 0\]"):
        ActiveLoop("bayesian-ridge", feats, ReplayOracle(y), "greedy", batch_size=[5, 0])
    with pytest.raises(ValueError, match=r"3 cycles of \[100, 50, 50\] after 100 need 300 genes"):
        ActiveLoop("bayesian-ridge", feats, ReplayOracle(y), "greedy", batch_size=[100, 50, 50])


def test_an_oracle_from_a_screen_anndata_reads_its_one_column():
    import anndata as ad

    _, y = screen(n=50)
    adata = ad.AnnData(y.to_numpy()[:, None], obs=pd.DataFrame(index=y.index))
    oracle = ReplayOracle.from_screen(adata, direction="down")
    pd.testing.assert_series_equal(oracle.raw, y, check_names=False)
    assert oracle.hits() == ReplayOracle(y, direction="down").hits()
    two = ad.AnnData(np.ones((50, 2)), obs=pd.DataFrame(index=y.index))
    with pytest.raises(ValueError, match=r"one value per gene: X of shape \(n_genes, 1\), got"):
        ReplayOracle.from_screen(two)
