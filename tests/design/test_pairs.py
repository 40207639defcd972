"""Combination screens: pair features from the members' features and single results, and a
synthetic pair screen with planted synergies that the replay loop recovers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import (
    ACQUISITIONS,
    ActiveLoop,
    DesignError,
    PairPool,
    ReplayOracle,
    pair_features,
    pairs_from_matrix,
    propose,
)
from phenocast.featurize import GeneFeatures
from phenocast.knowledge import GeneGraph


def pair_screen(n_genes=60, d=6, seed=0):
    """Non-additivity of every pair: a bilinear interaction of the members' features, and the
    top 2 % of it planted as synergies (3 units above the rest)."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    x = rng.standard_normal((n_genes, d))
    feats = GeneFeatures(tuple(genes), x.astype(np.float32), method="synthetic")
    singles = pd.Series(x @ rng.standard_normal(d), genes)
    pairs = [f"{a}+{b}" for a, b in combinations(genes, 2)]
    i, j = np.array(list(combinations(range(n_genes), 2))).T
    z = (x[i] * x[j]) @ np.array([1.5, -1.0, 0, 0, 0, 0.5])
    planted = np.argsort(-z)[: len(pairs) // 50]
    readout = z + 0.3 * rng.standard_normal(len(pairs))
    readout[planted] += 3.0
    hits = [pairs[k] for k in planted]
    return feats, singles, pd.Series(readout, pairs), hits


def test_pair_rows_are_symmetric_sums_products_and_singles():
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    feats = GeneFeatures(("A", "B", "C"), x.astype(np.float32), method="toy")
    singles = pd.Series({"A": 2.0, "B": -1.0})
    pf = pair_features(feats, ["A+B", ("C", "A")], singles=singles)
    assert pf.genes == ("A+B", "C+A")
    np.testing.assert_allclose(pf.rows(["A+B"])[0], [4, 1, 3, -2, 1, -2, 2])
    np.testing.assert_allclose(pf.rows(["C+A"])[0], [1.5, 2.5, 0.5, 1, 2, 0, 1])
    swapped = pair_features(feats, ["B+A"], singles=singles).matrix
    np.testing.assert_allclose(swapped, pf.matrix[:1])


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["A+A"], r"two different genes .*\[\('A', 'A'\)\]"),
        (["A+B+C"], "two different genes"),
        (["A+B", "B+A"], r"more than once \(in either order\): \['B\+A'\]"),
        (["A+Z"], r"1 pair member\(s\) have no features \(toy\): \['Z'\]"),
    ],
)
def test_bad_pairs_are_named(pairs, message):
    feats = GeneFeatures(("A", "B", "C"), np.eye(3, dtype=np.float32), method="toy")
    with pytest.raises(ValueError, match=message):
        pair_features(feats, pairs)


def test_the_loop_recovers_planted_synergies_from_pair_features():
    feats, singles, readout, hits = pair_screen()
    pool = pair_features(feats, list(readout.index), singles=singles)
    found = {}
    for strategy in ("greedy", "portfolio", "random"):
        oracle = ReplayOracle(readout, hits=hits)
        res = ActiveLoop("bayesian-ridge", pool, oracle, strategy, batch_size=30, cycles=5,
                         initial_size=60, seed=1).run()  # fmt: skip
        found[strategy] = res.recall_in_pool(5)
    assert found["random"] < 0.25  # 210 of 1,770 pairs measured: about 12 % by chance
    assert found["greedy"] > 0.7 and found["portfolio"] > 0.5
    # the synergy lives in the members' interaction: the sums alone find far fewer
    sums = GeneFeatures(pool.genes, pool.matrix[:, :6], method="sums only")
    blind = ActiveLoop("bayesian-ridge", sums, ReplayOracle(readout, hits=hits), "greedy",
                       batch_size=30, cycles=5, initial_size=60, seed=1).run()  # fmt: skip
    assert blind.recall_in_pool(5) < 0.7 * found["greedy"]


# --- PairPool: symmetric names, members without features kept, pair acquisitions -----------


def toy_features():
    x = np.array([[1.0, 2.0], [3.0, -1.0], [0.5, 0.5]])
    return GeneFeatures(("A", "B", "C"), x.astype(np.float32), method="toy")


