"""Benchmark the compositional model beside the baselines: scores, limits, data efficiency, speed.

    PHENOCAST_DATA_DIR=../shared/data python benchmarks/run_compositional.py --update-readme
    PHENOCAST_DATA_DIR=../shared/data python benchmarks/run_compositional.py --quick

One run prints four kinds of table, all computed in that run:

1. **Main tables** — ``compositional[anchored]`` and ``compositional[alone]`` beside the
   baselines on each task (the baselines run through :func:`phenocast.evaluate.run_benchmark`,
   which also builds the folds; the compositional model is fitted here on those same folds with
   the same options and scored with the same metrics, so each fold is fitted once and the fit
   serves every table).
2. **Limits** — Pearson Δ of each variant on its own training (condition, context) groups
   (predicted from that context's control cells), on the anchor's validation groups
   (``anchor_.scores[anchor_.alpha]``), and on the held-out conditions.
3. **Data efficiency** — the held-out Pearson Δ when training on 100 / 50 / 25 % of the
   training's perturbed (condition, context) groups (nested subsets drawn with
   ``numpy.random.default_rng(0)``; every control cell kept), for the compositional model and the
   task's anchor baseline.
4. **Speed and memory** — fit seconds per fold, epochs, cells per second, and the process's peak
   resident memory (``resource.getrusage(RUSAGE_SELF).ru_maxrss``).

With ``--update-readme`` the Markdown versions replace the block between the
``<!-- compositional:begin -->`` and ``<!-- compositional:end -->`` markers of README.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import resource
import shlex
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from rich.console import Console

from phenocast.data import atomic_write_text, context_of
from phenocast.evaluate import (
    NOISE_CEILING,
    ModelResult,
    expand_models,
    get_tasks,
    markdown_summary,
    rich_tables,
    run_benchmark,
    score_fold,
)
from phenocast.evaluate.metrics import pearson_delta
from phenocast.models import UnsupportedConditionError, create_model

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd
    from anndata import AnnData
    from rich.table import Table

    from phenocast.data import Registry
    from phenocast.evaluate import Fold, Task
    from phenocast.evaluate._runner import TaskResult

from _readme import check_block, shown, update_block  # benchmarks/ is on sys.path

ROOT = Path(__file__).resolve().parents[1]
TASKS = (
    "kang-ood-celltype,norman-combos,crispri-transfer,l1000-dose-a,l1000-dose-b,"
    "cellpainting-dose-a,cellpainting-dose-b"
)
BASELINES = "no-change,mean-shift,transfer,additive,nearest-dose,dose-interp,entity-ridge,linear"
MODEL = "compositional"
FRACTIONS = (1.0, 0.5, 0.25)
SWEEP_SEED = 0
#: --quick: two Kang folds and Norman, with short training.
QUICK_TASKS = "kang-ood-celltype,norman-combos"
QUICK_FOLDS = 2
QUICK_TRAIN = {"max_epochs": 25, "patience": 5}
#: Reference points quoted by issue 3 (targets, not measurements of this run).
KANG_TARGET_SECONDS = 15.0
CPA_TOOLS_KANG = "cpa-tools ≈ 55 s CPU for 150 epochs on the same fold (figure from issue 3)"
METRIC = "pearson_delta"


# ------------------------------------------------------------------ records


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
    alpha: float | None = None
    validation: float | None = None
    n_validation_groups: int = 0
    anchor_note: str = ""
    anchor_baseline: str = ""
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


@dataclass
class Report:
    """A small table printed with Rich and written as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]]
    caption: str = ""

    def rich(self) -> Table:
        from rich.markup import escape
        from rich.table import Table

        table = Table(
            title=escape(self.title),
            title_justify="left",
            caption=escape(self.caption.replace("`", "")) if self.caption else None,
            caption_justify="left",
        )
        for i, col in enumerate(self.columns):
            table.add_column(escape(col), justify="left" if i < 2 else "right", overflow="fold")
        for row in self.rows:
            table.add_row(*(escape(c) for c in row))
        return table

    def markdown(self) -> str:
        out = [f"**{self.title}**\n", "| " + " | ".join(self.columns) + " |"]
        out.append("|---" * len(self.columns) + "|")
        out += ["| " + " | ".join(c.replace("|", "/") for c in row) + " |" for row in self.rows]
        if self.caption:
            out.append(f"\n_{self.caption}_")
        return "\n".join(out) + "\n"


# ------------------------------------------------------------------ helpers


