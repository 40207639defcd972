"""The benchmark tasks on the real data: splits as BENCHMARKS.md fixes them, and the baseline
numbers an independent implementation of BENCHMARKS.md obtained (cross-checks)."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.evaluate import TASKS, get_tasks, run_task
from phenocast.evaluate._runner import NOISE_CEILING, expand_models
from tests.conftest import run_or_skip

pytestmark = pytest.mark.realdata


def _run(task: str, models: str):
    return run_or_skip(run_task, TASKS[task], expand_models(models))


def test_norman_combos_additive_matches_the_cross_check():
    res = _run("norman-combos", "no-change,additive")
    add = res.models["additive"]
    assert res.n_conditions == 5
    assert sorted(add.values["pearson_delta"]["doubles"]) == [
        "KLF1+MAP2K6", "KLF1+TGFBR2", "MAP2K3+MAP2K6", "MAP2K3+SLC38A2", "MAPK1+TGFBR2",
    ]  # fmt: skip
    assert add.mean("pearson_delta") == pytest.approx(0.870, abs=5e-4)
    assert add.mean("mse_top20_deg") == pytest.approx(0.0067, abs=5e-5)
    assert add.mean("l2") == pytest.approx(0.446, abs=5e-4)
    # no-change has a constant Δ: its Pearson is undefined, its error larger
    assert np.isnan(res.models["no-change"].mean("pearson_delta"))
    assert res.models["no-change"].mean("l2") > add.mean("l2")
    assert res.models[NOISE_CEILING].mean("pearson_delta") > 0.8


def test_kang_mean_shift_matches_the_cross_check():
    res = _run("kang-ood-celltype", "mean-shift")
    assert len(res.folds) == 6
    assert res.models["mean-shift"].mean("pearson_delta") == pytest.approx(0.773, abs=5e-4)


def test_drug_synergy_entity_additive_matches_the_cross_check():
    res = _run("drug-synergy", "entity-additive")
    assert res.folds == [f"fold-{i}" for i in range(5)]
    assert res.models["entity-additive"].mean("pearson") == pytest.approx(0.451, abs=5e-4)
    assert res.models[NOISE_CEILING].status == "n/a"


@pytest.mark.parametrize("task", ["l1000-dose-a", "cellpainting-dose-a"])
def test_split_a_holds_out_one_interior_dose_per_compound(task):
    fold = run_or_skip(TASKS[task].build, None)[0]
    cond = fold.groups[0].conditions
    n_compounds = 53 if task.startswith("l1000") else 55
    assert len(cond) == n_compounds
    assert cond["perturbation"].is_unique
    assert set(cond["dose_task"]) <= {0.12, 0.37, 1.11, 3.33}
    # the held-out dose is absent from training, the other five are present
    train = fold.train.obs
    for _, row in cond.head(5).iterrows():
        doses = set(train.loc[train["perturbation"] == row["perturbation"], "dose_task"])
        assert row["dose_task"] not in doses and len(doses) == 5


def test_split_b_holds_out_every_top_dose():
    fold = run_or_skip(TASKS["l1000-dose-b"].build, None)[0]
    cond = fold.groups[0].conditions
    assert len(cond) == 53 and set(cond["dose_task"]) == {10.0}
    assert 10.0 not in set(fold.train.obs["dose_task"])
    assert "trt_poscon" not in set(fold.train.obs["pert_type"].astype(str))


def test_task_selection():
    assert [t.name for t in get_tasks("l1000-dose")] == ["l1000-dose-a", "l1000-dose-b"]
    assert len(get_tasks("all")) == len(TASKS)
    with pytest.raises(KeyError, match="Unknown task 'kang'"):
        get_tasks("kang")
