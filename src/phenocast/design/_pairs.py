"""Combination screens: a pool of gene pairs, featurised from their members, so that every
surrogate, acquisition and the replay loop work on pairs as they do on genes."""

from __future__ import annotations

import warnings
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

if TYPE_CHECKING:  # pragma: no cover
    from ..featurize import GeneFeatures
    from ._loop import ReplayOracle

__all__ = ["PairPool", "pair_features", "pairs_from_matrix"]

PairLike = str | tuple[str, str]


def _split(pairs: Iterable[PairLike], sep: str) -> list[tuple[str, ...]]:
    """Members of each pair; refuses anything but two different, non-empty genes."""
    members = [
        tuple(m.strip() for m in p.split(sep)) if isinstance(p, str) else tuple(map(str, p))
        for p in pairs
    ]
    bad = [p for p in members if len(p) != 2 or p[0] == p[1] or "" in p]
    if bad:
        raise ValueError(
            f"Each pair needs two different genes (as 'A{sep}B' or (A, B)); got {bad[:5]}."
        )
    return members


def pair_features(
    features: GeneFeatures,
    pairs: Sequence[str] | Sequence[tuple[str, str]],
    *,
    singles: pd.Series | None = None,
    sep: str = "+",
    featureless: Literal["raise", "keep"] = "raise",
) -> GeneFeatures:
    """Features of gene pairs from those of their members, one row per pair named ``A+B``.

    Each row is ``[x_A + x_B, x_A ⊙ x_B, s_A + s_B, s_A s_B, m_A + m_B]``: the sum carries what
    the members do alone, the elementwise product lets a linear surrogate weigh *interactions*
    between the members' annotations (a bilinear form on a diagonal), ``s`` is a member's
    single-gene result (0 where it was not measured) and ``m`` whether it was. All are
    symmetric, so ``A+B`` and ``B+A`` get the same row. The result is a
    :class:`~phenocast.featurize.GeneFeatures` keyed by pair name, which
    :class:`~phenocast.design.ActiveLoop` and :func:`~phenocast.design.propose` take as is.

    Parameters
    ----------
    features
        Gene features of the members.
    pairs
        ``"A+B"`` names (split on ``sep``) or ``(A, B)`` tuples; a pair listed twice, a gene
        paired with itself and (unless ``featureless="keep"``) members without features are
        refused by name.
    singles
        Single-gene results (index = gene), e.g. the screen's single knockouts.
    sep
        The separator of a pair's name.
    featureless
        ``"raise"``: a member without features is an error. ``"keep"``: such a member sits at
        the mean of the other members' features and one more column counts the members
        without features (0, 1 or 2), so its pairs stay rankable by their other member, their
        singles and that count.
    """
    from ..featurize import GeneFeatures

    if featureless not in ("raise", "keep"):
        raise ValueError(f"featureless must be 'raise' or 'keep', got {featureless!r}.")
    members = _split(pairs, sep)
    names = [f"{a}{sep}{b}" for a, b in members]
    seen: set[frozenset[str]] = set()
    dup = []
    for name, pair in zip(names, members, strict=True):
        if frozenset(pair) in seen:
            dup.append(name)
        seen.add(frozenset(pair))
    if dup:
        raise ValueError(f"Pairs listed more than once (in either order): {dup[:10]}.")
    genes = sorted({g for p in members for g in p})
    missing = features.missing(genes)
    if missing and featureless == "raise":
        raise ValueError(
            f"{len(missing)} pair member(s) have no features ({features.method}): "
            f"{missing[:20]}. Drop their pairs, give features that cover them, or keep them "
            "with featureless='keep' (PairPool does)."
        )
    covered = [g for g in genes if g in features]
    if not covered:
        raise ValueError(
            f"None of the {len(genes)} pair members has features ({features.method}); check "
            "that the pairs and the features use the same gene symbols."
        )
    x_cov = features.rows(covered).astype(np.float64)
    x = np.repeat(x_cov.mean(0, keepdims=True), len(genes), axis=0)
    has = np.array([g in features for g in genes])
    x[has] = x_cov
    pos = {g: i for i, g in enumerate(genes)}
    a = np.array([pos[p[0]] for p in members])
    b = np.array([pos[p[1]] for p in members])
    s = pd.Series(0.0, index=genes)
    m = pd.Series(0.0, index=genes)
    if singles is not None:
        known = pd.to_numeric(singles, errors="coerce").dropna()
        known = known[known.index.isin(genes)]
        s.loc[known.index] = known.to_numpy()
        m.loc[known.index] = 1.0
    sv, mv = s.to_numpy(), m.to_numpy()
    cols = [x[a] + x[b], x[a] * x[b], sv[a] + sv[b], sv[a] * sv[b], mv[a] + mv[b]]
    if featureless == "keep":
        cols.append((~has[a]).astype(float) + (~has[b]).astype(float))
    return GeneFeatures(
        tuple(names),
        np.column_stack(cols).astype(np.float32),
        source=features.source,
        method=f"pairs of {features.method}: sum, product, singles",
    )


