"""Perturbation-level replay on synthetic pools with a known answer: Δ profiles are a linear
function of the perturbed genes' features, genes fall in one large and several small clusters,
so a model that learns the features recovers the pool, and an acquisition that covers the
clusters beats one that samples the large cluster as often as random does."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest

from phenocast.data import RegistrationError
from phenocast.design import PerturbationLoop, PerturbationPool, ProfileGP
from phenocast.featurize import GeneFeatures
from tests.conftest import run_or_skip


def clustered_pool(sizes=(20, 3, 3, 3, 3, 3), d=12, n_vars=40, noise=0.05, seed=0, doubles=0):
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((len(sizes), d))
    phi = np.concatenate(
        [c + 0.15 * rng.standard_normal((s, d)) for c, s in zip(centres, sizes, strict=True)]
    )
    genes = [f"G{i}" for i in range(len(phi))]
    w = rng.standard_normal((d, n_vars))
    comps = [(g,) for g in genes]
    rows = [phi[i] for i in range(len(genes))]
    for _ in range(doubles):
        a, b = sorted(rng.choice(len(genes), 2, replace=False))
        comps.append((genes[a], genes[b]))
        rows.append(phi[a] + phi[b])
    delta = np.stack(rows) @ w + noise * rng.standard_normal((len(rows), n_vars))
    ctrl = np.tile(rng.random(n_vars), (len(rows), 1))
    feats = GeneFeatures(tuple(genes), phi.astype(np.float32), method="synthetic")
    names = tuple("+".join(c) for c in comps)
    return PerturbationPool(names, tuple(comps), ("L",) * len(names), delta, ctrl), feats


def replay(strategy, seed, **kw):
    pool, feats = clustered_pool(seed=seed)
    holdout = list(np.random.default_rng(100 + seed).choice(pool.names, 8, replace=False))
    opts = {"batch_size": 2, "rounds": 4, "initial_size": 2, "holdout": holdout, "seed": seed}
    return PerturbationLoop(pool, feats, strategy, **(opts | kw)).run()


def test_error_on_unmeasured_pool_drops_and_beats_the_mean_baseline():
    res = replay("random", 0)
    rounds = res.rounds
    assert list(rounds["measured"]) == [2, 4, 6, 8, 10]
    assert rounds["pool_mse"].iloc[-1] < 0.5 * rounds["pool_mse"].iloc[0]
    assert rounds["test_mse"].iloc[-1] < 0.5 * rounds["test_mse"].iloc[0]
    last = rounds.iloc[-1]
    assert last["test_mse"] < last["test_mse_mean"] < last["test_mse_nochange"] * 1.5
    assert last["test_pearson"] > last["test_pearson_mean"]
    # every pick recorded once, none held out
    assert res.picks["condition"].is_unique
    assert not set(res.picks["condition"]) & set(
        res.per_condition.query("set == 'test'")["condition"]
    )


def test_covering_acquisitions_beat_random_on_the_held_out_set():
    final = {
        s: np.mean([replay(s, seed).rounds["test_mse"].iloc[-1] for seed in range(4)])
        for s in ("random", "coreset", "batchbald")
    }
    assert final["coreset"] < 0.5 * final["random"]
    assert final["batchbald"] < 0.5 * final["random"]


def test_same_seed_same_replay_and_seed_changes_it():
    a, b, c = replay("random", 3), replay("random", 3), replay("random", 4)
    pd.testing.assert_frame_equal(a.rounds, b.rounds)
    assert list(a.picks["condition"]) == list(b.picks["condition"])
    assert list(a.picks["condition"]) != list(c.picks["condition"])


def test_additive_double_is_the_sum_of_measured_singles():
    pool, feats = clustered_pool(sizes=(4, 4), noise=0.0, doubles=3, seed=1)
    singles = [i for i, c in enumerate(pool.components) if len(c) == 1]
    model = ProfileGP(pool, feats, nuggets=(1e-6,)).fit(singles)
    prior = ProfileGP(pool, feats, nuggets=(1e-6,)).fit(singles[:1])
    pos = {n: i for i, n in enumerate(pool.names)}
    for i, comp in enumerate(pool.components):
        if len(comp) == 2:
            want = pool.delta[pos[comp[0]]] + pool.delta[pos[comp[1]]]
            np.testing.assert_allclose(model.predict([i]).mean[0], want, atol=1e-3)
            # known singles leave the double (almost) no epistemic uncertainty, relative to
            # the same double when only one single is measured, on the same scale
            ratio = model.predict([i]).epistemic[0] / model._scale
            assert ratio < 1e-3 * prior.predict([i]).epistemic[0] / prior._scale
    sums = ProfileGP(pool, feats, composition="sum-features").fit(singles)
    assert sums.predict(singles).mean.shape == (len(singles), pool.delta.shape[1])


def test_embedding_distances_are_kernel_distances():
    pool, feats = clustered_pool()
    model = ProfileGP(pool, feats).fit(np.arange(6))
    e = model.embedding()
    k = e @ e.T
    d_k = np.diag(k)[:, None] + np.diag(k)[None, :] - 2 * k
    d_e = ((e[:, None] - e[None]) ** 2).sum(-1)
    np.testing.assert_allclose(d_e, d_k, atol=1e-8)
    assert len({r.tobytes() for r in e}) == len(e)


def toy_adata():
    rng = np.random.default_rng(0)
    obs = pd.DataFrame(
        {
            "perturbation": ["control"] * 4 + ["G0"] * 3 + ["G1+G0"] * 3 + ["control", "G1"] * 2,
            "cell_line": ["A"] * 10 + ["B"] * 4,
        }
    )
    obs.index = obs.index.astype(str)
    return ad.AnnData(rng.random((len(obs), 5)), obs=obs)


def test_pool_from_anndata_subtracts_each_lines_control():
    adata = toy_adata()
    pool = PerturbationPool.from_anndata(adata)
    assert pool.names == ("G0 | A", "G1 | B", "G0+G1 | A")
    assert pool.components[2] == ("G0", "G1")
    x = adata.X
    np.testing.assert_allclose(pool.ctrl[1], x[[10, 12]].mean(0))
    np.testing.assert_allclose(pool.delta[0], x[4:7].mean(0) - x[:4].mean(0))


def test_pool_merges_one_combination_written_both_ways_and_refuses_a_malformed_one():
    adata = toy_adata()
    adata.obs["perturbation"] = adata.obs["perturbation"].astype(str).to_numpy()
    adata.obs.iloc[9, 0] = "G0+G1"  # the same double as "G1+G0" in rows 7-8
    pool = PerturbationPool.from_anndata(adata)
    assert pool.names == ("G0 | A", "G1 | B", "G0+G1 | A")
    np.testing.assert_allclose(pool.delta[2], adata.X[7:10].mean(0) - adata.X[:4].mean(0))
    adata.obs.iloc[9, 0] = "G0++G1"
    with pytest.raises(RegistrationError, match="empty perturbation name in 'G0\\+\\+G1'"):
        PerturbationPool.from_anndata(adata)


def test_bad_input_messages():
    no_b_ctrl = toy_adata()[[0, 1, 2, 3, 4, 5, 11, 13]].copy()
    with pytest.raises(ValueError, match=r"No 'control' cells in line\(s\) \['B'\]"):
        PerturbationPool.from_anndata(no_b_ctrl)
    only_ctrl = toy_adata()[:4].copy()
    with pytest.raises(ValueError, match="no perturbation conditions"):
        PerturbationPool.from_anndata(only_ctrl)
    with pytest.raises(ValueError, match="no perturbation conditions"):
        PerturbationPool((), (), (), np.zeros((0, 3)), np.zeros((0, 3)))
    pool, feats = clustered_pool()
    other = GeneFeatures(feats.genes[1:], feats.matrix[1:], method="fewer")
    with pytest.raises(KeyError, match=r"Perturbed gene\(s\) \['G0'\] have no features"):
        PerturbationLoop(pool, other, "random")
    assert pool.unfeaturised(other) == ["G0"]
    with pytest.raises(ValueError, match="would leave none of the 35 acquirable"):
        PerturbationLoop(pool, feats, "random", batch_size=10, rounds=4)
    with pytest.raises(ValueError, match="Every condition is held out"):
        PerturbationLoop(pool, feats, "random", holdout=pool.names)
    with pytest.raises(KeyError, match="not in the pool"):
        PerturbationLoop(pool, feats, "random", holdout=["NOPE"])
    with pytest.raises(KeyError, match="Unknown acquisition"):
        PerturbationLoop(pool, feats, "nope")
    with pytest.raises(ValueError, match="batch_size and initial_size must be >= 1"):
        PerturbationLoop(pool, feats, "random", batch_size=0)
    with pytest.raises(ValueError, match="composition must be additive or sum-features"):
        ProfileGP(pool, feats, composition="product")
    with pytest.raises(RuntimeError, match="not fitted"):
        ProfileGP(pool, feats).predict([0])


@pytest.mark.realdata
def test_norman_replay_runs_on_real_data():
    from phenocast.data import load_gene2go, load_norman2019
    from phenocast.featurize import go_annotation_features

    adata = run_or_skip(load_norman2019)
    feats = go_annotation_features(run_or_skip(load_gene2go), dim=32, seed=0)
    pool = PerturbationPool.from_anndata(adata)
    assert len(pool) == 33 and pool.unfeaturised(feats) == ["IER5L"]
    pool = pool.subset([n for n in pool.names if n != "IER5L"])
    res = PerturbationLoop(pool, feats, "coreset", batch_size=3, rounds=2, initial_size=3).run()
    assert list(res.rounds["measured"]) == [3, 6, 9]
    assert np.isfinite(res.rounds["pool_pearson"]).all()
    assert res.rounds["pool_pearson"].iloc[-1] > 0
