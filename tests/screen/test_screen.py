"""In-silico screens: the enumeration covers every condition once, the vectorised predictions
equal the model's own predict_mean, the top k is the top of the full ranking, and bad requests
fail with messages that name the problem."""

from __future__ import annotations

import itertools

import numpy as np
import pandas as pd
import pytest

from phenocast import screen
from phenocast.data import register, synthetic
from phenocast.models import Compositional, create_model
from phenocast.models.compositional import CompositionalConfig
from phenocast.screen import ConditionSpace, ScreenError

FAST = {"max_epochs": 8, "batch_size": 128, "progress": False, "seed": 0}


def config(**kw) -> CompositionalConfig:
    train = {**FAST, **kw.pop("train", {})}
    return CompositionalConfig.from_dict({"latent_dim": 8, "hidden": [32], **kw, "train": train})


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=40, n_cell_types=2, n_perturbations=4, combinations={"P0+P1": "synergistic"},
        doses=(0.1, 1.0, 10.0), cells_per_condition=20, seed=3,
    )  # fmt: skip
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose",
        covariates=["cell_type"],
    )  # fmt: skip
    return adata, reg


@pytest.fixture(scope="module")
def model(data):
    adata, reg = data
    return Compositional(reg, config()).fit(adata)


def controls(adata):
    return adata[adata.obs["is_control"].to_numpy()].copy()


# ------------------------------------------------------------------ the condition space
@pytest.mark.parametrize("size", [1, 7, 1000])
def test_space_enumerates_every_condition_once(size):
    doses = ((0.1, 1.0), (1.0,), (0.5, 1.0, 2.0), (3.0, 4.0))
    space = ConditionSpace(("A", "B", "C", "D"), doses, n_contexts=2, max_order=3)
    seen = []
    for chunk in space.chunks(size):
        assert 1 <= len(chunk) <= size
        for m, di, d, ctx in zip(
            chunk.members, chunk.dose_index, chunk.doses, [chunk.context] * len(chunk), strict=True
        ):
            used = m >= 0
            assert np.allclose(
                d[used], [doses[i][j] for i, j in zip(m[used], di[used], strict=True)]
            )
            seen.append((ctx, *space.describe(m, di)))
        assert chunk.ids.dtype == np.int64
    expected = {
        (ctx, "+".join("ABCD"[i] for i in combo), "+".join(f"{x:g}" for x in ds))
        for ctx in range(2)
        for k in (1, 2, 3)
        for combo in itertools.combinations(range(4), k)
        for ds in itertools.product(*(doses[i] for i in combo))
    }
    assert len(seen) == len(set(seen)) == len(expected) == len(space)
    assert set(seen) == expected
    ids = np.concatenate([c.ids for c in space.chunks(size)])
    np.testing.assert_array_equal(ids, np.arange(len(space)))


def test_space_counts_without_enumerating():
    space = ConditionSpace(tuple(f"D{i}" for i in range(58)), ((1.0,) * 1,) * 58, max_order=2)
    assert len(space) == 58 + 58 * 57 // 2
    six = tuple(float(d) for d in range(1, 7))
    space = ConditionSpace(tuple(f"D{i}" for i in range(58)), (six,) * 58, min_order=2)
    assert len(space) == 58 * 57 // 2 * 36
    with pytest.raises(ValueError, match="max_order=3 needs at least that many"):
        ConditionSpace(("A", "B"), ((1.0,), (1.0,)), max_order=3)


