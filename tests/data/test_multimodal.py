"""Tests of MultiModalData: alignment on ids, partial overlap, encodings, splits, MuData."""

from __future__ import annotations

import anndata as ad
import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from phenocast.data import Condition, DatasetNotFoundError, RegistrationError
from phenocast.multimodal import DATASETS, MultiModalData, MultiModalDataError, load
from tests.conftest import run_or_skip


def _adata(
    ids: list[str],
    perts: list[str],
    doses: list[object] | None = None,
    *,
    d: int = 3,
    prefix: str = "f",
    seed: int = 0,
) -> ad.AnnData:
    obs = pd.DataFrame({"perturbation": perts}, index=pd.Index(ids))
    if doses is not None:
        obs["dose"] = doses
    x = np.random.default_rng(seed).normal(size=(len(ids), d)).astype(np.float32)
    return ad.AnnData(x, obs=obs, var=pd.DataFrame(index=[f"{prefix}{j}" for j in range(d)]))


@pytest.fixture
def partial() -> MultiModalData:
    # rna: s0-s3; morphology: s2-s5 (s4, s5 morphology only); s1 "B+A" is the pair A+B
    rna = _adata(["s0", "s1", "s2", "s3"], ["A", "B+A", "B", "ctrl"], [1, "2+0.5", 1, np.nan])
    morph = _adata(
        ["s5", "s2", "s3", "s4"], ["C", "B", "ctrl", "A+C"], [3, 1, np.nan, "1+1"], d=2, prefix="m"
    )
    return MultiModalData.from_anndatas({"rna": rna, "morphology": morph}, control="ctrl")


def test_alignment_on_the_union_of_ids_in_first_seen_order(partial: MultiModalData) -> None:
    assert list(partial.ids) == ["s0", "s1", "s2", "s3", "s5", "s4"]
    assert partial.modalities == ("rna", "morphology")
    assert (partial.n_features("rna"), partial.n_features("morphology")) == (3, 2)
    assert list(partial.feature_names("morphology")) == ["m0", "m1"]
    obs = partial.observed
    assert obs["rna"].tolist() == [True, True, True, True, False, False]
    assert obs["morphology"].tolist() == [False, False, True, True, True, True]
    assert partial.overlap().to_numpy().tolist() == [[4, 2], [2, 4]]
    assert len(partial) == 6


def test_matrix_puts_rows_under_their_ids_and_nan_where_unobserved() -> None:
    rna = _adata(["a", "b"], ["A", "B"], d=2)
    morph = _adata(["b", "c"], ["B", "C"], d=3, prefix="m", seed=1)
    mm = MultiModalData.from_anndatas({"rna": rna, "morph": morph}, dose=None)
    m = mm.matrix("morph")
    assert m.dtype == np.float32 and m.shape == (3, 3)
    assert np.isnan(m[0]).all()
    np.testing.assert_array_equal(m[1], morph.X[0])
    np.testing.assert_array_equal(m[2], morph.X[1])
    np.testing.assert_array_equal(mm.mask("morph"), [False, True, True])
    np.testing.assert_array_equal(mm.matrix("rna")[:2], rna.X)


def test_conditions_are_parsed_canonically_and_encoded(partial: MultiModalData) -> None:
    conds = partial.conditions
    assert conds["s1"] == Condition(("A", "B"), (0.5, 2.0))
    assert conds["s1"].key == "A+B@0.5+2"
    assert conds["s3"].is_control
    assert partial.components == ("A", "B", "C")
    codes, doses = partial.encode_perturbations()
    assert codes.shape == doses.shape == (6, 2)
    ids = list(partial.ids)
    np.testing.assert_array_equal(codes[ids.index("s1")], [0, 1])
    np.testing.assert_array_equal(doses[ids.index("s1")], [0.5, 2.0])
    np.testing.assert_array_equal(codes[ids.index("s0")], [0, -1])
    np.testing.assert_array_equal(codes[ids.index("s3")], [-1, -1])
    np.testing.assert_array_equal(doses[ids.index("s5")], [3.0, 0.0])
    assert partial.encode_perturbations(max_components=3)[0].shape == (6, 3)
    with pytest.raises(ValueError, match="max_components=1 but some ids combine 2"):
        partial.encode_perturbations(max_components=1)


