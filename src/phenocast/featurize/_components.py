"""Perturbation features as a model sees them: a featuriser chosen by name (with JSON-able
options, so a model's config can name it) or given as an object, fitted on the training
components, and rows that are unit-normalised, with a mask for the names it has no features
for.

A model stores the featuriser's name, options and content hash, never the matrix (STYLE rule 5):
on load the featuriser is rebuilt and its hash must match.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ._featurisers import Featuriser, TableFeaturiser, make_featuriser
from ._table import FeatureTable, same_fingerprint

__all__ = [
    "ComponentFeatures",
    "FeatureHashError",
    "check_feature_options",
    "resolve_featuriser",
]

# Prior-backed featurisers are immutable tables that take seconds to build (GO SVD, spectral
# embedding); a benchmark fitting many folds builds each once. Keyed by name, options and the
# data directory, and bounded.
_TABLE_CACHE: dict[tuple[str, str, str], TableFeaturiser] = {}
_CACHE_SIZE = 8


class FeatureHashError(ValueError):
    """A featuriser's features differ from the ones a model was fitted with."""


def _options_key(options: Mapping[str, Any]) -> str | None:
    try:
        return json.dumps(dict(options), sort_keys=True)
    except TypeError:  # an option is an object (a graph, a table): not cacheable by value
        return None


def check_feature_options(features: str | None, options: object) -> None:
    """Validate a model config's ``features`` / ``feature_options`` pair (raises ValueError)."""
    from ._featurisers import FEATURISERS

    if not isinstance(options, dict):
        raise ValueError(
            f"feature_options must be a dict of featuriser options, got {type(options).__name__}."
        )
    if options and features is None:
        raise ValueError(
            f"feature_options {options} are set but features is None; name a featuriser, e.g. "
            "features='go_svd'."
        )
    if features is not None and features not in FEATURISERS:
        raise ValueError(
            f"features must name a featuriser, one of {sorted(FEATURISERS)}; got {features!r}."
        )


def resolve_featuriser(
    name: str | None,
    options: Mapping[str, Any] | None = None,
    given: Featuriser | FeatureTable | None = None,
) -> Featuriser | None:
    """The featuriser a model uses: ``given`` if there is one, else ``make_featuriser(name,
    **options)``; ``None`` when neither is set.

    Parameters
    ----------
    name
        A name in :data:`~phenocast.featurize.FEATURISERS` (``"go_svd"``, ``"spectral"``,
        ``"morgan"`` ...), from the model's config.
    options
        Keyword options of that featuriser (``{"dim": 64}``).
    given
        A featuriser object or a feature table (wrapped in a :class:`TableFeaturiser`); takes
        precedence over ``name``.
    """
    if given is not None:
        if isinstance(given, FeatureTable):
            return TableFeaturiser(given, name=name or "table")
        if not isinstance(given, Featuriser):
            raise TypeError(
                "featuriser must be a Featuriser (make_featuriser(...)) or a GeneFeatures / "
                f"DrugFeatures table, not {type(given).__name__}."
            )
        return given
    options = dict(options or {})
    check_feature_options(name, options)
    if name is None:
        return None
    key = _options_key(options)
    if key is None:
        return make_featuriser(name, **options)
    cache_key = (name, key, os.environ.get("PHENOCAST_DATA_DIR", ""))
    if cache_key in _TABLE_CACHE:
        return _TABLE_CACHE[cache_key]
    made = make_featuriser(name, **options)
    if isinstance(made, TableFeaturiser):  # fit is a no-op, so sharing it is safe
        if len(_TABLE_CACHE) >= _CACHE_SIZE:
            _TABLE_CACHE.pop(next(iter(_TABLE_CACHE)))
        _TABLE_CACHE[cache_key] = made
    return made


class ComponentFeatures:
    """Unit-normalised feature rows of perturbation components, zero rows (and ``False`` in
    the mask) for components the featuriser does not cover.

    Parameters
    ----------
    featuriser
        A fitted featuriser.
    """

    def __init__(self, featuriser: Featuriser) -> None:
        self.featuriser = featuriser

    @property
    def dim(self) -> int:
        return int(self.featuriser.dim)

    @property
    def content_hash(self) -> str:
        """The featuriser's content hash; for a table of numbers, followed by ``~`` and its
        :attr:`~phenocast.featurize.FeatureTable.fingerprint`, so :meth:`check_hash` accepts
        the same features recomputed elsewhere (floating-point noise changes the hash)."""
        table = getattr(self.featuriser, "table", None)
        if isinstance(table, FeatureTable):
            return f"{self.featuriser.content_hash}~{table.fingerprint}"
        return str(self.featuriser.content_hash)

    @property
    def name(self) -> str:
        return str(getattr(self.featuriser, "name", type(self.featuriser).__name__))

    def missing(self, names: Sequence[str]) -> list[str]:
        return list(self.featuriser.missing(list(names)))

    def rows(self, names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """``(len(names), dim)`` float32 rows of unit norm, and the mask of names with features.

        A feature vector of norm zero stays zero (its name counts as covered).
        """
        names = [str(n) for n in names]
        out = np.zeros((len(names), self.dim), dtype=np.float32)
        missing = set(self.missing(names))
        has = np.array([n not in missing for n in names], dtype=bool)
        if has.any():
            covered = [n for n, h in zip(names, has, strict=True) if h]
            x = np.asarray(self.featuriser.transform(covered), dtype=np.float64)
            norm = np.linalg.norm(x, axis=1, keepdims=True)
            out[has] = (x / np.where(norm > 0, norm, 1.0)).astype(np.float32)
        return out, has

    def check_hash(self, expected: str | None, *, where: str) -> None:
        """Raise :class:`FeatureHashError` when the features are not the fitted ones: the
        hashes differ and (where ``expected`` carries a fingerprint) so do the fingerprints
        beyond floating-point noise."""
        mine = self.content_hash
        if expected is None or expected == mine:
            return
        if "~" in expected and "~" in mine:
            if same_fingerprint(expected.split("~", 1)[1], mine.split("~", 1)[1]):
                return  # the same features, recomputed with other rounding
        raise FeatureHashError(
            f"{where}: the perturbation features ({self.name}, hash {mine.split('~')[0]}) "
            f"are not the ones the model was fitted with (hash {expected.split('~')[0]}). Pass "
            "the same featuriser (same prior file, options and seed) or refit the model."
        )
