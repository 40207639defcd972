"""Sharded screens: the shards partition the condition space, their merge is exactly the
single-process top k (rows, order, scores, ties), and shards that do not make up one screen
are refused with messages that name what is wrong."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from phenocast import screen
from phenocast.data import register, synthetic
from phenocast.models import Compositional
from phenocast.models.compositional import CompositionalConfig
from phenocast.screen import ConditionSpace, ScreenError, ScreenResult


def fit(adata, reg, seed: int) -> Compositional:
    cfg = CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [32],
         "train": {"max_epochs": 4, "batch_size": 128, "progress": False, "seed": seed}}
    )  # fmt: skip
    return Compositional(reg, cfg).fit(adata)


@pytest.fixture(scope="module")
def data():
    adata = synthetic(
        n_genes=30, n_cell_types=2, n_perturbations=4, combinations={"P0+P1": "synergistic"},
        doses=(0.1, 1.0, 10.0), cells_per_condition=15, seed=5,
    )  # fmt: skip
    reg = register(
        adata, perturbation="perturbation", control="control", dose="dose",
        covariates=["cell_type"],
    )  # fmt: skip
    return adata, reg


@pytest.fixture(scope="module")
def model(data):
    return fit(*data, seed=0)


@pytest.fixture(scope="module")
def ctrl(data):
    adata, _ = data
    return adata[adata.obs["is_control"].to_numpy()].copy()


def rounded(delta, metrics):
    """Effect to one decimal: many exact ties."""
    return np.round(metrics["effect"], 1)


def constant(delta, metrics):
    """Every condition ties: the order is the enumeration's alone."""
    return np.ones(delta.shape[0])


# ------------------------------------------------------------------ the blocks
def test_a_range_of_blocks_is_that_range_of_the_full_enumeration():
    doses = ((0.1, 1.0), (1.0,), (0.5, 1.0, 2.0), (3.0, 4.0))
    space = ConditionSpace(("A", "B", "C", "D"), doses, n_contexts=2, max_order=3)
    for size in (1, 4, 9, 1000):
        full = list(space.chunks(size))
        assert space.n_chunks(size) == len(full)
        for start, stop in [(0, 1), (1, 3), (2, len(full)), (len(full) - 1, len(full) + 5),
                            (3, 3)]:  # fmt: skip
            part = list(space.chunks(size, start=start, stop=stop))
            want = full[start:stop]
            assert [c.context for c in part] == [c.context for c in want]
            for got, ref in zip(part, want, strict=True):
                np.testing.assert_array_equal(got.ids, ref.ids)
                np.testing.assert_array_equal(got.members, ref.members)
                np.testing.assert_array_equal(got.dose_index, ref.dose_index)
            assert space.chunk_conditions(size, start, stop) == sum(len(c) for c in want)
    assert space.chunk_conditions(7) == len(space)


# ------------------------------------------------------------------ merge == whole
@pytest.mark.parametrize(
    ("score", "chunk_size", "n_shards", "top_k"),
    [
        ("effect", 5, 3, 25),
        ("non-additivity", 5, 3, 25),
        (rounded, 5, 3, 40),
        (constant, 7, 3, 30),  # the top 30 straddle shard 0 and shard 1
        ("effect", 4096, 5, 25),  # 4 blocks for 5 shards: one shard is empty
        ("effect", 11, 3, 10_000),  # every condition kept
    ],
)
def test_merged_shards_are_the_single_process_screen(model, ctrl, score, chunk_size, n_shards,
                                                     top_k):  # fmt: skip
    kw = {"controls": ctrl, "n_cells": 6, "seed": 2, "score": score, "chunk_size": chunk_size,
          "top_k": top_k}  # fmt: skip
    whole = screen.run(model, **kw)
    shards = [screen.run(model, shard=(i, n_shards), **kw) for i in range(n_shards)]
    merged = screen.merge(shards[::-1])  # any order
    pd.testing.assert_frame_equal(merged.hits, whole.hits, check_exact=True)
    np.testing.assert_array_equal(merged.condition_ids, whole.condition_ids)
    assert merged.fingerprint == whole.fingerprint and merged.settings == whole.settings
    assert merged.shard is None and merged.shards_merged == n_shards
    assert [s.shard for s in shards] == [(i, n_shards) for i in range(n_shards)]
    # the shards' counts add up to the whole screen's
    assert sum(s.n_conditions for s in shards) == merged.n_conditions == whole.n_conditions
    assert sum(s.n_scored for s in shards) == whole.n_scored
    if score is constant:  # a total tie: the first conditions of the enumeration
        np.testing.assert_array_equal(whole.condition_ids, np.arange(top_k))


