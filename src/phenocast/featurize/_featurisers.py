"""The featuriser protocol and registry: ``make_featuriser(name, **options)`` gives an object
that turns perturbation names (genes or drugs) into rows of a matrix, and names the ones it
cannot featurise instead of zero-filling them.

Every featuriser but ``"onehot"`` wraps a fixed table computed from a prior (a graph, GO
annotations, SMILES), so ``fit`` learns nothing and any name in the prior can be transformed,
seen in training or not. ``"onehot"`` learns its vocabulary in ``fit``: it only knows the
seen perturbations.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal, Protocol, runtime_checkable

import numpy as np

from ..registries import NameRegistry
from ._table import FeatureTable

if TYPE_CHECKING:  # pragma: no cover
    import pandas as pd

    from ..data import PathLike
    from ..knowledge import GeneGraph
    from ._genes import GeneFeatures

__all__ = [
    "FEATURISERS",
    "Featuriser",
    "OneHotFeaturiser",
    "TableFeaturiser",
    "make_featuriser",
    "register_featuriser",
]


@runtime_checkable
class Featuriser(Protocol):
    """Turns names into feature rows.

    ``fit(names)`` sees the training perturbations and returns the featuriser;
    ``transform(names)`` gives a ``(len(names), dim)`` float32 matrix and raises ``KeyError``
    naming every name it cannot featurise; ``missing(names)`` lists those names in advance.
    ``content_hash`` identifies the features, for a model's config.
    """

    name: str

    def fit(self, names: Sequence[str]) -> Featuriser: ...

    def transform(self, names: Sequence[str]) -> np.ndarray: ...

    def missing(self, names: Sequence[str]) -> list[str]: ...

    @property
    def dim(self) -> int: ...

    @property
    def content_hash(self) -> str: ...


FEATURISERS: NameRegistry[Callable[..., Featuriser]] = NameRegistry("featuriser")


def register_featuriser(name: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Add a factory (keyword-only options → :class:`Featuriser`) to :data:`FEATURISERS` (a
    name taken by another factory is refused)."""
    return FEATURISERS.register(name)


def make_featuriser(name: str, **options: Any) -> Featuriser:
    """The featuriser registered as ``name``, built with ``options`` (unknown ones refused).

    Examples
    --------
    >>> f = make_featuriser("onehot").fit(["KRAS", "TP53"])
    >>> f.transform(["TP53"]).tolist(), f.missing(["MYC"])
    ([[0.0, 1.0]], ['MYC'])
    """
    factory = FEATURISERS[name]
    accepted = [
        p.name
        for p in inspect.signature(factory).parameters.values()
        if p.kind is inspect.Parameter.KEYWORD_ONLY
    ]
    unknown = sorted(set(options) - set(accepted))
    if unknown:
        raise TypeError(
            f"Featuriser {name!r} has no option(s) {unknown}; its options are {accepted}."
        )
    return factory(**options)


class TableFeaturiser:
    """A featuriser backed by a fixed :class:`GeneFeatures` / :class:`DrugFeatures` table;
    ``fit`` is a no-op, and every name in the table can be transformed."""

    def __init__(self, table: FeatureTable, *, name: str = "table") -> None:
        if not isinstance(table, FeatureTable):
            raise TypeError(
                f"TableFeaturiser needs GeneFeatures or DrugFeatures, got {type(table).__name__}."
            )
        self.table = table
        self.name = name

    def fit(self, names: Sequence[str]) -> TableFeaturiser:
        return self

    def transform(self, names: Sequence[str]) -> np.ndarray:
        return self.table.rows(list(names)).astype(np.float32)

    def missing(self, names: Sequence[str]) -> list[str]:
        return self.table.missing(list(names))

    @property
    def dim(self) -> int:
        return self.table.dim

    @property
    def content_hash(self) -> str:
        return self.table.content_hash

    def __repr__(self) -> str:
        return f"TableFeaturiser({self.name!r}, {self.table!r})"


