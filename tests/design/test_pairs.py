"""Combination screens: pair features from the members' features and single results, and a
synthetic pair screen with planted synergies that the replay loop recovers."""

from __future__ import annotations

from itertools import combinations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import ActiveLoop, ReplayOracle, pair_features
from phenocast.featurize import GeneFeatures


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
