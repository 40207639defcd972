"""The catalog of real datasets phenocast can load, and the helpers its loaders share.

Every dataset lives in its own folder under the data directory (see :func:`data_dir`): an
explicit ``data_dir=``, else the ``PHENOCAST_DATA_DIR`` environment variable, else
``~/.cache/phenocast``. Each folder carries a ``PROVENANCE.md`` describing source, licence and
contents. The loaders live in :mod:`phenocast.data._loaders` and :mod:`phenocast.data._priors`.

Loaded perturbation data share a set of standard ``obs`` columns (``perturbation``, ``dose``,
``is_control``, ``cell_type`` / ``cell_line`` and ``time`` where known) and a
``uns["phenocast"]`` summary, so that :func:`phenocast.data.register` can be called the same
way on all of them.
"""

from __future__ import annotations

import difflib
import importlib
import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._paths import ENV_VAR, data_dir

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "DATASETS",
    "DatasetFormatError",
    "DatasetInfo",
    "DatasetKind",
    "DatasetNotFoundError",
    "dataset_info",
    "list_datasets",
    "load",
]

DatasetKind = Literal["perturbation", "multimodal", "prior", "screen", "synergy"]
XKind = Literal["counts", "log-normalized", "continuous"]

CONTROL = "control"
SEP = "+"


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's folder or one of its files is missing from the data directory."""


class DatasetFormatError(ValueError):
    """A dataset file exists but does not hold what its ``PROVENANCE.md`` describes."""


@dataclass(frozen=True, slots=True)
class DatasetInfo:
    """One loadable dataset: where it lives, what it is and which function loads it.

    Attributes
    ----------
    name
        Catalog name, the key for :func:`load` and :func:`dataset_info`.
    folder
        Folder inside the data directory.
    files
        Files (relative to ``folder``) the loader reads; the dataset is present when all exist.
    kind
        ``"perturbation"``, ``"multimodal"``, ``"prior"``, ``"screen"`` or ``"synergy"``.
    description
        One line.
    source
        Paper and repository the files come from.
    licence
        Licence of the files as stated by their source.
    loader
        Name of the loader function in :mod:`phenocast.data._loaders`.
    """

    name: str
    folder: str
    files: tuple[str, ...]
    kind: DatasetKind
    description: str
    source: str
    licence: str
    loader: str

    def path(self, *, data_dir: str | os.PathLike[str] | None = None) -> Path:
        """The dataset's folder inside the data directory (it may not exist)."""
        return _data_root(data_dir) / self.folder

    def missing_files(self, *, data_dir: str | os.PathLike[str] | None = None) -> list[str]:
        """The files of :attr:`files` that do not exist."""
        folder = self.path(data_dir=data_dir)
        return [f for f in self.files if not (folder / f).is_file()]

    def is_present(self, *, data_dir: str | os.PathLike[str] | None = None) -> bool:
        """Whether every file of the dataset exists."""
        return not self.missing_files(data_dir=data_dir)


_L1000 = "Subramanian et al. 2017 Cell (LINCS L1000)"
_NORMAN = "Norman et al. 2019 Science"
_PB = "altoslabs/perturbench devel.h5ad (BSD-3-Clause); data GEO"
_GENEDISCO_FILES = (
    "raw/schmidt_ifng_d1.gene_summary.txt.gz",
    "raw/schmidt_ifng_d2.gene_summary.txt.gz",
    "raw/schmidt_il2_d1.gene_summary.txt.gz",
    "raw/schmidt_il2_d2.gene_summary.txt.gz",
    "raw/zhu_2021_sarscov2_host_factors.csv.gz",
    "raw/zhuang_2019_low_selection.gene_summary.txt.gz",
    "raw/sanchezetal2021_21days.csv.gz",
)
_NORMAN_GI_FILES = (
    "regr_fits_final.csv",
    "processed_perturbseq_emap.csv",
    "processed_perturbseq_fitnesses.csv",
    "perturbseq_single_phenotype_table.csv",
    "processed_emap.csv",
    "processed_fitnesses.csv",
    "single_phenotype_table.csv",
    "optimal_umap_layout.csv",
    "20180821_guides_chosen_for_perturbseq.csv",
)
_SCIPLEX_FILES = (
    "sciplex3_well_metadata_SupplTable3.tsv.gz",
    "chemcpa_trapnell_drugs_smiles.csv",
    "sciplex_drugProperties_short.tsv",
    "sciplex_to_l1000_brd_mapping.tsv",
    "sciplex2_A549_CellTiterGlo_viability.csv",
    "sciplex_hdac_ic50.csv",
    "sciplex_compound_solubility.csv",
)