def pairs_from_matrix(matrix: pd.DataFrame, *, sep: str = "+", atol: float = 1e-8) -> pd.Series:
    """The pairs of a symmetric gene × gene table (a genetic-interaction map) as one value per
    unordered pair, named ``A+B`` in the order of the table's rows.

    Parameters
    ----------
    matrix
        Square, with the same genes as rows and columns (in any order). The diagonal (a gene
        with itself) and missing values are left out.
    sep
        The separator of the pair names.
    atol
        The largest difference allowed between ``matrix[A, B]`` and ``matrix[B, A]``; a table
        that differs more is refused, naming the worst pair (average the two halves first if
        the asymmetry is expected).
    """
    rows, cols = matrix.index.astype(str), matrix.columns.astype(str)
    if rows.duplicated().any() or set(rows) != set(cols) or len(rows) != len(cols):
        extra = sorted(set(rows) ^ set(cols))[:10]
        raise ValueError(
            "A pair table needs the same genes, once each, as rows and columns; "
            f"{'rows and columns differ on ' + str(extra) if extra else 'a gene is repeated'}."
        )
    values = pd.DataFrame(matrix.to_numpy(), index=rows, columns=cols).loc[rows, rows]
    v = values.apply(pd.to_numeric, errors="coerce").to_numpy(dtype=float)
    diff = np.abs(np.nan_to_num(v - v.T, nan=0.0))
    if diff.max(initial=0.0) > atol:
        i, j = np.unravel_index(int(np.argmax(diff)), diff.shape)
        raise ValueError(
            f"The table is not symmetric: {rows[i]},{rows[j]} = {v[i, j]:.6g} but "
            f"{rows[j]},{rows[i]} = {v[j, i]:.6g}. Average it with its transpose first if "
            "both orders measure the same pair."
        )
    i, j = np.triu_indices(len(rows), k=1)
    keep = ~np.isnan(v[i, j])
    i, j = i[keep], j[keep]
    return pd.Series(
        v[i, j], index=pd.Index([f"{rows[a]}{sep}{rows[b]}" for a, b in zip(i, j, strict=True)])
    )