def test_id_key_sparse_x_and_dose_none() -> None:
    a = _adata(["r0", "r1"], ["A", "B"])
    a.obs["well"] = ["w1", "w2"]
    a.X = sp.csr_matrix(a.X)
    b = _adata(["x", "y"], ["B", "C"], prefix="m")
    b.obs["well"] = ["w2", "w3"]
    mm = MultiModalData.from_anndatas({"a": a, "b": b}, dose=None, id_key="well")
    assert list(mm.ids) == ["w1", "w2", "w3"]
    np.testing.assert_array_equal(mm.matrix("a")[:2], a.X.toarray())
    assert mm.conditions["w3"].doses == (1.0,)


# ------------------------------------------------------------------------- bad inputs
def _pair(**changes: ad.AnnData) -> dict[str, ad.AnnData]:
    mods = {"rna": _adata(["s0", "s1"], ["A", "B"], [1, 1]), "morph": _adata(["s1"], ["B"], [1])}
    mods.update(changes)
    return mods


def test_error_duplicated_ids_names_modality_and_id() -> None:
    with pytest.warns(UserWarning, match="not unique"):  # anndata's own warning
        bad = _adata(["s0", "s0"], ["A", "A"], [1, 1])
    with pytest.raises(MultiModalDataError, match=r"Modality 'morph' has 1 duplicated.*'s0'"):
        MultiModalData.from_anndatas(_pair(morph=bad))


def test_error_empty_modality() -> None:
    with pytest.raises(MultiModalDataError, match=r"'morph' has shape \(0, 3\)"):
        MultiModalData.from_anndatas(_pair(morph=_adata([], [], [])))
    no_features = _adata(["s1"], ["B"], [1])[:, []].copy()
    with pytest.raises(MultiModalDataError, match=r"'morph' has shape \(1, 0\)"):
        MultiModalData.from_anndatas(_pair(morph=no_features))
    with pytest.raises(MultiModalDataError, match="non-empty mapping"):
        MultiModalData.from_anndatas({})


def test_error_non_finite_values_counted() -> None:
    bad = _adata(["s0", "s1", "s2"], ["A", "B", "C"], [1, 1, 1])
    bad.X[0, 0], bad.X[2, 1], bad.X[2, 2] = np.nan, np.inf, np.nan
    with pytest.raises(
        MultiModalDataError,
        match=r"'rna' has 3 non-finite value\(s\).*in 2 row\(s\), first in row 's0'",
    ):
        MultiModalData.from_anndatas(_pair(rna=bad))


def test_error_conflicting_labels_names_id_and_both_values() -> None:
    bad = _adata(["s1"], ["C"], [1])
    with pytest.raises(
        MultiModalDataError,
        match=r"'s1' is labelled 'B@1' in modality 'rna' but 'C@1' in modality 'morph'",
    ):
        MultiModalData.from_anndatas(_pair(morph=bad))
    other_dose = _adata(["s1"], ["B"], [2])
    with pytest.raises(MultiModalDataError, match=r"'B@1'.*'B@2'"):
        MultiModalData.from_anndatas(_pair(morph=other_dose))


def test_error_missing_columns_list_the_available_ones() -> None:
    with pytest.raises(
        MultiModalDataError,
        match=r"'rna' has no perturbation column 'treatment'.*Available columns: 'perturbation'",
    ):
        MultiModalData.from_anndatas(_pair(), perturbation="treatment")
    with pytest.raises(MultiModalDataError, match=r"no dose column 'conc'.*dose=None"):
        MultiModalData.from_anndatas(_pair(), dose="conc")
    with pytest.raises(MultiModalDataError, match=r"no obs column 'well' \(id_key\)"):
        MultiModalData.from_anndatas(_pair(), id_key="well")


def test_error_bad_names_types_and_values() -> None:
    with pytest.raises(TypeError, match=r"Modality names must be str; got 3 \(int\)"):
        MultiModalData.from_anndatas({3: _adata(["s0"], ["A"], [1])})  # type: ignore[dict-item]
    with pytest.raises(TypeError, match="'rna' is a ndarray, not an AnnData"):
        MultiModalData.from_anndatas({"rna": np.zeros((2, 2))})  # type: ignore[dict-item]
    text = ad.AnnData(
        np.array([["a"], ["b"]], dtype=object),
        obs=pd.DataFrame({"perturbation": ["A", "B"], "dose": [1, 1]}, index=["s0", "s1"]),
    )
    with pytest.raises(MultiModalDataError, match=r"'rna' has non-numeric X \(dtype object\)"):
        MultiModalData.from_anndatas(_pair(rna=text))
    dup_var = _adata(["s1"], ["B"], [1], d=2)
    dup_var.var_names = ["g", "g"]
    with pytest.raises(MultiModalDataError, match="duplicated feature name"):
        MultiModalData.from_anndatas(_pair(morph=dup_var))


