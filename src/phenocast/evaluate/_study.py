"""Beyond the main table: one model's fits on shares of each fold's training groups, its
scores on its own training groups, its anchor's validation, and its speed (the compositional
benchmark's limits, data-efficiency and speed tables)."""

from __future__ import annotations

import math
import resource
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..metrics import pearson_delta
from ._folds import subsample_groups, training_groups
from ._runner import NOISE_CEILING, ModelResult, TaskResult, _nanmean, fit_fold, predict_groups
from ._tables import Report
from ._tasks import Task

__all__ = [
    "BaselineRecord",
    "FitRecord",
    "TaskRun",
    "limits_report",
    "peak_rss_mb",
    "speed_report",
    "sweep_report",
    "sweep_task",
]

METRIC = "pearson_delta"


@dataclass
class FitRecord:
    """One compositional fit on one fold (at one training fraction) and what it scored."""

    task: str
    fold: str
    label: str
    fraction: float
    n_groups_kept: int
    n_groups_total: int
    fit_seconds: float
    predict_seconds: float
    epochs: int
    best_epoch: int
    cells_per_second: float
    #: torch threads the (final) fit trained with (``history_.threads``; 0: unknown)
    threads: int = 0
    alpha: float | None = None
    validation: float | None = None
    n_validation_groups: int = 0
    anchor_note: str = ""
    anchor_baseline: str = ""
    #: an anchored fit's validation fit ran in a child process beside its final fit
    side_by_side: bool = False
    train_values: list[float] = field(default_factory=list)
    # metric → held-out condition label → value
    ood: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass
class BaselineRecord:
    """The task's anchor baseline on one fold at one training fraction."""

    task: str
    fold: str
    name: str
    fraction: float
    values: dict[str, float]  # held-out condition label → Pearson Δ (predictable ones only)
    n_conditions: int
    note: str = ""


@dataclass
class TaskRun:
    """Everything measured on one task besides the main table."""

    task: Task
    baseline: str | None
    fits: list[FitRecord] = field(default_factory=list)
    baselines: list[BaselineRecord] = field(default_factory=list)
    rss_before_mb: float = math.nan
    rss_after_mb: float = math.nan
    seconds: float = math.nan

    def fits_for(self, label: str, fraction: float = 1.0) -> list[FitRecord]:
        """The fits of variant ``label`` on ``fraction`` of the training groups."""
        return [r for r in self.fits if r.label == label and r.fraction == fraction]


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def peak_rss_mb(*, children: bool = False) -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss: kB on Linux); with
    ``children``, of the largest finished child process (0 without one)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    peak = resource.getrusage(who).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _fit(
    task: Task,
    fold: Any,
    train: Any,
    label: str,
    name: str,
    cfg: dict[str, Any],
    *,
    overrides: dict[str, Any] | None,
    fraction: float,
    kept: tuple[int, int],
    train_groups: list[Any] | None,
) -> FitRecord:
    """Fit once (:func:`fit_fold`); score the held-out groups and, if given, the training groups."""
    # a share of the training groups may drop a compound's end doses, so held-out doses can
    # fall outside that fit's range by construction: they are predicted as at full data
    extrapolate = task.extrapolate or fraction < 1.0
    fit = fit_fold(task, fold, name, cfg, overrides=overrides, train=train, extrapolate=extrapolate)
    model, hist = fit.model, fit.model.history_
    rec = FitRecord(
        task.name, fold.name, label, fraction, kept[0], kept[1], fit.fit_seconds,
        fit.predict_seconds, len(hist.epochs), int(hist.best_epoch),
        float(hist.cells_per_second), int(getattr(hist, "threads", 0)), ood=fit.values,
    )  # fmt: skip
    anchor = getattr(model, "anchor_", None)
    if anchor is not None:
        rec.alpha = anchor.alpha
        rec.anchor_baseline = anchor.baseline
        rec.n_validation_groups = anchor.n_groups
        rec.anchor_note = anchor.note
        rec.side_by_side = anchor.side_by_side
        rec.validation = anchor.scores.get(anchor.alpha) if anchor.scores else None
    if train_groups is not None:
        preds, _ = predict_groups(model, train_groups)
        rec.train_values = [
            pearson_delta(p, t, ctrl=g.ctrl)
            for g, pred in zip(train_groups, preds, strict=True)
            for p, t in zip(pred, g.truth, strict=True)
        ]
    return rec


def _fit_baseline(task: Task, fold: Any, train: Any, name: str, fraction: float) -> BaselineRecord:
    """The anchor baseline on ``train``, n/a (left out) where it cannot predict a condition."""
    fit = fit_fold(task, fold, name, train=train)
    values = {c: v for c, v in fit.values[METRIC].items() if c not in fit.unsupported}
    n = sum(len(g.conditions) for g in fold.groups)
    note = next(iter(fit.unsupported.values()), "")
    return BaselineRecord(task.name, fold.name, name, fraction, values, n, note)


