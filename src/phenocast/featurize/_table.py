"""The behaviour shared by feature containers: rows keyed by name, a content hash, and a
refusal (never a zero row) for names without features."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from typing import ClassVar

import numpy as np
import pandas as pd

__all__ = ["FeatureTable", "same_fingerprint"]

_SKETCH = 8
#: Relative tolerance of a sketch value, against the sum of ``|M|``: far above recomputation
#: noise (float32 values, ~1e-7 relative per entry), far below a changed row or option.
_SKETCH_RTOL = 1e-6


def same_fingerprint(a: str, b: str) -> bool:
    """Whether two :attr:`FeatureTable.fingerprint` strings describe the same features, up to
    floating-point noise: the same names, and sketches within ``1e-6`` of the sum of ``|M|``."""
    try:
        (na, va), (nb, vb) = (x.split(":", 1) for x in (a, b))
        xa = np.array(va.split(","), dtype=np.float64)
        xb = np.array(vb.split(","), dtype=np.float64)
    except ValueError:
        return False
    if na != nb or xa.shape != (_SKETCH + 1,) or xb.shape != xa.shape:
        return False
    scale = max(abs(xa[-1]), abs(xb[-1]), 1e-12)
    return bool(np.all(np.abs(xa - xb) <= _SKETCH_RTOL * scale))


class FeatureTable:
    """Mixin of :class:`~phenocast.featurize.GeneFeatures` and
    :class:`~phenocast.featurize.DrugFeatures`: a ``(n, dim)`` matrix whose rows belong to
    ``names``, with ``source`` and ``method`` saying where the numbers come from.

    ``content_hash`` identifies the numbers (names and values), so a model can store which
    prior it was fitted with rather than the tensor itself.
    """

    kind: ClassVar[str] = "name"  # singular noun used in messages: "gene", "drug"
    matrix: np.ndarray
    source: str
    method: str
    _index: dict[str, int]

    @property
    def names(self) -> tuple[str, ...]:  # pragma: no cover - every subclass overrides it
        raise NotImplementedError

    def _check(self) -> None:
        names, cls = self.names, type(self).__name__
        if self.matrix.ndim != 2 or self.matrix.shape[0] != len(names):
            raise ValueError(
                f"{cls} needs one matrix row per {self.kind}: {len(names)} {self.kind}s, matrix "
                f"of shape {self.matrix.shape}."
            )
        index = {g: i for i, g in enumerate(names)}
        if len(index) != len(names):
            dup = pd.Index(names)[pd.Index(names).duplicated()].tolist()
            raise ValueError(f"{cls} lists {self.kind}s more than once: {dup[:10]}.")
        object.__setattr__(self, "_index", index)

    @property
    def dim(self) -> int:
        return int(self.matrix.shape[1])

    @property
    def content_hash(self) -> str:
        h = hashlib.sha256()
        h.update("\n".join(self.names).encode())
        h.update(np.ascontiguousarray(self.matrix, dtype=np.float32).tobytes())
        return h.hexdigest()[:16]

    @property
    def fingerprint(self) -> str:
        """The names' hash and a sketch of the values, ``"<hash>:<v1>,…,<v9>"``: eight
        projections ``uᵀ M v`` on fixed ±1 vectors and the sum of ``|M|``. Features computed
        again on another machine or with other BLAS threads differ from the fitted ones by
        floating-point noise, which changes :attr:`content_hash` but not the fingerprint
        beyond :func:`same_fingerprint`'s tolerance."""
        names = hashlib.sha256("\n".join(self.names).encode()).hexdigest()[:16]
        m = np.asarray(self.matrix, dtype=np.float64)
        rng = np.random.default_rng(0)
        u = rng.choice([-1.0, 1.0], size=(_SKETCH, m.shape[0]))
        v = rng.choice([-1.0, 1.0], size=(_SKETCH, m.shape[1]))
        sketch = [*np.einsum("kn,nd,kd->k", u, m, v).tolist(), float(np.abs(m).sum())]
        return names + ":" + ",".join(f"{x:.12g}" for x in sketch)

    def __len__(self) -> int:
        return len(self.names)

    def __contains__(self, name: object) -> bool:
        return name in self._index

    def missing(self, names: Sequence[str]) -> list[str]:
        """The names that have no features (in their order)."""
        return [n for n in names if n not in self._index]

    def rows(self, names: Sequence[str]) -> np.ndarray:
        """Feature rows of ``names``; every name must have features (see :meth:`missing`)."""
        missing = self.missing(names)
        if missing:
            raise KeyError(
                f"{len(missing)} {self.kind}(s) have no features ({self.method or 'features'} "
                f"from {self.source or 'unknown source'}): {missing[:20]}."
            )
        return self.matrix[[self._index[n] for n in names]]

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({len(self)} {self.kind}s × {self.dim}, {self.method}, "
            f"hash {self.content_hash})"
        )