# ------------------------------------------------------------------ predictions
def test_screen_matches_predict_mean_and_the_per_cell_path(data, model):
    adata, _ = data
    ctrl = controls(adata)
    fast = screen.run(model, controls=ctrl, n_cells=15, top_k=10_000, seed=1)
    slow = screen.run(model, controls=ctrl, n_cells=15, top_k=10_000, seed=1, mode="per-cell")
    assert fast.path == "mean-of-cells" and slow.path == "per-cell"
    assert fast.n_conditions == fast.n_scored == len(fast.hits) == 2 * (4 * 3 + 6 * 9)
    key = ["perturbation", "dose", "cell_type"]
    merged = fast.hits.merge(slow.hits, on=key, suffixes=("", "_slow"))
    assert len(merged) == len(fast.hits)
    np.testing.assert_allclose(merged["effect"], merged["effect_slow"], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(
        merged["non_additivity"], merged["non_additivity_slow"], rtol=1e-4, atol=1e-5
    )
    # the same cells through the model's own API
    for _, hit in fast.hits.head(4).iterrows():
        rows = np.flatnonzero(ctrl.obs["cell_type"].astype(str).to_numpy() == hit["cell_type"])
        cells = ctrl[np.sort(np.random.default_rng(1).choice(rows, 15, replace=False))]
        cond = pd.DataFrame([hit[key].to_dict()])
        base = pd.DataFrame({"perturbation": ["control"], "cell_type": [hit["cell_type"]]})
        pred = model.predict_mean(cells, cond)[0]
        none = model.predict_mean(cells, base.assign(dose="1"))[0]
        assert np.linalg.norm(pred - none) == pytest.approx(hit["effect"], rel=1e-4)
    # singles have no non-additivity; a pair's is |Δ_AB − Δ_A − Δ_B|
    assert fast.hits.loc[fast.hits["order"] == 1, "non_additivity"].isna().all()


def test_top_k_is_the_top_of_the_full_ranking(data, model):
    full = screen.run(model, top_k=10_000, chunk_size=5)
    top = screen.run(model, top_k=7, chunk_size=5)
    cols = ["perturbation", "dose", "cell_type", "score"]
    pd.testing.assert_frame_equal(top.hits[cols], full.hits[cols].head(7))
    assert list(top.hits["rank"]) == list(range(1, 8))
    assert (np.diff(full.hits["score"]) <= 0).all()
    assert full.cells_per_context == 1  # the stored basal state, no controls given


def test_target_signature_ranks_its_own_condition_first(data, model):
    _, reg = data
    ref = screen.run(model, ["P2", "P3"], cell_types=["T0"], doses=[1.0], top_k=100)
    # the predicted change of P2+P3 at 1+1 in T0, taken from the model itself
    cond = pd.DataFrame({"perturbation": ["P2+P3", "control"], "dose": ["1+1", "1"],
                         "cell_type": ["T0", "T0"]})  # fmt: skip
    pm = model.predict_mean(None, cond)
    target = pd.Series(pm[0] - pm[1], index=reg.var_names)
    hit = screen.run(model, ["P2", "P3"], cell_types=["T0"], doses=[1.0], target=target,
                     score="target")  # fmt: skip
    assert hit.hits.iloc[0]["perturbation"] == "P2+P3"
    assert hit.hits.iloc[0]["target_similarity"] == pytest.approx(1.0, abs=1e-5)
    dist = screen.run(model, ["P2", "P3"], cell_types=["T0"], doses=[1.0], target=target,
                      score="target-distance")  # fmt: skip
    assert dist.hits.iloc[0]["target_distance"] == pytest.approx(0.0, abs=1e-4)
    # up / down gene lists: the top genes of that change
    order = np.argsort(target.to_numpy())
    genes = np.asarray(reg.var_names)
    lists = {"up": list(genes[order[-3:]]), "down": list(genes[order[:3]])}
    ud = screen.run(model, ["P2", "P3"], cell_types=["T0"], doses=[1.0], target=lists,
                    score="target")  # fmt: skip
    assert ud.hits.iloc[0]["target_similarity"] > 0.5
    assert "target_distance" not in ud.hits
    assert len(ref.hits) == 3


def test_doses_outside_the_trained_range_need_extrapolate(data, model):
    with pytest.raises(ScreenError, match=r"P0 at 100 \(trained 0.1–10\).*extrapolate=True"):
        screen.run(model, ["P0", "P1"], doses=[1.0, 100.0])
    res = screen.run(model, ["P0", "P1"], doses=[1.0, 100.0], extrapolate=True, top_k=1000)
    flagged = res.hits.set_index(["perturbation", "dose", "cell_type"])["extrapolated"]
    assert flagged.loc[("P0", "100", "T0")] and not flagged.loc[("P0", "1", "T0")]
    assert flagged.loc[("P0+P1", "1+100", "T1")]


def test_anchored_and_generic_models_screen_through_their_predictions(data):
    adata, reg = data
    anchored = Compositional(reg, config(anchor="additive", anchor_alphas=[0.0])).fit(adata)
    ctrl = controls(adata)
    res = screen.run(anchored, ["P2", "P3"], doses=[1.0], controls=ctrl, n_cells=1000,
                     cell_types=["T1"], top_k=10)  # fmt: skip
    base = create_model("additive", reg).fit(adata)
    cells = ctrl[ctrl.obs["cell_type"].astype(str).to_numpy() == "T1"]
    row = res.hits.set_index("perturbation").loc["P2+P3"]
    cond = pd.DataFrame({"perturbation": ["P2+P3"], "dose": ["1+1"], "cell_type": ["T1"]})
    want = base.predict_mean(cells, cond)[0] - np.asarray(reg.matrix(cells).mean(0)).ravel()
    assert row["effect"] == pytest.approx(np.linalg.norm(want), rel=1e-4)
    # a baseline behind the protocol: additive cannot answer the unmeasured double P1+P2 … only
    # combinations of measured singles, so every condition here is answered
    generic = screen.run(base, ["P2", "P3"], doses=[1.0], controls=ctrl, cell_types=["T1"])
    assert generic.path == "generic" and generic.n_unanswered == 0
    assert generic.hits.set_index("perturbation").loc["P2+P3", "effect"] == pytest.approx(
        np.linalg.norm(want), rel=1e-6
    )


def test_hits_are_written_atomically(tmp_path, model):
    res = screen.run(model, ["P0", "P1"], top_k=5)
    out = res.to_csv(tmp_path / "hits.csv")
    back = pd.read_csv(out)
    assert list(back["perturbation"]) == list(res.hits["perturbation"])
    assert [p.name for p in tmp_path.iterdir()] == ["hits.csv"]
    assert "conditions scored by 'effect'" in res.summary()


# ------------------------------------------------------------------ bad input
@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"perturbations": ["P0", "P9"]}, r"Unknown perturbation\(s\) \['P9'\].*P0"),
        ({"perturbations": ["P0", "P0"]}, r"lists \['P0'\] more than once"),
        ({"perturbations": "P0"}, "list of names, not one string"),
        ({"cell_types": ["T7"]}, r"Unknown value\(s\) \['T7'\] of covariate 'cell_type'.*T0"),
        ({"covariates": {"batch": ["a"]}}, r"Unknown covariate\(s\) \['batch'\]"),
        ({"score": "potency"}, "Unknown score 'potency'"),
        ({"score": "target"}, "needs a target signature"),
        ({"max_order": 1, "score": "non-additivity"}, "needs combinations"),
        ({"doses": [0.0, 1.0]}, "Doses must be positive"),
        ({"target": {"up": ["NOPE"]}}, r"'up' genes not in the model: \['NOPE'\]"),
        ({"target": np.ones(3)}, "vector of 40 values"),
        ({"top_k": 0}, "top_k must be >= 1"),
        ({"max_order": 5}, "max_order=5 needs at least that many"),
    ],
)
def test_bad_requests_are_named(model, kwargs, message):
    with pytest.raises((ScreenError, ValueError), match=message):
        screen.run(model, **kwargs)


