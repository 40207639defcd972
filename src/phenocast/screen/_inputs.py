"""Checking a screen's request: perturbation names, doses and their trained range, contexts,
start cells and the target signature — each failure names the value and how to fix it."""

from __future__ import annotations

import itertools
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..data import is_on_disk
from ..models import DoseRangeError, check_dose_range

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

    from ..data import Registry

__all__ = ["ScreenError", "read_target", "target_vector"]


class ScreenError(ValueError):
    """A screen's request cannot be met (unknown names, doses out of range, bad target …)."""


def _names(registry: Registry, model: Any, perturbations: Sequence[str] | None) -> list[str]:
    trained = list(getattr(model, "trained_components_", registry.components))
    if perturbations is None:
        return trained
    if isinstance(perturbations, str):
        raise ScreenError("perturbations must be a list of names, not one string.")
    names = [str(p) for p in perturbations]
    dup = sorted({n for n in names if names.count(n) > 1})
    if dup:
        raise ScreenError(f"perturbations lists {dup[:10]} more than once.")
    known = set(registry.components)
    unknown = [n for n in names if n not in known]
    if unknown:
        raise ScreenError(
            f"Unknown perturbation(s) {unknown[:10]}: the model knows {len(known)}, e.g. "
            f"{sorted(known)[:15]}. Combinations are built by the screen: list single "
            "perturbations only."
        )
    untrained = [n for n in names if n not in set(trained)]
    if untrained:
        raise ScreenError(
            f"Perturbation(s) {untrained[:10]} are registered but were absent from the data the "
            "model was fitted on; their predictions would be untrained embeddings."
        )
    return names


def _doses(
    registry: Registry,
    model: Any,
    names: list[str],
    doses: Sequence[float] | Mapping[str, Sequence[float]] | None,
    *,
    extrapolate: bool,
) -> tuple[list[tuple[float, ...]], dict[str, tuple[float, ...]] | None]:
    """One dose list per name and the model's trained doses (for the ``extrapolated``
    column; ``None`` when it records none or the registry has no dose column). Doses outside
    the trained range follow :func:`phenocast.models.check_dose_range`."""
    trained: dict[str, tuple[float, ...]] = dict(getattr(model, "trained_doses_", {}) or {})
    if registry.dose_key is None:
        if doses is not None:
            raise ScreenError(
                "The model was registered without a dose column; call run(..., doses=None)."
            )
        return [(1.0,)] * len(names), None
    if doses is None:
        missing = [n for n in names if n not in trained]
        if missing:
            raise ScreenError(
                f"No trained doses are recorded for {missing[:10]}; give doses=[...] explicitly."
            )
        lists = [trained[n] for n in names]
    elif isinstance(doses, Mapping):
        missing = [n for n in names if n not in doses]
        if missing:
            raise ScreenError(f"doses gives no list for {missing[:10]}.")
        lists = [tuple(float(d) for d in doses[n]) for n in names]
    else:
        lists = [tuple(float(d) for d in doses)] * len(names)
    for n, lst in zip(names, lists, strict=True):
        bad = [d for d in lst if not np.isfinite(d) or d <= 0]
        if bad:
            raise ScreenError(f"Doses must be positive numbers; {n!r} has {bad[:5]}.")
        if len(set(lst)) != len(lst):
            raise ScreenError(f"The dose list of {n!r} repeats a value: {list(lst)}.")
    if not hasattr(model, "trained_doses_"):  # a model that records no trained doses
        return lists, None
    try:
        check_dose_range(
            [[(n, d)] for n, lst in zip(names, lists, strict=True) for d in lst],
            trained,
            extrapolate=extrapolate,
            fix="Pass extrapolate=True (CLI: --extrapolate) to screen them anyway; they are "
            "marked in the output's 'extrapolated' column.",
        )
    except DoseRangeError as err:
        raise ScreenError(str(err)) from None
    return lists, trained


def _contexts(
    registry: Registry,
    cell_types: Sequence[str] | None,
    covariates: Mapping[str, Sequence[str]] | None,
) -> list[dict[str, str]]:
    keys = list(registry.covariate_keys)
    given = {k: [str(v) for v in vals] for k, vals in (covariates or {}).items()}
    if cell_types is not None:
        if len(keys) != 1:
            raise ScreenError(
                f"cell_types= needs a model with exactly one covariate; this one has {keys}. "
                "Use covariates={key: [values]}."
            )
        if keys[0] in given:
            raise ScreenError(f"Give {keys[0]!r} once: cell_types= or covariates=, not both.")
        given[keys[0]] = [str(v) for v in cell_types]
    unknown = sorted(set(given) - set(keys))
    if unknown:
        raise ScreenError(f"Unknown covariate(s) {unknown}; the model's covariates: {keys}.")
    for k, vals in given.items():
        known = registry.covariate_categories[k]
        bad = [v for v in vals if v not in known]
        if bad:
            raise ScreenError(
                f"Unknown value(s) {bad[:10]} of covariate {k!r}; known: {list(known)[:20]}."
            )
        if not vals:
            raise ScreenError(f"covariate {k!r} lists no values.")
    values = [given.get(k, list(registry.covariate_categories[k])) for k in keys]
    return [dict(zip(keys, combo, strict=True)) for combo in itertools.product(*values)]


