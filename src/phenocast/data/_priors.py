"""Loaders for pooled screens (GeneDisco's oracles) and knowledge priors.

Screens come back as AnnData (genes × one ``target`` column); priors as pandas objects.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Literal, get_args

import numpy as np
import pandas as pd

from ._datasets import SEP, _component_names, _dataset_dir, _finalize, _require_columns
from ._loaders import PathLike, _names, _new_anndata

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "GENEDISCO_SCREENS",
    "GeneDiscoScreen",
    "load_essential_genes",
    "load_gene2go",
    "load_genedisco_screen",
    "load_go_graph",
    "load_norman2019_gi",
    "load_progeny",
    "load_sciplex_metadata",
]

GeneDiscoScreen = Literal[
    "schmidt2021_ifng", "schmidt2021_il2", "zhu2021_sarscov2", "zhuang2019_nk", "sanchez2021_tau"
]
GENEDISCO_SCREENS: tuple[str, ...] = get_args(GeneDiscoScreen)


# --- pooled screens --------------------------------------------------------------------------

_SCREEN_INFO: dict[str, tuple[str, str, str]] = {
    # screen -> (target definition, cell type, citation)
    "schmidt2021_ifng": (
        "mean over the two donors of MAGeCK pos|lfc",
        "primary human T cells",
        "Schmidt et al. 2022 Science (GSE174292), IFN-gamma",
    ),
    "schmidt2021_il2": (
        "mean over the two donors of MAGeCK pos|lfc",
        "primary human T cells",
        "Schmidt et al. 2022 Science (GSE174292), IL-2",
    ),
    "zhu2021_sarscov2": (
        "-log(MAGeCK pos|score)",
        "unknown",
        "Zhu et al. 2021 Nat Commun, SARS-CoV-2 host factors",
    ),
    "zhuang2019_nk": (
        "mean of MAGeCK-MLE Rep1|z and Rep2|z",
        "unknown",
        "Zhuang et al. 2019 Front Immunol 10:2879, NK-cell selection",
    ),
    "sanchez2021_tau": (
        "-RSA_Down",
        "iPSC-derived neurons",
        "Sanchez et al. 2021 Commun Biol, tau levels (21 days)",
    ),
}


def _read_screen(path: str | os.PathLike[str], *, gene_col: str, sep: str) -> pd.DataFrame:
    # keep_default_na=False: gene symbols must never be read as NaN; the files have no gaps.
    df = pd.read_csv(
        path, sep=sep, encoding="utf-8-sig", dtype={gene_col: str}, keep_default_na=False
    )
    _require_columns(df, [gene_col], where=os.fspath(path))
    df[gene_col] = df[gene_col].str.strip()
    return df


def _screen_target(screen: str, folder: os.PathLike[str]) -> tuple[pd.Series, pd.Series]:
    """Return (target per gene, number of file rows merged per gene)."""
    raw = os.path.join(folder, "raw")
    if screen.startswith("schmidt2021_"):
        arm = screen.removeprefix("schmidt2021_")
        frames = []
        for donor in ("d1", "d2"):
            path = os.path.join(raw, f"schmidt_{arm}_{donor}.gene_summary.txt.gz")
            df = _read_screen(path, gene_col="id", sep="\t")
            _require_columns(df, ["pos|lfc"], where=path)
            frames.append(df[["id", "pos|lfc"]])
        both = pd.concat(frames).groupby("id", sort=True)["pos|lfc"]
        return both.mean(), both.size()
    if screen == "zhu2021_sarscov2":
        path = os.path.join(raw, "zhu_2021_sarscov2_host_factors.csv.gz")
        df = _read_screen(path, gene_col="id", sep=",")
        _require_columns(df, ["pos|score"], where=path)
        values, genes = -np.log(df["pos|score"].to_numpy(dtype=np.float64)), df["id"]
    elif screen == "zhuang2019_nk":
        path = os.path.join(raw, "zhuang_2019_low_selection.gene_summary.txt.gz")
        df = _read_screen(path, gene_col="Gene", sep="\t")
        _require_columns(df, ["Rep1|z", "Rep2|z"], where=path)
        values = df[["Rep1|z", "Rep2|z"]].to_numpy(dtype=np.float64).mean(axis=1)
        genes = df["Gene"]
    else:
        path = os.path.join(raw, "sanchezetal2021_21days.csv.gz")
        df = _read_screen(path, gene_col="Symbol", sep=",")
        _require_columns(df, ["RSA_Down"], where=path)
        values, genes = -df["RSA_Down"].to_numpy(dtype=np.float64), df["Symbol"]
    grouped = pd.Series(values, index=genes.to_numpy()).groupby(level=0, sort=True)
    return grouped.mean(), grouped.size()


def load_genedisco_screen(screen: GeneDiscoScreen, *, data_dir: PathLike = None) -> AnnData:
    """One genome-wide pooled CRISPR screen of GeneDisco, one target value per gene.

    Parameters
    ----------
    screen
        ``"schmidt2021_ifng"`` / ``"schmidt2021_il2"`` (primary T cells, cytokine production;
        mean over 2 donors of MAGeCK ``pos|lfc``), ``"zhu2021_sarscov2"`` (SARS-CoV-2 host
        factors; ``-log(pos|score)``), ``"zhuang2019_nk"`` (resistance to NK cells; mean of
        ``Rep1|z`` and ``Rep2|z``) or ``"sanchez2021_tau"`` (tau in iPSC neurons;
        ``-RSA_Down``, the sign GeneDisco uses).
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.

    Returns
    -------
    AnnData
        Genes × one var ``"target"`` (float64), obs_names = gene symbols as in the file
        (sorted, unique). Symbols that occur twice (Excel-mangled names such as ``"02.Mar"``
        in zhu2021, two different genes) are averaged, as GeneDisco merges duplicates by the
        mean; ``n_records`` counts the rows merged (2 for genes in both schmidt donors).
        ``perturbation`` = gene symbol, ``dose`` 1.0, no controls.

    Notes
    -----
    GeneDisco 1.0.5 itself additionally renames outdated HGNC symbols (not done here) and,
    for files not sorted by gene, pairs sorted gene names with unsorted values; its zhuang
    target is the sum (2 × mean) of the two z-scores. The values here follow the documented
    definitions, aligned by gene.
    """
    if screen not in _SCREEN_INFO:
        raise ValueError(
            f"Unknown GeneDisco screen {screen!r}; choose one of {', '.join(GENEDISCO_SCREENS)}."
        )
    files = {
        "zhu2021_sarscov2": ["raw/zhu_2021_sarscov2_host_factors.csv.gz"],
        "zhuang2019_nk": ["raw/zhuang_2019_low_selection.gene_summary.txt.gz"],
        "sanchez2021_tau": ["raw/sanchezetal2021_21days.csv.gz"],
    }.get(screen)
    if files is None:  # schmidt: one file per donor
        arm = screen.removeprefix("schmidt2021_")
        files = [f"raw/schmidt_{arm}_{donor}.gene_summary.txt.gz" for donor in ("d1", "d2")]
    folder = _dataset_dir("genedisco_screens", data_dir, files=files)
    target, n_records = _screen_target(screen, folder)
    definition, cell_type, citation = _SCREEN_INFO[screen]
    obs = pd.DataFrame(
        {"n_records": n_records.to_numpy(dtype=np.int64)},
        index=_names(target.index),
    )
    x = target.to_numpy(dtype=np.float64)[:, None]
    adata = _new_anndata(x, obs, ["target"])
    return _finalize(
        adata,
        dataset="genedisco_screens",
        perturbation=_component_names(obs.index),
        dose=1.0,
        is_control=False,
        cell_type=cell_type,
        x_kind="continuous",
        control=None,
        source=f"{citation}; GeneDisco (Mehrjou et al. 2022)",
        extra_uns={"screen": screen, "target": definition},
    )


# --- knowledge priors ------------------------------------------------------------------------


def load_go_graph(*, data_dir: PathLike = None) -> pd.DataFrame:
    """GO-similarity gene graph (GEARS-style): directed edges with Jaccard importance.

    Returns
    -------
    pandas.DataFrame
        371,121 edges with columns ``source``, ``target`` (gene symbols, str) and
        ``importance`` (Jaccard index of the genes' GO-term sets, > 0.1; each target keeps
        its 20 most similar genes).
    """
    name = "go_jaccard_top20_proteincoding.csv.gz"
    path = _dataset_dir("go_graph", data_dir) / name
    df = pd.read_csv(
        path,
        dtype={"source": str, "target": str, "importance": np.float64},
        keep_default_na=False,
    )
    _require_columns(df, ["source", "target", "importance"], where=name)
    return df


def load_gene2go(*, data_dir: PathLike = None) -> pd.DataFrame:
    """Direct GO annotations of human genes (org.Hs.eg.db 3.16).

    Returns
    -------
    pandas.DataFrame
        348,116 rows: ``symbol``, ``entrez`` (int), ``gene_type``, ``go_id``, ``ontology``
        (BP / MF / CC), ``evidence`` and ``term``; a gene-term pair repeats once per evidence
        code.
    """
    name = "gene2go_human_orgHsegdb_3.16.tsv.gz"
    path = _dataset_dir("gene2go", data_dir) / name
    df = pd.read_csv(path, sep="\t", keep_default_na=False, na_values={"entrez": [""]})
    _require_columns(df, ["symbol", "go_id", "ontology"], where=name)
    return df


def load_essential_genes(*, data_dir: PathLike = None) -> list[str]:
    """Core essential human genes, CEGv2 (Hart et al. 2017): a list of 684 HGNC symbols."""
    name = "CEGv2.txt"
    df = pd.read_csv(
        _dataset_dir("essential_genes", data_dir) / name, sep="\t", dtype=str, keep_default_na=False
    )
    _require_columns(df, ["GENE"], where=name)
    return [g.strip() for g in df["GENE"] if g.strip()]


def load_progeny(*, data_dir: PathLike = None, top100: bool = True) -> pd.DataFrame:
    """PROGENy pathway-responsive gene weights for 14 pathways (long format).

    Parameters
    ----------
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    top100
        The standard footprint: the 100 most significant genes per pathway (1,400 rows).
        ``False`` gives the full model (274,143 rows, 22,479 genes).

    Returns
    -------
    pandas.DataFrame
        Columns ``gene``, ``pathway``, ``weight``, ``p.value``. Pivot with
        ``df.pivot(index="gene", columns="pathway", values="weight").fillna(0)``.
    """
    name = "progeny_model_human_top100.csv" if top100 else "progeny_model_human_full.csv.gz"
    path = _dataset_dir("progeny", data_dir, files=[name]) / name
    df = pd.read_csv(path, dtype={"gene": str, "pathway": str}, keep_default_na=False)
    _require_columns(df, ["gene", "pathway", "weight", "p.value"], where=name)
    return df


def load_sciplex_metadata(*, data_dir: PathLike = None) -> dict[str, pd.DataFrame]:
    """sci-Plex 2/3 design and chemistry (no expression data).

    Returns
    -------
    dict of pandas.DataFrame
        ``"wells"`` (sci-Plex 3 Supplementary Table 3: 4,992 wells with cell type, dose in nM,
        time, compound name, catalog number and SMILES), ``"smiles"`` (chemCPA's 189 drugs:
        ``drug_name``, ``smiles``, ``pathway``), ``"drug_properties"`` (Selleck catalog
        number -> name, target, pathway), ``"l1000_mapping"`` (``catalog_number`` ->
        ``pert_id`` BRD id, 120 rows), ``"viability"`` (sci-Plex 2 A549 CellTiter-Glo),
        ``"hdac_ic50"`` and ``"solubility"`` (``catalog_number``, ``solubility``).
    """
    folder = _dataset_dir("sciplex_metadata", data_dir)
    return {
        "wells": pd.read_csv(folder / "sciplex3_well_metadata_SupplTable3.tsv.gz", sep="\t"),
        "smiles": pd.read_csv(folder / "chemcpa_trapnell_drugs_smiles.csv"),
        "drug_properties": pd.read_csv(folder / "sciplex_drugProperties_short.tsv", sep="\t"),
        "l1000_mapping": pd.read_csv(
            folder / "sciplex_to_l1000_brd_mapping.tsv",
            sep="\t",
            header=None,
            names=["catalog_number", "pert_id"],
            dtype=str,
        ),
        "viability": pd.read_csv(folder / "sciplex2_A549_CellTiterGlo_viability.csv"),
        "hdac_ic50": pd.read_csv(folder / "sciplex_hdac_ic50.csv"),
        "solubility": pd.read_csv(
            folder / "sciplex_compound_solubility.csv",
            header=None,
            names=["catalog_number", "solubility"],
            dtype={"catalog_number": str},
        ),
    }


def load_norman2019_gi(*, data_dir: PathLike = None) -> dict[str, pd.DataFrame]:
    """Norman et al. 2019 genetic-interaction tables (authors' release).

    Returns
    -------
    dict of pandas.DataFrame
        ``"regr_fits"`` (125 two-gene CRISPRa pairs × expression-GI model fits, indexed by
        ``name`` such as ``"AHR_FEV"``, plus a ``perturbation`` column ``"AHR+FEV"``),
        ``"emap"`` / ``"fitnesses"`` (104 × 104 growth GI scores / double-perturbation growth
        phenotypes of the Perturb-seq genes), ``"single_phenotypes"`` (single-gene growth
        phenotypes, indexed by gene), the same three for the full 112-gene GI map
        (``"emap_full"``, ``"fitnesses_full"``, ``"single_phenotypes_full"``), ``"umap"``
        (the paper's perturbation UMAP with ``cluster``) and ``"guides"`` (sgRNA protospacers).
    """
    folder = _dataset_dir("norman2019_gi", data_dir)

    def square(name: str) -> pd.DataFrame:
        df = pd.read_csv(folder / name, index_col=0)
        df.index = pd.Index(df.index.astype(str), name="gene")
        return df

    fits = pd.read_csv(folder / "regr_fits_final.csv", index_col="name")
    fits.insert(0, "perturbation", [SEP.join(str(n).split("_")) for n in fits.index])
    return {
        "regr_fits": fits,
        "emap": square("processed_perturbseq_emap.csv"),
        "fitnesses": square("processed_perturbseq_fitnesses.csv"),
        "single_phenotypes": pd.read_csv(
            folder / "perturbseq_single_phenotype_table.csv", index_col="guide_target"
        ),
        "emap_full": square("processed_emap.csv"),
        "fitnesses_full": square("processed_fitnesses.csv"),
        "single_phenotypes_full": pd.read_csv(
            folder / "single_phenotype_table.csv", index_col="gene"
        ),
        "umap": pd.read_csv(folder / "optimal_umap_layout.csv", index_col=0),
        "guides": pd.read_csv(folder / "20180821_guides_chosen_for_perturbseq.csv"),
    }