def test_the_pool_names_each_pair_once_whatever_the_order():
    singles = pd.Series({"A": 2.0, "B": -1.0})
    pool = PairPool(["B+A", ("C", "A")], toy_features(), singles=singles)
    assert pool.names == ("A+B", "A+C") and pool.genes == ("A", "B", "C")
    assert pool.canonical(["B+A", "A+B", ("C", "B")]) == ["A+B", "A+B", "B+C"]
    np.testing.assert_array_equal(pool.members(["A+B", "A+C", "B+C"]), [[0, 1], [0, 2], [-1, -1]])
    same = PairPool(["A+B", "C+A"], toy_features(), singles=singles)
    np.testing.assert_array_equal(same.features.matrix, pool.features.matrix)
    # the rows are pair_features' with the count of members without features (none here)
    np.testing.assert_allclose(pool.features.rows(["A+B"])[0], [4, 1, 3, -2, 1, -2, 2, 0])
    assert np.isnan(pool.singles["C"]) and pool.singles["A"] == 2.0
    # values named in either order reach the same pair
    oracle = pool.oracle(pd.Series({"C+A": 5.0, "B+A": 1.0}))
    assert oracle.values.to_dict() == {"A+C": 5.0, "A+B": 1.0} and oracle.hits() == {"A+C"}


@pytest.mark.parametrize(
    ("pairs", "message"),
    [
        (["A+A"], r"two different genes .*\[\('A', 'A'\)\]"),
        (["A+B+C"], "two different genes"),
        (["A+"], "two different genes"),
        (["A+B", "B+A"], r"more than once \(in either order\): \['A\+B'\]"),
        ([], "at least one pair"),
    ],
)
def test_the_pool_refuses_bad_pairs_by_name(pairs, message):
    with pytest.raises(ValueError, match=message):
        PairPool(pairs, toy_features())


def test_the_pool_refuses_repeated_singles_and_foreign_names():
    with pytest.raises(ValueError, match=r"singles lists \['A'\] more than once"):
        PairPool(["A+B"], toy_features(), singles=pd.Series([1.0, 2.0], ["A", "A"]))
    with pytest.raises(ValueError, match="None of the 2 pair members has features"):
        PairPool(["X+Y"], toy_features())
    pool = PairPool(["A+B", "A+C"], toy_features())
    with pytest.warns(UserWarning, match=r"1 measured pair\(s\) are not in the pool.*'B\+C'"):
        pool.oracle(pd.Series({"A+B": 1.0, "C+B": 2.0}))
    # an oracle keyed the other way round is named, with the fix
    with pytest.raises(ValueError, match=r"other order than the pool's .*\['B\+A'\].*oracle"):
        ActiveLoop("bayesian-ridge", pool, ReplayOracle(pd.Series({"B+A": 1.0, "A+C": 0.0})),
                   "random", batch_size=1, cycles=0)  # fmt: skip


def test_members_without_features_keep_their_pairs_in_the_pool():
    feats, singles, readout, hits = pair_screen(n_genes=30)
    covered = GeneFeatures(feats.genes[2:], feats.matrix[2:], method="synthetic")
    with pytest.raises(ValueError, match=r"2 pair member\(s\) have no features .*'G0', 'G1'"):
        pair_features(covered, list(readout.index))
    pool = PairPool(readout.index, covered, singles=singles)
    assert pool.genes_without_features == ("G0", "G1") and len(pool) == len(readout)
    assert len(pool.pairs_without_features) == 2 * 28 + 1
    count = pool.features.rows(["G0+G1", "G0+G2", "G2+G3"])[:, -1]
    np.testing.assert_array_equal(count, [2, 1, 0])
    loop = ActiveLoop("bayesian-ridge", pool, pool.oracle(readout, hits=hits), "random",
                      batch_size=40, cycles=2, seed=0)  # fmt: skip
    res = loop.run()
    assert len(loop.names) == len(readout) and res.meta["featureless"] == 57
    assert set(loop.featureless_genes) == set(pool.pairs_without_features)
    assert res.picks["featureless"].sum() == res.cycles["featureless_measured"].iloc[-1]


