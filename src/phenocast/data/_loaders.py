"""Loaders for the real datasets of the catalog (:mod:`phenocast.data._datasets`).

Each loader reads one dataset from ``data_dir(data_dir) / <folder>`` and returns an
:class:`~anndata.AnnData` with the standard obs columns (``perturbation``, ``dose``,
``is_control``, ``cell_type`` and/or ``cell_line``, ``time`` where known) and
``uns["phenocast"]``; the knowledge priors return pandas objects. Original columns are kept; an
original column whose name clashes with a standard one but holds other values is kept as
``<name>_original``. Perturbation component names never contain ``"+"``, the combination
separator: a ``"+"`` inside a raw name is replaced by ``"_"`` (no current file has one).
"""

from __future__ import annotations

import os
import re
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._datasets import (
    CONTROL,
    SEP,
    DatasetFormatError,
    _component_names,
    _dataset_dir,
    _finalize,
    _require_columns,
)

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "CELLPAINTING_NOMINAL_DOSES_UM",
    "PathLike",
    "load_cellpainting_sq00015054",
    "load_kang2018",
    "load_l1000_cmapr_ds",
    "load_l1000_cmapr_kd",
    "load_l1000_ljp005",
    "load_mcfaline2023",
    "load_norman2019",
    "load_oneil2016_synergy",
    "load_papalexi2021",
    "load_perturbench_devel",
]

PathLike = str | os.PathLike[str] | None

#: The plates' nominal 3-fold dilution series in µM, 10 / 3**k for k = 0..5 (highest first).
CELLPAINTING_NOMINAL_DOSES_UM: tuple[float, ...] = tuple(10.0 / 3.0**k for k in range(6))


def _read_h5ad(path: os.PathLike[str]) -> AnnData:
    import anndata as ad  # deferred: keeps `import phenocast.data` cheap

    return ad.read_h5ad(path)


def _new_anndata(x: np.ndarray, obs: pd.DataFrame, var_names: list[str]) -> AnnData:
    import anndata as ad

    return ad.AnnData(X=x, obs=obs, var=pd.DataFrame(index=pd.Index(var_names, dtype=object)))


def _names(values: pd.Index | pd.Series) -> pd.Index:
    """Unnamed str index (a named index clashing with a column breaks h5ad writing)."""
    return pd.Index(np.asarray(values, dtype=object).astype(str), dtype=object)


def _str(col: pd.Series) -> pd.Series:
    return col.astype(object).astype(str)


# --- single-cell perturbation data -----------------------------------------------------------


def load_kang2018(*, data_dir: PathLike = None) -> AnnData:
    """Kang et al. 2018: 832 PBMCs × 14,053 genes, raw UMI counts, IFN-β vs control.

    Parameters
    ----------
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.

    Returns
    -------
    AnnData
        ``X`` float32 CSR counts. ``perturbation`` is ``"IFN-beta"`` or ``"control"`` (from
        ``condition``), ``dose`` 1.0 / 0.0 (no dose given), ``cell_type`` (6 PBMC types),
        ``time`` 6.0 h for every cell (cells were cultured 6 h with or without IFN-β).
    """
    name = "kang2018_ifnb_subset832.h5ad"
    adata = _read_h5ad(_dataset_dir("kang2018", data_dir) / name)
    _require_columns(adata.obs, ["condition", "cell_type"], where=name)
    cond = _str(adata.obs["condition"])
    unknown = set(cond) - {"control", "IFN-beta"}
    if unknown:
        raise DatasetFormatError(f"{name}: column 'condition' has unexpected values {unknown}.")
    is_ctrl = (cond == "control").to_numpy()
    return _finalize(
        adata,
        dataset="kang2018",
        perturbation=np.where(is_ctrl, CONTROL, "IFN-beta"),
        dose=np.where(is_ctrl, 0.0, 1.0),
        is_control=is_ctrl,
        cell_type=adata.obs["cell_type"],
        time=6.0,
        time_unit="h",
        x_kind="counts",
        control=CONTROL,
        source="Kang et al. 2018 Nat Biotechnol 36:89 (GSE96583)",
    )


_PB_FILE = "perturbench_devel_norman19_mcfaline23.h5ad"
_PB_SOURCE = "PerturBench devel set (Wu et al. 2024); "