def _fmt(x: float | None, digits: int = 3) -> str:
    return "n/a" if x is None or (isinstance(x, float) and math.isnan(x)) else f"{x:.{digits}f}"


def _nanmean(values: Iterable[float | None]) -> float:
    arr = np.array([np.nan if v is None else v for v in values], dtype=float)
    return float(np.nanmean(arr)) if arr.size and not np.isnan(arr).all() else math.nan


def _peak_rss_mb() -> float:
    """Peak resident set size of this process so far, in MB (ru_maxrss: kB on Linux)."""
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def _first_folds(task: Task, n: int) -> Task:
    """The same task, keeping only its first ``n`` folds."""
    build = task.build

    def first(data_dir: Path | None) -> list[Fold]:
        return build(data_dir)[:n]

    return dataclasses.replace(task, build=first, description=f"{task.description}, first {n}")


def _perturbed_groups(train: AnnData, registry: Registry) -> tuple[np.ndarray, list[tuple]]:
    """Per cell its (condition, context) group (``None`` for controls) and the sorted groups."""
    conditions = registry.parse_frame(train.obs)
    groups = np.empty(train.n_obs, dtype=object)
    for i, (cond, ctx) in enumerate(zip(conditions, context_of(train.obs, registry), strict=True)):
        groups[i] = None if cond.is_control else (cond.key, ctx)
    uniq = sorted({g for g in groups if g is not None}, key=str)
    return groups, uniq


def _subset(fold: Fold, fraction: float) -> tuple[AnnData, int, int]:
    """The fold's training data with ``fraction`` of its perturbed groups (all controls kept).

    Subsets are nested: one permutation (seed :data:`SWEEP_SEED`) of the sorted groups, of which
    the first ``max(1, ⌊fraction · n + ½⌋)`` are kept.
    """
    groups, uniq = _perturbed_groups(fold.train, fold.registry)
    if fraction >= 1.0:
        return fold.train, len(uniq), len(uniq)
    order = np.random.default_rng(SWEEP_SEED).permutation(len(uniq))
    n_keep = max(1, math.floor(fraction * len(uniq) + 0.5))
    kept = {uniq[i] for i in order[:n_keep]}
    mask = np.array([g is None or g in kept for g in groups])
    return fold.train[mask].copy(), n_keep, len(uniq)


@dataclass
class _TrainGroups:
    """A fold's training (condition, context) groups that have controls, per context."""

    controls: list[AnnData]
    conditions: list[pd.DataFrame]
    truth: list[np.ndarray]
    ctrl: list[np.ndarray]

    @property
    def n(self) -> int:
        return sum(len(c) for c in self.conditions)


def _train_groups(fold: Fold) -> _TrainGroups:
    """Mean profile of each perturbed training group, and its context's control cells."""
    train, reg = fold.train, fold.registry
    groups, uniq = _perturbed_groups(train, reg)
    contexts = context_of(train.obs, reg)
    is_ctrl = np.array([g is None for g in groups])
    rows_of: dict[tuple, list[int]] = {}
    for i, g in enumerate(groups):
        if g is not None:
            rows_of.setdefault(g, []).append(i)
    x = reg.matrix(train)
    out = _TrainGroups([], [], [], [])
    for ctx in sorted({g[1] for g in uniq}, key=str):
        ctrl_rows = is_ctrl & np.array([c == ctx for c in contexts])
        if not ctrl_rows.any():
            continue  # no control cells to start from in this context
        first, truth = [], []
        for g in (g for g in uniq if g[1] == ctx):
            first.append(rows_of[g][0])
            truth.append(np.asarray(x[rows_of[g]].mean(axis=0)).ravel())
        conditions = train.obs.iloc[first][reg.condition_columns].copy()
        out.controls.append(train[ctrl_rows])
        out.conditions.append(conditions)
        out.truth.append(np.vstack(truth))
        out.ctrl.append(np.asarray(x[ctrl_rows].mean(axis=0)).ravel())
    return out


def _options(task: Task, cfg: dict[str, Any], train_options: dict[str, Any]) -> dict[str, Any]:
    options = {**task.model_options.get(MODEL, {}), **cfg}
    if train_options:
        options["train"] = {**options.get("train", {}), **train_options}
    return options


