"""The fixed benchmark tasks of ``BENCHMARKS.md``: data, preprocessing and splits.

A task builds folds. A fold holds the registered training data and groups of held-out
queries; every query group shares the control cells the model starts from.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..data import Registry, context_of, group_means, register

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["TASKS", "Fold", "QueryGroup", "Task", "get_tasks"]


@dataclass
class QueryGroup:
    """Held-out conditions predicted from the same control cells.

    ``conditions`` has the registry's condition columns, indexed by a readable label;
    ``truth`` holds the observed mean profile of each condition (rows aligned), ``ctrl`` the
    mean control profile used for Δ metrics, and ``cells`` the held-out cells of each
    condition (for the noise ceiling).
    """

    controls: AnnData | None
    conditions: pd.DataFrame
    truth: np.ndarray
    ctrl: np.ndarray
    cells: list[np.ndarray] = field(default_factory=list)


@dataclass
class Fold:
    name: str
    train: AnnData
    registry: Registry
    groups: list[QueryGroup]


@dataclass(frozen=True)
class Task:
    """A benchmark task: how to build its folds and how to score them."""

    name: str
    description: str
    metrics: tuple[str, ...]
    baselines: tuple[str, ...]
    build: Callable[[Path | None], list[Fold]]
    scoring: Literal["profile", "scalar"] = "profile"
    data: str = ""
    #: Per model name, options the task gives it (e.g. which baseline the compositional
    #: model is anchored to); a model variant's own options override them.
    model_options: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: The held-out doses lie outside the trained range by design: models are asked to
    #: extrapolate (``extrapolate=True``) instead of refusing them.
    extrapolate: bool = False


def _dense(x: Any) -> np.ndarray:
    import scipy.sparse as sp

    return np.asarray(x.toarray() if sp.issparse(x) else x, dtype=np.float64)


def _mean(x: Any) -> np.ndarray:
    return np.asarray(x.mean(axis=0), dtype=np.float64).ravel()


def _query(
    data: AnnData,
    registry: Registry,
    *,
    held_out: np.ndarray,
    controls: np.ndarray,
    label_cols: list[str],
) -> QueryGroup:
    """One query group: every held-out condition in ``data[held_out]``, from ``controls``."""
    sub = data[held_out]
    keys = registry.conditions_of(sub)
    codes, uniq = pd.factorize(keys)
    x = registry.matrix(sub)
    truth, _ = group_means(x, codes)
    first = [int(np.flatnonzero(codes == g)[0]) for g in range(len(uniq))]
    cols = registry.condition_columns
    conditions = sub.obs.iloc[first][cols].copy()
    conditions.index = [" ".join(str(sub.obs.iloc[i][c]) for c in label_cols) for i in first]
    xd = _dense(x)
    cells = [xd[codes == g] for g in range(len(uniq))]
    ctrl_data = data[controls]
    return QueryGroup(
        controls=ctrl_data,
        conditions=conditions,
        truth=np.asarray(truth, dtype=np.float64),
        ctrl=_mean(registry.matrix(ctrl_data)),
        cells=cells,
    )


# ------------------------------------------------------------------ kang-ood-celltype


def _build_kang(data_dir: Path | None) -> list[Fold]:
    import scanpy as sc

    from ..data import load_kang2018

    a = load_kang2018(data_dir=data_dir)
    sc.pp.normalize_total(a, target_sum=1e4)
    sc.pp.log1p(a)
    sc.pp.highly_variable_genes(a, n_top_genes=2000, flavor="seurat")
    a = a[:, a.var["highly_variable"].to_numpy()].copy()
    folds = []
    for ct in sorted(a.obs["cell_type"].astype(str).unique()):
        in_ct = (a.obs["cell_type"].astype(str) == ct).to_numpy()
        ctrl = a.obs["is_control"].to_numpy(dtype=bool)
        held = in_ct & ~ctrl
        train = a[~held].copy()
        reg = register(
            train, perturbation="perturbation", control="control", covariates=["cell_type"]
        )
        group = _query(a, reg, held_out=held, controls=in_ct & ctrl, label_cols=["cell_type"])
        folds.append(Fold(ct, train, reg, [group]))
    return folds


# ------------------------------------------------------------------ norman-combos


def _build_norman(data_dir: Path | None) -> list[Fold]:
    from ..data import load_norman2019

    a = load_norman2019(data_dir=data_dir)
    perts = a.obs["perturbation"].astype(str)
    singles = {p for p in perts.unique() if "+" not in p and p != "control"}
    test = sorted(p for p in perts.unique() if "+" in p and all(c in singles for c in p.split("+")))
    held = perts.isin(test).to_numpy()
    train = a[~held].copy()
    reg = register(
        train, perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    ctrl = a.obs["is_control"].to_numpy(dtype=bool)
    group = _query(a, reg, held_out=held, controls=ctrl, label_cols=["perturbation"])
    return [Fold("doubles", train, reg, [group])]


# ------------------------------------------------------------------ crispri-transfer


def _build_crispri(data_dir: Path | None) -> list[Fold]:
    from ..data import load_mcfaline2023

    a = load_mcfaline2023(data_dir=data_dir)
    lines = a.obs["cell_line"].astype(str)
    ctrl = a.obs["is_control"].to_numpy(dtype=bool)
    folds = []
    for line in sorted(lines.unique()):
        in_line = (lines == line).to_numpy()
        held = in_line & ~ctrl
        train = a[~held].copy()
        reg = register(
            train, perturbation="perturbation", control="control", covariates=["cell_line"]
        )
        group = _query(a, reg, held_out=held, controls=in_line & ctrl, label_cols=["perturbation"])
        folds.append(Fold(line, train, reg, [group]))
    return folds


# ------------------------------------------------------------------ dose tasks

NOMINAL_DOSES = (0.04, 0.12, 0.37, 1.11, 3.33, 10.0)
INTERIOR = (1, 2, 3, 4)  # positions of 0.12, 0.37, 1.11, 3.33 µM


def _dose_folds(a: AnnData, dose_col: str, split: Literal["A", "B"]) -> list[Fold]:
    """Hold out one interior dose per compound (A) or every top dose (B)."""
    obs = a.obs
    ctrl = obs["is_control"].to_numpy(dtype=bool)
    position = pd.Series(-1, index=obs.index)
    dose = pd.to_numeric(obs[dose_col], errors="coerce")
    for i, nominal in enumerate(NOMINAL_DOSES):
        position[np.isclose(dose, nominal, rtol=0.15, atol=0.0)] = i
    treated = ~ctrl & (position >= 0).to_numpy()
    comp = obs["perturbation"].astype(str)
    n_pos = position[treated].groupby(comp[treated]).nunique()
    full = sorted(n_pos.index[n_pos == len(NOMINAL_DOSES)])
    keep = ctrl | (comp.isin(full).to_numpy() & treated)
    a = a[keep].copy()
    a.obs["dose_task"] = np.where(
        a.obs["is_control"].to_numpy(dtype=bool),
        0.0,
        np.asarray(NOMINAL_DOSES)[position[keep].to_numpy().clip(0)],
    )
    comp = a.obs["perturbation"].astype(str)
    pos = position[keep].to_numpy()
    if split == "A":
        rng = np.random.default_rng(0)
        draw = rng.integers(0, len(INTERIOR), size=len(full))
        held_pos = {c: INTERIOR[d] for c, d in zip(full, draw, strict=True)}
        held = np.array([held_pos.get(c, -9) == p for c, p in zip(comp, pos, strict=True)])
    else:
        held = pos == len(NOMINAL_DOSES) - 1
    held &= ~a.obs["is_control"].to_numpy(dtype=bool)
    train = a[~held].copy()
    reg = register(train, perturbation="perturbation", control="control", dose="dose_task")
    ctrl = a.obs["is_control"].to_numpy(dtype=bool)
    group = _query(a, reg, held_out=held, controls=ctrl, label_cols=["perturbation", "dose_task"])
    return [Fold(f"split-{split}", train, reg, [group])]


def _build_l1000(split: Literal["A", "B"]) -> Callable[[Path | None], list[Fold]]:
    def build(data_dir: Path | None) -> list[Fold]:
        from ..data import load_l1000_ljp005

        a = load_l1000_ljp005(data_dir=data_dir)
        a = a[(a.obs["pert_type"].astype(str) != "trt_poscon").to_numpy()].copy()
        return _dose_folds(a, "dose", split)

    return build


def _build_cellpainting(split: Literal["A", "B"]) -> Callable[[Path | None], list[Fold]]:
    def build(data_dir: Path | None) -> list[Fold]:
        from ..data import load_cellpainting_sq00015054

        a = load_cellpainting_sq00015054(data_dir=data_dir)
        return _dose_folds(a, "dose", split)

    return build


# ------------------------------------------------------------------ l1000 signatures across time


def _signature_query(data: AnnData, registry: Registry, *, held_out: np.ndarray) -> QueryGroup:
    """The held-out signatures as one query group without control cells: one condition per
    (perturbation, dose, context), its replicate signatures averaged; Δ against zero."""
    sub = data[held_out]
    conds = registry.conditions_of(sub).to_numpy()
    keys = [f"{k}|{c}" for k, c in zip(conds, context_of(sub.obs, registry), strict=True)]
    codes, uniq = pd.factorize(pd.Series(keys))
    x = registry.matrix(sub)
    truth, _ = group_means(x, codes)
    first = [int(np.flatnonzero(codes == g)[0]) for g in range(len(uniq))]
    conditions = sub.obs.iloc[first][registry.condition_columns].copy()
    conditions.index = [
        f"{r.perturbation} {r.dose:g}uM {r.time:g}h {r.cell_line}" for r in conditions.itertuples()
    ]
    xd = _dense(x)
    return QueryGroup(
        controls=None,
        conditions=conditions,
        truth=np.asarray(truth, dtype=np.float64),
        ctrl=np.zeros(data.n_vars),
        cells=[xd[codes == g] for g in range(len(uniq))],
    )


def _register_ds(train: AnnData) -> Registry:
    return register(
        train,
        perturbation="perturbation",
        control=None,
        dose="dose",
        time="time",
        covariates=["cell_line"],
    )


def _build_l1000_time(data_dir: Path | None) -> list[Fold]:
    """One fold per (compound, time): all its signatures leave training; those whose
    (compound, dose, line) was also measured at the other time are predicted."""
    from ..data import load_l1000_cmapr_ds

    a = load_l1000_cmapr_ds(data_dir=data_dir)
    obs = a.obs
    drug, time = obs["perturbation"].astype(str), obs["time"].to_numpy(dtype=float)
    triple = drug + "|" + obs["dose"].map("{:g}".format) + "|" + obs["cell_line"].astype(str)
    folds = []
    for d in sorted(drug.unique()):
        for t in sorted(set(time[(drug == d).to_numpy()])):
            held = (drug == d).to_numpy() & (time == t)
            other_time = set(triple[(drug == d).to_numpy() & (time != t)])
            scored = held & triple.isin(other_time).to_numpy()
            train = a[~held].copy()
            reg = _register_ds(train)
            group = _signature_query(a, reg, held_out=scored)
            folds.append(Fold(f"{d}-{t:g}h", train, reg, [group]))
    return folds


def _build_l1000_cellline(data_dir: Path | None) -> list[Fold]:
    """One fold per cell line that measured every compound at every time: all its signatures
    leave training and are predicted."""
    from ..data import load_l1000_cmapr_ds

    a = load_l1000_cmapr_ds(data_dir=data_dir)
    obs = a.obs
    line = obs["cell_line"].astype(str)
    n_drug_times = obs.groupby(line.to_numpy())[["perturbation", "time"]].apply(
        lambda f: len(f.drop_duplicates())
    )
    n_all = obs["perturbation"].nunique() * obs["time"].nunique()
    folds = []
    for ln in sorted(n_drug_times.index[n_drug_times == n_all]):
        held = (line == ln).to_numpy()
        train = a[~held].copy()
        reg = _register_ds(train)
        folds.append(Fold(ln, train, reg, [_signature_query(a, reg, held_out=held)]))
    return folds


# ------------------------------------------------------------------ drug-synergy


def _build_synergy(data_dir: Path | None) -> list[Fold]:
    from ..data import load_oneil2016_synergy

    a = load_oneil2016_synergy(data_dir=data_dir, average_duplicates=True)
    folds = []
    fold_col = a.obs["fold"].to_numpy()
    for f in sorted(np.unique(fold_col)):
        held = fold_col == f
        train = a[~held].copy()
        reg = register(train, perturbation="perturbation", control=None, covariates=["cell_line"])
        sub = a[held]
        conditions = sub.obs[reg.condition_columns].copy()
        group = QueryGroup(
            controls=None,
            conditions=conditions,
            truth=_dense(reg.matrix(sub)),
            ctrl=np.zeros(a.n_vars),
        )
        folds.append(Fold(f"fold-{f}", train, reg, [group]))
    return folds


PROFILE_DOSE = ("pearson_delta", "r2")
PROFILE_SIGNATURE = ("pearson_delta", "r2", "mse_top20_deg", "l2")


def _anchored(first: str, *extra: str) -> dict[str, dict[str, Any]]:
    """Compositional options: the recommended anchored configuration with the task's reference
    baseline first (it wins ties), then the task's own ``extra`` candidates, then the rest of
    ``ANCHOR_BASELINES``; the fit picks one (and the blend) on validation groups of the
    training data, never on the held-out conditions."""
    from ..models.compositional import CompositionalConfig

    return {
        "compositional": {
            "anchor": CompositionalConfig.recommended(baseline=(first, *extra)).anchor
        }
    }


TASKS: dict[str, Task] = {
    t.name: t
    for t in (
        Task(
            "kang-ood-celltype",
            "IFN-β response of a cell type never seen stimulated (6 folds)",
            ("r2", "pearson_delta", "r2_top100", "pearson_delta_top100"),
            ("no-change", "mean-shift"),
            _build_kang,
            data="kang2018_ifnb_pbmc",
            model_options=_anchored("mean-shift"),
        ),
        Task(
            "norman-combos",
            "double CRISPRa activations from their singles (5 doubles)",
            ("pearson_delta", "mse_top20_deg", "l2"),
            ("no-change", "additive"),
            _build_norman,
            data="norman2019_mcfaline2023_perturbench_devel",
            model_options=_anchored("additive"),
        ),
        Task(
            "crispri-transfer",
            "a knockdown's effect in a cell line where it was never measured (3 folds)",
            ("pearson_delta", "r2_delta", "mse_top20_deg"),
            ("no-change", "transfer"),
            _build_crispri,
            data="norman2019_mcfaline2023_perturbench_devel",
            model_options=_anchored("transfer"),
        ),
        Task(
            "l1000-dose-a",
            "L1000: one held-out interior dose per compound (interpolation)",
            PROFILE_DOSE,
            ("no-change", "nearest-dose", "dose-interp"),
            _build_l1000("A"),
            data="lincs_l1000",
            model_options=_anchored("dose-interp"),
        ),
        Task(
            "l1000-dose-b",
            "L1000: every 10 µM condition held out (extrapolation)",
            PROFILE_DOSE,
            ("no-change", "nearest-dose"),
            _build_l1000("B"),
            data="lincs_l1000",
            model_options=_anchored("nearest-dose"),
            extrapolate=True,
        ),
        Task(
            "cellpainting-dose-a",
            "Cell Painting: one held-out interior dose per compound (interpolation)",
            PROFILE_DOSE,
            ("no-change", "nearest-dose", "dose-interp"),
            _build_cellpainting("A"),
            data="lincs_cellpainting_SQ00015054",
            model_options=_anchored("dose-interp"),
        ),
        Task(
            "cellpainting-dose-b",
            "Cell Painting: every top-dose condition held out (extrapolation)",
            PROFILE_DOSE,
            ("no-change", "nearest-dose"),
            _build_cellpainting("B"),
            data="lincs_cellpainting_SQ00015054",
            model_options=_anchored("nearest-dose"),
            extrapolate=True,
        ),
        Task(
            "l1000-time",
            "L1000 signatures: every signature of one compound at one time held out (6 folds)",
            PROFILE_SIGNATURE,
            ("no-change", "mean-shift", "transfer", "nearest-time", "covariate-mean"),
            _build_l1000_time,
            data="lincs_l1000",
            model_options=_anchored("nearest-time", "covariate-mean"),
        ),
        Task(
            "l1000-cellline",
            "L1000 signatures: every signature of one cell line held out (6 folds)",
            PROFILE_SIGNATURE,
            ("no-change", "mean-shift", "transfer", "transfer-same-time"),
            _build_l1000_cellline,
            data="lincs_l1000",
            model_options=_anchored("transfer-same-time"),
        ),
        Task(
            "drug-synergy",
            "synergy of unseen drug pairs in a cell line (5 DeepSynergy folds)",
            ("pearson", "rmse"),
            ("entity-additive", "entity-ridge"),
            _build_synergy,
            scoring="scalar",
            data="oneil2016_drug_combination_synergy",
        ),
    )
}

#: Short names that select several tasks.
GROUPS = {
    "l1000-dose": ("l1000-dose-a", "l1000-dose-b"),
    "cellpainting-dose": ("cellpainting-dose-a", "cellpainting-dose-b"),
    "l1000-signatures": ("l1000-time", "l1000-cellline"),
}


def get_tasks(spec: str) -> list[Task]:
    """Tasks named by ``spec``: ``"all"``, a task name, a group name, or a comma list."""
    names: list[str] = []
    for part in (p.strip() for p in spec.split(",")):
        if not part:
            continue
        if part == "all":
            names.extend(TASKS)
        elif part in GROUPS:
            names.extend(GROUPS[part])
        elif part in TASKS:
            names.append(part)
        else:
            valid = ", ".join(["all", *TASKS, *GROUPS])
            raise KeyError(f"Unknown task {part!r}; valid tasks: {valid}.")
    return [TASKS[n] for n in dict.fromkeys(names)]