def test_pairs_from_a_symmetric_table():
    genes = ["A", "B", "C"]
    m = pd.DataFrame([[9, 1, np.nan], [1, 9, 3], [np.nan, 3, 9]], genes, genes, dtype=float)
    assert pairs_from_matrix(m).to_dict() == {"A+B": 1.0, "B+C": 3.0}
    shuffled = m.loc[["C", "A", "B"], ["B", "C", "A"]]  # same table, other order
    assert pairs_from_matrix(shuffled).to_dict() == {"C+B": 3.0, "A+B": 1.0}
    m.loc["A", "B"] = 2.0
    with pytest.raises(ValueError, match="not symmetric: A,B = 2 but B,A = 1"):
        pairs_from_matrix(m)
    with pytest.raises(ValueError, match=r"rows and columns differ on \['C', 'D'\]"):
        pairs_from_matrix(m.rename(columns={"C": "D"}))


def test_pair_acquisitions_need_a_pair_pool():
    feats, singles, readout, _ = pair_screen(n_genes=20)
    plain = pair_features(feats, list(readout.index), singles=singles)
    for name in ("strong-singles", "pair-neighbours"):
        with pytest.raises(ValueError, match=f"{name} ranks pairs by their members: give"):
            ActiveLoop("bayesian-ridge", plain, ReplayOracle(readout), name, batch_size=10,
                       cycles=1).run()  # fmt: skip


def test_every_registered_acquisition_runs_over_a_pair_pool():
    feats, singles, readout, hits = pair_screen(n_genes=20)
    pool = PairPool(readout.index, feats, singles=singles)
    # kg-exploit's graph over pairs: each pair linked to the next one
    graph = GeneGraph.from_edges(
        pd.DataFrame({"source": pool.names[:-1], "target": pool.names[1:], "importance": 0.5})
    )
    for name in ACQUISITIONS:
        if name == "llm":  # needs a language-model server: tests/design/test_llm_acquisition.py
            continue
        res = ActiveLoop("ridge-ensemble", pool, pool.oracle(readout, hits=hits), name,
                         batch_size=8, cycles=2, graph=graph).run()  # fmt: skip
        assert res.strategy == name and len(res.picks) == 24
        assert res.picks["gene"].isin(pool.names).all()