DATASETS: tuple[DatasetInfo, ...] = (
    DatasetInfo(
        name="kang2018",
        folder="kang2018_ifnb_pbmc",
        files=("kang2018_ifnb_subset832.h5ad",),
        kind="perturbation",
        description="832 PBMCs x 14,053 genes, raw counts, IFN-beta vs control, 6 cell types",
        source="Kang et al. 2018 Nat Biotechnol (GSE96583); hjames1/seuratTools ifnb1k",
        licence="MIT (repository); data public GEO",
        loader="load_kang2018",
    ),
    DatasetInfo(
        name="perturbench_devel",
        folder="norman2019_mcfaline2023_perturbench_devel",
        files=("perturbench_devel_norman19_mcfaline23.h5ad",),
        kind="perturbation",
        description="5,961 cells x 500 HVG (log1p): Norman 2019 CRISPRa + McFaline 2023 CRISPRi",
        source=f"{_NORMAN}; McFaline-Figueroa et al. 2024; {_PB}",
        licence="BSD-3-Clause (repository); data public GEO",
        loader="load_perturbench_devel",
    ),
    DatasetInfo(
        name="norman2019",
        folder="norman2019_mcfaline2023_perturbench_devel",
        files=("perturbench_devel_norman19_mcfaline23.h5ad",),
        kind="perturbation",
        description="3,375 K562 cells x 500 HVG (log1p), CRISPRa 18 singles + 15 doubles",
        source=f"{_NORMAN} (GSE133344); {_PB}",
        licence="BSD-3-Clause (repository); data public GEO",
        loader="load_norman2019",
    ),
    DatasetInfo(
        name="mcfaline2023",
        folder="norman2019_mcfaline2023_perturbench_devel",
        files=("perturbench_devel_norman19_mcfaline23.h5ad",),
        kind="perturbation",
        description="2,586 cells x 500 HVG (log1p), CRISPRi 9 kinases in 3 glioblastoma lines",
        source=f"McFaline-Figueroa et al. 2024 (sci-Plex-GxE); {_PB}",
        licence="BSD-3-Clause (repository); data public GEO",
        loader="load_mcfaline2023",
    ),
    DatasetInfo(
        name="norman2019_gi",
        folder="norman2019_gi",
        files=_NORMAN_GI_FILES,
        kind="prior",
        description="Norman 2019 genetic-interaction tables: expression GI fits, growth GI maps",
        source=f"{_NORMAN}; thomasmaxwellnorman/Perturbseq_GI",
        licence="none stated (published research data; bundled code GPL-3.0)",
        loader="load_norman2019_gi",
    ),
    DatasetInfo(
        name="papalexi2021",
        folder="papalexi2021_eccite_thp1",
        files=("papalexi2021_thp1_lowmoi_299genes.h5ad",),
        kind="perturbation",
        description="20,729 THP-1 cells x 299 genes, raw counts, CRISPR KO of 25 genes",
        source="Papalexi et al. 2021 Nat Genet (GSE153056); Katsevich-Lab/sceptredata",
        licence="MIT (repository); data public GEO",
        loader="load_papalexi2021",
    ),
    DatasetInfo(
        name="l1000_ljp005",
        folder="lincs_l1000",
        files=("l1000_LJP005_A375_24h_plate.h5ad",),
        kind="perturbation",
        description="one L1000 plate, A375 24 h: 58 kinase inhibitors x 6 doses + DMSO, 978 genes",
        source=f"{_L1000}; cmap/cmapPy test_l1000_highprecision.gctx",
        licence="BSD-3-Clause (cmapPy)",
        loader="load_l1000_ljp005",
    ),
    DatasetInfo(
        name="l1000_cmapr_ds",
        folder="lincs_l1000",
        files=("cmapR_ds.h5ad",),
        kind="perturbation",
        description="272 level-5 L1000 signatures: 3 compounds x 65 cell lines, doses, 6/24 h",
        source=f"{_L1000}; cmap/cmapR data/ds.RData",
        licence="BSD-3-Clause (cmapR)",
        loader="load_l1000_cmapr_ds",
    ),
    DatasetInfo(
        name="l1000_cmapr_kd",
        folder="lincs_l1000",
        files=("cmapR_kd_gct.h5ad",),
        kind="perturbation",
        description="374 L1000 profiles x 976 genes: shRNA knock-downs of 85 genes + controls",
        source=f"{_L1000}; cmap/cmapR data/kd_gct.RData",
        licence="BSD-3-Clause (cmapR)",
        loader="load_l1000_cmapr_kd",
    ),
    DatasetInfo(
        name="cellpainting_sq00015054",
        folder="lincs_cellpainting_SQ00015054",
        files=("SQ00015054_normalized_feature_select.csv.gz",),
        kind="perturbation",
        description="one Cell Painting plate, A549 48 h: 58 compounds (mostly 6 doses) + DMSO",
        source="Way et al. 2022 Cell Systems; cytomining/cytominer-eval example data",
        licence="BSD-3-Clause (cytominer-eval); data CC0 (LINCS)",
        loader="load_cellpainting_sq00015054",
    ),
    DatasetInfo(
        name="cmea_cdrp_u2os",
        folder="cmea_cdrp_u2os",
        files=("l1000_landmark_163x978.csv.gz", "cellpainting_163x812.csv.gz"),
        kind="multimodal",
        description="163 compounds in U2OS measured by L1000 (978 genes) and Cell Painting (812)",
        source="Nassiri & McCall 2018 NAR; Wawer et al. 2014 PNAS; isarnassiri/CMEA",
        licence="GPL-2 (CMEA package data)",
        loader="load_cmea_cdrp_u2os",
    ),
    DatasetInfo(
        name="cellbox_korkut2015",
        folder="cellbox_korkut2015_skmel133",
        files=(
            "conditions_89.csv",
            "rppa_proteins_89x82.csv",
            "phenotypes_89x5.csv",
            "perturbation_strength_89x12.csv",
        ),
        kind="multimodal",
        description="SK-MEL-133: 89 drug / drug-pair conditions x 82 RPPA proteins + 5 phenotypes",
        source="Korkut et al. 2015 eLife; Yuan et al. 2021 Cell Systems; sanderlab/CellBox",
        licence="MIT (repository); data CC-BY 4.0",
        loader="load_cellbox_korkut2015",
    ),
    DatasetInfo(
        name="oneil2016_synergy",
        folder="oneil2016_drug_combination_synergy",
        files=("deepsynergy_labels_oneil2016.csv.gz",),
        kind="synergy",
        description="23,052 drug-pair x cell-line synergy scores (38 drugs, 39 lines), 5 CV folds",
        source="O'Neil et al. 2016 MCT; Preuer et al. 2018 (KristinaPreuer/DeepSynergy)",
        licence="none stated (labels distributed by the DeepSynergy authors)",
        loader="load_oneil2016_synergy",
    ),
    DatasetInfo(
        name="genedisco_screens",
        folder="genedisco_crispr_screens",
        files=_GENEDISCO_FILES,
        kind="screen",
        description="5 genome-wide pooled CRISPR screens, one GeneDisco target value per gene",
        source="Mehrjou et al. 2022 ICLR (GeneDisco, PyPI genedisco 1.0.5); original screen papers",
        licence="Apache-2.0 (genedisco package)",
        loader="load_genedisco_screen",
    ),
    DatasetInfo(
        name="essential_genes",
        folder="essential_genes_cegv2",
        files=("CEGv2.txt",),
        kind="prior",
        description="684 core essential human genes (CEGv2)",
        source="Hart et al. 2017 G3; snap-stanford/BioDiscoveryAgent",
        licence="none stated (published supplementary list)",
        loader="load_essential_genes",
    ),
    DatasetInfo(
        name="go_graph",
        folder="go_gene_similarity_graph",
        files=("go_jaccard_top20_proteincoding.csv.gz",),
        kind="prior",
        description="GO-similarity gene graph: 371k edges over 18,785 genes (GEARS-style Jaccard)",
        source="Gene Ontology via Bioconductor org.Hs.eg.db 3.16 / GO.db; rebuilt as in GEARS",
        licence="CC-BY-4.0 (GO annotations); Artistic-2.0 (Bioconductor)",
        loader="load_go_graph",
    ),
    DatasetInfo(
        name="gene2go",
        folder="go_gene_similarity_graph",
        files=("gene2go_human_orgHsegdb_3.16.tsv.gz",),
        kind="prior",
        description="human gene-to-GO annotations: 348k rows, 20,728 genes, 18,933 GO terms",
        source="NCBI gene2go via Bioconductor org.Hs.eg.db 3.16 (Debian package)",
        licence="CC-BY-4.0 (GO annotations); Artistic-2.0 (Bioconductor)",
        loader="load_gene2go",
    ),
    DatasetInfo(
        name="progeny",
        folder="progeny_pathway_footprints",
        files=("progeny_model_human_top100.csv", "progeny_model_human_full.csv.gz"),
        kind="prior",
        description="PROGENy pathway-responsive gene weights, 14 pathways (top-100 and full model)",
        source="Schubert et al. 2018 Nat Commun; Bioconductor progeny 1.20",
        licence="Apache-2.0",
        loader="load_progeny",
    ),
    DatasetInfo(
        name="sciplex_metadata",
        folder="sciplex_metadata_smiles",
        files=_SCIPLEX_FILES,
        kind="prior",
        description="sci-Plex 3 well design (188 drugs), SMILES, drug targets, L1000 id map",
        source="Srivatsan et al. 2020 Science; cole-trapnell-lab/sci-plex; theislab/chemCPA",
        licence="none stated (sci-plex supplementary data); MIT (chemCPA SMILES)",
        loader="load_sciplex_metadata",
    ),
)