def test_error_bad_label_is_a_registration_error_naming_the_id() -> None:
    bad = _adata(["s0", "s1"], ["A", "A+"], [1, 1])
    with pytest.raises(RegistrationError, match=r"Modality 'rna', id 's1'.*empty perturbation"):
        MultiModalData.from_anndatas(_pair(rna=bad))


def test_unknown_modality_name(partial: MultiModalData) -> None:
    with pytest.raises(KeyError, match=r"No modality 'protein'.*\['rna', 'morphology'\]"):
        partial.matrix("protein")


# ------------------------------------------------------------------------- subsets and splits
def test_subset_keeps_order_and_allows_an_empty_modality(partial: MultiModalData) -> None:
    sub = partial.subset(["s4", "s2"])
    assert list(sub.ids) == ["s4", "s2"]
    np.testing.assert_array_equal(sub.matrix("morphology"), partial.matrix("morphology")[[5, 2]])
    np.testing.assert_array_equal(sub.mask("rna"), [False, True])
    only_rna = partial.subset(["s0"])
    assert not only_rna.mask("morphology").any() and only_rna.matrix("morphology").shape == (1, 2)
    assert only_rna.components == ("A",)
    with pytest.raises(KeyError, match=r"1 id\(s\) not in the data: 'zz'"):
        partial.subset(["s0", "zz"])
    with pytest.raises(ValueError, match="duplicated ids 's0'"):
        partial.subset(["s0", "s0"])


def _conditions_data(n_rep: int = 2) -> MultiModalData:
    comps = ["A", "B", "C", "D", "E", "F"]
    conds = [*comps, "A+B", "C+D", "E+F", "A+C"]
    perts = [c for c in conds for _ in range(n_rep)]
    ids = [f"s{i:02d}" for i in range(len(perts))]
    rna = _adata(ids, perts, None)
    keep = [i for i in range(len(ids)) if i % 3]
    morph = _adata([ids[i] for i in keep], [perts[i] for i in keep], None, prefix="m")
    return MultiModalData.from_anndatas({"rna": rna, "morph": morph}, dose=None)


def test_folds_by_id_partition_and_stratify_by_observed_pattern() -> None:
    mm = _conditions_data()
    folds = mm.folds(4, seed=0)
    tests = [set(f.test) for f in folds]
    assert sum(len(t) for t in tests) == len(mm) and set().union(*tests) == set(mm.ids)
    for f in folds:
        assert not set(f.train) & set(f.test) and len(f.train) + len(f.test) == len(mm)
    both = set(mm.ids[mm.mask("morph")])
    counts = [len(t & both) for t in tests]
    assert max(counts) - min(counts) <= 1
    assert [f.test for f in mm.folds(4, seed=0)] == [f.test for f in folds]
    assert [f.test for f in mm.folds(4, seed=1)] != [f.test for f in folds]


def test_folds_by_condition_keep_replicates_together() -> None:
    mm = _conditions_data(n_rep=3)
    keys = mm.conditions.map(lambda c: c.key)
    for f in mm.folds(3, seed=0, by="condition"):
        assert not set(keys[list(f.train)]) & set(keys[list(f.test)])


def test_folds_by_component_hold_out_every_id_touching_a_component() -> None:
    mm = _conditions_data()
    conds = mm.conditions
    held_out: set[str] = set()
    for f in mm.folds(3, seed=0, by="component"):
        test_comps = {c for i in f.test for c in conds[i].components}
        train_comps = {c for i in f.train for c in conds[i].components}
        singles = {conds[i].components[0] for i in f.test if len(conds[i].components) == 1}
        assert not singles & train_comps
        assert len(f.train) + len(f.test) == len(mm)
        held_out |= test_comps
    assert held_out == set(mm.components)
    with pytest.raises(ValueError, match="6 component"):
        mm.folds(7, seed=0, by="component")
    with pytest.raises(ValueError, match="by must be"):
        mm.folds(3, seed=0, by="well")  # type: ignore[arg-type]