def sweep_task(
    tr: TaskResult,
    variants: Sequence[tuple[str, str, dict[str, Any]]],
    *,
    sweep_labels: Sequence[str],
    fractions: Sequence[float] = (1.0, 0.5, 0.25),
    overrides: dict[str, Any] | None = None,
    seed: int = 0,
    step: Callable[[str], None] | None = None,
) -> TaskRun:
    """Fit ``variants`` (:func:`~phenocast.evaluate.expand_models` triples of one model) on
    every fold of a task run with ``keep_predictions=True``, on each share of its training
    groups (:func:`subsample_groups`; shares below 1 only for ``sweep_labels``), beside the
    task's anchor baseline; add the full-data fits to ``tr.models`` (before the noise ceiling).
    """
    task = tr.task
    name = variants[0][1]
    anchor = task.model_options.get(name, {}).get("anchor")
    # the sweep's baseline column shows the task's reference baseline (first candidate)
    baseline = anchor if anchor is None or isinstance(anchor, str) else anchor[0]
    run = TaskRun(task, baseline, rss_before_mb=peak_rss_mb())
    t0 = time.perf_counter()
    for fold in tr.fold_data:
        tgroups = training_groups(fold)
        for frac in fractions:
            train, n_keep, n_all = subsample_groups(fold, frac, seed=seed)
            for label, model, cfg in variants:
                if frac < 1.0 and label not in sweep_labels:
                    continue
                if step:
                    step(f"{task.name} · {label} · {fold.name} · {frac:.0%} of groups")
                tg = tgroups if frac == 1.0 else None
                run.fits.append(
                    _fit(task, fold, train, label, model, cfg, overrides=overrides,
                         fraction=frac, kept=(n_keep, n_all), train_groups=tg)
                )  # fmt: skip
            if baseline is not None:
                run.baselines.append(_fit_baseline(task, fold, train, baseline, frac))
    run.seconds = time.perf_counter() - t0
    run.rss_after_mb = peak_rss_mb()
    # the compositional rows of the main table, from the full-data fits
    models = {k: v for k, v in tr.models.items() if k != NOISE_CEILING}
    for label, _name, _cfg in variants:
        res = ModelResult(label)
        for rec in (r for r in run.fits if r.label == label and r.fraction == 1.0):
            res.fit_seconds[rec.fold] = rec.fit_seconds
            res.predict_seconds[rec.fold] = rec.predict_seconds
            for m, per in rec.ood.items():
                res.values.setdefault(m, {})[rec.fold] = per
        models[label] = res
    if NOISE_CEILING in tr.models:
        models[NOISE_CEILING] = tr.models[NOISE_CEILING]
    tr.models = models
    return run


# ------------------------------------------------------------------ reports


def _ood_mean(records: Sequence[FitRecord]) -> float:
    return _nanmean(v for r in records for v in r.ood.get(METRIC, {}).values())


def limits_report(runs: Sequence[TaskRun], labels: Sequence[str]) -> Report:
    """Train / validation / held-out Pearson Δ of each variant, side by side."""
    rows, notes = [], []
    for run in runs:
        for label in labels:
            recs = run.fits_for(label)
            if not recs:
                continue
            train = _nanmean(v for r in recs for v in r.train_values)
            ood = _ood_mean(recs)
            anchored = any(r.alpha is not None for r in recs)
            vals = [r.validation for r in recs if r.validation is not None]
            if not anchored:
                val = "n/a (no anchor)"
            elif not vals:
                val = "n/a"
                notes += sorted(
                    {f"{run.task.name}: {r.anchor_note}" for r in recs if r.anchor_note}
                )
            else:
                val = _fmt(_nanmean(vals))
                if len(vals) < len(recs):
                    val += f" ({len(vals)}/{len(recs)} folds)"
            alphas = (
                ", ".join(f"{r.anchor_baseline} {r.alpha:g}" for r in recs) if anchored else "—"
            )
            n_val = sum(r.n_validation_groups for r in recs) if anchored else 0
            rows.append(
                [
                    run.task.name,
                    label,
                    _fmt(train),
                    val,
                    _fmt(ood),
                    _fmt(train - ood),
                    alphas,
                    f"{sum(len(r.train_values) for r in recs)} / {n_val if anchored else '—'} / "
                    f"{sum(len(r.ood.get(METRIC, {})) for r in recs)}",
                ]
            )
    caption = (
        "Pearson Δ. train: the fitted model predicting each of its own training (condition, "
        "context) groups' mean from that context's control cells (groups without controls "
        "skipped; for the anchored variant the blend includes the baseline, which has seen "
        "those groups). validation: `anchor_.scores[α]` of the chosen α — groups held out of the "
        "anchor's first fit, mean over folds. held-out: the task's OOD conditions (= main "
        "table). anchor per fold: the baseline the fit chose among the task's candidates and its α "
        "(1 = model alone, 0 = baseline alone). groups summed over folds."
    )
    if notes:
        caption += " n/a validation: " + "; ".join(notes) + "."
    cols = [
        "task",
        "model",
        "train",
        "validation",
        "held-out",
        "train − held-out",
        "anchor per fold",
    ]
    return Report(
        "Limits: Pearson Δ on training, validation and held-out groups",
        [*cols, "groups train / val / held-out"],
        rows,
        caption,
    )


