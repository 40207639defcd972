"""Tests of the dataset catalog and loaders.

Tests marked ``realdata`` read the real files from ``PHENOCAST_DATA_DIR``; they are skipped when
a dataset is missing, unless ``CI=true`` (then they fail with the loader's message).
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from typing import Any

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

import phenocast.data
import phenocast.data as pcdata
from phenocast.data import _datasets as D
from phenocast.data import _loaders as L
from phenocast.data import _priors as P
from phenocast.data._datasets import (
    DATASETS,
    DatasetInfo,
    DatasetNotFoundError,
    dataset_info,
    list_datasets,
    load,
)
from phenocast.data._paths import ENV_VAR, data_dir

realdata = pytest.mark.realdata
UNS_KEYS = {"dataset", "x_kind", "control", "dose_unit", "time_unit", "source"}


def _load_or_skip(loader: Callable[..., Any], **kwargs: Any) -> Any:
    try:
        return loader(**kwargs)
    except DatasetNotFoundError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(str(err))
        pytest.skip(str(err))


def _check_standard(adata: Any, *, combinations: bool = False) -> None:
    """The standard obs columns and uns entry every perturbation loader promises."""
    obs = adata.obs
    assert obs.index.is_unique
    meta = adata.uns["phenocast"]
    assert UNS_KEYS <= set(meta)
    assert meta["x_kind"] in ("counts", "log-normalized", "continuous")
    assert isinstance(obs["perturbation"].dtype, pd.CategoricalDtype)
    assert all(isinstance(c, str) for c in obs["perturbation"].cat.categories)
    assert obs["is_control"].dtype == bool
    assert "cell_type" in obs or "cell_line" in obs
    for col in ("cell_type", "cell_line"):
        if col in obs:
            assert isinstance(obs[col].dtype, pd.CategoricalDtype)
            assert obs[col].notna().all()
    if "time" in obs:
        assert obs["time"].dtype == np.float64
        assert meta["time_unit"] == "h"
    pert = obs["perturbation"].astype(str)
    if meta["control"] is None:
        assert not obs["is_control"].any()
    else:
        assert meta["control"] == "control"
        assert ((pert == "control") == obs["is_control"]).all()
    if combinations:
        dose = obs["dose"].astype(str)
        assert (pert.str.count(r"\+") == dose.str.count(r"\+")).all()
        assert (dose[obs["is_control"]] == "0").all()
    else:
        assert obs["dose"].dtype == np.float64
        assert (obs["dose"][obs["is_control"]] == 0.0).all()
        assert (obs["dose"][~obs["is_control"]] > 0).all()
        assert not pert.str.contains(r"\+").any()


# --- catalog (no data needed) ----------------------------------------------------------------


def test_catalog_entries_are_consistent():
    names = [info.name for info in DATASETS]
    assert len(names) == len(set(names))
    for info in DATASETS:
        assert isinstance(info, DatasetInfo)
        assert info.kind in ("perturbation", "multimodal", "prior", "screen", "synergy")
        assert info.files and info.description and info.source and info.licence
        assert "\n" not in info.description
        assert info.loader in phenocast.data.__all__
        assert callable(getattr(phenocast.data, info.loader))
    with pytest.raises(AttributeError):
        info.name = "other"  # type: ignore[misc]


def test_dataset_info_unknown_name_lists_valid_names():
    assert dataset_info("kang2018").folder == "kang2018_ifnb_pbmc"
    with pytest.raises(KeyError, match=r"Valid names: .*kang2018.*oneil2016_synergy") as err:
        dataset_info("kang2019")
    assert "Did you mean 'kang2018'" in str(err.value)
    with pytest.raises(KeyError, match="Unknown dataset 'nope'"):
        load("nope")


def test_list_datasets_in_empty_dir(tmp_path):
    table = list_datasets(data_dir=tmp_path)
    assert list(table.columns) == [
        "name",
        "folder",
        "kind",
        "present",
        "description",
        "source",
        "licence",
    ]
    assert len(table) == len(DATASETS)
    assert table["present"].dtype == bool
    assert not table["present"].any()


@pytest.mark.parametrize("info", DATASETS, ids=lambda i: i.name)
def test_missing_folder_error_names_folder_and_fix(tmp_path, info):
    kwargs = {"screen": "zhu2021_sarscov2"} if info.name == "genedisco_screens" else {}
    with pytest.raises(DatasetNotFoundError) as err:
        load(info.name, data_dir=tmp_path, **kwargs)
    msg = str(err.value)
    assert isinstance(err.value, FileNotFoundError)
    assert repr(info.name) in msg
    assert str(tmp_path / info.folder) in msg
    assert ENV_VAR in msg and "data_dir=" in msg
    assert "passed as data_dir=" in msg


def test_missing_file_error_names_the_file(tmp_path, monkeypatch):
    (tmp_path / "cmea_cdrp_u2os").mkdir()
    (tmp_path / "cmea_cdrp_u2os" / "l1000_landmark_163x978.csv.gz").write_bytes(b"")
    monkeypatch.setenv(ENV_VAR, str(tmp_path))
    with pytest.raises(
        DatasetNotFoundError, match="lacks file\\(s\\): cellpainting_163x812"
    ) as err:
        pcdata.load_cmea_cdrp_u2os()
    assert f"from the {ENV_VAR} environment variable" in str(err.value)
    assert not dataset_info("cmea_cdrp_u2os").is_present(data_dir=tmp_path)
    assert dataset_info("cmea_cdrp_u2os").missing_files(data_dir=tmp_path) == [
        "cellpainting_163x812.csv.gz"
    ]


def test_bad_options_are_rejected_before_reading(tmp_path):
    with pytest.raises(ValueError, match="min_grna_frac must lie in \\[0, 1\\]"):
        L.load_papalexi2021(data_dir=tmp_path, min_grna_frac=80)
    with pytest.raises(ValueError, match=r"Unknown GeneDisco screen 'zhu'.*zhu2021_sarscov2"):
        P.load_genedisco_screen("zhu", data_dir=tmp_path)  # type: ignore[arg-type]


def test_dose_and_time_parsing():
    assert L._parse_dose_um("10 uM", where="x") == 10.0
    assert L._parse_dose_um("500 nM", where="x") == pytest.approx(0.5)
    assert L._parse_dose_um("10.0 um", where="x") == 10.0
    assert L._parse_dose_um("3 µM", where="x") == 3.0
    with pytest.raises(D.DatasetFormatError, match="cannot read the dose '-666'"):
        L._parse_dose_um("-666", where="x")
    assert L._parse_time_h("24 h", where="x") == 24.0
    assert L._parse_time_h("6 h & 4 h", where="x") == 6.0
    with pytest.raises(D.DatasetFormatError, match="cannot read the time"):
        L._parse_time_h("6 d", where="x")


def test_nominal_dose_matching():
    nominal = L.CELLPAINTING_NOMINAL_DOSES_UM
    assert nominal[0] == 10.0 and nominal[-1] == pytest.approx(10 / 243)
    dose = np.array([0.0, 10.0, 3.33, 0.0412, 0.037, 0.0041, 20.0, 1.3])
    out = L._nominal_doses(dose)
    expected = [0.0, 10.0, 10 / 3, 10 / 243, 10 / 243, np.nan, np.nan, np.nan]
    np.testing.assert_allclose(out, expected)


def test_put_column_keeps_a_different_original():
    obs = pd.DataFrame({"dose": ["1", "1"], "perturbation": ["A", "control"]})
    D._put_column(obs, "perturbation", pd.Series(["A", "control"]).astype("category"))
    assert "perturbation_original" not in obs
    D._put_column(obs, "dose", pd.Series([1.0, 0.0]))
    assert obs["dose_original"].tolist() == ["1", "1"]
    assert obs["dose"].tolist() == [1.0, 0.0]


def test_component_names_replace_the_separator():
    assert D._component_names(["A+B", "C"]).tolist() == ["A_B", "C"]


# --- real data -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def kang():
    return _load_or_skip(L.load_kang2018)


@pytest.fixture(scope="module")
def papalexi():
    return _load_or_skip(L.load_papalexi2021)


@pytest.fixture(scope="module")
def ljp005():
    return _load_or_skip(L.load_l1000_ljp005)


@pytest.fixture(scope="module")
def cellpainting():
    return _load_or_skip(L.load_cellpainting_sq00015054)


@pytest.fixture(scope="module")
def oneil():
    return _load_or_skip(L.load_oneil2016_synergy)


@realdata
def test_catalog_covers_every_data_folder():
    root = data_dir()
    if not root.is_dir():
        msg = f"data directory {root} not found; set {ENV_VAR}"
        if os.environ.get("CI") == "true":
            pytest.fail(msg)
        pytest.skip(msg)
    folders = {p.name for p in root.iterdir() if p.is_dir()}
    assert folders <= {info.folder for info in DATASETS}, "a data folder has no catalog entry"
    table = list_datasets()
    assert table.loc[table["folder"].isin(folders), "present"].all()
    assert set(table.loc[table["present"], "folder"]) == folders


@realdata
def test_kang2018(kang):
    assert kang.shape == (832, 14053)
    assert sp.issparse(kang.X) and kang.X.dtype == np.float32
    _check_standard(kang)
    obs = kang.obs
    assert set(obs["perturbation"]) == {"control", "IFN-beta"}
    assert int(obs["is_control"].sum()) == 391
    assert obs["cell_type"].nunique() == 6
    assert (obs["time"] == 6.0).all()
    assert {"condition", "stim", "cell_type"} <= set(obs.columns)
    assert kang.uns["phenocast"]["x_kind"] == "counts"


@realdata
def test_norman2019_combinations():
    adata = _load_or_skip(L.load_norman2019)
    assert adata.shape == (3375, 500)
    _check_standard(adata, combinations=True)
    obs = adata.obs
    assert int(obs["is_control"].sum()) == 100
    combo = obs[obs["perturbation"] == "KLF1+MAP2K6"]
    assert len(combo) == 100 and (combo["dose"] == "1+1").all()
    assert (obs.loc[obs["perturbation"] == "KLF1", "dose"] == "1").all()
    pert = obs["perturbation"].astype(str)
    assert pert.str.contains(r"\+").groupby(pert).first().sum() == 15
    assert set(obs["cell_line"]) == {"K562"}
    assert "dose_original" in obs and set(obs["dose_original"]) == {"1", "1+1"}
    assert adata.uns["phenocast"]["x_kind"] == "log-normalized"


@realdata
def test_perturbench_devel_and_mcfaline2023():
    full = _load_or_skip(L.load_perturbench_devel)
    assert full.shape == (5961, 500)
    _check_standard(full, combinations=True)
    assert int(full.obs["is_control"].sum()) == 400
    mcf = _load_or_skip(L.load_mcfaline2023)
    assert mcf.shape == (2586, 500)
    _check_standard(mcf)
    assert set(mcf.obs["cell_line"]) == {"A172", "T98G", "U87MG"}
    controls = mcf.obs[mcf.obs["is_control"]].groupby("cell_line", observed=True).size()
    assert controls.tolist() == [100, 100, 100]
    assert mcf.obs["perturbation"].nunique() == 10
    assert list(mcf.obs["cell_line"].cat.categories) == ["A172", "T98G", "U87MG"]


@realdata
def test_papalexi2021(papalexi):
    assert papalexi.shape == (20729, 299)
    _check_standard(papalexi)
    assert int(papalexi.obs["is_control"].sum()) == 2386
    assert papalexi.obs["perturbation"].nunique() == 26
    assert set(papalexi.obs["cell_line"]) == {"THP-1"}
    assert papalexi.obsm["grna_counts"].shape == (20729, 110)
    strict = L.load_papalexi2021(min_grna_frac=0.8)
    assert 0 < strict.n_obs < papalexi.n_obs
    assert (strict.obs["grna_max_frac"] >= 0.8).all()
    _check_standard(strict)


@realdata
def test_l1000_ljp005(ljp005):
    assert ljp005.shape == (377, 978)
    _check_standard(ljp005)
    obs = ljp005.obs
    assert int(obs["is_control"].sum()) == 26
    assert (obs["pert_type"] == "trt_poscon").sum() == 23
    assert (obs["time"] == 24.0).all() and set(obs["cell_line"]) == {"A375"}
    treated = obs[obs["pert_type"] == "trt_cp"]
    n_doses = treated.groupby("perturbation", observed=True)["dose"].nunique()
    assert len(n_doses) == 55 and (n_doses == 6).sum() == 53
    assert sorted(treated["dose"].unique()) == [0.04, 0.12, 0.37, 1.11, 3.33, 10.0]
    assert ljp005.uns["phenocast"]["dose_unit"] == "uM"


@realdata
def test_l1000_cmapr_ds():
    adata = _load_or_skip(L.load_l1000_cmapr_ds)
    assert adata.shape == (272, 978)
    _check_standard(adata)
    assert adata.uns["phenocast"]["control"] is None
    assert set(adata.obs["perturbation"]) == {"vemurafenib", "atorvastatin", "venlafaxine"}
    assert sorted(adata.obs["dose"].unique()) == pytest.approx([0.1, 0.5, 1.0, 3.0, 10.0])
    assert set(adata.obs["time"]) == {6.0, 24.0}
    assert adata.obs["cell_line"].nunique() == 65


@realdata
def test_l1000_cmapr_kd():
    adata = _load_or_skip(L.load_l1000_cmapr_kd)
    assert adata.shape == (374, 976)
    _check_standard(adata)
    obs = adata.obs
    assert int(obs["is_control"].sum()) == 40
    genes = obs.loc[~obs["is_control"], "perturbation"].astype(str)
    assert genes.nunique() == 85
    assert not genes.str.lower().str.startswith("trcn").any()


@realdata
def test_cellpainting_sq00015054(cellpainting):
    cp = cellpainting
    assert cp.shape == (384, 454) and cp.X.dtype == np.float32
    assert not any(v.startswith("Metadata_") for v in cp.var_names)
    _check_standard(cp)
    obs = cp.obs
    assert int(obs["is_control"].sum()) == 24
    assert (obs["time"] == 48.0).all() and set(obs["cell_line"]) == {"A549"}
    treated = obs[~obs["is_control"]]
    assert treated["perturbation"].nunique() == 58
    n_nominal = treated.groupby("perturbation", observed=True)["dose_nominal"].nunique()
    assert (n_nominal == 6).sum() == 55
    wells = treated.groupby("perturbation", observed=True).size()
    single = wells[wells == 12].index
    assert len(single) == 2
    assert treated.loc[treated["perturbation"].isin(single), "dose_nominal"].isna().all()
    assert set(treated["dose_nominal"].dropna().round(4)) == {
        round(d, 4) for d in L.CELLPAINTING_NOMINAL_DOSES_UM
    }
    assert (obs.loc[obs["is_control"], "dose_nominal"] == 0.0).all()


@realdata
def test_cmea_cdrp_u2os():
    both = _load_or_skip(pcdata.load_cmea_cdrp_u2os)
    assert set(both) == {"l1000", "cellpainting"}
    assert both["l1000"].shape == (163, 978) and both["cellpainting"].shape == (163, 812)
    assert both["l1000"].obs_names.equals(both["cellpainting"].obs_names)
    for adata in both.values():
        _check_standard(adata)
        assert np.isfinite(adata.X).all()


@realdata
def test_cellbox_korkut2015():
    both = _load_or_skip(pcdata.load_cellbox_korkut2015)
    prot, pheno = both["proteins"], both["phenotypes"]
    assert prot.shape == (89, 82) and pheno.shape == (89, 5)
    assert prot.obs_names.equals(pheno.obs_names)
    _check_standard(prot, combinations=True)
    obs = prot.obs
    assert obs.loc["901|1.5,HN|6", "perturbation"] == "901+HN"
    assert obs.loc["901|1.5,HN|6", "dose"] == "1.5+6"
    n_comp = obs["perturbation"].astype(str).str.count(r"\+") + 1
    assert (n_comp == 1).sum() == 23 and (n_comp == 2).sum() == 66
    assert prot.obsm["perturbation_strength"].shape == (89, 12)


@realdata
def test_oneil2016_synergy(oneil):
    assert oneil.var_names.tolist() == ["synergy"]
    _check_standard(oneil, combinations=True)
    obs = oneil.obs
    assert oneil.n_obs == 22737
    drugs = set(obs["drug_a"]) | set(obs["drug_b"])
    assert len(drugs) == 38 and obs["cell_line"].nunique() == 39
    assert obs["perturbation"].nunique() == 583
    assert (obs["dose"] == "1+1").all() and obs["fold"].dtype == np.int64
    assert set(obs["fold"]) == {0, 1, 2, 3, 4}
    assert (obs["n_measurements"] == 2).sum() == 315
    pick = (obs["perturbation"] == "5-FU+MK-8776") & (obs["cell_line"] == "A2058")
    assert oneil.X[pick.to_numpy(), 0] == pytest.approx([(24.274972 + 22.770454) / 2])
    raw = L.load_oneil2016_synergy(average_duplicates=False)
    assert raw.n_obs == 23052 and raw.obs_names.is_unique


@realdata
@pytest.mark.parametrize("screen", P.GENEDISCO_SCREENS)
def test_genedisco_screens(screen):
    adata = _load_or_skip(P.load_genedisco_screen, screen=screen)
    assert adata.var_names.tolist() == ["target"]
    assert adata.n_obs > 18000 and adata.obs_names.is_unique
    assert np.isfinite(adata.X).all()
    _check_standard(adata)
    assert (adata.obs["perturbation"].astype(str) == adata.obs_names).all()
    assert adata.uns["phenocast"]["screen"] == screen


@realdata
def test_genedisco_target_definitions():
    zhu = _load_or_skip(P.load_genedisco_screen, screen="zhu2021_sarscov2")
    assert zhu.obs_names[np.argmax(zhu.X[:, 0])] == "ACE2"
    assert zhu.X[zhu.obs_names.get_loc("ACE2"), 0] == pytest.approx(-math.log(1.40e-13))
    tau = _load_or_skip(P.load_genedisco_screen, screen="sanchez2021_tau")
    assert (tau.X >= 0).all()  # RSA_Down <= 0, so -RSA_Down >= 0
    ifng = _load_or_skip(P.load_genedisco_screen, screen="schmidt2021_ifng")
    assert (ifng.obs["n_records"] == 2).all()
    assert ifng.X[ifng.obs_names.get_loc("CD3G"), 0] == pytest.approx((-3.9536 - 3.2986) / 2)


@realdata
def test_knowledge_priors():
    edges = _load_or_skip(P.load_go_graph)
    assert list(edges.columns) == ["source", "target", "importance"]
    assert len(edges) == 371121 and (edges["importance"] > 0.1).all()
    assert (edges["source"] != edges["target"]).all()
    g2go = _load_or_skip(P.load_gene2go)
    assert len(g2go) == 348116 and g2go["symbol"].nunique() == 20728
    essential = _load_or_skip(P.load_essential_genes)
    assert len(essential) == 684 == len(set(essential)) and "AARS" in essential
    progeny = _load_or_skip(P.load_progeny)
    assert progeny.shape == (1400, 4) and progeny["pathway"].nunique() == 14
    sciplex = _load_or_skip(P.load_sciplex_metadata)
    assert {"wells", "smiles", "drug_properties", "l1000_mapping"} <= set(sciplex)
    assert len(sciplex["wells"]) == 4992 and sciplex["smiles"]["smiles"].notna().all()
    gi = _load_or_skip(P.load_norman2019_gi)
    assert {"regr_fits", "emap", "single_phenotypes"} <= set(gi)
    assert (
        len(gi["regr_fits"]) == 125 and gi["regr_fits"]["perturbation"].str.count(r"\+").eq(1).all()
    )
    assert gi["emap"].shape == (104, 104)


@realdata
def test_loaded_anndata_round_trips_through_h5ad(tmp_path, cellpainting, oneil):
    import anndata as ad

    for name, adata in (("cp", cellpainting), ("oneil", oneil)):
        path = tmp_path / f"{name}.h5ad"
        adata.write_h5ad(path)
        back = ad.read_h5ad(path)
        assert back.uns["phenocast"] == adata.uns["phenocast"]
        pd.testing.assert_frame_equal(back.obs, adata.obs, check_categorical=False)


@realdata
def test_load_dispatch_passes_options():
    raw = _load_or_skip(load, name="oneil2016_synergy", average_duplicates=False)
    assert raw.n_obs == 23052
    with pytest.raises(TypeError):
        load("oneil2016_synergy", average_duplicate=False)


@realdata
def test_loaded_anndata_register_with_standard_columns(kang, papalexi, ljp005, cellpainting, oneil):
    from phenocast.data._registry import register

    for adata in (kang, papalexi, ljp005, cellpainting, oneil):
        meta = adata.uns["phenocast"]
        reg = register(
            adata,
            perturbation="perturbation",
            control=meta["control"],
            dose="dose",
            time="time" if "time" in adata.obs else None,
            covariates=[c for c in ("cell_type", "cell_line") if c in adata.obs],
            x_kind=meta["x_kind"],
        )
        assert reg.summary["n_control"] == int(adata.obs["is_control"].sum())