def test_each_condition_is_scored_by_exactly_one_shard(model):
    whole = screen.run(model, top_k=10_000, chunk_size=6)
    seen: list[tuple[str, str, str]] = []
    done: list[int] = []
    for i in range(3):
        calls: list[tuple[int, int]] = []
        part = screen.run(model, top_k=10_000, chunk_size=6, shard=(i, 3),
                          progress=lambda d, t, c=calls: c.append((d, t)))  # fmt: skip
        assert len(part.hits) == part.n_conditions > 0
        assert calls[-1] == (part.n_conditions, part.n_conditions)  # progress counts the shard
        seen += list(part.hits[["perturbation", "dose", "cell_type"]].itertuples(index=False))
        done.append(part.n_conditions)
        assert f"shard {i}/3: " in part.summary()
        assert f"(of {whole.n_conditions:,} in the screen)" in part.summary()
    key = set(whole.hits[["perturbation", "dose", "cell_type"]].itertuples(index=False))
    assert len(seen) == len(set(seen)) == whole.n_conditions and set(seen) == key
    # contiguous runs of 6-condition blocks: the shards differ by at most a block or two
    assert sum(done) == whole.n_conditions and max(done) - min(done) <= 12


# ------------------------------------------------------------------ files
def test_shard_files_round_trip_exactly_and_merge(model, ctrl, tmp_path):
    kw = {"controls": ctrl, "n_cells": 4, "top_k": 20, "chunk_size": 9}
    whole = screen.run(model, **kw)
    paths = []
    for i in range(3):
        res = screen.run(model, shard=(i, 3), **kw)
        paths.append(res.write_json(tmp_path / f"shard-{i}.json"))
        back = ScreenResult.read_json(paths[-1])
        pd.testing.assert_frame_equal(back.hits, res.hits, check_exact=True)
        assert back.hits["non_additivity"].isna().any() == res.hits["non_additivity"].isna().any()
        for name in ("shard", "settings", "fingerprint", "n_conditions", "n_scored", "seconds",
                     "contexts", "path", "cells_per_context"):  # fmt: skip
            assert getattr(back, name) == getattr(res, name), name
        np.testing.assert_array_equal(back.condition_ids, res.condition_ids)
    assert sorted(p.name for p in tmp_path.iterdir()) == [f"shard-{i}.json" for i in range(3)]
    merged = screen.merge([str(paths[2]), paths[0], screen.ScreenResult.read_json(paths[1])])
    pd.testing.assert_frame_equal(merged.hits, whole.hits, check_exact=True)
    merged.to_csv(tmp_path / "merged.csv")
    whole.to_csv(tmp_path / "whole.csv")
    assert (tmp_path / "merged.csv").read_text() == (tmp_path / "whole.csv").read_text()


def test_infinite_and_missing_scores_survive_a_file(model, tmp_path):
    def extremes(delta, metrics):
        s = metrics["effect"].copy()
        s[::3], s[1::3] = np.inf, -np.inf
        return s

    res = screen.run(model, score=extremes, top_k=10_000, shard=(1, 2))
    back = ScreenResult.read_json(res.write_json(tmp_path / "x.json"))
    pd.testing.assert_frame_equal(back.hits, res.hits, check_exact=True)
    assert np.isinf(back.hits["score"]).sum() == np.isinf(res.hits["score"]).sum() > 0


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("perturbation,score\nP0,1\n", "is not a screen result written by"),
        ('{"format": "phenocast-model"}', "is not a screen result (format 'phenocast-model'"),
        ('{"format": "phenocast-screen-result", "format_version": 9}', "format version 9"),
        ('{"format": "phenocast-screen-result", "format_version": 1}', "is a corrupt screen"),
    ],
)
def test_unreadable_shard_files_are_named(tmp_path, text, message):
    bad = tmp_path / "bad.json"
    bad.write_text(text)
    with pytest.raises(ScreenError) as err:
        ScreenResult.read_json(bad)
    assert str(bad) in str(err.value) and message in str(err.value)
    with pytest.raises(ScreenError, match="does not exist"):
        screen.merge([tmp_path / "none.json"])


# ------------------------------------------------------------------ refusals
@pytest.fixture(scope="module")
def three(model):
    return [screen.run(model, top_k=10, chunk_size=8, shard=(i, 3)) for i in range(3)]


def test_missing_and_duplicate_shards_are_refused(three):
    with pytest.raises(ScreenError, match=r"shard\(s\) \[1\] of 3 are missing"):
        screen.merge([three[0], three[2]])
    with pytest.raises(ScreenError, match=r"shard\(s\) \[0, 2\] of 3 are missing"):
        screen.merge([three[1]])
    with pytest.raises(ScreenError, match=r"shard 2/3 is given 2 times \(result 1, result 3\)"):
        screen.merge([three[0], three[2], three[1], three[2]])
    with pytest.raises(ScreenError, match="got none"):
        screen.merge([])
    with pytest.raises(ScreenError, match="not one path"):
        screen.merge("shard-0.json")
    with pytest.raises(ScreenError, match="item 1 is a DataFrame"):
        screen.merge([three[0], three[1].hits])


