"""The online portfolio of acquisitions: it moves its batch to the arm whose picks are hits,
keeps exploring when no arm stands out, says which arm chose each gene, and is reproducible."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import ACQUISITIONS, ActiveLoop, Portfolio, ReplayOracle, propose
from phenocast.featurize import GeneFeatures


def noise_screen(n=1500, d=6, seed=0, planted=()):
    """Features that predict nothing; the ``planted`` genes are far above everything else."""
    rng = np.random.default_rng(seed)
    genes = tuple(f"G{i}" for i in range(n))
    y = pd.Series(rng.standard_normal(n), genes)
    y.loc[list(planted)] += 6.0
    feats = GeneFeatures(genes, rng.standard_normal((n, d)).astype(np.float32), method="noise")
    return feats, y


def run(feats, y, arms, *, essential=(), cycles=6, seed=0, hit_fraction=None):
    pf = Portfolio(arms=arms)
    oracle = ReplayOracle(y, hit_fraction=hit_fraction)
    loop = ActiveLoop("bayesian-ridge", feats, oracle, pf, batch_size=20, cycles=cycles,
                      seed=seed, essential=essential)  # fmt: skip
    return pf, loop.run()


def arm_of(picks):
    return picks["reason"].str.extract(r"^portfolio arm (\S+) ")[0]


def test_the_batch_moves_to_the_arm_whose_picks_are_hits():
    planted = [f"G{i}" for i in range(0, 1500, 15)]  # 100 genes, all on the prior list
    feats, y = noise_screen(planted=planted)
    arms = ("essential", "greedy", "random", "max-variance")
    pf, res = run(feats, y, arms, essential=planted, hit_fraction=0.05)
    first, then = pf.allocations[0], pf.allocations[2:5]
    assert first["essential"] <= 10  # Beta(1, 1) everywhere: the first batch is spread
    assert min(a["essential"] for a in then) >= 16  # then the prior list takes the batch
    successes, picked = pf.record()["essential"]
    assert successes / picked > 0.5 and pf.record()["random"][0] <= 2
    # until it runs dry: the arm retires and the others take its place
    left = len(set(planted) - set(res.picks.loc[res.picks["cycle"] < 6, "gene"]))
    assert pf.allocations[-1]["essential"] == min(left, 20)
    # and it finds the planted hits far faster than chance
    assert res.recall_in_pool(6) > 0.5 > 3 * ActiveLoop(
        "bayesian-ridge", feats, ReplayOracle(y, hit_fraction=0.05), "random",
        batch_size=20, cycles=6, essential=planted,
    ).run().recall_in_pool(6)  # fmt: skip


def test_with_no_arm_ahead_it_keeps_exploring():
    feats, y = noise_screen(seed=3)
    arms = ("greedy", "random", "max-variance", "hit-model")
    pf, _ = run(feats, y, arms, cycles=10)
    late = pd.DataFrame(pf.allocations[4:]).sum()
    assert late.sum() == 6 * 20
    assert late.min() >= 10  # every arm, random included, still gets picks ...
    assert late.max() <= 60  # ... and none has taken the batch


def test_each_pick_names_its_arm_and_record():
    planted = [f"G{i}" for i in range(0, 1500, 15)]
    feats, y = noise_screen(planted=planted)
    pf, res = run(feats, y, ("essential", "greedy", "random"), essential=planted, cycles=3)
    later = res.picks[res.picks["cycle"] > 0]
    arms = arm_of(later)
    assert arms.notna().all() and set(arms) <= {"essential", "greedy", "random"}
    assert (
        later["reason"].str.contains(r"of its picks in the screen's top 10 %, posterior mean").all()
    )
    assert later.loc[arms == "essential", "reason"].str.contains("essential gene").all()
    # the batch counts in the reasons are the allocations, and every essential pick is listed
    for cycle, alloc in enumerate(pf.allocations, start=1):
        got = arm_of(later[later["cycle"] == cycle]).value_counts().to_dict()
        assert got == {a: k for a, k in alloc.items() if k}
        for arm, k in got.items():
            rows = later[(later["cycle"] == cycle) & (arms == arm)]
            assert rows["reason"].str.contains(f"; {k}/20 of this batch").all()
    assert later.loc[arms == "essential", "gene"].isin(planted).all()


def test_reproducible_by_seed():
    feats, y = noise_screen(planted=[f"G{i}" for i in range(0, 1500, 30)])
    arms = ("essential", "greedy", "random")
    ess = [f"G{i}" for i in range(0, 1500, 30)]
    a = run(feats, y, arms, essential=ess, seed=4)[1].picks
    b = run(feats, y, arms, essential=ess, seed=4)[1].picks
    c = run(feats, y, arms, essential=ess, seed=5)[1].picks
    pd.testing.assert_frame_equal(a, b)
    assert not a["gene"].equals(c["gene"])


def test_registered_and_usable_by_propose():
    assert ACQUISITIONS["portfolio"] is Portfolio
    feats, y = noise_screen(n=200)
    results = pd.DataFrame({"gene": y.index[:40], "value": y.to_numpy()[:40]})
    out = propose(list(y.index), results, feats, acquisition="portfolio", batch_size=12)
    assert len(out) == 12 and out["gene"].is_unique
    assert not set(out["gene"]) & set(results["gene"])
    assert (out["criterion"] == "portfolio").all()
    # default arms without a graph or essential genes: those arms sit out
    assert set(arm_of(out)) <= {"hit-model", "greedy", "random"}


@pytest.mark.parametrize(
    ("options", "message"),
    [
        ({"arms": ("greedy",)}, r"at least two distinct acquisitions, got \('greedy',\)"),
        ({"arms": ("greedy", "portfolio")}, "cannot be one of its own arms"),
        ({"hit_quantile": 1.0}, r"hit_quantile must be in \(0, 1\), got 1.0"),
        ({"prior": (0.0, 1.0)}, r"prior must be two positive numbers \(a, b\), got \(0.0, 1.0\)"),
        ({"arms": ("greedy", "nope")}, "nope"),
    ],
)
def test_bad_options_are_refused_by_name(options, message):
    with pytest.raises((ValueError, KeyError), match=message):
        Portfolio(**options)


def test_propose_credits_the_arms_named_in_the_last_proposals_reasons():
    planted = [f"G{i}" for i in range(0, 600, 6)]
    feats, y = noise_screen(n=600, planted=planted)
    first = pd.DataFrame({"gene": y.index[1:60:2], "value": y.to_numpy()[1:60:2]})
    batch = propose(list(y.index), first, feats, acquisition="portfolio", batch_size=40,
                    essential=planted)  # fmt: skip
    ess_picks = batch.loc[arm_of(batch) == "essential", "gene"]
    assert len(ess_picks) >= 3 and batch["reason"].str.contains(r"\(0/0 of its picks").all()
    measured = batch[["gene", "reason"]].assign(value=y.loc[batch["gene"]].to_numpy())
    results = pd.concat([first, measured], ignore_index=True)
    again = propose(list(y.index), results, feats, acquisition="portfolio", batch_size=40,
                    essential=planted)  # fmt: skip
    why = again.loc[arm_of(again) == "essential", "reason"]
    n = len(ess_picks)
    assert why.str.contains(rf"\({n}/{n} of its picks").all()  # every essential pick paid
    assert len(why) > n  # and the prior list gets more of the next batch
    blind = propose(list(y.index), results.drop(columns="reason"), feats,
                    acquisition="portfolio", batch_size=40, essential=planted)  # fmt: skip
    assert blind["reason"].str.contains(r"\(0/0 of its picks").all()
    with pytest.raises(ValueError, match=r"Arm\(s\) \['nope'\] are not arms of this portfolio"):
        Portfolio().credit({"G1": "nope"})


def test_when_every_arm_runs_dry_the_rest_is_random_and_credits_no_arm():
    feats, y = noise_screen(n=300)
    few = ["G1", "G2", "G3"]  # the only arm that can act has three genes to offer
    pf = Portfolio(arms=("essential", "kg-exploit"))  # no graph: kg-exploit sits out
    res = ActiveLoop("bayesian-ridge", feats, ReplayOracle(y), pf, batch_size=10, cycles=2,
                     essential=few, seed=2).run()  # fmt: skip
    first = res.picks[res.picks["cycle"] == 1]
    ess_first = set(few) - set(res.picks.loc[res.picks["cycle"] == 0, "gene"])
    assert set(first.loc[arm_of(first) == "essential", "gene"]) == ess_first
    assert pf.allocations[0] == {"essential": len(ess_first), "kg-exploit": 0,
                                 "exhausted": 10 - len(ess_first)}  # fmt: skip
    assert (first["reason"] == "random (arms exhausted)").sum() == 10 - len(ess_first)
    assert pf.allocations[1]["exhausted"] == 10  # no essential gene left
    assert sum(n for _, n in pf.record().values()) == len(ess_first)
