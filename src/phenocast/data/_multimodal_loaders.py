"""Loaders of the catalog's multimodal datasets: several readouts of the same perturbations,
returned as a dict of AnnData per readout (:func:`~phenocast.data.load_multimodal` aligns
them as :class:`~phenocast.data.MultiModalData`)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from ._datasets import (
    SEP,
    DatasetFormatError,
    _component_names,
    _dataset_dir,
    _finalize,
    _require_columns,
)
from ._loaders import PathLike, _names, _new_anndata

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["load_cellbox_korkut2015", "load_cmea_cdrp_u2os"]


def load_cmea_cdrp_u2os(*, data_dir: PathLike = None) -> dict[str, AnnData]:
    """CMEA / CDRP: 163 compounds profiled in U2OS by both L1000 and Cell Painting.

    Returns
    -------
    dict of AnnData
        ``"l1000"`` (163 × 978 landmark genes) and ``"cellpainting"`` (163 × 812 features),
        float32 consensus signatures already relative to control (no control rows,
        ``control`` None). Both have the same obs (obs_names = Broad compound ids, in the same
        order); ``perturbation`` = compound id, ``dose`` 1.0 (one dose, ~10 µM, not stated in
        the files), ``cell_line`` ``"U2OS"``.
    """
    files = {
        "l1000": "l1000_landmark_163x978.csv.gz",
        "cellpainting": "cellpainting_163x812.csv.gz",
    }
    folder = _dataset_dir("cmea_cdrp_u2os", data_dir)
    frames = {}
    for key, name in files.items():
        df = pd.read_csv(folder / name)
        _require_columns(df, ["broad_id"], where=name)
        frames[key] = df.set_index("broad_id")
    if not frames["l1000"].index.equals(frames["cellpainting"].index):
        raise DatasetFormatError(f"{files['l1000']} and {files['cellpainting']} rows differ.")
    out = {}
    for key, df in frames.items():
        obs = pd.DataFrame(index=_names(df.index))
        adata = _new_anndata(df.to_numpy(dtype=np.float32), obs, list(map(str, df.columns)))
        out[key] = _finalize(
            adata,
            dataset="cmea_cdrp_u2os",
            perturbation=_component_names(obs.index),
            dose=1.0,
            is_control=False,
            cell_line="U2OS",
            x_kind="continuous",
            control=None,
            source="CDRP U2OS (Wawer et al. 2014 PNAS) via CMEA (Nassiri & McCall 2018 NAR)",
        )
    return out


def _parse_cellbox_condition(cond: str) -> tuple[str, str]:
    drugs, doses = [], []
    for part in cond.split(","):
        drug, _, conc = part.partition("|")
        if not drug or not conc:
            raise DatasetFormatError(
                f"conditions_89.csv: cannot read condition {cond!r}; expected 'drug|conc[,...]'."
            )
        drugs.append(drug.strip().replace(SEP, "_"))
        doses.append(conc.strip())
    return SEP.join(drugs), SEP.join(doses)


def load_cellbox_korkut2015(*, data_dir: PathLike = None) -> dict[str, AnnData]:
    """Korkut et al. 2015 (via CellBox): SK-MEL-133 under 89 drug / drug-pair conditions.

    Returns
    -------
    dict of AnnData
        ``"proteins"`` (89 × 82 RPPA log2 ratios vs untreated) and ``"phenotypes"`` (89 × 5:
        G2M, G1arrest, G2arrest, Sarrest, cellviab), float32, same obs (obs_names = condition
        strings such as ``"901|1.5,HN|6"``). ``perturbation`` = ``"drugA+drugB"`` with the
        CellBox drug codes (e.g. ``"901+HN"``), ``dose`` the concentrations as given, one per
        drug (``"1.5+6"``; units not stated in the source, so ``dose_unit`` is None). Values
        are already relative to control: no control rows. ``obsm["perturbation_strength"]``
        holds CellBox's 89 × 12 target-node encoding. ``cell_line`` ``"SK-MEL-133"``.
    """
    folder = _dataset_dir("cellbox_korkut2015", data_dir)
    cond = pd.read_csv(
        folder / "conditions_89.csv",
        index_col="condition",
        dtype={"drug1": str, "drug2": str},
        keep_default_na=False,
        na_values={"conc2_as_given": [""], "drug2": [""]},
    )
    strength = pd.read_csv(folder / "perturbation_strength_89x12.csv", index_col="condition")
    tables = {"proteins": "rppa_proteins_89x82.csv", "phenotypes": "phenotypes_89x5.csv"}
    out = {}
    parsed = [_parse_cellbox_condition(str(c)) for c in cond.index]
    for key, name in tables.items():
        values = pd.read_csv(folder / name, index_col="condition")
        for other, label in ((values, name), (strength, "perturbation_strength_89x12.csv")):
            if not other.index.equals(cond.index):
                raise DatasetFormatError(f"{label} rows are not aligned with conditions_89.csv.")
        obs = cond.copy()
        obs.index = _names(obs.index)
        for col in ("drug1", "drug2", "targets"):
            if col in obs:
                obs[col] = obs[col].astype("category")
        adata = _new_anndata(values.to_numpy(dtype=np.float32), obs, list(values.columns))
        adata.obsm["perturbation_strength"] = strength.set_axis(adata.obs_names, axis=0)
        out[key] = _finalize(
            adata,
            dataset="cellbox_korkut2015",
            perturbation=[p for p, _ in parsed],
            dose=np.array([d for _, d in parsed], dtype=object),
            is_control=False,
            cell_line="SK-MEL-133",
            x_kind="continuous",
            control=None,
            source="Korkut et al. 2015 eLife 4:e04640; CellBox (Yuan et al. 2021)",
        )
    return out