class PairPool:
    """A pool of unordered gene (or drug) pairs with their features, for combination screens.

    Give it to :class:`~phenocast.design.ActiveLoop` (or :func:`~phenocast.design.propose`) in
    place of gene features: every surrogate and acquisition runs over the pairs, and the
    pair-specific acquisitions (``strong-singles``, ``pair-neighbours``, ``pair-portfolio``)
    read the members and their single results from it.

    Parameters
    ----------
    pairs
        ``"A+B"`` names (split on ``sep``) or ``(A, B)`` tuples. Pairs are unordered: each is
        named by its members in sorted order (``"B+A"`` becomes ``"A+B"``); a pair listed twice
        (in either order) and a gene paired with itself are refused by name.
    features
        Gene features of the members. Members without features are kept: their pairs stay in
        the pool, featurised by the other member and the singles (see :func:`pair_features`),
        and are listed in :attr:`pairs_without_features`.
    singles
        Single-gene results (index = gene) where measured; genes listed twice are refused.
    sep
        The separator of pair names.

    Attributes
    ----------
    names
        The pairs, ``"A+B"`` with ``A < B``.
    genes
        Every member, sorted.
    features
        One row per pair (:func:`pair_features` with ``featureless="keep"``).
    singles
        Single result per member (NaN where not measured).
    genes_without_features, pairs_without_features
        Members the features do not cover, and the pairs that contain one.
    """

    def __init__(
        self,
        pairs: Iterable[PairLike],
        features: GeneFeatures,
        *,
        singles: pd.Series | None = None,
        sep: str = "+",
    ) -> None:
        if not sep:
            raise ValueError("sep must be a non-empty string, e.g. '+'.")
        members = [tuple(sorted(p)) for p in _split(list(pairs), sep)]
        if not members:
            raise ValueError("A PairPool needs at least one pair.")
        self.sep = sep
        self.names = tuple(f"{a}{sep}{b}" for a, b in members)
        self.features = pair_features(
            features, members, singles=singles, sep=sep, featureless="keep"
        )
        self.genes = tuple(sorted({g for p in members for g in p}))
        single = pd.Series(np.nan, index=pd.Index(self.genes, name="gene"), dtype=float)
        if singles is not None:
            given = pd.to_numeric(singles, errors="coerce")
            given.index = given.index.astype(str)
            if given.index.duplicated().any():
                dup = sorted(set(given.index[given.index.duplicated()]))
                raise ValueError(f"singles lists {dup[:10]} more than once; average them first.")
            common = given.index.intersection(single.index)
            single.loc[common] = given.loc[common].to_numpy()
        self.singles = single
        self.genes_without_features = tuple(features.missing(list(self.genes)))
        lacking = set(self.genes_without_features)
        self.pairs_without_features = tuple(
            n for n, p in zip(self.names, members, strict=True) if lacking & set(p)
        )
        pos = {g: i for i, g in enumerate(self.genes)}
        self._members = {n: (pos[a], pos[b]) for n, (a, b) in zip(self.names, members, strict=True)}

    @classmethod
    def covering(
        cls,
        names: Iterable[PairLike],
        features: GeneFeatures,
        *,
        singles: pd.Series | None = None,
        sep: str = "+",
    ) -> PairPool:
        """The pool of every pair in ``names``, each once whatever its order or repetitions
        (e.g. a lab's candidates together with the pairs it has measured); a malformed pair
        is still refused by name."""
        unique = sorted({tuple(sorted(p)) for p in _split(names, sep)})
        return cls(unique, features, singles=singles, sep=sep)  # type: ignore[arg-type]

    def __len__(self) -> int:
        return len(self.names)

    def __repr__(self) -> str:
        return (
            f"PairPool({len(self.names):,} pairs of {len(self.genes)} genes, "
            f"{len(self.genes_without_features)} without features, "
            f"{int(self.singles.notna().sum())} singles measured)"
        )

    def canonical(self, names: Iterable[PairLike]) -> list[str]:
        """Each pair's name in this pool's form, ``"A+B"`` with ``A < B`` (in any order in,
        the same name out); a malformed pair is refused by name."""
        return [f"{a}{self.sep}{b}" for a, b in (sorted(p) for p in _split(names, self.sep))]

    def members(self, names: Sequence[str]) -> np.ndarray:
        """``(len(names), 2)`` positions in :attr:`genes` of each pair's members; a pair that is
        not in the pool gets ``-1``."""
        out = np.full((len(names), 2), -1, dtype=np.int64)
        for k, name in enumerate(names):
            out[k] = self._members.get(str(name), (-1, -1))
        return out

    def align(self, values: pd.Series) -> pd.Series:
        """``values`` (one per pair, named in either order) renamed to this pool's pair names.
        A pair given in both orders appears twice; :class:`ReplayOracle` merges it by the mean
        with a warning."""
        out = pd.Series(values.to_numpy(), index=pd.Index(self.canonical(values.index.astype(str))))
        outside = out.index.difference(pd.Index(self.names))
        if len(outside):
            warnings.warn(
                f"{len(outside)} measured pair(s) are not in the pool and cannot be chosen: "
                f"{outside[:10].tolist()}{' ...' if len(outside) > 10 else ''}.",
                UserWarning,
                stacklevel=2,
            )
        return out

    def oracle(self, values: pd.Series, **options: Any) -> ReplayOracle:
        """A :class:`~phenocast.design.ReplayOracle` over ``values`` (named in either order),
        restricted to this pool's pairs; ``options`` go to the oracle (``direction``,
        ``hit_fraction``, ``hits``)."""
        from ._loop import ReplayOracle

        aligned = self.align(values)
        aligned = aligned[aligned.index.isin(self.names)]
        if aligned.empty:
            raise ValueError(
                "None of the measured pairs is in the pool; check the separator "
                f"({self.sep!r}) and that both use the same gene symbols."
            )
        if "hits" in options and options["hits"] is not None:
            options["hits"] = self.canonical(options["hits"])
        return ReplayOracle(aligned, **options)

    def check_names(self, names: Iterable[str]) -> None:
        """Refuse pair names written in another order than this pool's (``"B+A"`` for
        ``"A+B"``), naming them; build such values with :meth:`align` or :meth:`oracle`."""
        known = set(self.names)
        swapped = [
            n for n in map(str, names)
            if n not in known and self.sep in n and self._swap(n) in known
        ]  # fmt: skip
        if swapped:
            raise ValueError(
                f"{len(swapped)} pair name(s) are written in the other order than the pool's "
                f"(A{self.sep}B with A < B): {swapped[:10]}. Build the oracle with "
                "PairPool.oracle(values) or rename with PairPool.align(values)."
            )

    def _swap(self, name: str) -> str:
        a, _, b = name.partition(self.sep)
        return f"{b}{self.sep}{a}"
