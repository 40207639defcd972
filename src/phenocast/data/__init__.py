"""Data: registration, perturbation parsing, pseudobulk, dataset loaders (single readouts and
several aligned readouts), synthetic data, and data larger than memory (read, convert)."""

from __future__ import annotations

from ._convert import convert
from ._datasets import (
    DATASETS,
    DatasetFormatError,
    DatasetInfo,
    DatasetNotFoundError,
    dataset_info,
    list_datasets,
    load,
)
from ._io import atomic_write, atomic_write_text, json_safe, read_user_csv, write_json
from ._loaders import (
    CELLPAINTING_NOMINAL_DOSES_UM,
    PathLike,
    load_cellpainting_sq00015054,
    load_kang2018,
    load_l1000_cmapr_ds,
    load_l1000_cmapr_kd,
    load_l1000_ljp005,
    load_mcfaline2023,
    load_norman2019,
    load_oneil2016_synergy,
    load_papalexi2021,
    load_perturbench_devel,
)
from ._multimodal import (
    MultiModalData,
    MultiModalDataError,
    load_multimodal,
    multimodal_datasets,
)
from ._multimodal_loaders import load_cellbox_korkut2015, load_cmea_cdrp_u2os
from ._multimodal_splits import Split as MultiModalSplit
from ._ondisk import (
    DiskDataError,
    MatrixWriter,
    dense_rows,
    fingerprint,
    is_on_disk,
    read,
    row_blocks,
    take_rows,
)
from ._parse import (
    Condition,
    RegistrationError,
    format_condition,
    parse_condition,
    parse_conditions,
)
from ._paths import data_dir
from ._priors import (
    GENEDISCO_SCREENS,
    GeneDiscoScreen,
    load_essential_genes,
    load_gene2go,
    load_genedisco_screen,
    load_go_graph,
    load_norman2019_gi,
    load_progeny,
    load_sciplex_metadata,
)
from ._pseudobulk import CONTROL, Pseudobulk, context_of, group_means, pseudobulk
from ._registry import Encoded, Registry, register
from ._synthetic import SyntheticTruth, expected_profile, synthetic
from ._synthetic_multimodal import MultiModalTruth, synthetic_multimodal

__all__ = [
    "CELLPAINTING_NOMINAL_DOSES_UM",
    "CONTROL",
    "DATASETS",
    "GENEDISCO_SCREENS",
    "Condition",
    "DatasetFormatError",
    "DatasetInfo",
    "DatasetNotFoundError",
    "DiskDataError",
    "Encoded",
    "GeneDiscoScreen",
    "MatrixWriter",
    "MultiModalData",
    "MultiModalDataError",
    "MultiModalSplit",
    "MultiModalTruth",
    "PathLike",
    "Pseudobulk",
    "RegistrationError",
    "Registry",
    "SyntheticTruth",
    "atomic_write",
    "atomic_write_text",
    "context_of",
    "convert",
    "data_dir",
    "dataset_info",
    "dense_rows",
    "expected_profile",
    "fingerprint",
    "format_condition",
    "group_means",
    "is_on_disk",
    "json_safe",
    "list_datasets",
    "load",
    "load_cellbox_korkut2015",
    "load_cellpainting_sq00015054",
    "load_cmea_cdrp_u2os",
    "load_essential_genes",
    "load_gene2go",
    "load_genedisco_screen",
    "load_go_graph",
    "load_kang2018",
    "load_l1000_cmapr_ds",
    "load_l1000_cmapr_kd",
    "load_l1000_ljp005",
    "load_mcfaline2023",
    "load_multimodal",
    "load_norman2019",
    "load_norman2019_gi",
    "load_oneil2016_synergy",
    "load_papalexi2021",
    "load_perturbench_devel",
    "load_progeny",
    "load_sciplex_metadata",
    "multimodal_datasets",
    "parse_condition",
    "parse_conditions",
    "pseudobulk",
    "read",
    "read_user_csv",
    "register",
    "row_blocks",
    "synthetic",
    "synthetic_multimodal",
    "take_rows",
    "write_json",
]