_REGISTRY: dict[str, DatasetInfo] = {info.name: info for info in DATASETS}


def _data_root(path: str | os.PathLike[str] | None) -> Path:
    return data_dir(path)


def _unknown(name: object) -> KeyError:
    names = sorted(_REGISTRY)
    close = difflib.get_close_matches(str(name), names, n=3)
    hint = f" Did you mean {', '.join(map(repr, close))}?" if close else ""
    return KeyError(f"Unknown dataset {name!r}.{hint} Valid names: {', '.join(names)}.")


def dataset_info(name: str) -> DatasetInfo:
    """Return the catalog entry of dataset ``name``.

    Raises
    ------
    KeyError
        If ``name`` is not in the catalog; the message lists the valid names.

    Examples
    --------
    >>> dataset_info("kang2018").folder
    'kang2018_ifnb_pbmc'
    """
    try:
        return _REGISTRY[name]
    except (KeyError, TypeError):
        raise _unknown(name) from None


def list_datasets(*, data_dir: str | os.PathLike[str] | None = None) -> pd.DataFrame:
    """Describe every dataset of the catalog and whether its files are in the data directory.

    Parameters
    ----------
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.

    Returns
    -------
    pandas.DataFrame
        One row per dataset with columns ``name``, ``folder``, ``kind``, ``present`` (all its
        files exist), ``description``, ``source`` and ``licence``.
    """
    rows = [
        {
            "name": info.name,
            "folder": info.folder,
            "kind": info.kind,
            "present": info.is_present(data_dir=data_dir),
            "description": info.description,
            "source": info.source,
            "licence": info.licence,
        }
        for info in DATASETS
    ]
    return pd.DataFrame(rows, columns=[*rows[0]])


