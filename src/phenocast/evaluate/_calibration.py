"""Calibration of predictive uncertainty on a benchmark fold: a deep ensemble and MC dropout
of the compositional model, raw and recalibrated on a validation context held out of the
fold's training data, beside a constant variance (the benchmark of ``run_calibration.py``)."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from ..metrics import gaussian_nll, interval_coverage, uncertainty_spearman
from ._folds import validation_split
from ._runner import _nanmean
from ._tasks import Fold, QueryGroup, Task

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..models import Prediction

__all__ = ["CALIBRATION_METHODS", "CalibrationSetup", "calibrate_fold", "calibration_summary"]

#: (label, prediction source, recalibration) in table order. Sources: the deep ensemble, its
#: mean with the decoder's (aleatoric) variance only, MC dropout, and each mean with one
#: constant variance; recalibration: one scale on the total variance, or one per part.
CALIBRATION_METHODS = (
    ("constant σ² [ensemble mean]", "constant-ensemble", "total"),
    ("decoder variance", "decoder", None),
    ("decoder variance + scale", "decoder", "total"),
    ("deep ensemble", "ensemble", None),
    ("deep ensemble + scale", "ensemble", "total"),
    ("deep ensemble + 2 scales", "ensemble", "separate"),
    ("constant σ² [MC-dropout mean]", "constant-mc", "total"),
    ("MC dropout", "mc", None),
    ("MC dropout + scale", "mc", "total"),
    ("MC dropout + 2 scales", "mc", "separate"),
)


@dataclass
class CalibrationSetup:
    """Ensemble members, training options (over the task's) and MC-dropout masks."""

    members: int = 5
    train: dict[str, Any] = field(default_factory=lambda: {"max_epochs": 60, "patience": 10})
    samples: int = 30


def _n_cells(group: QueryGroup) -> np.ndarray:
    return np.array([len(c) for c in group.cells])


def _config(task: Task, *, seed: int, dropout: float, setup: CalibrationSetup) -> Any:
    from ..models import CompositionalConfig

    options = {**task.model_options.get("compositional", {}), "anchor": None}
    options["dropout"] = dropout
    options["train"] = {**options.get("train", {}), **setup.train, "seed": seed}
    return CompositionalConfig.from_dict(options)


def _fit(
    task: Task, registry: Any, train: AnnData, setup: CalibrationSetup, dropout: float
) -> tuple[Any, Any, float]:
    """The deep ensemble and the MC-dropout model fitted on ``train``; and the seconds."""
    from ..models import Compositional, Ensemble, MCDropout

    t0 = time.perf_counter()
    ens = Ensemble(
        lambda s: Compositional(registry, _config(task, seed=s, dropout=0.0, setup=setup)),
        n_members=setup.members,
    ).fit(train)
    mc_model = Compositional(registry, _config(task, seed=0, dropout=dropout, setup=setup))
    mc = MCDropout(mc_model.fit(train))
    return ens, mc, time.perf_counter() - t0


def _predictions(ens: Any, mc: Any, queries: list[QueryGroup], samples: int) -> dict[str, Any]:
    """Each prediction source on the queries (rows stacked), and the truths and sizes."""
    from ..models import Prediction, condition_mean_noise

    parts: dict[str, list[Prediction]] = {"ensemble": [], "mc": []}
    for q in queries:
        e = ens.predict_uncertainty(q.controls, q.conditions)
        m = mc.predict_uncertainty(q.controls, q.conditions, n_samples=samples, seed=0)
        parts["ensemble"].append(condition_mean_noise(e, _n_cells(q)))
        parts["mc"].append(condition_mean_noise(m, _n_cells(q)))

    def stack(preds: list[Prediction]) -> Prediction:
        return Prediction(*(np.vstack([getattr(p, f) for p in preds]) for f in _FIELDS))

    ensemble, mc_pred = stack(parts["ensemble"]), stack(parts["mc"])
    zeros = np.zeros_like(ensemble.mean)
    return {
        "ensemble": ensemble,
        "decoder": Prediction(ensemble.mean, zeros, ensemble.aleatoric),
        "mc": mc_pred,
        "constant-ensemble": Prediction(ensemble.mean, zeros, np.ones_like(zeros)),
        "constant-mc": Prediction(mc_pred.mean, zeros, np.ones_like(zeros)),
        "truth": np.vstack([q.truth for q in queries]),
    }


_FIELDS = ("mean", "epistemic", "aleatoric")


def _scores(pred: Prediction, truth: np.ndarray, levels: Sequence[float]) -> dict[str, float]:
    out = {
        f"coverage_{round(100 * lv)}": interval_coverage(pred.mean, pred.variance, truth, level=lv)
        for lv in levels
    }
    out["nll"] = gaussian_nll(pred.mean, pred.variance, truth)
    out["spearman"] = uncertainty_spearman(pred.mean, pred.variance, truth)
    out["rmse"] = float(np.sqrt(np.mean((pred.mean - truth) ** 2)))
    return out


def calibrate_fold(
    task: Task,
    fold: Fold,
    setup: CalibrationSetup,
    *,
    dropout: float = 0.1,
    levels: Sequence[float] = (0.5, 0.8, 0.95),
) -> dict[str, Any]:
    """Score every :data:`CALIBRATION_METHODS` entry on one fold's held-out conditions.

    Each method is fitted on the fold's training data without one more context
    (:func:`validation_split`), which fits the variance scales (minimum Gaussian NLL), then
    refitted on all of it; the truth is each condition's mean profile, whose aleatoric part is
    the decoded per-cell variance over its cells. The compositional model runs without its
    anchor (``compositional[alone]``), ``setup.train`` over the task's options; MC dropout uses
    ``dropout`` and ``setup.samples`` masks (seed 0). Scores: interval coverage at ``levels``,
    Gaussian NLL, Spearman of the predicted sd with the absolute error, RMSE of the mean.
    """
    from ..models import fit_variance_calibration

    inner, val_queries, val_context = validation_split(fold)
    ens, mc, s_val = _fit(task, fold.registry, inner, setup, dropout)
    val = _predictions(ens, mc, [val_queries], setup.samples)
    ens, mc, s_test = _fit(task, fold.registry, fold.train, setup, dropout)
    test = _predictions(ens, mc, fold.groups, setup.samples)
    methods: dict[str, dict[str, Any]] = {}
    for label, source, mode in CALIBRATION_METHODS:
        pred = test[source]
        record: dict[str, Any] = {}
        if mode is not None:
            cal = fit_variance_calibration(val[source], val["truth"], mode=mode)
            pred = cal.apply(pred)
            record["calibration"] = dataclasses.asdict(cal)
        record.update(_scores(pred, test["truth"], levels))
        methods[label] = record
    return {
        "fold": fold.name,
        "validation_context": val_context,
        "n_validation_conditions": len(val_queries.conditions),
        "n_test_conditions": int(test["truth"].shape[0]),
        "n_genes": int(test["truth"].shape[1]),
        "fit_seconds_validation": s_val,
        "fit_seconds_test": s_test,
        "methods": methods,
    }


def calibration_summary(folds: list[dict[str, Any]]) -> dict[str, dict[str, float]]:
    """Method → metric → mean over folds (scales: the fitted multipliers, mean over folds)."""
    out: dict[str, dict[str, float]] = {}
    for label, _, mode in CALIBRATION_METHODS:
        recs = [f["methods"][label] for f in folds]
        row = {k: _nanmean([r[k] for r in recs]) for k in recs[0] if k != "calibration"}
        if mode is not None:
            row["epistemic_scale"] = _nanmean([r["calibration"]["epistemic_scale"] for r in recs])
            row["aleatoric_scale"] = _nanmean([r["calibration"]["aleatoric_scale"] for r in recs])
        out[label] = row
    return out