def _context_controls(
    registry: Registry, controls: AnnData | None, context: dict[str, str], n_cells: int, seed: int
) -> AnnData | None:
    if controls is None:
        return None
    keep = np.ones(controls.n_obs, dtype=bool)
    for k, v in context.items():
        if k in controls.obs.columns:
            keep &= controls.obs[k].astype(str).to_numpy() == v
    rows = np.flatnonzero(keep)
    if rows.size == 0:
        raise ScreenError(
            f"controls has no cell of context {context}; pass control cells of that context, "
            "or controls=None to start from the model's stored basal state."
        )
    if rows.size > n_cells:
        rows = np.sort(np.random.default_rng(seed).choice(rows, n_cells, replace=False))
    # the few start cells are read into memory; an on-disk AnnData is never copied whole
    return controls[rows].to_memory() if is_on_disk(controls) else controls[rows].copy()


def target_vector(
    registry: Registry, target: Any
) -> tuple[np.ndarray, Literal["signature", "up-down"]]:
    """A target signature as a ``(G,)`` vector with NaN for genes it does not constrain.

    ``target`` is a ``pandas.Series`` (gene → desired change), a length-G array, or a mapping
    ``{"up": [...], "down": [...]}`` of gene lists (scored by cosine similarity only).
    """
    genes = pd.Index(registry.var_names)
    vec = np.full(len(genes), np.nan)
    if isinstance(target, Mapping) and set(target) <= {"up", "down"}:
        kind: Literal["signature", "up-down"] = "up-down"
        for direction, sign in (("up", 1.0), ("down", -1.0)):
            listed = [str(g) for g in target.get(direction, [])]
            missing = [g for g in listed if g not in genes]
            if missing:
                raise ScreenError(
                    f"target {direction!r} genes not in the model: {missing[:10]} "
                    f"({len(missing)} of {len(listed)})."
                )
            vec[genes.get_indexer(listed)] = sign
        both = set(target.get("up", [])) & set(target.get("down", []))
        if both:
            raise ScreenError(f"target lists {sorted(both)[:10]} as both up and down.")
    elif isinstance(target, pd.Series):
        kind = "signature"
        idx = target.index.astype(str)
        missing = [g for g in idx if g not in genes]
        if missing:
            raise ScreenError(
                f"target genes not in the model: {missing[:10]} ({len(missing)} of {len(idx)})."
            )
        vals = pd.to_numeric(target, errors="coerce").to_numpy(dtype=float)
        if np.isnan(vals).any():
            raise ScreenError(
                f"target has non-numeric values for {list(idx[np.isnan(vals)])[:10]}."
            )
        vec[genes.get_indexer(idx)] = vals
    else:
        arr = np.asarray(target, dtype=float)
        if arr.shape != (len(genes),):
            raise ScreenError(
                f"target must be a gene → value Series, an {{'up': …, 'down': …}} mapping or a "
                f"vector of {len(genes)} values; got shape {arr.shape}."
            )
        kind, vec = "signature", arr.copy()
    if np.isnan(vec).all() or np.nanmax(np.abs(vec)) == 0:
        raise ScreenError("target constrains no gene (empty or all zero).")
    return vec, kind


def read_target(path: str | os.PathLike[str]) -> pd.Series | dict[str, list[str]]:
    """Read a target signature CSV in a form :func:`~phenocast.screen.run`'s ``target=`` takes.

    Columns ``gene`` and ``value`` give a signature (a gene → desired change ``Series``);
    ``gene`` and ``direction`` (``up`` / ``down``, any case) give ``{"up": [...], "down":
    [...]}`` gene lists. A malformed file raises :class:`ScreenError` naming the problem.
    """
    from ..data import read_user_csv

    path = Path(path)
    table = read_user_csv(path, what="target", error=ScreenError, dtype=str, keep_default_na=False)
    if "gene" not in table.columns:
        raise ScreenError(
            f"{path} needs a 'gene' column and a 'value' or 'direction' column; it has "
            f"{list(table.columns)}."
        )
    if "value" in table.columns:
        values = pd.to_numeric(table["value"], errors="coerce")
        bad = table.loc[values.isna(), "gene"].tolist()
        if bad:
            raise ScreenError(f"{path}: column 'value' is not a number for genes {bad[:10]}.")
        dup = table.loc[table["gene"].duplicated(), "gene"].tolist()
        if dup:
            raise ScreenError(f"{path}: genes listed twice: {dup[:10]}.")
        return pd.Series(values.to_numpy(), index=table["gene"].to_numpy())
    if "direction" in table.columns:
        direction = table["direction"].str.strip().str.lower()
        bad = sorted(set(direction) - {"up", "down"})
        if bad:
            raise ScreenError(
                f"{path}: column 'direction' must be 'up' or 'down', found {bad[:5]}."
            )
        return {d: table.loc[direction == d, "gene"].tolist() for d in ("up", "down")}
    raise ScreenError(f"{path} needs a 'value' or a 'direction' column beside 'gene'.")


def _outside(
    names: list[str],
    lists: list[tuple[float, ...]],
    trained: dict[str, tuple[float, ...]] | None,
) -> np.ndarray:
    """``(n_names, max_doses)``: the dose lies outside the name's trained range
    (:func:`phenocast.models.check_dose_range`). ``trained=None`` (a model that records no
    trained doses) marks nothing."""
    out = np.zeros((len(names), max(map(len, lists))), dtype=bool)
    for i, (n, lst) in enumerate(zip(names, lists, strict=True)):
        out[i, : len(lst)] = check_dose_range([[(n, d)] for d in lst], trained, extrapolate=True)
    return out