def _load_perturbench(
    data_dir: PathLike, *, dataset: str, subset: str | None, combinations: bool
) -> AnnData:
    adata = _read_h5ad(_dataset_dir(dataset, data_dir) / _PB_FILE)
    _require_columns(adata.obs, ["condition", "dataset", "cell_type"], where=_PB_FILE)
    if subset is not None:
        adata = adata[_str(adata.obs["dataset"]).to_numpy() == subset].copy()
        for col in adata.obs.columns:
            if isinstance(adata.obs[col].dtype, pd.CategoricalDtype):
                adata.obs[col] = adata.obs[col].cat.remove_unused_categories()
    cond = _str(adata.obs["condition"])
    is_ctrl = (cond == CONTROL).to_numpy()
    n_comp = cond.str.count(r"\+").to_numpy() + 1
    if combinations:
        dose = np.where(is_ctrl, "0", [SEP.join(["1"] * n) for n in n_comp])
    else:
        if (n_comp[~is_ctrl] > 1).any():
            raise DatasetFormatError(f"{_PB_FILE}: unexpected combinations in {subset!r} rows.")
        dose = np.where(is_ctrl, 0.0, 1.0)
    cell_line = _str(adata.obs["cell_type"]).replace({"k562": "K562"})
    return _finalize(
        adata,
        dataset=dataset,
        perturbation=cond.to_numpy(),
        dose=dose,
        is_control=is_ctrl,
        cell_line=cell_line.to_numpy(),
        x_kind="log-normalized",
        control=CONTROL,
        source=_PB_SOURCE
        + {
            "perturbench_devel": "Norman et al. 2019 Science; McFaline-Figueroa et al. 2024",
            "norman2019": "Norman et al. 2019 Science 365:786 (GSE133344)",
            "mcfaline2023": "McFaline-Figueroa et al. 2024 (sci-Plex-GxE)",
        }[dataset],
    )


def load_perturbench_devel(*, data_dir: PathLike = None) -> AnnData:
    """PerturBench's development set: Norman 2019 (K562 CRISPRa) + McFaline 2023 (CRISPRi).

    Returns
    -------
    AnnData
        5,961 cells × 500 HVGs, ``X`` = log1p of library-size-normalised counts (float64 CSR).
        ``perturbation`` = ``condition`` (gene, ``"A+B"`` or ``"control"``); ``dose`` is a str
        column with one ``"1"`` per component (``"1"``, ``"1+1"``), controls ``"0"`` (the
        original ``dose`` column, ``"1"`` also for controls, is kept as ``dose_original``);
        ``cell_line`` from ``cell_type`` (``k562`` written ``K562``).
    """
    return _load_perturbench(data_dir, dataset="perturbench_devel", subset=None, combinations=True)


def load_norman2019(*, data_dir: PathLike = None) -> AnnData:
    """Norman et al. 2019 K562 CRISPRa: 3,375 cells (``dataset == "norman19"``) × 500 HVGs.

    Returns
    -------
    AnnData
        Log1p data; 100 control cells, 18 single and 15 double activations (e.g.
        ``"KLF1+MAP2K6"`` with ``dose`` ``"1+1"``); ``dose`` is str (controls ``"0"``),
        ``cell_line`` ``"K562"``. See :func:`load_perturbench_devel`.
    """
    return _load_perturbench(data_dir, dataset="norman2019", subset="norman19", combinations=True)


def load_mcfaline2023(*, data_dir: PathLike = None) -> AnnData:
    """McFaline-Figueroa et al. 2023 CRISPRi: 2,586 cells (``dataset == "mcfaline23"``).

    Returns
    -------
    AnnData
        Log1p data, 3 glioblastoma lines (``cell_line`` A172, T98G, U87MG from ``cell_type``)
        × control + 9 kinase knock-downs; single perturbations only, so ``dose`` is float64
        (1.0 / controls 0.0).
    """
    return _load_perturbench(
        data_dir, dataset="mcfaline2023", subset="mcfaline23", combinations=False
    )