def test_controls_without_the_context_are_refused(data, model):
    adata, _ = data
    ctrl = controls(adata)
    only_t0 = ctrl[ctrl.obs["cell_type"].astype(str).to_numpy() == "T0"]
    with pytest.raises(ScreenError, match=r"no cell of context \{'cell_type': 'T1'\}"):
        screen.run(model, controls=only_t0)


def test_a_model_without_doses_screens_combinations():
    adata = synthetic(
        n_genes=30, n_cell_types=1, n_perturbations=5, combinations=0, doses=None,
        cells_per_condition=15, seed=0,
    )  # fmt: skip
    reg = register(adata, perturbation="perturbation", control="control", covariates=["cell_type"])
    model = Compositional(reg, config(train={"max_epochs": 3})).fit(adata)
    res = screen.run(model, max_order=3, min_order=2, top_k=1000)
    assert res.n_conditions == 10 + 10 and "dose" not in res.hits
    assert not res.hits["extrapolated"].any()
    assert set(res.hits["order"]) == {2, 3}
    with pytest.raises(ScreenError, match="registered without a dose column"):
        screen.run(model, doses=[1.0])


def test_a_screen_too_large_or_with_impossible_orders_is_refused_before_work(model):
    too_many = r"has 132 conditions \(4 perturbations.* max_conditions=10; .*under a minute"
    with pytest.raises(ScreenError, match=too_many):
        screen.run(model, max_order=2, max_conditions=10)
    with pytest.raises(ScreenError, match=r"max_order \(--order\) must be an integer >= 1, got 0"):
        screen.run(model, max_order=0)
    with pytest.raises(ScreenError, match=r"min_order \(3\) is larger than max_order \(2\)"):
        screen.run(model, max_order=2, min_order=3)
    with pytest.raises(
        ScreenError, match=r"max_order=9 needs at least that many perturbations; 4 given"
    ):
        screen.run(model, max_order=9)


def test_progress_is_plain_lines_when_not_on_a_terminal(model, capsys):
    screen.run(model, max_order=2, progress=True, chunk_size=8)
    err = capsys.readouterr().err
    assert "screening: 100%" in err and "conditions" in err


def test_a_baseline_screened_without_controls_uses_the_registry_control_label():
    adata = synthetic(n_genes=10, n_cell_types=1, n_perturbations=2, doses=(0.1, 1.0), seed=4)
    perts = adata.obs["perturbation"].astype(str).replace({"control": "DMSO"})
    adata.obs["perturbation"] = perts.to_numpy()
    reg = register(adata, perturbation="perturbation", control="DMSO", dose="dose")
    base = create_model("mean-shift", reg).fit(adata)
    res = screen.run(base, ["P0", "P1"], doses=[1.0], top_k=10)
    assert res.path == "generic" and res.n_unanswered == 0
    ctrl = base.predict_mean(None, pd.DataFrame({"perturbation": ["DMSO"], "dose": [()]}))[0]
    one = base.predict_mean(None, pd.DataFrame({"perturbation": ["P0"], "dose": [(1.0,)]}))[0]
    got = res.hits.set_index("perturbation").loc["P0", "effect"]
    assert got == pytest.approx(np.linalg.norm(one - ctrl), rel=1e-6)