def _fit_compositional(
    task: Task,
    fold: Fold,
    train: AnnData,
    label: str,
    cfg: dict[str, Any],
    *,
    train_options: dict[str, Any],
    fraction: float,
    kept: tuple[int, int],
    train_groups: _TrainGroups | None,
) -> FitRecord:
    """Fit once; score the held-out groups and, if given, the training groups."""
    model = create_model(MODEL, fold.registry, _options(task, cfg, train_options))
    t0 = time.perf_counter()
    model.fit(train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    preds = [_predict_rows(model, g.controls, g.conditions) for g in fold.groups]
    predict_s = time.perf_counter() - t0
    hist = model.history_
    rec = FitRecord(
        task.name,
        fold.name,
        label,
        fraction,
        kept[0],
        kept[1],
        fit_s,
        predict_s,
        len(hist.epochs),
        int(hist.best_epoch),
        float(hist.cells_per_second),
        ood=score_fold(task, fold, preds),
    )
    anchor = model.anchor_
    if anchor is not None:
        rec.alpha = anchor.alpha
        rec.anchor_baseline = anchor.baseline
        rec.n_validation_groups = anchor.n_groups
        rec.anchor_note = anchor.note
        rec.validation = anchor.scores.get(anchor.alpha) if anchor.scores else None
    if train_groups is not None:
        for controls, conditions, truth, ctrl in zip(
            train_groups.controls,
            train_groups.conditions,
            train_groups.truth,
            train_groups.ctrl,
            strict=True,
        ):
            pred = model.predict_mean(controls, conditions)
            rec.train_values += [
                pearson_delta(p, t, ctrl=ctrl) for p, t in zip(pred, truth, strict=True)
            ]
    return rec


def _predict_rows(model: Any, controls: AnnData | None, conditions: Any) -> np.ndarray:
    """Predict condition by condition; NaN rows (scored as n/a) where the model cannot answer,
    e.g. a component the reduced training data of the sweep no longer contains."""
    out = np.full((len(conditions), model.registry.n_vars), np.nan)
    for i in range(len(conditions)):
        try:
            out[i] = model.predict_mean(controls, conditions.iloc[i : i + 1])[0]
        except UnsupportedConditionError:
            continue
    return out


def _fit_baseline(
    task: Task, fold: Fold, train: AnnData, name: str, fraction: float
) -> BaselineRecord:
    """The anchor baseline on ``train``, scored condition by condition (n/a where it cannot)."""
    model = create_model(name, fold.registry).fit(train)
    values: dict[str, float] = {}
    n, note = 0, ""
    for group in fold.groups:
        for i, label in enumerate(group.conditions.index):
            n += 1
            try:
                pred = model.predict_mean(group.controls, group.conditions.iloc[i : i + 1])[0]
            except UnsupportedConditionError as err:
                note = note or str(err)
                continue
            values[str(label)] = pearson_delta(pred, group.truth[i], ctrl=group.ctrl)
    return BaselineRecord(task.name, fold.name, name, fraction, values, n, note)


def _run_task(
    tr: TaskResult,
    variants: list[tuple[str, str, dict[str, Any]]],
    *,
    sweep_labels: Sequence[str],
    fractions: Sequence[float],
    train_options: dict[str, Any],
    step: Callable[[str], None],
) -> TaskRun:
    """Fit the compositional variants on every fold of one task (and the sweep's subsets)."""
    task = tr.task
    anchor = task.model_options.get(MODEL, {}).get("anchor")
    # the sweep's baseline column shows the task's reference baseline (first candidate)
    baseline = anchor if anchor is None or isinstance(anchor, str) else anchor[0]
    run = TaskRun(task, baseline, rss_before_mb=_peak_rss_mb())
    t0 = time.perf_counter()
    for fold in tr.fold_data:
        tgroups = _train_groups(fold)
        for frac in fractions:
            train, n_keep, n_all = _subset(fold, frac)
            for label, _name, cfg in variants:
                if frac < 1.0 and label not in sweep_labels:
                    continue
                step(f"{task.name} · {label} · {fold.name} · {frac:.0%} of groups")
                run.fits.append(
                    _fit_compositional(
                        task,
                        fold,
                        train,
                        label,
                        cfg,
                        train_options=train_options,
                        fraction=frac,
                        kept=(n_keep, n_all),
                        train_groups=tgroups if frac == 1.0 else None,
                    )
                )
            if baseline is not None:
                run.baselines.append(_fit_baseline(task, fold, train, baseline, frac))
    run.seconds = time.perf_counter() - t0
    run.rss_after_mb = _peak_rss_mb()
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


def _fits(run: TaskRun, label: str, fraction: float = 1.0) -> list[FitRecord]:
    return [r for r in run.fits if r.label == label and r.fraction == fraction]


def _ood_mean(records: Sequence[FitRecord]) -> float:
    return _nanmean(v for r in records for v in r.ood.get(METRIC, {}).values())


def limits_report(runs: Sequence[TaskRun], labels: Sequence[str]) -> Report:
    """Train / validation / held-out Pearson Δ of each variant, side by side."""
    rows, notes = [], []
    for run in runs:
        for label in labels:
            recs = _fits(run, label)
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
            recs = {label: _fits(run, label, frac) for label in labels}
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
            recs = _fits(run, label)
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
        "without its validation groups to choose α, then on everything). epochs run / best "
        "epoch and cells/s (training cells per second per epoch, `history_.cells_per_second`) "
        "are from the final fit. peak RSS: the process's peak resident memory "
        "(`resource.getrusage` ru_maxrss; process-wide, so it includes torch, the data and all "
        "earlier tasks) before → after the task's compositional fits."
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


def kang_line(runs: Sequence[TaskRun], label: str, quick: bool) -> str | None:
    """The issue's Kang fit-time target against this run's measurement."""
    run = next((r for r in runs if r.task.name.startswith("kang-ood-celltype")), None)
    recs = _fits(run, label) if run is not None else []
    if not recs:
        return None
    mean = float(np.mean([r.fit_seconds for r in recs]))
    verdict = "meets" if mean < KANG_TARGET_SECONDS else "misses"
    epochs = np.mean([r.epochs for r in recs])
    line = (
        f"Kang target: {label} fits in {mean:.1f} s per fold on average over {len(recs)} folds "
        f"({epochs:.0f} epochs on average, {_torch_threads()} torch threads) — {verdict} the "
        f"target of < {KANG_TARGET_SECONDS:g} s on 2 CPU cores; {CPA_TOOLS_KANG}."
    )
    if quick:
        line += " (--quick: fewer folds and epochs, not comparable to the target.)"
    return line


def _torch_threads() -> int:
    import torch

    return torch.get_num_threads()


def _json_safe(x: Any) -> Any:
    if isinstance(x, float) and math.isnan(x):
        return None
    if isinstance(x, dict):
        return {str(k): _json_safe(v) for k, v in x.items()}
    if isinstance(x, list | tuple):
        return [_json_safe(v) for v in x]
    return x


def details_dict(
    runs: Sequence[TaskRun], reports: Sequence[Report], *, command: str, seconds: float, quick: bool
) -> dict[str, Any]:
    """The limits / sweep / speed measurements, per fit, for the details JSON."""
    return _json_safe(
        {
            "command": command,
            "seconds": seconds,
            "quick": quick,
            "torch_threads": _torch_threads(),
            "cpu_count": os.cpu_count(),
            "peak_rss": "resource.getrusage(RUSAGE_SELF).ru_maxrss, MB, process-wide",
            "tasks": {
                run.task.name: {
                    "anchor_baseline": run.baseline,
                    "seconds": run.seconds,
                    "peak_rss_mb_before": run.rss_before_mb,
                    "peak_rss_mb_after": run.rss_after_mb,
                    "fits": [dataclasses.asdict(r) for r in run.fits],
                    "baselines": [dataclasses.asdict(b) for b in run.baselines],
                }
                for run in runs
            },
            "tables": {
                rep.title: {"columns": rep.columns, "rows": rep.rows, "caption": rep.caption}
                for rep in reports
            },
        }
    )


# ------------------------------------------------------------------ main


def main(argv: Sequence[str] | None = None) -> None:
    """Parse the command line, run everything, print and write the results."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--task", default=None, help=f"comma list of tasks (default: {TASKS})")
    parser.add_argument(
        "--quick",
        action="store_true",
        help=f"smoke test: {QUICK_TASKS} (Kang's first {QUICK_FOLDS} folds), "
        f"max_epochs={QUICK_TRAIN['max_epochs']}",
    )
    parser.add_argument("--baselines", default=BASELINES, help="baselines of the main table")
    parser.add_argument(
        "--sweep-models",
        default="anchored,alone",
        help="compositional variants fitted on 50 / 25 %% of the groups (comma list)",
    )
    parser.add_argument("--json", type=Path, default=None)
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--readme", type=Path, default=ROOT / "README.md", help="file --update-readme edits"
    )
    args = parser.parse_args(argv)
    if args.quick and args.task is not None:
        parser.error("--quick runs its own task selection; drop --task.")
    if args.quick and args.update_readme:
        parser.error("--quick is a smoke test; the README shows only a full run.")
    readme = args.readme
    if args.update_readme:
        check_block("compositional", readme)  # fail before the long run, not after it
    command = shlex.join(["python", "benchmarks/run_compositional.py", *sys.argv[1:]])
    default_json = "compositional-quick.json" if args.quick else "compositional.json"
    json_path = args.json or ROOT / "benchmarks/results" / default_json

    threads = _torch_threads()  # imports torch now, so no task's memory counts the import
    console = Console()
    if not console.is_terminal:
        console.width = max(console.width, 160)  # a log file: keep the tables readable
    t_start = time.perf_counter()
    tasks = get_tasks(QUICK_TASKS if args.quick else (args.task or TASKS))
    scalar = [t.name for t in tasks if t.scoring != "profile"]
    if scalar:
        raise SystemExit(f"{', '.join(scalar)}: not a profile task; the model is not run on it.")
    if args.quick:
        tasks = [
            _first_folds(t, QUICK_FOLDS) if t.name == "kang-ood-celltype" else t for t in tasks
        ]
    train_options = dict(QUICK_TRAIN) if args.quick else {}
    variants = expand_models(MODEL)
    labels = [label for label, _, _ in variants]
    sweep_labels = [f"{MODEL}[{v.strip()}]" for v in args.sweep_models.split(",") if v.strip()]
    unknown = sorted(set(sweep_labels) - set(labels))
    if unknown:
        parser.error(f"--sweep-models: unknown variant(s) {unknown}; variants: {labels}.")
    sweep_labels = [label for label in labels if label in sweep_labels]  # anchored first

    if args.quick:
        console.print(
            f"[bold yellow]--quick smoke test:[/] {QUICK_TASKS} (Kang: first {QUICK_FOLDS} "
            f"folds), compositional trained with {QUICK_TRAIN}; numbers are not the benchmark's."
        )
    # baselines (and the folds, kept for the compositional fits)
    result = run_benchmark(tasks, args.baselines, keep_predictions=True)
    seconds_baselines = time.perf_counter() - t_start

    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    runs: list[TaskRun] = []
    with Progress(
        SpinnerColumn(), TextColumn("{task.description}"), TimeElapsedColumn(), transient=True
    ) as bar:
        job = bar.add_task("compositional", total=len(result.tasks))
        for tr in result.tasks:
            runs.append(
                _run_task(
                    tr,
                    variants,
                    sweep_labels=sweep_labels,
                    fractions=FRACTIONS,
                    train_options=train_options,
                    step=lambda s: bar.update(job, description=s),
                )
            )
            bar.advance(job)
            console.log(f"{tr.task.name}: compositional fits done in {runs[-1].seconds:.0f} s")

    reports = [
        limits_report(runs, labels),
        sweep_report(runs, sweep_labels or labels[:1], FRACTIONS),
        speed_report(runs, labels),
    ]
    seconds = time.perf_counter() - t_start
    for table in rich_tables(result):
        console.print(table)
    for rep in reports:
        console.print(rep.rich())
    target = kang_line(runs, f"{MODEL}[alone]", args.quick)
    if target:
        console.print(target, markup=False, highlight=False)

    result.write_json(json_path)
    details = json_path.with_name(json_path.stem + "-details.json")
    atomic_write_text(
        details,
        json.dumps(
            details_dict(runs, reports, command=command, seconds=seconds, quick=args.quick),
            indent=1,
        ),
    )
    footer = (
        f"`{command}` — total {seconds:.0f} s wall ({seconds_baselines:.0f} s building the "
        f"folds and running the baselines), {threads} torch threads on "
        f"{os.cpu_count()} CPUs."
    )
    if args.quick:
        footer += (
            f" --quick smoke test: Kang's first {QUICK_FOLDS} folds and Norman only, "
            f"compositional trained with {QUICK_TRAIN}."
        )
    console.print(f"wrote {json_path} and {details}", markup=False, highlight=False)
    console.print(footer.replace("`", ""), markup=False, highlight=False)

    if args.update_readme:
        md = "\n".join(
            [
                markdown_summary(result),
                *(rep.markdown() for rep in reports),
                *([f"{target}\n"] if target else []),
                f"_Generated by {footer} Per-condition values in `{shown(json_path)}` and "
                f"`{shown(details)}`. — : the model cannot predict that task's conditions "
                "(reason in the note)._\n",
            ]
        )
        update_block("compositional", md, readme)
        console.print(f"updated {readme}", markup=False, highlight=False)


if __name__ == "__main__":
    main()