def load_papalexi2021(*, data_dir: PathLike = None, min_grna_frac: float | None = None) -> AnnData:
    """Papalexi et al. 2021 ECCITE-seq: THP-1 CRISPR knock-outs, 299 genes, raw counts.

    Parameters
    ----------
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    min_grna_frac
        Keep only cells whose most abundant gRNA holds at least this fraction of the cell's
        gRNA UMIs (``grna_max_frac >= min_grna_frac``); ``None`` keeps all 20,729 cells. The
        guide assignment is a naive argmax (see the folder's PROVENANCE.md); 0.8 is a sensible
        stringent choice.

    Returns
    -------
    AnnData
        ``X`` float32 CSR counts; ``perturbation`` = ``target_gene`` with ``"non-targeting"``
        written ``"control"`` (2,386 cells); ``dose`` 1.0 / 0.0; ``cell_line`` ``"THP-1"``;
        ``obsm["grna_counts"]`` kept.
    """
    name = "papalexi2021_thp1_lowmoi_299genes.h5ad"
    if min_grna_frac is not None and not 0.0 <= float(min_grna_frac) <= 1.0:
        raise ValueError(f"min_grna_frac must lie in [0, 1] or be None, got {min_grna_frac!r}.")
    adata = _read_h5ad(_dataset_dir("papalexi2021", data_dir) / name)
    _require_columns(adata.obs, ["target_gene", "grna_max_frac"], where=name)
    if min_grna_frac is not None:
        keep = adata.obs["grna_max_frac"].to_numpy() >= float(min_grna_frac)
        adata = adata[keep].copy()
    target = _str(adata.obs["target_gene"])
    is_ctrl = (target == "non-targeting").to_numpy()
    return _finalize(
        adata,
        dataset="papalexi2021",
        perturbation=np.where(is_ctrl, CONTROL, _component_names(target)),
        dose=np.where(is_ctrl, 0.0, 1.0),
        is_control=is_ctrl,
        cell_line="THP-1",
        x_kind="counts",
        control=CONTROL,
        source="Papalexi et al. 2021 Nat Genet 53:322 (GSE153056); sceptredata",
    )


# --- L1000 -----------------------------------------------------------------------------------

_UNIT_TO_UM = {"pm": 1e-6, "nm": 1e-3, "um": 1.0, "µm": 1.0, "μm": 1.0, "mm": 1e3}
_DOSE_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+(?:[eE][-+]?[0-9]+)?)\s*([pnuµμm]m)\s*$", re.I)
_TIME_RE = re.compile(r"^\s*([0-9]*\.?[0-9]+)\s*h\b", re.I)


def _parse_dose_um(value: str, *, where: str) -> float:
    """``"10 uM"`` -> 10.0, ``"500 nM"`` -> 0.5 (µM)."""
    m = _DOSE_RE.match(value)
    if m is None:
        raise DatasetFormatError(
            f"{where}: cannot read the dose {value!r}; expected '<number> <pM|nM|uM|mM>'."
        )
    return float(m.group(1)) * _UNIT_TO_UM[m.group(2).lower()]


def _parse_time_h(value: str, *, where: str) -> float:
    """``"24 h"`` -> 24.0; ``"6 h & 4 h"`` -> 6.0 (the first time)."""
    m = _TIME_RE.match(value)
    if m is None:
        raise DatasetFormatError(f"{where}: cannot read the time {value!r}; expected '<number> h'.")
    return float(m.group(1))