def load(name: str, *, data_dir: str | os.PathLike[str] | None = None, **kwargs: Any) -> Any:
    """Load dataset ``name`` with its loader, passing ``kwargs`` on.

    Parameters
    ----------
    name
        A catalog name (see :func:`list_datasets`).
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    **kwargs
        The loader's own options, e.g. ``screen="zhu2021_sarscov2"`` for
        ``"genedisco_screens"`` or ``min_grna_frac=0.8`` for ``"papalexi2021"``.

    Returns
    -------
    AnnData, dict or pandas object
        Whatever the dataset's loader returns.

    Raises
    ------
    KeyError
        If ``name`` is not in the catalog.
    DatasetNotFoundError
        If the dataset's files are not in the data directory.
    """
    info = dataset_info(name)
    loaders = importlib.import_module(__package__ or "phenocast.data")  # exports every loader
    return getattr(loaders, info.loader)(data_dir=data_dir, **kwargs)


# --- helpers shared by the loaders ---------------------------------------------------------


def _root_origin(path: str | os.PathLike[str] | None) -> str:
    if path is not None:
        return "passed as data_dir="
    if os.environ.get(ENV_VAR):
        return f"from the {ENV_VAR} environment variable"
    return f"the default, as {ENV_VAR} is not set"


def _dataset_dir(
    name: str,
    path: str | os.PathLike[str] | None,
    *,
    files: Iterable[str] | None = None,
) -> Path:
    """Return dataset ``name``'s folder after checking that ``files`` (default: all) exist."""
    info = dataset_info(name)
    root = _data_root(path)
    folder = root / info.folder
    needed = tuple(info.files if files is None else files)
    if not folder.is_dir():
        what = f"its folder {str(folder)!r} does not exist"
        missing = needed
    else:
        missing = tuple(f for f in needed if not (folder / f).is_file())
        if not missing:
            return folder
        what = f"its folder {str(folder)!r} lacks file(s): {', '.join(missing)}"
    raise DatasetNotFoundError(
        f"Dataset {name!r} not found: {what}. Expected {info.folder}/ with "
        f"{', '.join(needed)} inside the data directory {str(root)!r} ({_root_origin(path)}). "
        f"Fix: set the {ENV_VAR} environment variable to the directory that holds "
        f"{info.folder}/, or pass data_dir=... to the loader."
    )


