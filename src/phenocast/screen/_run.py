"""In-silico combinatorial screens: enumerate, predict in blocks, score, keep the top k."""

from __future__ import annotations

import sys
import time as _time
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._inputs import (
    ScreenError,
    _context_controls,
    _contexts,
    _doses,
    _names,
    _outside,
    target_vector,
)
from ._predictors import ScreenPredictor, predictor_for
from ._result import ScreenResult
from ._shard import Shard, digest, fingerprinted, resolve_shard, shard_blocks
from ._space import Chunk, ConditionSpace

#: ``run(max_conditions=)`` by default: about 3 hours at 10,000 conditions per second.
MAX_CONDITIONS = 100_000_000

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..data import Registry

__all__ = ["SCORES", "ScreenError", "run", "target_vector"]

#: Built-in scores; each is "higher ranks first".
SCORES = ("effect", "target", "target-distance", "non-additivity", "uncertainty")
ScoreName = Literal["effect", "target", "target-distance", "non-additivity", "uncertainty"]


# ------------------------------------------------------------------ top k
class _TopK:
    """The ``k`` best rows seen so far, by score; memory O(k + block)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.score = np.empty(0)
        self.cols: dict[str, np.ndarray] = {}

    def push(self, score: np.ndarray, cols: dict[str, np.ndarray]) -> None:
        ok = ~np.isnan(score)
        score = score[ok]
        cols = {c: v[ok] for c, v in cols.items()}
        if self.cols:
            score = np.concatenate([self.score, score])
            cols = {c: np.concatenate([self.cols[c], v]) for c, v in cols.items()}
        if score.size > self.k:
            # stable: ties keep the earlier (lower id) condition
            keep = np.lexsort((cols["id"], -score))[: self.k]
            score = score[keep]
            cols = {c: v[keep] for c, v in cols.items()}
        self.score, self.cols = score, cols

    def ordered(self) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        if not self.cols:
            return self.score, {}
        order = np.lexsort((self.cols["id"], -self.score))
        return self.score[order], {c: v[order] for c, v in self.cols.items()}


# ------------------------------------------------------------------ the screen
def run(
    model: Any,
    perturbations: Sequence[str] | None = None,
    *,
    max_order: int = 2,
    min_order: int = 1,
    doses: Sequence[float] | Mapping[str, Sequence[float]] | None = None,
    cell_types: Sequence[str] | None = None,
    covariates: Mapping[str, Sequence[str]] | None = None,
    controls: AnnData | None = None,
    n_cells: int = 100,
    time: float | None = None,
    score: ScoreName | Callable[[np.ndarray, dict[str, np.ndarray]], np.ndarray] = "effect",
    target: Any = None,
    top_k: int = 100,
    extrapolate: bool = False,
    chunk_size: int = 4096,
    mode: Literal["auto", "per-cell"] = "auto",
    seed: int = 0,
    shard: Shard = None,
    max_conditions: int | None = MAX_CONDITIONS,
    progress: bool | Callable[[int, int], None] = False,
) -> ScreenResult:
    """Screen every combination of ``perturbations`` in silico and keep the ``top_k``.

    Parameters
    ----------
    model
        A fitted model: the compositional model is screened in vectorised blocks; any other
        model behind the protocol goes through its ``predict_mean``.
    perturbations
        Single perturbations to combine (default: every one the model was trained on).
    max_order, min_order
        Combination sizes screened (1 = singles, 2 = pairs …).
    doses
        One list for every perturbation, a ``{name: [doses]}`` mapping, or ``None`` for each
        perturbation's trained doses. A combination takes every product of its members' doses.
    cell_types, covariates
        Contexts: values of the model's single covariate, or ``{covariate: [values]}``; a
        covariate not given is screened at every one of its values.
    controls
        Start cells; each context uses up to ``n_cells`` of the cells matching its covariates
        (sampled with ``seed``). Without controls, the model's stored mean basal state of the
        context is the start.
    time
        The time point, for models registered with a time column.
    score
        What ranks conditions (higher first): ``"effect"``, ``"target"`` (cosine similarity of
        the predicted change with ``target``), ``"target-distance"`` (minus the Euclidean
        distance to ``target`` on its genes), ``"non-additivity"``, ``"uncertainty"``, or a
        function ``(delta (B, G), metrics) → (B,)`` scores.
    target
        Signature for the target scores: see :func:`target_vector`.
    top_k
        Rows kept; memory is O(top_k + chunk_size), whatever the number of conditions.
    extrapolate
        Allow doses outside each perturbation's trained range (marked ``extrapolated``).
    chunk_size
        Conditions predicted per block.
    mode
        ``"per-cell"`` forces decoding every start cell × condition (compositional model).
    seed
        Seed for sampling each context's start cells.
    shard
        ``(i, n)`` screens only shard ``i`` of ``n`` (counted from 0) of the condition space,
        so ``n`` processes can share a screen; :func:`merge` joins their results into exactly
        the top ``top_k`` of the whole screen. The space is enumerated in blocks of
        ``chunk_size`` conditions and each shard takes a contiguous run of ``1/n`` of the
        blocks, so every condition is scored once, in the block it has in the whole screen.
        ``"auto"`` takes ``(RANK, WORLD_SIZE)`` from the environment, as torchrun sets them
        (also under Lightning DDP launched by torchrun). ``None``: the whole space.
    max_conditions
        Refuse (before any work) a screen of more conditions than this, saying how many it
        has and roughly how long it would take; ``None`` for no limit.
    progress
        ``True`` for a Rich progress bar with an ETA (a plain line on stderr at every tenth
        when stderr is not a terminal), or a callback ``(done, total)``.

    Returns
    -------
    ScreenResult
        The hits, best first (ties: the condition enumerated first), and what the screen (or
        the shard: its counts, time and throughput count its conditions only) cost.
    """
    registry: Registry = model.registry
    part = resolve_shard(shard)
    if top_k < 1:
        raise ScreenError(f"top_k must be >= 1, got {top_k}.")
    if n_cells < 1:
        raise ScreenError(f"n_cells must be >= 1, got {n_cells}.")
    if chunk_size < 1:
        raise ScreenError(f"chunk_size must be >= 1, got {chunk_size}.")
    if isinstance(max_order, bool) or not isinstance(max_order, int) or max_order < 1:
        raise ScreenError(f"max_order (--order) must be an integer >= 1, got {max_order!r}.")
    if isinstance(min_order, bool) or not isinstance(min_order, int) or min_order < 1:
        raise ScreenError(f"min_order must be an integer >= 1, got {min_order!r}.")
    if min_order > max_order:
        raise ScreenError(
            f"min_order ({min_order}) is larger than max_order ({max_order}); no combination "
            "size is left to screen."
        )
    if callable(score):
        score_name = getattr(score, "__name__", "custom")
    elif score in SCORES:
        score_name = score
    else:
        raise ScreenError(f"Unknown score {score!r}; choose one of {SCORES} or pass a function.")
    if score_name in ("target", "target-distance") and target is None:
        raise ScreenError(f"score={score_name!r} needs a target signature (target=...).")
    if score_name == "non-additivity" and max_order < 2:
        raise ScreenError("score='non-additivity' needs combinations: max_order >= 2.")
    if registry.time_key is not None and time is None:
        raise ScreenError(
            f"The model was registered with a time column ({registry.time_key!r}); give time=."
        )
    names = _names(registry, model, perturbations)
    if not names:
        raise ScreenError("No perturbations to screen.")
    dose_lists, trained = _doses(registry, model, names, doses, extrapolate=extrapolate)
    contexts = _contexts(registry, cell_types, covariates)
    tvec, tkind = (None, None) if target is None else target_vector(registry, target)
    if score_name == "target-distance" and tkind == "up-down":
        raise ScreenError("target-distance needs a signature with values, not up/down lists.")
    if max_order > len(names):
        raise ScreenError(
            f"max_order={max_order} needs at least that many perturbations; {len(names)} given."
        )
    space = ConditionSpace(
        tuple(names), tuple(dose_lists), len(contexts), min_order=min_order, max_order=max_order
    )
    if max_conditions is not None and len(space) > max_conditions:
        raise ScreenError(
            f"This screen has {len(space):,} conditions ({len(names)} perturbations, "
            f"combinations of {min_order} to {max_order}, {sum(map(len, dose_lists))} doses in "
            f"all, {len(contexts)} context(s)), more than max_conditions={max_conditions:,}; at "
            f"about 10,000 conditions per second on one CPU that is "
            f"{_duration(len(space) / 1e4)}. Narrow it (fewer perturbations, doses or a lower "
            "order), shard it, or raise max_conditions (CLI: --max-conditions)."
        )
    if controls is not None:
        registry.check_genes(controls)
    predictor = predictor_for(model, mode=mode, time=time)
    comp_index = np.array([registry.components.index(n) for n in names], dtype=np.int64)
    outside = _outside(names, dose_lists, trained)

    # start cells of every context, checked before the first prediction
    starts = [_context_controls(registry, controls, c, n_cells, seed) for c in contexts]
    settings, fingerprint = fingerprinted(
        _settings(
            model, registry, space, contexts, starts, score_name, tvec, tkind, top_k, chunk_size,
            time, predictor.path,
        )
    )  # fmt: skip
    first, stop = shard_blocks(space.n_chunks(chunk_size), part)
    top = _TopK(top_k)
    total = space.chunk_conditions(chunk_size, first, stop)
    report, finish = _progress(progress, total)
    done = n_scored = n_cells_used = 0
    t0 = _time.perf_counter()
    try:
        current = -1
        singles: np.ndarray | None = None
        ctrl = np.zeros(registry.n_vars)
        for chunk in space.chunks(chunk_size, start=first, stop=stop):
            if chunk.context != current:
                current = chunk.context
                predictor.begin(contexts[current], starts[current])
                n_cells_used = max(n_cells_used, predictor.n_cells)
                ctrl = predictor.control()
                singles = (
                    _single_deltas(predictor, space, comp_index, ctrl) if max_order >= 2 else None
                )
            metrics = _score_chunk(
                predictor, chunk, comp_index, ctrl, singles, tvec, tkind, outside
            )
            s = (
                np.asarray(score(metrics.pop("_delta"), metrics), dtype=float)
                if callable(score)
                else _pick(score_name, metrics)
            )
            metrics.pop("_delta", None)
            if s.shape != (len(chunk),):
                raise ScreenError(
                    f"score function returned shape {s.shape}, expected ({len(chunk)},)."
                )
            n_scored += int((~np.isnan(metrics["effect"])).sum())
            top.push(
                s,
                {
                    "id": chunk.ids,
                    "context": np.full(len(chunk), chunk.context),
                    "members": chunk.members,
                    "dose_index": chunk.dose_index,
                    **metrics,
                },
            )
            done += len(chunk)
            report(done)
    finally:
        finish()
    seconds = _time.perf_counter() - t0
    hits, ids = _hits_frame(top, space, contexts, registry, score_name, tvec is not None, max_order)
    return ScreenResult(
        hits=hits,
        score=score_name,
        n_conditions=total,
        n_scored=n_scored,
        n_unanswered=total - n_scored,
        cells_per_context=n_cells_used,
        path=predictor.path,
        seconds=seconds,
        contexts=contexts,
        shard=part,
        settings=settings,
        fingerprint=fingerprint,
        condition_ids=ids,
    )


def _settings(
    model: Any,
    registry: Registry,
    space: ConditionSpace,
    contexts: list[dict[str, str]],
    starts: list[AnnData | None],
    score_name: str,
    tvec: np.ndarray | None,
    tkind: str | None,
    top_k: int,
    chunk_size: int,
    time: float | None,
    path: str,
) -> dict[str, Any]:
    """What defines a screen, for telling shards of different screens apart: large values
    (model, target, start cells) by content hash. A score function counts by its name."""
    cells = None
    if any(s is not None for s in starts):
        cells = digest([(list(s.obs_names), registry.matrix(s)) for s in starts if s is not None])
    return {
        "model": f"{type(model).__name__} {digest(model)}",
        "perturbations": list(space.names),
        "doses": [list(d) for d in space.doses],
        "contexts": contexts,
        "min_order": space.min_order,
        "max_order": space.max_order,
        "conditions": len(space),
        "score": score_name,
        "target": None if tvec is None else f"{tkind} {digest(tvec)}",
        "top_k": top_k,
        "chunk_size": chunk_size,
        "start_cells": cells,
        "time": time,
        "path": path,
    }


def _single_deltas(
    predictor: ScreenPredictor, space: ConditionSpace, comp_index: np.ndarray, ctrl: np.ndarray
) -> np.ndarray:
    """``(n_names, max_doses, G)`` predicted change of every single at every listed dose."""
    width = max(len(d) for d in space.doses)
    out = np.full((len(space.names), width, ctrl.shape[0]), np.nan)
    members = np.array(
        [(i, j) for i, d in enumerate(space.doses) for j in range(len(d))], dtype=np.int64
    )
    pad = space.max_order - 1
    comps = np.concatenate(
        [comp_index[members[:, :1]], np.full((len(members), pad), -1, dtype=np.int64)], 1
    )
    doses = np.array([[space.doses[i][j]] + [0.0] * pad for i, j in members.tolist()])
    step = 4096
    for s in range(0, len(members), step):
        mean, _ = predictor.predict(comps[s : s + step], doses[s : s + step])
        m = members[s : s + step]
        out[m[:, 0], m[:, 1]] = mean - ctrl
    return out


def _score_chunk(
    predictor: ScreenPredictor,
    chunk: Chunk,
    comp_index: np.ndarray,
    ctrl: np.ndarray,
    singles: np.ndarray | None,
    tvec: np.ndarray | None,
    tkind: str | None,
    outside: np.ndarray,
) -> dict[str, np.ndarray]:
    members, used = chunk.members, chunk.members >= 0
    comps = np.where(used, comp_index[np.maximum(members, 0)], -1)
    mean, unc = predictor.predict(comps, chunk.doses)
    delta = mean - ctrl
    metrics: dict[str, np.ndarray] = {"effect": np.linalg.norm(delta, axis=1)}
    metrics["uncertainty"] = np.full(len(chunk), np.nan) if unc is None else np.asarray(unc)
    order = used.sum(1)
    if singles is not None:
        # Δ_combination − Σ Δ_member, one member column at a time: memory O(B × G), not O(B K G)
        resid = delta.copy()
        for k in range(members.shape[1]):
            on = used[:, k]
            resid[on] -= singles[members[on, k], chunk.dose_index[on, k]]
        nonadd = np.linalg.norm(resid, axis=1)
        metrics["non_additivity"] = np.where(order >= 2, nonadd, np.nan)
    if tvec is not None:
        on = ~np.isnan(tvec)
        d, t = delta[:, on], tvec[on]
        norm = np.linalg.norm(d, axis=1) * np.linalg.norm(t)
        with np.errstate(invalid="ignore", divide="ignore"):
            metrics["target_similarity"] = np.where(norm > 0, d @ t / norm, 0.0)
        if tkind == "signature":
            metrics["target_distance"] = np.linalg.norm(d - t, axis=1)
    metrics["extrapolated"] = (
        outside[np.maximum(members, 0), np.maximum(chunk.dose_index, 0)] & used
    ).any(1)
    metrics["_delta"] = delta
    return metrics


def _pick(name: str, metrics: dict[str, np.ndarray]) -> np.ndarray:
    if name == "effect":
        return metrics["effect"]
    if name == "target":
        return metrics["target_similarity"]
    if name == "target-distance":
        return -metrics["target_distance"]
    if name == "non-additivity":
        return metrics["non_additivity"]
    if np.isnan(metrics["uncertainty"]).all():
        raise ScreenError("score='uncertainty' needs a model that predicts an uncertainty.")
    return metrics["uncertainty"]


def _hits_frame(
    top: _TopK,
    space: ConditionSpace,
    contexts: list[dict[str, str]],
    registry: Registry,
    score_name: str,
    has_target: bool,
    max_order: int,
) -> tuple[pd.DataFrame, np.ndarray]:
    """The hits table, best first, and each hit's condition id."""
    score, cols = top.ordered()
    rows = []
    for i in range(score.size):
        pert, dose = space.describe(cols["members"][i], cols["dose_index"][i])
        row: dict[str, Any] = {"rank": i + 1, "perturbation": pert}
        if registry.dose_key is not None:
            row["dose"] = dose
        row["order"] = int((cols["members"][i] >= 0).sum())
        row.update(contexts[int(cols["context"][i])])
        row["score"] = float(score[i])
        row["effect"] = float(cols["effect"][i])
        if has_target:
            row["target_similarity"] = float(cols["target_similarity"][i])
            if "target_distance" in cols:
                row["target_distance"] = float(cols["target_distance"][i])
        if max_order >= 2:
            row["non_additivity"] = float(cols["non_additivity"][i])
        row["uncertainty"] = float(cols["uncertainty"][i])
        row["extrapolated"] = bool(cols["extrapolated"][i])
        rows.append(row)
    frame = pd.DataFrame(rows)
    if frame.empty:
        frame = pd.DataFrame(columns=["rank", "perturbation", "score"])
    frame.attrs["score"] = score_name
    ids = np.asarray(cols.get("id", np.empty(0)), dtype=np.int64)
    return frame, ids