def load_l1000_ljp005(*, data_dir: PathLike = None) -> AnnData:
    """One L1000 plate (LJP005, A375, 24 h): kinase inhibitors × 6 doses, level-4 z-scores.

    Returns
    -------
    AnnData
        377 wells × 978 landmark genes (float32, robust z-scores vs the plate). ``perturbation``
        = ``pert_iname`` with DMSO written ``"control"`` (26 wells); ``dose`` =
        ``pert_dose_um`` in µM (controls 0.0); ``time`` 24.0 h; ``cell_line`` from ``cell_id``.
        The 23 positive-control wells (``pert_type == "trt_poscon"``: geldanamycin,
        mitoxantrone, radicicol, withaferin-a) are kept; drop them with ``pert_type``.
    """
    name = "l1000_LJP005_A375_24h_plate.h5ad"
    adata = _read_h5ad(_dataset_dir("l1000_ljp005", data_dir) / name)
    obs = adata.obs
    _require_columns(
        obs, ["pert_iname", "pert_type", "pert_dose_um", "pert_time", "cell_id"], where=name
    )
    ptype = _str(obs["pert_type"])
    is_ctrl = (ptype == "ctl_vehicle").to_numpy()
    if not (_str(obs["pert_iname"])[is_ctrl] == "DMSO").all():
        raise DatasetFormatError(f"{name}: a 'ctl_vehicle' well is not DMSO.")
    dose = obs["pert_dose_um"].to_numpy(dtype=np.float64)
    if np.isnan(dose[~is_ctrl]).any():
        raise DatasetFormatError(f"{name}: a treated well lacks 'pert_dose_um'.")
    if "pert_time_unit" in obs and set(_str(obs["pert_time_unit"])) != {"h"}:
        raise DatasetFormatError(f"{name}: 'pert_time_unit' is not 'h' everywhere.")
    return _finalize(
        adata,
        dataset="l1000_ljp005",
        perturbation=np.where(is_ctrl, CONTROL, _component_names(obs["pert_iname"])),
        dose=np.where(is_ctrl, 0.0, dose),
        dose_unit="uM",
        is_control=is_ctrl,
        time=obs["pert_time"].to_numpy(dtype=np.float64),
        time_unit="h",
        cell_line=obs["cell_id"],
        x_kind="continuous",
        control=CONTROL,
        source="LINCS L1000 plate LJP005_A375_24H_X1_B19 (Subramanian et al. 2017); cmapPy",
    )


def load_l1000_cmapr_ds(*, data_dir: PathLike = None) -> AnnData:
    """cmapR ``ds``: 272 level-5 L1000 signatures of 3 compounds across 65 cell lines.

    Returns
    -------
    AnnData
        272 signatures × 978 genes (float32 moderated z-scores, already relative to vehicle, so
        there are no control rows and ``uns["phenocast"]["control"]`` is ``None``).
        ``perturbation`` = ``pert_iname`` (vemurafenib, atorvastatin, venlafaxine); ``dose`` in
        µM parsed from ``pert_idose`` (``"100 nM"`` ... ``"10 uM"``: 0.1-10); ``time`` in hours
        from ``pert_itime`` (``"6 h"``, ``"24 h"``; two NEU.KCL signatures read
        ``"6 h & 4 h"`` / ``"24 h & 4 h"`` and get the first time); ``cell_line`` =
        ``cell_id``.
    """
    name = "cmapR_ds.h5ad"
    adata = _read_h5ad(_dataset_dir("l1000_cmapr_ds", data_dir) / name)
    obs = adata.obs
    _require_columns(obs, ["pert_iname", "pert_idose", "pert_itime", "cell_id"], where=name)
    where = f"{name} column"
    dose = [_parse_dose_um(v, where=f"{where} 'pert_idose'") for v in _str(obs["pert_idose"])]
    time = [_parse_time_h(v, where=f"{where} 'pert_itime'") for v in _str(obs["pert_itime"])]
    return _finalize(
        adata,
        dataset="l1000_cmapr_ds",
        perturbation=_component_names(obs["pert_iname"]),
        dose=np.asarray(dose, dtype=np.float64),
        dose_unit="uM",
        is_control=False,
        time=np.asarray(time, dtype=np.float64),
        time_unit="h",
        cell_line=obs["cell_id"],
        x_kind="continuous",
        control=None,
        source="LINCS L1000 level 5 (Subramanian et al. 2017); cmap/cmapR data ds",
    )


_TRC_CLONE = re.compile(r"^trcn\d+$", re.I)


