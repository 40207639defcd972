"""Anchoring: the model as a regularised correction to a baseline, sized on validation conditions.

``prediction = baseline + α · (model − baseline)``. ``α`` is chosen on perturbed
(condition, context) groups held out of a first fit — conditions the model never saw, predicted
from their context's control cells, which is the question the benchmarks ask. With ``α = 0``
the model answers exactly as the baseline, so it cannot fall below it where validation shows
no gain; where no validation group can be scored, ``α = 0``. That is decided before any
training (:func:`no_validation_reason`), so the model then trains no network it would discard.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ...data import CONTROL, context_of, is_on_disk, pseudobulk, take_rows
from ...metrics import pearson_delta
from .._base import UnsupportedConditionError, create_model

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ...data import Registry
    from ._model import Compositional

__all__ = [
    "AnchorFit",
    "anchor_shift",
    "by_context",
    "cell_shift",
    "choose_alpha",
    "fit_anchored",
    "fit_baseline",
    "fit_both",
    "no_validation_reason",
    "pick_anchor",
    "prepare_groups",
    "pseudobulk_anndata",
    "side_by_side_reason",
    "validation_groups",
]


@dataclass
class AnchorFit:
    """The chosen blend and the evidence for it."""

    baseline: str
    alpha: float
    scores: dict[float, float] = field(default_factory=dict)  # α → mean pearson_delta
    n_groups: int = 0
    note: str = ""
    #: Every candidate baseline's scores (baseline → α → mean pearson_delta), when several
    #: were compared.
    candidates: dict[str, dict[float, float]] = field(default_factory=dict)
    #: Per-group scores behind ``scores`` (α → group index → pearson_delta); not saved.
    group_scores: dict[float, dict[int, float]] = field(default_factory=dict, repr=False)
    #: Whether the validation fit ran in a child process beside the final fit; not saved.
    side_by_side: bool = field(default=False, repr=False)


def fit_anchored(model: Compositional, adata: AnnData) -> Compositional:
    """``model.fit`` with ``config.anchor``: fit on all but a validation share of the perturbed
    groups, choose the baseline and α on them, then refit on everything. Where no validation
    group can be scored the model is the first candidate baseline (α = 0) and no network is
    trained, with a warning saying why."""
    reg, cfg = model.registry, model.config
    candidates = cfg.anchor_candidates
    # everything that decides whether α can be chosen is cheap (group bookkeeping and the
    # baselines' means), so it is settled before the network is trained
    mask, groups = validation_groups(adata, reg, fraction=cfg.anchor_fraction, seed=cfg.train.seed)
    reason = "" if groups else no_validation_reason(adata, reg)
    if groups:
        table = pseudobulk_anndata(adata, reg, rows=~mask)
        baselines = {name: fit_baseline(name, table, reg) for name in candidates}
        prepared = prepare_groups(adata, reg, groups)
        if not scorable(baselines, prepared):
            reason = (
                f"no baseline of {list(candidates)} can answer any of the {len(groups)} "
                "held-out groups (e.g. a single at a dose measured nowhere else), so no α "
                "can be scored"
            )
    if reason:
        from ...train import FitHistory

        anchor = AnchorFit(
            candidates[0], 0.0, note=f"no validation condition could be scored: {reason}"
        )
        model.history_ = FitHistory([], -1, 0.0, 0.0)
        warnings.warn(
            f"anchor={cfg.anchor!r} cannot choose α on this data: {reason}. The model is "
            f"the baseline {candidates[0]!r} (α = 0) and no network was trained; "
            "Compositional with anchor=None trains the model alone.",
            UserWarning,
            stacklevel=3,  # the caller of Compositional.fit
        )
    else:
        answers, side_by_side = fit_both(model, adata, mask, prepared)
        fits = [
            choose_alpha(
                answers, baselines[name], prepared, alphas=cfg.anchor_alphas, baseline_name=name
            )
            for name in candidates
        ]
        anchor = pick_anchor(fits) or fits[0]
        anchor.side_by_side = side_by_side
    model._anchor_table = pseudobulk_anndata(adata, reg)
    model._anchor_model = fit_baseline(anchor.baseline, model._anchor_table, reg)
    model.anchor_ = anchor
    return model


def fit_both(
    model: Compositional, adata: AnnData, mask: np.ndarray, prepared: list[ValidationGroup]
) -> tuple[dict[int, np.ndarray], bool]:
    """The validation fit (on the cells outside ``mask``) and the final fit (on every cell).

    They do not depend on each other. When :func:`side_by_side_reason` allows, the validation
    fit runs in a forked child process while this process runs the final fit, each on one
    thread; else one after the other. Returns the validation fit's prediction of each group it
    can answer (group index → mean profile) and whether the fits ran side by side. Either way
    ``model`` ends holding the final fit.
    """
    from ...train import ForkedCall

    if side_by_side_reason(model, adata):
        answers = _validation_fit(model, adata, mask, prepared)
        model._fit_core(adata)
        return answers, False
    config = model.config
    with ForkedCall(_validation_fit_alone, model, adata, mask, prepared) as child:
        model.config = config.with_train(num_threads=1)
        try:
            model._fit_core(adata)
        finally:
            model.config = config
        return child.result(), True


def side_by_side_reason(model: Compositional, adata: AnnData) -> str:
    """Why an anchored fit runs its two fits one after the other ("" when it may run them side
    by side): only a fit that leaves threads and devices to phenocast (``num_threads=None``,
    one CPU device), keeps no checkpoint and holds small data in memory, in a process that may
    fork (:func:`phenocast.train.fork_unavailable`)."""
    from ...train import READ_IN_BYTES, fork_unavailable
    from ._large import streams

    t = model.config.train
    if t.num_threads is not None:
        return f"num_threads={t.num_threads} fixes the thread count"
    if t.checkpoint_dir is not None:
        return "a checkpoint is kept"
    if (t.accelerator, t.devices, t.num_nodes, t.strategy) != ("cpu", 1, 1, "auto"):
        return "the fit asks for devices beyond one CPU"
    matrix = model.registry.matrix(adata)
    if is_on_disk(matrix) or streams(matrix, t):
        return "the data are streamed from disk"
    if adata.n_obs * model.registry.n_vars * 4 > READ_IN_BYTES:
        return "the data are large (two fits at once would hold them twice)"
    return fork_unavailable()


def _validation_fit(
    model: Compositional, adata: AnnData, mask: np.ndarray, prepared: list[ValidationGroup]
) -> dict[int, np.ndarray]:
    """Fit on the cells outside ``mask``; the raw mean profile of each held-out group the fit
    can answer (group index → profile)."""
    model._fit_core(adata, rows=np.flatnonzero(~mask))
    out = {}
    for g, grp in enumerate(prepared):
        try:
            out[g] = model._predict_mean_raw(grp.controls, grp.row)[0]
        except UnsupportedConditionError:  # e.g. an untrained component: scored without it
            continue
    return out


def _validation_fit_alone(
    model: Compositional, adata: AnnData, mask: np.ndarray, prepared: list[ValidationGroup]
) -> dict[int, np.ndarray]:
    """The child's half of :func:`fit_both`: one thread, no progress bar (its copy of
    ``model`` is thrown away)."""
    model.config = model.config.with_train(num_threads=1, progress=False)
    return _validation_fit(model, adata, mask, prepared)


def validation_groups(
    adata: AnnData, registry: Registry, *, fraction: float, seed: int
) -> tuple[np.ndarray, list[tuple[str, tuple]]]:
    """Pick perturbed (condition, context) groups whose context has controls (any context when
    the data are already relative to control: no control label), at random among those whose
    every component also appears in a group that stays in training.

    Returns a boolean mask of the held-out cells and the (condition key, context) of each group.
    """
    keys = registry.conditions_of(adata).to_numpy()
    ctx = context_of(adata.obs, registry)
    has_ctrl = {c for k, c in zip(keys, ctx, strict=True) if k == CONTROL}
    relative = registry.control is None
    groups = sorted(
        {
            (k, c)
            for k, c in zip(keys, ctx, strict=True)
            if k != CONTROL and (relative or c in has_ctrl)
        },
        key=str,
    )
    if not groups:
        return np.zeros(adata.n_obs, dtype=bool), []
    rng = np.random.default_rng(seed)
    n = max(1, round(fraction * len(groups)))
    n = min(n, len(groups) - 1) if len(groups) > 1 else 0
    # hold out only groups the remaining data can still answer: each of their components keeps
    # at least one other group, so validation asks the benchmarks' question (a new combination,
    # dose or context of known perturbations), not the unanswerable one of an unseen component
    count: dict[str, int] = {}
    parts = {g: registry.parse(g[0].rsplit("@", 1)[0]).components for g in groups}
    for comps in parts.values():
        for comp in comps:
            count[comp] = count.get(comp, 0) + 1
    chosen: list[tuple[str, tuple]] = []
    for i in rng.permutation(len(groups)):
        if len(chosen) >= n:
            break
        g = groups[i]
        if all(count[comp] > 1 for comp in parts[g]):
            chosen.append(g)
            for comp in parts[g]:
                count[comp] -= 1
    chosen.sort(key=str)
    chosen_set = set(chosen)
    mask = np.array([(k, c) in chosen_set for k, c in zip(keys, ctx, strict=True)])
    return mask, chosen


def no_validation_reason(adata: AnnData, registry: Registry) -> str:
    """Why :func:`validation_groups` found nothing to hold out, in words a user can act on."""
    keys = registry.conditions_of(adata).to_numpy()
    ctx = context_of(adata.obs, registry)
    has_ctrl = {c for k, c in zip(keys, ctx, strict=True) if k == CONTROL}
    perturbed = {(k, c) for k, c in zip(keys, ctx, strict=True) if k != CONTROL}
    if not perturbed:
        return "the data has no perturbed cells"
    groups = sorted((g for g in perturbed if g[1] in has_ctrl), key=str)
    if not groups:
        return (
            f"none of the {len(perturbed)} perturbed (condition, context) groups shares a "
            "context with control cells, so none can be predicted from controls"
        )
    if len(groups) == 1:
        return "there is only 1 perturbed group with controls; holding it out leaves none"
    count: dict[str, int] = {}
    parts = [registry.parse(k.rsplit("@", 1)[0]).components for k, _ in groups]
    for comps in parts:
        for comp in comps:
            count[comp] = count.get(comp, 0) + 1
    alone = sorted({c for comps in parts for c in comps if count[c] == 1})
    return (
        f"each of the {len(groups)} perturbed groups with controls holds a perturbation that no "
        f"other group has (e.g. singles only: {', '.join(alone[:5])}"
        f"{', ...' if len(alone) > 5 else ''}), so holding one out would ask for a perturbation "
        "never trained on, which neither the model nor the baseline can predict; combinations, "
        "several doses or several contexts of the same perturbations make groups to hold out"
    )


@dataclass(frozen=True)
class ValidationGroup:
    """One held-out (condition, context) group, ready to score: its context's control cells
    (``None`` for data relative to control), its conditions row, and the observed mean profiles
    (the control's is zero for relative data)."""

    key: str
    context: tuple
    controls: AnnData | None
    row: pd.DataFrame
    truth: np.ndarray
    ctrl: np.ndarray


def prepare_groups(
    adata: AnnData, registry: Registry, groups: list[tuple[str, tuple]]
) -> list[ValidationGroup]:
    """Cells and mean profiles of each group, computed once for every candidate baseline."""
    keys = registry.conditions_of(adata).to_numpy()
    ctx = pd.Series([str(c) for c in context_of(adata.obs, registry)]).to_numpy()
    x = registry.matrix(adata)
    out = []
    for key, c in groups:
        here = ctx == str(c)
        in_group = here & (keys == key)
        is_ctrl = here & (keys == CONTROL)
        relative = registry.control is None
        out.append(
            ValidationGroup(
                key,
                c,
                None if relative else adata[is_ctrl],
                adata.obs.loc[in_group, registry.condition_columns].iloc[:1],
                _mean_rows(x, in_group),
                np.zeros(registry.n_vars) if relative else _mean_rows(x, is_ctrl),
            )
        )
    return out


def _mean_rows(x: Any, mask: np.ndarray) -> np.ndarray:
    """Mean of the rows ``mask`` of ``x`` (read as contiguous runs when ``x`` is on disk)."""
    if is_on_disk(x):
        return take_rows(x, np.flatnonzero(mask)).astype(np.float64).mean(axis=0)
    return np.asarray(x[mask].mean(axis=0)).ravel()


def scorable(baselines: dict[str, Any], groups: list[ValidationGroup]) -> list[int]:
    """Indices of the groups at least one baseline can answer (the others cannot be scored,
    whatever the model predicts); checked before the model is trained."""
    out = []
    for g, grp in enumerate(groups):
        for base in baselines.values():
            try:
                base.predict_mean(grp.controls, grp.row)
            except UnsupportedConditionError:
                continue
            out.append(g)
            break
    return out


def choose_alpha(
    answers: dict[int, np.ndarray],
    baseline: Any,
    groups: list[ValidationGroup],
    *,
    alphas: tuple[float, ...],
    baseline_name: str,
) -> AnchorFit:
    """Score each α on the held-out groups (mean Pearson Δ) and keep the best (ties → smaller).

    ``answers``: the validation fit's mean profile of each group it can answer (index →
    profile); a group the model or the baseline cannot answer is not scored.
    """
    per_alpha: dict[float, dict[int, float]] = {a: {} for a in alphas}
    for g, grp in enumerate(groups):
        if g not in answers:
            continue
        pred = answers[g]
        try:
            base = baseline.predict_mean(grp.controls, grp.row)[0]
        except UnsupportedConditionError:  # e.g. a component it has never seen alone
            continue
        for a in alphas:
            per_alpha[a][g] = pearson_delta(base + a * (pred - base), grp.truth, ctrl=grp.ctrl)
    scores = _mean_scores(per_alpha, None)
    if not scores:
        return AnchorFit(
            baseline_name, 0.0, {}, 0, "no validation condition could be scored: baseline kept"
        )
    best = max(scores.values())
    alpha = min(a for a, s in scores.items() if s >= best - 1e-9)
    n = len(next(iter(per_alpha.values())))
    return AnchorFit(baseline_name, float(alpha), scores, n, group_scores=per_alpha)


def _mean_scores(
    per_alpha: dict[float, dict[int, float]], keep: set[int] | None
) -> dict[float, float]:
    """Mean score per α over the groups in ``keep`` (all when ``None``), NaNs ignored."""
    out = {}
    for a, by_group in per_alpha.items():
        v = np.array([s for g, s in by_group.items() if keep is None or g in keep], dtype=float)
        if v.size and not np.isnan(v).all():
            out[a] = float(np.nanmean(v))
    return out


def pick_anchor(fits: list[AnchorFit]) -> AnchorFit | None:
    """The candidate baseline and α with the best validation score (ties → earlier candidate).

    Scores are compared on the groups every candidate could score, so a baseline that declines
    some conditions is not favoured by scoring an easier subset. Returns ``None`` when no
    candidate scored anything.
    """
    scored = [f for f in fits if f.scores]
    if not scored:
        return None
    common = set.intersection(*(set(next(iter(f.group_scores.values()))) for f in scored))
    if common and len(scored) > 1:
        for f in scored:
            f.scores = _mean_scores(f.group_scores, common)
            top_f = max(f.scores.values())
            f.alpha = min(a for a, s in f.scores.items() if s >= top_f - 1e-9)
            f.n_groups = len(common)
    top = max(max(f.scores.values()) for f in scored)
    best = next(f for f in scored if max(f.scores.values()) >= top - 1e-9)
    best.candidates = {f.baseline: dict(f.scores) for f in scored}
    return best


def pseudobulk_anndata(
    adata: AnnData, registry: Registry, *, rows: np.ndarray | None = None
) -> AnnData:
    """One row per (condition, context) with its mean profile and the registry's columns.

    The baselines read only such means, so refitting one on this table reproduces it exactly;
    that is how a saved anchored model restores its baseline without the training cells.
    """
    import anndata as ad

    pb = pseudobulk(adata, registry, rows=rows)
    cols = registry.condition_columns
    first = []
    conds = registry.conditions_of(adata).to_numpy()
    ctx = context_of(adata.obs, registry)
    seen: dict[tuple, int] = {}
    for i, (k, c) in enumerate(zip(conds, ctx, strict=True)):
        seen.setdefault((k, c), i)
    for _, row in pb.groups.iterrows():
        first.append(seen[(row["condition"], row["context"])])
    obs = adata.obs.iloc[first][cols].copy()
    obs.index = [f"group{i}" for i in range(len(obs))]
    for col in obs.columns:
        if isinstance(obs[col].dtype, pd.CategoricalDtype):
            obs[col] = obs[col].astype(str)
    return ad.AnnData(pb.means.astype(np.float64), obs=obs, var=adata.var[[]].copy())


def fit_baseline(name: str, table: AnnData, registry: Registry) -> Any:
    """Fit baseline ``name`` on a pseudobulk table, under the model's registry."""
    return create_model(name, registry).fit(table)


def by_context(
    model: Compositional,
    controls: AnnData | None,
    conditions: pd.DataFrame,
    predict: Callable[[AnnData | None, pd.DataFrame], Any],
    cross_context: bool,
) -> np.ndarray:
    """``predict(start cells, conditions)`` rows, each condition given the start cells the
    model starts it from: those of its context (the covariates the table gives), or all of
    ``controls`` with ``cross_context`` or when the table gives none."""
    from ._counterfactual import context_keys, given_covariates

    keys = [] if controls is None or cross_context else given_covariates(model, conditions)
    if not keys:
        return np.asarray(predict(controls, conditions), dtype=np.float64)
    assert controls is not None
    out = np.full((len(conditions), model.registry.n_vars), np.nan)
    cells, wanted = context_keys(controls.obs, keys), context_keys(conditions, keys)
    for ctx in dict.fromkeys(wanted):
        here = np.flatnonzero(wanted == ctx)
        rows = np.flatnonzero(cells == ctx)
        # an on-disk AnnData: its cells of this context are read into memory
        start = controls[rows].to_memory() if is_on_disk(controls) else controls[rows]
        out[here] = predict(start, conditions.iloc[here])
    return out


def anchor_shift(
    model: Compositional,
    controls: AnnData | None,
    conditions: pd.DataFrame,
    raw: np.ndarray,
    *,
    cross_context: bool = False,
) -> np.ndarray:
    """``(1 − α)(baseline − model)`` per condition, for the model's prediction ``raw``; 0
    where the baseline cannot answer (the model's answer stands). The baseline sees the start
    cells the model started from (:func:`by_context`)."""
    from .._base import predict_rows

    shift = np.zeros_like(raw)
    if model.anchor_ is None or model.anchor_.alpha == 1.0:
        return shift
    baseline, n_genes = model._anchor_model, raw.shape[1]

    def rows(start: AnnData | None, table: pd.DataFrame) -> np.ndarray:
        return predict_rows(baseline, start, table, n_genes=n_genes)

    base = by_context(model, controls, conditions, rows, cross_context)
    ok = ~np.isnan(base).any(1)
    shift[ok] = (1.0 - model.anchor_.alpha) * (base[ok] - raw[ok])
    return shift


def cell_shift(
    model: Compositional, controls: AnnData, conditions: pd.DataFrame, *, cross_context: bool
) -> np.ndarray | None:
    """:func:`anchor_shift` of the model's mean prediction from ``controls``, added to each of
    its per-cell predictions; ``None`` for a model without an anchor."""
    if model.anchor_ is None:
        return None
    raw = model._predict_mean_raw(controls, conditions, cross_context=cross_context)
    return anchor_shift(model, controls, conditions, raw, cross_context=cross_context)