def test_leave_one_pair_out() -> None:
    mm = _conditions_data()
    splits = mm.leave_one_pair_out()
    assert [s.name for s in splits] == ["A+B", "A+C", "C+D", "E+F"]
    conds = mm.conditions
    ab = splits[0]
    assert {conds[i].key for i in ab.test} == {"A+B@1+1"} and len(ab.test) == 2
    train_keys = {conds[i].key for i in ab.train}
    assert {"A@1", "B@1", "A+C@1+1"} <= train_keys and "A+B@1+1" not in train_keys
    with pytest.raises(ValueError, match="no id has a two-component condition"):
        mm.subset(mm.ids[:4]).leave_one_pair_out()


# ------------------------------------------------------------------------- MuData
def test_mudata_round_trip(partial: MultiModalData) -> None:
    mdata = partial.to_mudata()
    assert set(mdata.mod) == {"rna", "morphology"}
    assert mdata.obs.loc["s1", "condition"] == "A+B@0.5+2"
    assert mdata.obs.loc["s3", "perturbation"] == "ctrl"
    back = MultiModalData.from_mudata(mdata, control="ctrl")
    assert set(back.ids) == set(partial.ids)
    sub = back.subset(partial.ids)
    for name in partial.modalities:
        np.testing.assert_array_equal(sub.matrix(name), partial.matrix(name))
    assert sub.conditions.tolist() == partial.conditions.tolist()


def test_mudata_prefixes_clashing_feature_names_and_reads_them_back() -> None:
    a = _adata(["s0", "s1"], ["A", "B"], [1, 1], d=2, prefix="g")
    b = _adata(["s1"], ["B"], [1], d=2, prefix="g")
    mm = MultiModalData.from_anndatas({"a": a, "b": b})
    mdata = mm.to_mudata()
    assert list(mdata.mod["b"].var_names) == ["b:g0", "b:g1"]
    back = MultiModalData.from_mudata(mdata)
    assert list(back.feature_names("b")) == ["g0", "g1"]


def test_from_mudata_reads_labels_from_global_obs() -> None:
    import mudata

    mm = MultiModalData.from_anndatas(
        {"a": _adata(["s0"], ["A"], [2]), "b": _adata(["s0"], ["A"], [2], prefix="m")}
    )
    mdata = mm.to_mudata()
    for mod in mdata.mod.values():
        del mod.obs["perturbation"], mod.obs["dose"]
    assert isinstance(mdata, mudata.MuData)
    back = MultiModalData.from_mudata(mdata)
    assert back.conditions["s0"].key == "A@2"


# ------------------------------------------------------------------------- real data
@pytest.mark.realdata
def test_load_cmea_cdrp_u2os_all_ids_in_both_readouts() -> None:
    mm = run_or_skip(load, "cmea_cdrp_u2os")
    assert mm.modalities == ("l1000", "cellpainting")
    assert len(mm) == 163 and mm.observed.all().all()
    assert (mm.n_features("l1000"), mm.n_features("cellpainting")) == (978, 812)
    assert len(mm.components) == 163
    assert np.isfinite(mm.matrix("cellpainting")).all()


@pytest.mark.realdata
def test_load_cellbox_korkut2015_singles_and_pairs() -> None:
    mm = run_or_skip(load, "cellbox_korkut2015")
    assert len(mm) == 89 and mm.modalities == ("proteins", "phenotypes")
    assert len(mm.components) == 12
    sizes = mm.conditions.map(lambda c: len(c.components)).value_counts().to_dict()
    assert sizes == {1: 23, 2: 66}
    splits = mm.leave_one_pair_out()
    assert len(splits) == 66 and all(len(s.test) == 1 for s in splits)
    codes, doses = mm.encode_perturbations()
    assert codes.shape == (89, 2) and (doses[codes >= 0] > 0).all()


def test_load_unknown_name_and_missing_dir(tmp_path) -> None:
    with pytest.raises(KeyError, match="No multimodal dataset 'norman'"):
        load("norman")
    assert set(DATASETS) == {"cmea_cdrp_u2os", "cellbox_korkut2015"}
    with pytest.raises(DatasetNotFoundError):
        load("cellbox_korkut2015", data_dir=tmp_path)