def load_l1000_cmapr_kd(*, data_dir: PathLike = None) -> AnnData:
    """cmapR ``kd_gct``: 374 L1000 profiles of shRNA knock-downs (plate LITMUS.KD017).

    Returns
    -------
    AnnData
        374 wells × 976 genes (float32). ``perturbation`` = ``pert_iname`` for ``trt_sh``
        wells (85 genes, 2-4 wells each); 4 of them carry an shRNA clone id instead of a gene
        in ``pert_iname`` (``trcn0000...``) and take the gene from ``pert_mfc_desc``.
        ``ctl_vector`` (empty vector, GFP) and ``ctl_untrt`` wells are ``"control"`` (40).
        ``dose`` 1.0 / 0.0 (no dose); the cell line is not recorded in the file, so
        ``cell_line`` is ``"unknown"``.
    """
    name = "cmapR_kd_gct.h5ad"
    adata = _read_h5ad(_dataset_dir("l1000_cmapr_kd", data_dir) / name)
    obs = adata.obs
    _require_columns(obs, ["pert_iname", "pert_type", "pert_mfc_desc"], where=name)
    ptype = _str(obs["pert_type"])
    unknown = set(ptype) - {"trt_sh", "ctl_vector", "ctl_untrt"}
    if unknown:
        raise DatasetFormatError(f"{name}: column 'pert_type' has unexpected values {unknown}.")
    iname = _str(obs["pert_iname"])
    gene = iname.where(~iname.str.match(_TRC_CLONE), _str(obs["pert_mfc_desc"]))
    is_ctrl = (ptype != "trt_sh").to_numpy()
    return _finalize(
        adata,
        dataset="l1000_cmapr_kd",
        perturbation=np.where(is_ctrl, CONTROL, _component_names(gene)),
        dose=np.where(is_ctrl, 0.0, 1.0),
        is_control=is_ctrl,
        cell_line="unknown",
        x_kind="continuous",
        control=CONTROL,
        source="LINCS L1000 shRNA plate LITMUS.KD017 (Subramanian et al. 2017); cmap/cmapR",
    )


# --- Cell Painting and multimodal ------------------------------------------------------------


def _nominal_doses(dose: np.ndarray, *, rtol: float = 0.15) -> np.ndarray:
    nominal = np.asarray(CELLPAINTING_NOMINAL_DOSES_UM)
    out = np.full(dose.shape, np.nan)
    pos = dose > 0
    rel = np.abs(dose[pos, None] - nominal[None, :]) / nominal[None, :]
    best = rel.argmin(axis=1)
    ok = rel[np.arange(len(best)), best] <= rtol
    out[np.flatnonzero(pos)[ok]] = nominal[best[ok]]
    out[dose == 0] = 0.0
    return out


def load_cellpainting_sq00015054(*, data_dir: PathLike = None) -> AnnData:
    """One LINCS Cell Painting plate (SQ00015054, A549, 48 h): compounds × doses.

    Returns
    -------
    AnnData
        384 wells × 454 morphology features (float32, robust-standardised per plate); obs =
        the 26 ``Metadata_*`` columns plus the standard ones, obs_names = wells.
        ``perturbation`` = ``Metadata_pert_id`` (BRD id; DMSO wells -> ``"control"``, 24);
        ``dose`` = ``Metadata_mmoles_per_liter``, which despite its name is in µM (controls
        0.0); ``cell_line`` from ``Metadata_cell_id``; ``time`` 48.0 h.
        ``dose_nominal`` maps each dose to the nearest value of the nominal 3-fold series
        :data:`CELLPAINTING_NOMINAL_DOSES_UM` (10, 3.33, ..., 0.0412 µM) if within 15 %
        (relative to the nominal value), else NaN; controls 0.0. 55 compounds get all 6
        nominal doses. Oddities: BRD-K92301463 was dosed 10× lower (0.0041-1 µM), so only its
        four upper doses match a nominal dose, each ~10 % off; the two proteasome inhibitors
        BRD-K50691590 and BRD-K60230970 were given at one dose (~20 µM, 12 wells each) and get
        NaN.
    """
    name = "SQ00015054_normalized_feature_select.csv.gz"
    df = pd.read_csv(_dataset_dir("cellpainting_sq00015054", data_dir) / name)
    meta_cols = [c for c in df.columns if c.startswith("Metadata_")]
    needed = ["Metadata_pert_type", "Metadata_pert_id", "Metadata_mmoles_per_liter"]
    _require_columns(df, [*needed, "Metadata_cell_id", "Metadata_Well"], where=name)
    obs = df[meta_cols].copy()
    for col in meta_cols:
        if obs[col].dtype == object:
            obs[col] = obs[col].astype("category")
    obs.index = _names(df["Metadata_Well"])
    features = df.drop(columns=meta_cols)
    x = features.to_numpy(dtype=np.float32)
    adata = _new_anndata(x, obs, list(features.columns))
    is_ctrl = (df["Metadata_pert_type"].astype(str) == "control").to_numpy()
    pert_id = df["Metadata_pert_id"]
    if pert_id[~is_ctrl].isna().any():
        raise DatasetFormatError(f"{name}: a treated well lacks 'Metadata_pert_id'.")
    dose = df["Metadata_mmoles_per_liter"].to_numpy(dtype=np.float64)
    dose = np.where(is_ctrl, 0.0, dose)
    adata.obs["dose_nominal"] = _nominal_doses(dose)
    return _finalize(
        adata,
        dataset="cellpainting_sq00015054",
        perturbation=np.where(is_ctrl, CONTROL, _component_names(pert_id.fillna(CONTROL))),
        dose=dose,
        dose_unit="uM",
        is_control=is_ctrl,
        cell_line=df["Metadata_cell_id"].to_numpy(),
        time=48.0,
        time_unit="h",
        x_kind="continuous",
        control=CONTROL,
        source="LINCS Cell Painting plate SQ00015054 (Way et al. 2022 Cell Systems)",
    )


