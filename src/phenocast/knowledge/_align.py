"""Aligning gene names (``var_names``) to knowledge-graph nodes by name, with a full report."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np

__all__ = ["Alignment"]


@dataclass(frozen=True, eq=False)
class Alignment:
    """How ``var_names`` map onto graph nodes; every name is accounted for.

    Attributes
    ----------
    var_names
        The names aligned, in their order.
    node_keys
        Per name, the matched node's key, or ``None`` (unmatched or ambiguous).
    case_insensitive
        Names matched only when case is ignored → the node name they matched (e.g.
        ``{"Tp53": "TP53"}``); included in :attr:`node_keys`.
    unmatched
        Names no node carries, once each, in input order.
    ambiguous
        Names that several nodes carry → those nodes' keys; left unmatched.
    duplicated
        Names that occur more than once in ``var_names`` (each occurrence is aligned).
    """

    var_names: tuple[str, ...]
    node_keys: tuple[str | None, ...]
    case_insensitive: dict[str, str]
    unmatched: tuple[str, ...]
    ambiguous: dict[str, tuple[str, ...]]
    duplicated: tuple[str, ...] = ()

    @property
    def matched(self) -> dict[str, str]:
        """Matched name → node key (exact and case-insensitive matches)."""
        return {n: k for n, k in zip(self.var_names, self.node_keys, strict=True) if k}

    @property
    def mask(self) -> np.ndarray:
        """Boolean mask over ``var_names``: True where a node was matched."""
        return np.array([k is not None for k in self.node_keys], dtype=bool)

    def summary(self) -> str:
        """One line: counts of each outcome, with a few examples of what did not match."""
        n = len(self.var_names)
        parts = [
            f"{int(self.mask.sum()):,} of {n:,} names matched "
            f"({len(self.case_insensitive):,} only ignoring case)"
        ]
        if self.unmatched:
            parts.append(f"{len(self.unmatched):,} unmatched, e.g. {list(self.unmatched[:5])}")
        if self.ambiguous:
            parts.append(f"{len(self.ambiguous):,} ambiguous, e.g. {list(self.ambiguous)[:5]}")
        if self.duplicated:
            parts.append(f"{len(self.duplicated):,} duplicated in var_names")
        return "; ".join(parts)

    def __repr__(self) -> str:
        return f"Alignment({self.summary()})"


def align_names(var_names: Iterable[str], keys: np.ndarray, names: np.ndarray) -> Alignment:
    """Align ``var_names`` to nodes given by parallel ``keys`` and ``names``."""
    wanted = [str(v) for v in var_names]
    exact: dict[str, list[str]] = {}
    folded: dict[str, list[str]] = {}
    for key, name in zip(keys, names, strict=True):
        exact.setdefault(name, []).append(key)
        folded.setdefault(name.casefold(), []).append(key)
    name_of = dict(zip(keys, names, strict=True))

    out: list[str | None] = []
    ci: dict[str, str] = {}
    unmatched: list[str] = []
    ambiguous: dict[str, tuple[str, ...]] = {}
    for v in wanted:
        hits = exact.get(v) or folded.get(v.casefold(), [])
        if len(hits) == 1:
            out.append(hits[0])
            if v not in exact:
                ci[v] = name_of[hits[0]]
        else:
            out.append(None)
            if hits:
                ambiguous[v] = tuple(sorted(hits))
            else:
                unmatched.append(v)
    dup = sorted(v for v, n in Counter(wanted).items() if n > 1)
    return Alignment(
        tuple(wanted), tuple(out), ci, tuple(dict.fromkeys(unmatched)), ambiguous, tuple(dup)
    )