def _duration(seconds: float) -> str:
    """A rough human duration."""
    for unit, size in (("years", 3.15e7), ("days", 86400.0), ("hours", 3600.0)):
        if seconds >= size:
            return f"about {seconds / size:,.0f} {unit}"
    if seconds < 60:
        return "under a minute"
    return f"about {seconds / 60.0:,.0f} minutes"


def _progress(
    progress: bool | Callable[[int, int], None], total: int
) -> tuple[Callable[[int], None], Callable[[], None]]:
    if callable(progress):
        cb = progress
        return (lambda done: cb(done, total)), (lambda: None)
    if not progress:
        return (lambda done: None), (lambda: None)
    if not sys.stderr.isatty():  # a log file or a pipe: a plain line every 10 %
        return _plain_progress(total), (lambda: None)
    from rich.progress import (
        BarColumn,
        MofNCompleteColumn,
        Progress,
        TextColumn,
        TimeElapsedColumn,
        TimeRemainingColumn,
    )

    bar = Progress(
        TextColumn("screening"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("conditions ·"),
        TimeElapsedColumn(),
        TextColumn("· ETA"),
        TimeRemainingColumn(),
    )
    task = bar.add_task("screen", total=total)
    bar.start()
    return (lambda done: bar.update(task, completed=done)), bar.stop


def _plain_progress(total: int) -> Callable[[int], None]:
    """Print ``screening: 40% (n of N conditions, t s)`` to stderr at each tenth of ``total``."""
    import time

    start, shown = time.perf_counter(), [0]

    def report(done: int) -> None:
        tenth = 10 * done // max(total, 1)
        if tenth > shown[0]:
            shown[0] = tenth
            print(
                f"screening: {10 * tenth}% ({done:,} of {total:,} conditions, "
                f"{time.perf_counter() - start:.0f} s)",
                file=sys.stderr,
                flush=True,
            )

    return report
