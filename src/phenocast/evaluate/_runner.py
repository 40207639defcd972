"""Run models on benchmark tasks, print a table per task and write one JSON file.

Unsupported conditions follow one rule everywhere (:func:`predict_groups`): a model that raises
:class:`~phenocast.models.UnsupportedConditionError` for a query group is asked condition by
condition; each condition it cannot predict gets a NaN row, scores NaN (n/a) and is left out of
every mean. A model that cannot be built or fitted on a fold, or predicts none of a task's
conditions, is n/a for the whole task, with the first error as its note; one that predicts only
some of them keeps its scores, and its note counts the rest.
"""

from __future__ import annotations

import math
import os
import platform
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from ..data import write_json
from ..metrics import HIGHER_IS_BETTER, METRICS, pearson, rmse
from ._tasks import Fold, QueryGroup, Task

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = [
    "NOISE_CEILING",
    "BenchmarkResult",
    "FoldFit",
    "ModelResult",
    "TaskResult",
    "expand_models",
    "fit_fold",
    "predict_groups",
    "run_benchmark",
    "run_task",
    "score_fold",
]

NOISE_CEILING = "noise-ceiling"
_SPEC = re.compile(r"^(?P<name>[a-z0-9-]+)(\[(?P<variant>[a-z0-9-]+)\])?$")


@dataclass
class ModelResult:
    """One model on one task: per-condition values per metric, fit times, status."""

    model: str
    status: str = "ok"
    note: str = ""
    fit_seconds: dict[str, float] = field(default_factory=dict)
    predict_seconds: dict[str, float] = field(default_factory=dict)
    # metric → fold → condition label → value
    values: dict[str, dict[str, dict[str, float]]] = field(default_factory=dict)
    # fold → predicted mean profiles per query group (kept only when asked; not serialised)
    predictions: dict[str, list[np.ndarray]] = field(default_factory=dict, repr=False)

    def per_fold(self, metric: str) -> dict[str, float]:
        return {f: _nanmean(list(v.values())) for f, v in self.values.get(metric, {}).items()}

    def mean(self, metric: str) -> float:
        vals = [x for v in self.values.get(metric, {}).values() for x in v.values()]
        return _nanmean(vals)

    def to_dict(self) -> dict[str, Any]:
        """Plain values, NaN where n/a (:func:`~phenocast.data.write_json` writes null)."""
        return {
            "status": self.status,
            "note": self.note,
            "fit_seconds": self.fit_seconds,
            "predict_seconds": self.predict_seconds,
            "metrics": {
                m: {
                    "per_condition": {
                        fold: {c: float(x) for c, x in conds.items()} for fold, conds in per.items()
                    },
                    "per_fold": self.per_fold(m),
                    "mean": self.mean(m),
                }
                for m, per in self.values.items()
            },
        }


@dataclass
class TaskResult:
    task: Task
    folds: list[str]
    n_conditions: int
    models: dict[str, ModelResult]
    seconds_build: float
    fold_data: list[Fold] = field(default_factory=list, repr=False)
    #: metrics added beside the task's own (e.g. cell-eval's) → whether higher is better
    extra_metrics: dict[str, bool] = field(default_factory=dict)

    @property
    def metrics(self) -> tuple[str, ...]:
        """The task's metrics, then the extra ones."""
        return (*self.task.metrics, *(m for m in self.extra_metrics if m not in self.task.metrics))


@dataclass
class BenchmarkResult:
    tasks: list[TaskResult]

    def to_dict(self) -> dict[str, Any]:
        from .. import __version__

        return {
            "phenocast_version": __version__,
            "python": platform.python_version(),
            "tasks": {
                t.task.name: {
                    "description": t.task.description,
                    "metrics": list(t.metrics),
                    "folds": t.folds,
                    "n_conditions": t.n_conditions,
                    "models": {name: r.to_dict() for name, r in t.models.items()},
                }
                for t in self.tasks
            },
        }

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        return write_json(path, self.to_dict())


#: A hook the runner calls after each fold's fit: (task, model label, fold, fit).
OnFit = Callable[["Task", str, "Fold", "FoldFit"], None]