def _require_columns(frame: pd.DataFrame, columns: Iterable[str], *, where: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise DatasetFormatError(
            f"{where} lacks column(s) {missing} (it has {list(frame.columns)[:12]} ...). "
            "The file differs from the version its PROVENANCE.md describes; restore that file."
        )


def _component_names(values: Iterable[object]) -> np.ndarray:
    """Perturbation component names as str, with '+' (the combination separator) -> '_'."""
    return np.array([str(v).replace(SEP, "_") for v in values], dtype=object)


def _same_values(old: pd.Series, new: pd.Series) -> bool:
    numeric = pd.api.types.is_numeric_dtype(old.dtype) or pd.api.types.is_bool_dtype(old.dtype)
    new_numeric = pd.api.types.is_numeric_dtype(new.dtype) or pd.api.types.is_bool_dtype(new.dtype)
    if numeric and new_numeric:
        a = np.asarray(old, dtype=float)
        b = np.asarray(new, dtype=float)
        return bool(np.array_equal(a, b, equal_nan=True))
    if numeric != new_numeric:
        return False
    return bool((old.astype(str).to_numpy() == new.astype(str).to_numpy()).all())


def _put_column(obs: pd.DataFrame, name: str, values: pd.Series) -> None:
    """Set a standard column; an original one with other values becomes ``<name>_original``."""
    if name in obs.columns and not _same_values(obs[name], values):
        backup = f"{name}_original"
        if backup in obs.columns:
            raise DatasetFormatError(
                f"obs has both {name!r} and {backup!r}; cannot keep the original {name!r}."
            )
        obs.insert(obs.columns.get_loc(name), backup, obs[name])
    obs[name] = values


def _as_category(values: Any, index: pd.Index) -> pd.Series:
    ser = pd.Series(np.asarray(values, dtype=object), index=index)
    return ser.astype(str).astype("category")


def _broadcast(value: Any, index: pd.Index) -> np.ndarray:
    if np.ndim(value) == 0:
        item = value.item() if isinstance(value, np.generic) else value
        return np.full(len(index), item, dtype=object if isinstance(item, str) else None)
    return np.asarray(value)


def _finalize(
    adata: AnnData,
    *,
    dataset: str,
    perturbation: Any,
    dose: Any,
    is_control: Any,
    x_kind: XKind,
    control: str | None,
    source: str,
    dose_unit: str | None = None,
    time: Any = None,
    time_unit: str | None = None,
    cell_type: Any = None,
    cell_line: Any = None,
    extra_uns: Mapping[str, Any] | None = None,
) -> AnnData:
    """Add the standard obs columns and ``uns["phenocast"]`` to ``adata`` in place."""
    obs = adata.obs
    index = obs.index
    pert = _as_category(_broadcast(perturbation, index), index)
    ctrl = pd.Series(np.asarray(_broadcast(is_control, index), dtype=bool), index=index)
    if control is None:
        if ctrl.any():
            raise AssertionError(f"{dataset}: control rows present but control label is None")
    elif not ((pert.astype(str) == control).to_numpy() == ctrl.to_numpy()).all():
        raise AssertionError(f"{dataset}: is_control disagrees with perturbation == {control!r}")

    dose_values = _broadcast(dose, index)
    if dose_values.dtype.kind in "fiub":
        dose_ser = pd.Series(np.asarray(dose_values, dtype=np.float64), index=index)
    else:
        dose_ser = _as_category(dose_values, index)
        if (pert.astype(str).str.count(r"\+") != dose_ser.astype(str).str.count(r"\+")).any():
            raise AssertionError(f"{dataset}: dose strings do not match the components")

    _put_column(obs, "perturbation", pert)
    _put_column(obs, "dose", dose_ser)
    if cell_type is not None:
        _put_column(obs, "cell_type", _as_category(_broadcast(cell_type, index), index))
    if cell_line is not None:
        _put_column(obs, "cell_line", _as_category(_broadcast(cell_line, index), index))
    if time is not None:
        times = np.asarray(_broadcast(time, index), dtype=np.float64)
        _put_column(obs, "time", pd.Series(times, index=index))
    _put_column(obs, "is_control", ctrl)

    if not adata.obs_names.is_unique:
        adata.obs_names_make_unique()
    meta: dict[str, Any] = {
        "dataset": dataset,
        "x_kind": x_kind,
        "control": control,
        "dose_unit": dose_unit,
        "time_unit": time_unit,
        "source": source,
    }
    if extra_uns:
        meta.update(extra_uns)
    adata.uns["phenocast"] = meta
    return adata