def hub_screen(n_genes=60, n_hubs=4, seed=0):
    """An interaction map with hubs: a few genes interact strongly with most partners, every
    other pair is noise; the features know nothing about it, the singles are noise."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    feats = GeneFeatures(tuple(genes), rng.standard_normal((n_genes, 4)).astype(np.float32))
    pairs = list(combinations(range(n_genes), 2))
    hub = set(rng.choice(n_genes, n_hubs, replace=False).tolist())
    y = rng.standard_normal(len(pairs))
    strong = np.array([(i in hub) != (j in hub) and rng.random() < 0.5 for i, j in pairs])
    y[strong] += 4 * rng.choice([-1.0, 1.0], int(strong.sum()))  # two-sided interactions
    names = [f"{genes[i]}+{genes[j]}" for i, j in pairs]
    return feats, pd.Series(rng.standard_normal(n_genes), genes), pd.Series(y, names)


def test_pair_neighbours_and_the_pair_portfolio_find_the_partners_of_hubs():
    feats, singles, gi = hub_screen()
    pool = PairPool(gi.index, feats, singles=singles)
    recall = {}
    for strategy in ("random", "greedy", "pair-neighbours", "pair-portfolio"):
        found = []
        for seed in range(4):
            oracle = pool.oracle(gi, direction="both", hit_fraction=0.05)
            res = ActiveLoop("bayesian-ridge", pool, oracle, strategy, batch_size=40, cycles=5,
                             seed=seed).run()  # fmt: skip
            found.append(res.recall(5))
        recall[strategy] = np.mean(found)
    # 240 of 1,770 pairs measured: about 14 % of the 88 hits by chance
    assert recall["random"] < 0.2
    # the features cannot tell a hub; sharing a member with hit pairs can
    assert recall["pair-neighbours"] > max(0.35, 2 * recall["random"], 1.5 * recall["greedy"])
    assert recall["pair-portfolio"] > 2 * recall["random"]
    picks = (
        ActiveLoop(
            "bayesian-ridge",
            pool,
            pool.oracle(gi, direction="both"),
            "pair-neighbours",
            batch_size=40,
            cycles=1,
            seed=0,
        )
        .run()
        .picks
    )
    assert picks.loc[picks["cycle"] == 1, "reason"].str.startswith("shares a member").any()


def test_strong_singles_ranks_pairs_of_strong_members_first():
    feats = GeneFeatures(tuple("ABCDE"), np.eye(5, dtype=np.float32), method="toy")
    singles = pd.Series({"A": -3.0, "B": 2.0, "C": 0.1, "D": -0.5})  # E not measured
    pool = PairPool([p for p in combinations("ABCDE", 2)], feats, singles=singles)
    y = pd.Series(np.arange(len(pool), dtype=float), list(pool.names))
    res = ActiveLoop("bayesian-ridge", pool, pool.oracle(y), "strong-singles", batch_size=7,
                     cycles=1, initial_size=2, seed=0).run()  # fmt: skip
    first, then = (res.picks[res.picks["cycle"] == c] for c in (0, 1))
    # |s_A s_B| where both singles were measured, then the measured member's |s|
    order = ["A+B", "A+D", "B+D", "A+C", "B+C", "C+D", "A+E", "B+E", "D+E", "C+E"]
    assert then["gene"].tolist() == [p for p in order if p not in set(first["gene"])][:7]
    with_e = then[then["gene"].str.endswith("+E")]
    assert len(with_e) and with_e["reason"].str.contains(r"\|E\| not measured").all()


def pathway_screen(n_genes=60, seed=0):
    """Synergy where both members carry one annotation (a pathway of 12 genes, one of 8 binary
    annotations); every pair also has an additive part from the singles and noise."""
    rng = np.random.default_rng(seed)
    genes = [f"G{i}" for i in range(n_genes)]
    x = (rng.random((n_genes, 8)) < 0.2).astype(np.float32)
    x[:, 0] = 0
    x[rng.choice(n_genes, 12, replace=False), 0] = 1  # the pathway
    singles = pd.Series(rng.standard_normal(n_genes), genes)
    i, j = np.array(list(combinations(range(n_genes), 2))).T
    y = singles.to_numpy()[i] + singles.to_numpy()[j] + 0.5 * rng.standard_normal(len(i))
    synergy = (x[i, 0] * x[j, 0]) > 0  # 66 of 1,770 pairs
    y[synergy] += 5.0
    names = [f"{genes[a]}+{genes[b]}" for a, b in zip(i, j, strict=True)]
    feats = GeneFeatures(tuple(genes), x, method="annotations")
    hits = [n for n, s in zip(names, synergy, strict=True) if s]
    return feats, singles, pd.Series(y, names), hits


def test_the_pair_pool_recovers_synergies_of_a_shared_annotation():
    feats, singles, y, planted = pathway_screen()
    pool = PairPool(y.index, feats, singles=singles)
    recall = {}
    for strategy in ("random", "greedy", "pair-portfolio"):
        res = ActiveLoop("bayesian-ridge", pool, pool.oracle(y, hits=planted), strategy,
                         batch_size=30, cycles=5, initial_size=60, seed=2).run()  # fmt: skip
        recall[strategy] = res.recall(5)
    assert recall["random"] < 0.25  # 210 of 1,770 pairs measured: about 12 % by chance
    assert recall["greedy"] > 0.8 and recall["pair-portfolio"] > 0.6


def test_propose_over_a_pair_pool_names_pairs_as_the_pool_does():
    feats, singles, y, planted = pathway_screen()
    pool = PairPool(y.index, feats, singles=singles)
    rng = np.random.default_rng(0)
    done = rng.choice(len(y), 200, replace=False)
    # results and candidates may name a pair in either order
    flipped = ["+".join(reversed(n.split("+"))) for n in y.index[done]]
    results = pd.DataFrame({"gene": flipped, "value": y.to_numpy()[done]})
    batch = propose(list(y.index), results, pool, mode="exploit", batch_size=20,
                    acquisition="pair-portfolio")  # fmt: skip
    assert batch["gene"].isin(pool.names).all() and not batch["gene"].isin(y.index[done]).any()
    assert batch["reason"].str.startswith("portfolio arm").all()
    # a first portfolio batch is split evenly among its arms, random included
    assert batch["gene"].isin(planted).mean() > 0.25  # 66 of 1,770 by chance: 4 %
    with pytest.raises(DesignError, match=r"candidates: Each pair needs two different genes"):
        propose(["G1+G1"], results, pool)