def _nanmean(values: Iterable[float | None]) -> float:
    """Mean of the values that are not NaN or None; NaN if there is none."""
    arr = np.array([math.nan if v is None else v for v in values], dtype=float)
    if arr.size == 0 or np.isnan(arr).all():
        return float("nan")
    return float(np.nanmean(arr))


def _task_models(task: Task, models: str | Sequence[str]) -> list[str]:
    """``models`` for ``task``: the item ``"baselines"`` stands for the task's own baselines;
    a name given twice runs once (first place kept)."""
    parts = models.split(",") if isinstance(models, str) else list(models)
    out: list[str] = []
    for part in (p.strip() for p in parts):
        for name in task.baselines if part == "baselines" else (part,):
            if name and name not in out:
                out.append(name)
    return out


def expand_models(spec: str | Sequence[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """Parse ``"a,b,nearest-dose[upper]"`` into (label, model name, config) triples.

    A model that declares ``variants`` (nearest-dose: tie lower / upper) expands into one entry
    per variant unless one is named in brackets.
    """
    from ..models import MODELS, model_names

    parts = spec.split(",") if isinstance(spec, str) else list(spec)
    out: list[tuple[str, str, dict[str, Any]]] = []
    valid = model_names(inputs="anndata")
    for raw in (p.strip() for p in parts):
        if not raw:
            continue
        m = _SPEC.match(raw)
        if m and m["name"] in MODELS and m["name"] not in valid:
            raise KeyError(
                f"Model {m['name']!r} learns from {MODELS[m['name']].inputs} data, not from the "
                f"single-readout tasks of this runner (models: {', '.join(valid)}); its "
                "benchmark is benchmarks/run_multimodal.py."
            )
        if not m or m["name"] not in MODELS:
            raise KeyError(f"Unknown model {raw!r}; available models: {', '.join(valid)}.")
        variants: dict[str, dict[str, Any]] = getattr(MODELS[m["name"]], "variants", {}) or {}
        if m["variant"]:
            if m["variant"] not in variants:
                raise KeyError(
                    f"Model {m['name']!r} has no variant {m['variant']!r}; "
                    f"variants: {sorted(variants) or 'none'}."
                )
            out.append((raw, m["name"], variants[m["variant"]]))
        elif variants:
            out.extend((f"{m['name']}[{v}]", m["name"], cfg) for v, cfg in variants.items())
        else:
            out.append((raw, m["name"], {}))
    return out


def _score_profiles(
    task: Task, pred: np.ndarray, truth: np.ndarray, ctrl: np.ndarray
) -> dict[str, float]:
    return {m: METRICS[m](pred, truth, ctrl=ctrl) for m in task.metrics}


def score_fold(task: Task, fold: Fold, preds: list[np.ndarray]) -> dict[str, dict[str, float]]:
    """metric → condition label → value for one fold (``preds``: one array per query group).

    A NaN row (a condition the model could not predict) scores NaN; scalar tasks score the
    predicted rows only.
    """
    out: dict[str, dict[str, float]] = {m: {} for m in task.metrics}
    if task.scoring == "scalar":
        p = np.concatenate([pr[:, 0] for pr in preds])
        t = np.concatenate([g.truth[:, 0] for g in fold.groups])
        p, t = p[~np.isnan(p)], t[~np.isnan(p)]
        scalar = {"pearson": pearson(p, t), "rmse": rmse(p, t)} if p.size else {}
        for m in task.metrics:
            out[m]["all"] = scalar.get(m, math.nan)
        return out
    for group, pred in zip(fold.groups, preds, strict=True):
        for label, p, t in zip(group.conditions.index, pred, group.truth, strict=True):
            if np.isnan(p).all():
                scores = dict.fromkeys(task.metrics, math.nan)
            else:
                scores = _score_profiles(task, p, t, group.ctrl)
            for m, v in scores.items():
                out[m][str(label)] = v
    return out


def predict_groups(
    model: Any, groups: Sequence[QueryGroup], *, extrapolate: bool = False
) -> tuple[list[np.ndarray], dict[str, str]]:
    """``model``'s mean profiles per query group, and why it could not predict some conditions.

    A group whose prediction raises ``UnsupportedConditionError`` is predicted condition by
    condition; each condition the model cannot answer gets a row of NaN and its label maps to
    the error's message in the second return value. ``extrapolate`` lets models that check
    doses against their trained range predict outside it (a task whose point that is);
    without it such a condition is unsupported.
    """
    from ..models import predict_rows

    unsupported: dict[str, str] = {}
    preds = [
        predict_rows(
            model,
            g.controls,
            g.conditions,
            n_genes=g.truth.shape[1],
            reasons=unsupported,
            extrapolate=extrapolate,
        )
        for g in groups
    ]
    return preds, unsupported


@dataclass
class FoldFit:
    """One model fitted on one fold and scored on its held-out groups (see :func:`fit_fold`)."""

    model: Any
    fit_seconds: float
    predict_seconds: float
    predictions: list[np.ndarray]
    #: metric → condition label → value (NaN for an unsupported condition)
    values: dict[str, dict[str, float]]
    #: condition label → why the model could not predict it
    unsupported: dict[str, str]


def fit_fold(
    task: Task,
    fold: Fold,
    name: str,
    config: Mapping[str, Any] | None = None,
    *,
    overrides: Mapping[str, Any] | None = None,
    train: AnnData | None = None,
    extrapolate: bool | None = None,
) -> FoldFit:
    """Fit model ``name`` on ``fold`` (or on ``train`` in its place) and score the held-out groups.

    Its options are the task's for that model, then ``config`` (a variant's), then
    ``overrides``, nested dicts (``"train"``) merged key by key. Building or fitting may raise
    ``UnsupportedConditionError``; prediction follows :func:`predict_groups`, with
    ``extrapolate`` (default: the task's :attr:`~Task.extrapolate`).
    """
    from ..models import create_model

    options = _merge(_merge(task.model_options.get(name, {}), config or {}), overrides or {})
    model = create_model(name, fold.registry, options)
    t0 = time.perf_counter()
    model.fit(fold.train if train is None else train)
    fit_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    allow = task.extrapolate if extrapolate is None else extrapolate
    preds, unsupported = predict_groups(model, fold.groups, extrapolate=allow)
    predict_s = time.perf_counter() - t0
    values = score_fold(task, fold, preds)
    return FoldFit(model, fit_s, predict_s, preds, values, unsupported)


def _noise_ceiling(task: Task, folds: list[Fold]) -> ModelResult:
    """Score one random half of each held-out condition's cells against the other half."""
    res = ModelResult(NOISE_CEILING)
    if task.scoring == "scalar":
        res.status, res.note = "n/a", "one value per condition: no replicates to split"
        return res
    too_small = 0
    for fold in folds:
        for m in task.metrics:
            res.values.setdefault(m, {})[fold.name] = {}
        for group in fold.groups:
            for label, cells in zip(group.conditions.index, group.cells, strict=True):
                if cells.shape[0] < 2:
                    too_small += 1
                    continue
                perm = np.random.default_rng(0).permutation(cells.shape[0])
                half = cells.shape[0] // 2
                a, b = cells[perm[:half]].mean(0), cells[perm[half:]].mean(0)
                for m, v in _score_profiles(task, a, b, group.ctrl).items():
                    res.values[m][fold.name][str(label)] = v
    if too_small:
        res.note = f"{too_small} condition(s) with a single cell / well could not be split"
        if all(not v for per in res.values.values() for v in per.values()):
            res.status = "n/a"
    return res


def _merge(base: Mapping[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    """``{**base, **extra}`` with nested dicts (a config's ``train``) merged key by key."""
    out = dict(base)
    for k, v in extra.items():
        nested = isinstance(v, Mapping) and isinstance(out.get(k), Mapping)
        out[k] = _merge(out[k], v) if nested else v
    return out


def run_task(
    task: Task,
    models: list[tuple[str, str, dict[str, Any]]],
    *,
    data_dir: Path | None = None,
    on_step: Callable[[str], None] | None = None,
    keep_predictions: bool = False,
    overrides: Mapping[str, dict[str, Any]] | None = None,
    on_fit: OnFit | Sequence[OnFit | None] | None = None,
) -> TaskResult:
    """Build a task's folds and evaluate every model on them.

    ``overrides`` maps a model name to config options applied last (``"train"`` merged key by
    key), e.g. ``{"compositional": {"train": {"max_epochs": 5}}}``. ``on_fit`` is called
    with (task, model label, fold, fit) after each fold's fit, while the fitted model is at
    hand (a second yardstick scores it there; see :class:`~phenocast.evaluate.CellEvalScorer`);
    a sequence of such hooks (``None`` entries skipped) calls each in turn.
    """
    hooks = [on_fit] if callable(on_fit) else [h for h in (on_fit or ()) if h is not None]
    from ..models import UnsupportedConditionError

    t0 = time.perf_counter()
    if on_step:
        on_step(f"{task.name} · loading the data and building the folds")
    folds = task.build(data_dir)
    build_s = time.perf_counter() - t0
    n_cond = sum(len(g.conditions) for f in folds for g in f.groups)
    results: dict[str, ModelResult] = {}
    for label, name, cfg in models:
        res = ModelResult(label)
        unsupported: dict[str, str] = {}
        for fold in folds:
            if on_step:
                on_step(f"{task.name} · fitting and scoring {label} · {fold.name}")
            try:
                fit = fit_fold(task, fold, name, cfg, overrides=(overrides or {}).get(name))
            except UnsupportedConditionError as err:
                res.status, res.note, res.values = "n/a", str(err), {}
                break
            for hook in hooks:
                hook(task, label, fold, fit)
            res.fit_seconds[fold.name] = fit.fit_seconds
            res.predict_seconds[fold.name] = fit.predict_seconds
            unsupported.update({f"{fold.name}/{c}": why for c, why in fit.unsupported.items()})
            if keep_predictions:
                res.predictions[fold.name] = fit.predictions
            for m, per in fit.values.items():
                res.values.setdefault(m, {})[fold.name] = per
        if res.status == "ok" and unsupported:
            first = next(iter(unsupported.values()))
            if len(unsupported) == n_cond:
                res.status, res.note, res.values = "n/a", first, {}
            else:
                res.note = f"{len(unsupported)} of {n_cond} conditions n/a ({first})"
        results[label] = res
    if on_step:
        on_step(f"{task.name} · scoring the noise ceiling")
    results[NOISE_CEILING] = _noise_ceiling(task, folds)
    return TaskResult(
        task, [f.name for f in folds], n_cond, results, build_s, folds if keep_predictions else []
    )


def run_benchmark(
    tasks: Sequence[Task],
    models: str | Sequence[str],
    *,
    data_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    on_step: Callable[[str], None] | None = None,
    keep_predictions: bool = False,
    overrides: Mapping[str, dict[str, Any]] | None = None,
    on_fit: OnFit | Sequence[OnFit | None] | None = None,
) -> BenchmarkResult:
    """Run ``models`` (a comma list or names; ``"baselines"``, alone or in the list, = each
    task's own baselines)
    on ``tasks`` (``on_fit`` as in :func:`run_task`).

    ``progress`` shows a transient Rich spinner naming the current step; ``on_step`` is also
    called with each step's description (loading a task, fitting a model on a fold, scoring
    the noise ceiling) as it starts."""
    from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

    ddir = Path(data_dir) if data_dir is not None else None
    out = []
    with Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        disable=not progress,
        transient=True,
    ) as bar:
        job = bar.add_task("benchmark", total=len(tasks))
        for task in tasks:
            spec = _task_models(task, models)
            out.append(
                run_task(
                    task,
                    expand_models(spec),
                    data_dir=ddir,
                    on_step=lambda s: _step(bar, job, s, on_step),
                    keep_predictions=keep_predictions,
                    overrides=overrides,
                    on_fit=on_fit,
                )
            )
            bar.advance(job)
    return BenchmarkResult(out)


def _step(bar: Any, job: Any, text: str, on_step: Callable[[str], None] | None) -> None:
    bar.update(job, description=text)
    if on_step is not None:
        on_step(text)


def best_of(result: TaskResult, metric: str, *, decimals: int = 3) -> set[str]:
    """Labels of the best-scoring models on ``metric`` (ties at ``decimals`` all count; the
    noise ceiling is excluded)."""
    higher = result.extra_metrics.get(metric, HIGHER_IS_BETTER.get(metric, True))
    sign = 1 if higher else -1
    scored = {
        name: round(sign * r.mean(metric), decimals)
        for name, r in result.models.items()
        if name != NOISE_CEILING and r.status == "ok" and not math.isnan(r.mean(metric))
    }
    if not scored:
        return set()
    top = max(scored.values())
    return {name for name, v in scored.items() if v == top}