def sweep_report(
    runs: Sequence[TaskRun], labels: Sequence[str], fractions: Sequence[float]
) -> Report:
    """Held-out Pearson Δ against the share of perturbed training groups kept."""
    rows = []
    for run in runs:
        for frac in fractions:
            recs = {label: run.fits_for(label, frac) for label in labels}
            first = next((r for rs in recs.values() for r in rs), None)
            if first is None:
                continue
            kept = sum(r.n_groups_kept for r in recs[labels[0]] or [first])
            total = sum(r.n_groups_total for r in recs[labels[0]] or [first])
            cells = [_fmt(_ood_mean(recs[label])) if recs[label] else "—" for label in labels]
            alphas = [
                f"{r.anchor_baseline} {r.alpha:g}"
                for r in recs.get(labels[0], [])
                if r.alpha is not None
            ]
            base = [b for b in run.baselines if b.fraction == frac]
            if run.baseline is None or not base:
                bcell = "—"
            else:
                n_ok = sum(len(b.values) for b in base)
                n_all = sum(b.n_conditions for b in base)
                bcell = (
                    "n/a"
                    if n_ok == 0
                    else _fmt(_nanmean(v for b in base for v in b.values.values()))
                )
                if 0 < n_ok < n_all:
                    same = _nanmean(
                        r.ood[METRIC][c]
                        for b in base
                        for r in recs[labels[0]]
                        if r.fold == b.fold
                        for c in b.values
                    )
                    bcell += f" ({n_ok}/{n_all}; {labels[0]} on those: {_fmt(same)})"
            rows.append(
                [
                    run.task.name,
                    f"{frac:.0%}",
                    f"{kept}/{total}",
                    *cells,
                    ", ".join(alphas) or "—",
                    f"{run.baseline or '—'}: {bcell}",
                ]
            )
    caption = (
        "Held-out Pearson Δ when training on a share of the training's perturbed (condition, "
        "context) groups, summed over folds (Kang: the stimulated cell types, as it has one "
        "perturbation). Subsets are nested, drawn with `numpy.random.default_rng(0)`; all "
        "control cells are kept and the dropped groups' cells removed; the held-out set is "
        "unchanged. A held-out condition whose component lost every training group is n/a for "
        "the model too (it refuses untrained embeddings). baseline (k/n): it could predict "
        "only k of the n "
        "held-out conditions (the rest need a dropped group); its mean is over those k. n/a: "
        "none. α: the anchored fit's blend per fold."
    )
    return Report(
        "Data efficiency: held-out Pearson Δ by share of perturbed training groups",
        ["task", "share", "groups kept", *labels, f"α ({labels[0]})", "anchor baseline"],
        rows,
        caption,
    )


def speed_report(runs: Sequence[TaskRun], labels: Sequence[str]) -> Report:
    """Fit time, epochs, throughput and peak memory per task (full-data fits only)."""
    rows = []
    for run in runs:
        for label in labels:
            recs = run.fits_for(label)
            if not recs:
                continue
            fit = [r.fit_seconds for r in recs]
            spread = f" ({min(fit):.1f}–{max(fit):.1f})" if len(fit) > 1 else ""
            rows.append(
                [
                    run.task.name,
                    label,
                    str(len(recs)),
                    f"{np.mean(fit):.1f}{spread}",
                    f"{np.mean([r.epochs for r in recs]):.0f} / "
                    f"{np.mean([r.best_epoch for r in recs]):.0f}",
                    f"{np.mean([r.cells_per_second for r in recs]):,.0f}",
                    f"{np.mean([r.predict_seconds for r in recs]):.2f}",
                    f"{run.rss_before_mb:,.0f} → {run.rss_after_mb:,.0f}",
                ]
            )
    caption = (
        "Full-data fits only (the sweep's fits are not counted). fit s: wall seconds of "
        "model.fit per fold, mean (min–max); the anchored variant fits twice (a first fit "
        "without its validation groups to choose α, then on everything), side by side where "
        "it can: the first in a forked child process on one thread, the second in this one "
        "(`anchor_.side_by_side`). epochs run / best "
        "epoch and cells/s (training cells per second per epoch, `history_.cells_per_second`) "
        "are from the final fit. peak RSS: the process's peak resident memory "
        "(`resource.getrusage` ru_maxrss; process-wide, so it includes torch, the data and all "
        "earlier tasks) before → after the task's compositional fits; the forked children "
        "are not in it (the largest child's peak RSS: "
        f"{peak_rss_mb(children=True):,.0f} MB, most of it pages shared with this process)."
    )
    return Report(
        "Speed and memory",
        [
            "task",
            "model",
            "folds",
            "fit s / fold",
            "epochs run / best",
            "cells/s",
            "predict s / fold",
            "peak RSS MB",
        ],
        rows,
        caption,
    )