def load_oneil2016_synergy(
    *, data_dir: PathLike = None, average_duplicates: bool = True
) -> AnnData:
    """O'Neil et al. 2016 drug-combination synergy (DeepSynergy labels).

    Parameters
    ----------
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    average_duplicates
        Average rows measuring the same unordered drug pair in the same cell line (21 pairs
        were screened twice in 15 lines: 315 duplicated triples, 23,052 -> 22,737 rows).
        Duplicates always share their fold (checked); drug order and fold come from the
        first row, and ``n_measurements`` counts the rows averaged.

    Returns
    -------
    AnnData
        One var ``"synergy"`` (float64, Loewe excess). obs: ``perturbation`` ``"drugA+drugB"``
        (as given, not sorted), ``drug_a``, ``drug_b``, ``cell_line``, ``fold`` (int, the
        DeepSynergy CV folds, split by drug pair), ``dose`` ``"1+1"``; no control rows.
    """
    name = "deepsynergy_labels_oneil2016.csv.gz"
    df = pd.read_csv(_dataset_dir("oneil2016_synergy", data_dir) / name, index_col=0)
    cols = ["drug_a_name", "drug_b_name", "cell_line", "synergy", "fold"]
    _require_columns(df, cols, where=name)
    df.index = _names(df.index)
    if average_duplicates:
        a, b = _component_names(df["drug_a_name"]), _component_names(df["drug_b_name"])
        key = [
            f"{min(x, y)}\t{max(x, y)}\t{c}" for x, y, c in zip(a, b, df["cell_line"], strict=True)
        ]
        grouped = df.assign(_key=key).groupby("_key", sort=False)
        if (grouped["fold"].nunique() > 1).any():
            raise DatasetFormatError(f"{name}: repeated measurements fall in different folds.")
        head = grouped.head(1)
        keys = head["_key"].to_numpy()
        df = head.drop(columns="_key").assign(
            synergy=grouped["synergy"].mean().loc[keys].to_numpy(),
            n_measurements=grouped.size().loc[keys].to_numpy(),
        )
    elif not df.index.is_unique:
        import anndata as ad

        df.index = ad.utils.make_index_unique(df.index)
    a = pd.Series(_component_names(df["drug_a_name"]), index=df.index)
    b = pd.Series(_component_names(df["drug_b_name"]), index=df.index)
    obs = df.drop(columns=["synergy"]).copy()
    obs["drug_a"] = a.astype("category")
    obs["drug_b"] = b.astype("category")
    for col in ("drug_a_name", "drug_b_name", "cell_line"):
        obs[col] = obs[col].astype("category")
    obs["fold"] = obs["fold"].astype(np.int64)
    x = df[["synergy"]].to_numpy(dtype=np.float64)
    adata = _new_anndata(x, obs, ["synergy"])
    return _finalize(
        adata,
        dataset="oneil2016_synergy",
        perturbation=(a + SEP + b).to_numpy(),
        dose="1+1",
        is_control=False,
        cell_line=df["cell_line"].to_numpy(),
        x_kind="continuous",
        control=None,
        source="O'Neil et al. 2016 Mol Cancer Ther 15:1155; DeepSynergy (Preuer et al. 2018)",
    )
