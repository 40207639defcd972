"""What a screen returns: its top hits, its cost and — for merging shards — the settings that
identify the screen and the enumeration index of every hit; written as CSV (the hits) or as
JSON (everything, for :func:`~phenocast.screen.merge`)."""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from ..data import atomic_write_text, json_safe, write_json
from ._inputs import ScreenError

__all__ = ["ScreenResult"]

_FORMAT = "phenocast-screen-result"
_FORMAT_VERSION = 1


@dataclass
class ScreenResult:
    """The top conditions of a screen (or of one shard of it) and what it cost.

    ``hits`` has one row per kept condition, best first: ``rank``, ``perturbation``
    (``"A+B"``), ``dose`` (``"1+0.5"``), ``order``, the context's covariates, ``score`` and the
    metrics behind it — ``effect`` (L2 norm of the predicted change from the context's
    predicted control profile), ``target_similarity`` / ``target_distance`` (with a target),
    ``non_additivity`` (L2 distance of a combination's change from the sum of its members'
    changes at the same doses; NaN for singles), ``uncertainty`` (mean predicted variance over
    start cells and genes) and ``extrapolated`` (a dose outside the trained range).

    ``n_conditions``, ``n_scored``, ``n_unanswered``, ``seconds`` and the throughput count
    only the conditions this result screened: one shard's when ``shard`` is ``(i, n)``, all of
    them when it is ``None``. A result merged by :func:`~phenocast.screen.merge` sums its
    shards' counts and ``seconds`` (compute time, not wall time) and records
    ``shards_merged``.

    ``settings`` names what defines the screen (model, perturbations, doses, contexts, orders,
    score, target, ``top_k``, ``chunk_size``, start cells …; large values by content hash) and
    ``fingerprint`` hashes them; ``condition_ids`` is each hit's index in the enumeration of
    the condition space, the tie-breaker between equal scores.
    """

    hits: pd.DataFrame
    score: str
    n_conditions: int
    n_scored: int
    n_unanswered: int
    cells_per_context: int
    path: str
    seconds: float
    contexts: list[dict[str, str]] = field(default_factory=list)
    shard: tuple[int, int] | None = None
    settings: dict[str, Any] = field(default_factory=dict)
    fingerprint: str = ""
    condition_ids: np.ndarray = field(default_factory=lambda: np.empty(0, dtype=np.int64))
    shards_merged: int = 0

    @property
    def conditions_per_second(self) -> float:
        return self.n_scored / self.seconds if self.seconds > 0 else float("nan")

    @property
    def predictions_per_second(self) -> float:
        """Cell-level predictions (condition × start cell) per second."""
        return self.conditions_per_second * self.cells_per_context

    def to_csv(self, path: str | os.PathLike[str]) -> Path:
        """Write the hits atomically (a temporary file renamed into place)."""
        return atomic_write_text(Path(path), self.hits.to_csv(index=False))

    def write_json(self, path: str | os.PathLike[str]) -> Path:
        """Write everything :meth:`read_json` and :func:`~phenocast.screen.merge` need — hits
        (floats exactly), counts, settings, fingerprint, shard and ``condition_ids`` — to
        ``path`` atomically."""
        from .. import __version__

        hits = self.hits
        doc = {
            "format": _FORMAT,
            "format_version": _FORMAT_VERSION,
            "phenocast_version": __version__,
            "shard": None if self.shard is None else list(self.shard),
            "fingerprint": self.fingerprint,
            "settings": self.settings,
            "score": self.score,
            "n_conditions": self.n_conditions,
            "n_scored": self.n_scored,
            "n_unanswered": self.n_unanswered,
            "cells_per_context": self.cells_per_context,
            "path": self.path,
            "seconds": self.seconds,
            "contexts": self.contexts,
            "shards_merged": self.shards_merged,
            "condition_ids": np.asarray(self.condition_ids, dtype=np.int64),
            "hits": {
                "columns": [str(c) for c in hits.columns],
                "dtypes": [str(t) for t in hits.dtypes],
                "data": [_encode(hits[c]) for c in hits.columns],
            },
        }
        return write_json(path, doc)

    @classmethod
    def read_json(cls, path: str | os.PathLike[str]) -> ScreenResult:
        """A result written by :meth:`write_json` (``phenocast screen --shard`` writes one)."""
        path = Path(path)
        if not path.is_file():
            raise ScreenError(f"Screen result file {path} does not exist.")
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as err:
            raise ScreenError(
                f"{path} is not a screen result written by ScreenResult.write_json / "
                f"`phenocast screen --shard` (not JSON: {err}); a hits CSV cannot be merged."
            ) from None
        found = doc.get("format") if isinstance(doc, dict) else None
        if found != _FORMAT:
            raise ScreenError(
                f"{path} is not a screen result (format {found!r}, expected {_FORMAT!r}); "
                "write shards with `phenocast screen --shard I/N` or ScreenResult.write_json."
            )
        version = doc.get("format_version")
        if version != _FORMAT_VERSION:
            raise ScreenError(
                f"{path} has screen result format version {version!r}; this phenocast reads "
                f"version {_FORMAT_VERSION}. Rerun the shard with this version."
            )
        try:
            return cls._from_doc(doc)
        except (KeyError, TypeError, ValueError, IndexError) as err:
            raise ScreenError(
                f"{path} is a corrupt screen result ({type(err).__name__}: {err})."
            ) from None

    @classmethod
    def _from_doc(cls, doc: dict[str, Any]) -> ScreenResult:
        table = doc["hits"]
        columns = zip(table["columns"], table["dtypes"], table["data"], strict=True)
        hits = pd.DataFrame({c: _decode(v, t) for c, t, v in columns})
        hits.attrs["score"] = doc["score"]
        shard = doc["shard"]
        return cls(
            hits=hits,
            score=doc["score"],
            n_conditions=int(doc["n_conditions"]),
            n_scored=int(doc["n_scored"]),
            n_unanswered=int(doc["n_unanswered"]),
            cells_per_context=int(doc["cells_per_context"]),
            path=doc["path"],
            seconds=float(doc["seconds"]),
            contexts=doc["contexts"],
            shard=None if shard is None else (int(shard[0]), int(shard[1])),
            settings=doc["settings"],
            fingerprint=doc["fingerprint"],
            condition_ids=np.asarray(doc["condition_ids"], dtype=np.int64),
            shards_merged=int(doc["shards_merged"]),
        )

    def summary(self) -> str:
        part = ""
        if self.shard is not None:
            part = f"shard {self.shard[0]}/{self.shard[1]}: "
        elif self.shards_merged:
            part = f"{self.shards_merged} shards merged: "
        total = self.settings.get("conditions")
        of_all = (
            f" (of {total:,} in the screen)"
            if self.shard is not None and isinstance(total, int)
            else ""
        )
        seconds = f"{self.seconds:.1f} s" + (" of shard time" if self.shards_merged else "")
        return (
            f"{part}{self.n_scored:,} of {self.n_conditions:,} conditions{of_all} scored by "
            f"{self.score!r} in {seconds} ({self.conditions_per_second:,.0f} conditions/s, "
            f"{self.predictions_per_second:,.0f} cell predictions/s, {self.cells_per_context} "
            f"start cells per context, {self.path} path); top {len(self.hits)} kept"
            + (f"; {self.n_unanswered:,} the model could not answer" if self.n_unanswered else "")
        )


def _encode(column: pd.Series) -> list[Any]:
    """A column as JSON values; floats keep NaN and ±inf apart (as strings), which JSON's
    ``null`` would not."""
    values = column.to_numpy()
    if values.dtype.kind == "f":
        return [x if math.isfinite(x) else str(x) for x in values.tolist()]
    return values.tolist()


def _decode(values: list[Any], dtype: str) -> pd.Series:
    if pd.api.types.pandas_dtype(dtype).kind == "f":
        values = [float(x) if isinstance(x, str) else x for x in values]
    return pd.Series(values, dtype=dtype)


def fingerprint_of(settings: dict[str, Any]) -> str:
    """A short hash of a screen's (JSON-normalised) settings."""
    text = json.dumps(json_safe(settings), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]
