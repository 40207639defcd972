"""One real lab cycle: from the measurements so far, propose the next batch with reasons."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Literal

import numpy as np
import pandas as pd

from ._acquisition import AcquisitionContext, make_acquisition
from ._pairs import PairPool
from ._portfolio import Portfolio
from ._surrogates import make_surrogate

if TYPE_CHECKING:  # pragma: no cover
    from ..featurize import GeneFeatures
    from ..knowledge import GeneGraph

__all__ = ["DesignError", "gene_priors", "hit_curve", "propose"]

#: The acquisition each mode uses unless one is named. ``exploit`` is the portfolio: it won
#: the leave-one-screen-out comparison of screen-al (README, "Active learning").
MODES = {"explore": "batchbald", "exploit": "portfolio"}
#: Acquisitions that rank by the measured values (meaningless when they are all equal).
EXPLOITING = frozenset(
    {"kg-exploit", "greedy", "ucb", "portfolio", "pair-neighbours", "pair-portfolio"}
)


class DesignError(ValueError):
    """The candidates or results cannot be used as given."""


def propose(
    candidates: Sequence[str],
    results: pd.DataFrame,
    features: GeneFeatures | PairPool,
    *,
    mode: Literal["explore", "exploit"] = "explore",
    batch_size: int = 64,
    acquisition: str | None = None,
    surrogate: str = "bayesian-ridge",
    graph: GeneGraph | None = None,
    essential: Sequence[str] = (),
    seed: int = 0,
) -> pd.DataFrame:
    """The next batch: ``gene``, ``rank``, ``predicted``, ``uncertainty`` (epistemic sd),
    ``criterion`` and ``reason`` per pick.

    Parameters
    ----------
    candidates
        Genes that could be measured next (measured ones are skipped).
    results
        Measurements so far: columns ``gene`` and ``value`` (one row per gene). With the
        ``portfolio`` acquisition, a ``reason`` column — the earlier proposals' reasons kept
        beside their values — credits each earlier pick to the arm that chose it.
    features
        Gene features. Unmeasured candidates without features cannot be ranked: they are
        left out of the batch and listed in ``attrs["skipped"]``; only when no unmeasured
        candidate has features is the call refused. A :class:`PairPool` makes it a
        combination screen: candidates and the results' ``gene`` column name pairs ``A+B``
        (in either order; the batch names them as the pool does), and the pair acquisitions
        (``strong-singles``, ``pair-neighbours``, ``pair-portfolio``) can be used.
    mode
        ``"explore"`` (joint information gain, BatchBALD-style) or ``"exploit"`` (the
        ``portfolio``: essential genes, graph neighbours of the best results, a model of hits,
        the highest predictions and random picks, each arm's share of the batch following the
        hits of its earlier picks, read from a ``reason`` column of ``results``).
    acquisition
        Any registered acquisition, overriding ``mode``.

    Returns
    -------
    pandas.DataFrame
        One row per pick. ``attrs["skipped"]`` lists the unmeasured candidates left out for
        want of features (in the candidates' order) and ``attrs["skipped_reason"]`` says why.
    """
    if mode not in MODES:
        raise DesignError(f"mode must be 'explore' or 'exploit', not {mode!r}.")
    missing_cols = [c for c in ("gene", "value") if c not in results.columns]
    if missing_cols:
        raise DesignError(
            f"results lacks column(s) {missing_cols}; it needs 'gene' and 'value' (one row per "
            f"measured gene); it has {list(results.columns)}."
        )
    pairs = features if isinstance(features, PairPool) else None
    genes = results["gene"].astype(str).str.strip()
    if pairs is not None:
        with_pairs = _canonical(pairs, genes.tolist(), "results' gene column")
        genes = pd.Series(with_pairs, index=results.index)
        candidates = _canonical(pairs, [str(c).strip() for c in candidates], "candidates")
        features = pairs.features
    dup = sorted(set(genes[genes.duplicated()]))
    if dup:
        raise DesignError(f"results measures {dup[:10]} more than once; average replicates first.")
    values = pd.to_numeric(results["value"], errors="coerce")
    bad = genes[values.isna()].tolist()
    if bad:
        raise DesignError(f"results has no numeric value for {bad[:10]}.")
    cands = [str(c).strip() for c in candidates]
    dup = sorted({c for c in cands if cands.count(c) > 1})
    if dup:
        raise DesignError(f"candidates lists {dup[:10]} more than once.")
    measured = set(genes)
    open_cands = [c for c in cands if c not in measured]
    if not open_cands:
        raise DesignError("Every candidate has already been measured.")
    skipped = features.missing(open_cands)
    if len(skipped) == len(open_cands):
        raise DesignError(
            f"None of the {len(open_cands)} unmeasured candidate(s) has features "
            f"({features.method or 'the features given'}), so none can be ranked: "
            f"{skipped[:30]}. Give features that cover them (e.g. a --features CSV)."
        )
    open_cands = [c for c in open_cands if c in features]
    if batch_size < 1:
        raise DesignError(f"batch_size must be >= 1, got {batch_size}.")
    train = [(g, v) for g, v in zip(genes, values, strict=True) if g in features]
    unfeat = sorted(measured - {g for g, _ in train})
    if len(train) < 2:
        raise DesignError(
            f"Only {len(train)} measured gene(s) have features; at least 2 are needed to fit "
            f"a model (without features: {unfeat[:10]})."
        )
    names = np.array([g for g, _ in train] + open_cands, dtype=object)
    x = features.rows(list(names)).astype(np.float64)
    y = np.array([v for _, v in train], dtype=float)
    if np.ptp(y) == 0 and (acquisition or MODES[mode]) in EXPLOITING:
        raise DesignError(
            f"All {len(y)} measured values are {y[0]:g}: no gene stands out, so there is no "
            "hit to exploit (its neighbours would be picked for nothing). Use mode='explore', "
            "or check the results' value column."
        )
    labelled = np.arange(len(train))
    pool = np.arange(len(train), len(names))
    model = make_surrogate(surrogate, seed).fit(x[labelled], y)
    try:
        acq = make_acquisition(acquisition or MODES[mode])
    except ValueError as err:  # e.g. the llm acquisition without a configured backend
        raise DesignError(str(err)) from err
    ctx = AcquisitionContext(
        names=names, x=x, labelled=labelled, y=y, candidates=pool, surrogate=model,
        rng=np.random.default_rng(seed), graph=graph, essential=frozenset(essential),
        pairs=pairs,
    )  # fmt: skip
    if acq.name == "kg-exploit" and graph is None:
        acq = make_acquisition("greedy")
    if isinstance(acq, Portfolio) and "reason" in results.columns:
        # the last proposals' reasons, returned with their values: credit each arm its picks
        arms = Portfolio.arms_in(results["reason"].fillna("").tolist())
        acq.credit({g: a for g, a in zip(genes, arms, strict=True) if a in acq.arms})
    sel = acq.select(ctx, min(batch_size, len(pool)))
    pred = model.predict(x[sel.indices])
    batch = pd.DataFrame(
        {
            "rank": np.arange(1, len(sel.indices) + 1),
            "gene": names[sel.indices],
            "predicted": pred.mean,
            "uncertainty": np.sqrt(pred.epistemic),
            "criterion": acq.name,
            "reason": sel.reasons,
        }
    )
    batch.attrs["skipped"] = list(skipped)
    batch.attrs["skipped_reason"] = f"no features ({features.method or 'the features given'})"
    return batch


def _canonical(pairs: PairPool, names: list[str], what: str) -> list[str]:
    try:
        return pairs.canonical(names)
    except ValueError as err:
        raise DesignError(f"{what}: {err}") from None


def hit_curve(
    results: pd.DataFrame, *, strategy: str, threshold: float | None = None
) -> dict[str, list[int]]:
    """The lab campaign so far as ``{strategy: [cumulative hits after each cycle]}``: what
    :func:`phenocast.report.write_report` draws as its active-learning curve (``design=``)
    and ``phenocast report --design`` reads.

    Parameters
    ----------
    results
        Measurements so far: columns ``gene`` and ``value``, and optionally ``cycle`` (the lab
        cycle, an integer, that measured each gene; without it everything is one cycle).
    strategy
        The curve's name in the report (e.g. the acquisition that chose the batches).
    threshold
        A measured value at or above it is a hit; ``None``: the top decile of the measured
        values (their 90th percentile), as the ``hit-model`` acquisition defines hits.

    Returns
    -------
    dict
        One key, ``strategy``, with the number of hits measured up to and including each
        cycle, in cycle order.
    """
    missing_cols = [c for c in ("gene", "value") if c not in results.columns]
    if missing_cols:
        raise DesignError(
            f"results lacks column(s) {missing_cols}; it needs 'gene' and 'value' (and "
            f"optionally 'cycle'); it has {list(results.columns)}."
        )
    values = pd.to_numeric(results["value"], errors="coerce")
    if values.isna().any():
        bad = results["gene"][values.isna()].astype(str).tolist()
        raise DesignError(f"results has no numeric value for {bad[:10]}.")
    if values.empty:
        raise DesignError("results has no measurements; a hit curve needs at least one.")
    if "cycle" in results.columns:
        cycle = pd.to_numeric(results["cycle"], errors="coerce")
        bad_rows = cycle.isna() | (cycle != cycle.round())
        if bad_rows.any():
            bad = results["cycle"][bad_rows].tolist()
            raise DesignError(
                f"results column 'cycle' must hold whole numbers (the lab cycle of each gene), "
                f"got {bad[:10]}."
            )
    else:
        cycle = pd.Series(0, index=results.index)
    cut = float(np.quantile(values, 0.9)) if threshold is None else float(threshold)
    hits = (values >= cut).groupby(cycle).sum().sort_index()
    return {str(strategy): [int(n) for n in np.cumsum(hits.to_numpy())]}


def gene_priors(
    features: str | os.PathLike[str] | None = None,
    *,
    data_dir: str | os.PathLike[str] | None = None,
) -> tuple[GeneFeatures, GeneGraph | None, list[str]]:
    """The gene ``features``, ``graph`` and ``essential`` genes that :func:`propose` reads.

    Parameters
    ----------
    features
        A CSV of a ``gene`` column and numeric feature columns: those features, with no graph
        and no essential genes. ``None``: Gene Ontology annotation features, the GO-similarity
        graph and the core essential genes, read from ``data_dir``.
    data_dir
        The datasets folder (default: ``$PHENOCAST_DATA_DIR``).

    A missing or malformed features file raises :class:`DesignError`; a GO or essential-genes
    dataset absent from ``data_dir``, ``FileNotFoundError``.
    """
    from ..featurize import GeneFeatures

    if features is not None:
        from ..data import read_user_csv

        path = Path(features)
        table = read_user_csv(path, what="features", error=DesignError)
        if "gene" not in table.columns or table.shape[1] < 2:
            raise DesignError(f"{path} needs a 'gene' column and at least one feature column.")
        try:
            feats = GeneFeatures(
                tuple(table["gene"].astype(str)),
                table.drop(columns="gene").to_numpy(dtype=float),
                source=path.name,
                method="user features",
            )
        except ValueError as err:
            raise DesignError(f"{path}: {err}") from None
        return feats, None, []
    from ..data import load_essential_genes, load_gene2go, load_go_graph
    from ..featurize import go_annotation_features
    from ..knowledge import GeneGraph

    return (
        go_annotation_features(load_gene2go(data_dir=data_dir)),
        GeneGraph.from_edges(load_go_graph(data_dir=data_dir), name="GO"),
        load_essential_genes(data_dir=data_dir),
    )