class OneHotFeaturiser:
    """One indicator column per perturbation seen in ``fit`` (sorted), for models that learn
    an embedding per seen perturbation; unseen names cannot be featurised."""

    name = "onehot"

    def __init__(self) -> None:
        self._vocab: dict[str, int] | None = None

    def fit(self, names: Sequence[str]) -> OneHotFeaturiser:
        vocab = sorted({str(n) for n in names})
        if not vocab:
            raise ValueError("OneHotFeaturiser.fit needs at least one name.")
        self._vocab = {n: i for i, n in enumerate(vocab)}
        return self

    @property
    def vocabulary(self) -> list[str]:
        return list(self._fitted())

    def _fitted(self) -> dict[str, int]:
        if self._vocab is None:
            raise RuntimeError(
                "OneHotFeaturiser is not fitted; call fit(names) with the seen perturbations."
            )
        return self._vocab

    def missing(self, names: Sequence[str]) -> list[str]:
        vocab = self._fitted()
        return [n for n in names if n not in vocab]

    def transform(self, names: Sequence[str]) -> np.ndarray:
        vocab, missing = self._fitted(), self.missing(names)
        if missing:
            raise KeyError(
                f"{len(missing)} name(s) were not seen in fit, so one-hot has no column for "
                f"them: {missing[:20]}; use a prior-based featuriser for unseen perturbations."
            )
        out = np.zeros((len(names), len(vocab)), dtype=np.float32)
        out[np.arange(len(names)), [vocab[n] for n in names]] = 1.0
        return out

    @property
    def dim(self) -> int:
        return len(self._fitted())

    @property
    def content_hash(self) -> str:
        return hashlib.sha256("\n".join(self._fitted()).encode()).hexdigest()[:16]

    def __repr__(self) -> str:
        size = "unfitted" if self._vocab is None else f"{len(self._vocab)} names"
        return f"OneHotFeaturiser({size})"


# --- the registry's entries ------------------------------------------------------------------
# A prior left as None is loaded from the shared data directory.


def _go_graph(graph: GeneGraph | None, data_dir: PathLike) -> GeneGraph:
    if graph is not None:
        return graph
    from ..data import load_go_graph
    from ..knowledge import GeneGraph

    return GeneGraph.from_edges(load_go_graph(data_dir=data_dir), name="GO Jaccard top-20")


@register_featuriser("onehot")
def _onehot() -> OneHotFeaturiser:
    return OneHotFeaturiser()


@register_featuriser("table")
def _table(*, features: FeatureTable) -> TableFeaturiser:
    return TableFeaturiser(features, name="table")


@register_featuriser("go_svd")
def _go_svd(
    *,
    gene2go: pd.DataFrame | None = None,
    dim: int = 256,
    seed: int = 0,
    data_dir: PathLike = None,
) -> TableFeaturiser:
    from ._genes import go_annotation_features

    if gene2go is None:
        from ..data import load_gene2go

        gene2go = load_gene2go(data_dir=data_dir)
    return TableFeaturiser(go_annotation_features(gene2go, dim=dim, seed=seed), name="go_svd")


@register_featuriser("spectral")
def _spectral(
    *, graph: GeneGraph | None = None, dim: int = 64, seed: int = 0, data_dir: PathLike = None
) -> TableFeaturiser:
    from ._spectral import spectral_gene_embedding

    feats = spectral_gene_embedding(_go_graph(graph, data_dir), dim=dim, seed=seed)
    return TableFeaturiser(feats, name="spectral")


@register_featuriser("random_walk")
def _random_walk(
    *,
    graph: GeneGraph | None = None,
    dim: int = 64,
    walks_per_gene: int = 10,
    walk_length: int = 40,
    window: int = 5,
    negative: float = 1.0,
    seed: int = 0,
    data_dir: PathLike = None,
) -> TableFeaturiser:
    from ._walks import random_walk_embedding

    feats = random_walk_embedding(
        _go_graph(graph, data_dir),
        dim=dim,
        walks_per_gene=walks_per_gene,
        walk_length=walk_length,
        window=window,
        negative=negative,
        seed=seed,
    )
    return TableFeaturiser(feats, name="random_walk")


@register_featuriser("graph_smooth")
def _graph_smooth(
    *,
    features: GeneFeatures | None = None,
    graph: GeneGraph | None = None,
    hops: int = 2,
    self_loops: float = 1.0,
    combine: Literal["last", "concat"] = "last",
    data_dir: PathLike = None,
) -> TableFeaturiser:
    from ._propagate import propagate_features

    if features is None:
        features = _go_svd(data_dir=data_dir).table  # type: ignore[assignment]
    feats = propagate_features(
        features,  # type: ignore[arg-type]
        _go_graph(graph, data_dir),
        hops=hops,
        self_loops=self_loops,
        combine=combine,
    )
    return TableFeaturiser(feats, name="graph_smooth")


@register_featuriser("morgan")
def _morgan(
    *,
    smiles: Mapping[str, str] | None = None,
    radius: int = 2,
    n_bits: int = 2048,
    chirality: bool = False,
    data_dir: PathLike = None,
) -> TableFeaturiser:
    from ._drugs import morgan_fingerprints, sciplex_smiles

    source = "given SMILES"
    if smiles is None:
        smiles, source = sciplex_smiles(data_dir=data_dir), "sci-Plex 3 Supplementary Table 3"
    feats = morgan_fingerprints(
        smiles, radius=radius, n_bits=n_bits, chirality=chirality, source=source
    )
    return TableFeaturiser(feats, name="morgan")