def test_shards_of_different_screens_are_refused(data, model, three):
    adata, reg = data
    cases = [
        ({"top_k": 5}, "top_k is 10 in shard 0/3 (result 0) but 5 in shard 1/3 (result 1)"),
        ({"score": "non-additivity"}, "score is \"effect\" in shard 0/3 (result 0) but "
                                      "\"non-additivity\""),
        ({"chunk_size": 9}, "chunk_size is 8"),
        ({"perturbations": ["P0", "P1", "P2"]}, "perturbations is"),
        ({"doses": [1.0, 10.0]}, "doses is"),
        ({"cell_types": ["T0"]}, "contexts is"),
        ({"max_order": 1}, "max_order is 2 in shard 0/3 (result 0) but 1"),
    ]  # fmt: skip
    for change, message in cases:
        other = screen.run(model, **{"top_k": 10, "chunk_size": 8, **change}, shard=(1, 3))
        with pytest.raises(ScreenError, match="different screens") as err:
            screen.merge([three[0], other, three[2]])
        assert message in str(err.value), (change, str(err.value))
    # another model: same settings, other weights
    twin = fit(adata, reg, seed=1)
    other = screen.run(twin, top_k=10, chunk_size=8, shard=(1, 3))
    with pytest.raises(ScreenError, match=r"model is \"Compositional \w+\" in shard 0/3"):
        screen.merge([three[0], other, three[2]])
    # different numbers of shards
    four = screen.run(model, top_k=10, chunk_size=8, shard=(3, 4))
    with pytest.raises(ScreenError, match=r"different numbers of shards \[3, 4\]"):
        screen.merge([*three, four])


def test_a_saved_and_loaded_model_screens_the_same_screen(model, three, tmp_path):
    back = Compositional.load(model.save(tmp_path / "m"))
    again = screen.run(back, top_k=10, chunk_size=8, shard=(1, 3))
    assert again.fingerprint == three[1].fingerprint
    merged = screen.merge([three[0], again, three[2]])
    pd.testing.assert_frame_equal(merged.hits, screen.run(model, top_k=10, chunk_size=8).hits)


def test_start_cells_and_targets_are_part_of_the_screen(data, model, ctrl):
    _, reg = data
    a = screen.run(model, controls=ctrl, n_cells=4, seed=0, top_k=5, shard=(0, 2))
    b = screen.run(model, controls=ctrl, n_cells=4, seed=1, top_k=5, shard=(1, 2))
    with pytest.raises(ScreenError, match="start_cells is"):
        screen.merge([a, b])
    t1 = pd.Series(np.linspace(-1, 1, reg.n_vars), index=reg.var_names)
    a = screen.run(model, target=t1, score="target", top_k=5, shard=(0, 2))
    b = screen.run(model, target=-t1, score="target", top_k=5, shard=(1, 2))
    with pytest.raises(ScreenError, match='target is "signature'):
        screen.merge([a, b])


# ------------------------------------------------------------------ the shard spec
@pytest.mark.parametrize(
    ("shard", "message"),
    [
        ((3, 2), r"shard index must be < N: got shard 3 of 2; shards are numbered 0 … 1"),
        ((2, 2), "shard index must be < N"),
        ((0, 0), r"N \(the number of shards\) must be >= 1, got 0"),
        ((-1, 2), "shard index must be >= 0, got -1"),
        ("1/2", r"shard must be \(index, count\) with integers, 'auto' or None, got '1/2'"),
        ((1.0, 2), "with integers"),
        ((True, 2), "with integers"),
        ((0, 1, 2), "with integers"),
    ],
)
def test_bad_shards_are_named(model, shard, message):
    with pytest.raises(ScreenError, match=message):
        screen.run(model, shard=shard)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("3/2", "shard index must be < N"),
        ("a/2", "shard must be I/N with integers I and N"),
        ("1.5/2", "shard must be I/N with integers I and N"),
        ("2", "got '2'"),
        ("1/0", "must be >= 1, got 0"),
        ("-1/4", "must be >= 0"),
    ],
)
def test_parse_shard(text, message):
    with pytest.raises(ScreenError, match=message):
        screen.parse_shard(text)


def test_parse_shard_accepts_i_of_n_and_auto():
    assert screen.parse_shard("0/1") == (0, 1)
    assert screen.parse_shard(" 7/8 ") == (7, 8)
    assert screen.parse_shard("auto") == "auto"


def test_auto_shard_reads_rank_and_world_size(model, monkeypatch):
    monkeypatch.setenv("RANK", "1")
    monkeypatch.setenv("WORLD_SIZE", "3")
    res = screen.run(model, top_k=5, chunk_size=8, shard="auto")
    assert res.shard == (1, 3)
    monkeypatch.setenv("RANK", "3")
    with pytest.raises(ScreenError, match="shard index must be < N: got shard 3 of 3"):
        screen.run(model, shard="auto")
    monkeypatch.delenv("WORLD_SIZE")
    with pytest.raises(ScreenError, match=r"RANK and WORLD_SIZE.*\['WORLD_SIZE'\] is not set"):
        screen.run(model, shard="auto")


def test_a_whole_screen_merges_as_its_own_single_shard(model):
    whole = screen.run(model, top_k=5)
    assert whole.shard is None
    pd.testing.assert_frame_equal(screen.merge([whole]).hits, whole.hits)
    assert json.loads(json.dumps(whole.settings)) == whole.settings
