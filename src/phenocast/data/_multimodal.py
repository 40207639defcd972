"""Several readouts of the same perturbations, aligned on one set of sample ids.

A :class:`MultiModalData` holds one matrix per modality (transcriptome, morphology, proteins,
...) and aligns them on the union of their sample ids. One id is one perturbation condition,
well or sample; an id measured in only some readouts is kept, and :meth:`MultiModalData.mask`
says where it was observed. Every id carries one parsed :class:`~phenocast.data.Condition`,
which must agree between the modalities that measured it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd
import scipy.sparse as sp
from anndata import AnnData

from . import _multimodal_splits as _splits
from ._multimodal_splits import Split
from ._parse import Condition, RegistrationError, parse_condition
from ._paths import data_dir as _data_dir

if TYPE_CHECKING:  # pragma: no cover
    from mudata import MuData

__all__ = [
    "MultiModalData",
    "MultiModalDataError",
    "Split",
    "load_multimodal",
    "multimodal_datasets",
]

_FEATURE_NAME = "feature_name"  # the var column that keeps feature names in MuData


class MultiModalDataError(RegistrationError):
    """Raised when modalities cannot be aligned; the message names the modality, id and fix."""


def _shown(values: Sequence[Any], k: int = 5) -> str:
    head = ", ".join(repr(v) for v in list(values)[:k])
    return head + (", ..." if len(values) > k else "")


def _ids_of(adata: AnnData, *, name: str, id_key: str | None) -> pd.Index:
    if id_key is None:
        ids = pd.Index(adata.obs_names.astype(str))
        where = "obs_names"
    else:
        if id_key not in adata.obs.columns:
            raise MultiModalDataError(
                f"Modality {name!r} has no obs column {id_key!r} (id_key). Available columns: "
                f"{_shown(list(adata.obs.columns), 20)}. Pass id_key=None to use obs_names."
            )
        ids = pd.Index(adata.obs[id_key].astype(str).to_numpy())
        where = f"obs[{id_key!r}]"
    if ids.has_duplicates:
        dup = ids[ids.duplicated()].unique()
        raise MultiModalDataError(
            f"Modality {name!r} has {len(dup)} duplicated sample id(s) in {where}: "
            f"{_shown(list(dup))}. One id is one perturbation condition, well or sample: "
            "aggregate replicates (e.g. phenocast.data.pseudobulk) or give each row its own id."
        )
    return ids


def _dense_float32(adata: AnnData, *, name: str) -> np.ndarray:
    x = adata.X
    if x is None:
        raise MultiModalDataError(f"Modality {name!r} has no X matrix; store the values in X.")
    dtype = x.dtype
    if not (np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.bool_)):
        raise MultiModalDataError(
            f"Modality {name!r} has non-numeric X (dtype {dtype}). Convert the values to "
            "numbers (e.g. adata.X = adata.X.astype('float32')) and move labels to obs."
        )
    dense = x.toarray() if sp.issparse(x) else np.asarray(x)
    with np.errstate(over="ignore"):
        dense = dense.astype(np.float32, copy=True)
    bad = ~np.isfinite(dense)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        first = adata.obs_names[rows[0]]
        raise MultiModalDataError(
            f"Modality {name!r} has {int(bad.sum())} non-finite value(s) (NaN/inf, or beyond "
            f"float32) in {len(rows)} row(s), first in row {first!r}. Impute or drop those rows: "
            "a sample without this readout is simply left out of the modality."
        )
    return dense


def _column(adata: AnnData, column: str, *, name: str, what: str, fix: str) -> np.ndarray:
    if column not in adata.obs.columns:
        raise MultiModalDataError(
            f"Modality {name!r} has no {what} column {column!r} in obs. Available columns: "
            f"{_shown(list(adata.obs.columns), 20)}. {fix}"
        )
    return adata.obs[column].astype(object).to_numpy()


def _conditions_of(
    adata: AnnData,
    ids: pd.Index,
    *,
    name: str,
    perturbation: str,
    dose: str | None,
    control: str | None,
) -> list[Condition]:
    perts = _column(
        adata,
        perturbation,
        name=name,
        what="perturbation",
        fix="Pass perturbation=<the column naming each sample's perturbation>.",
    )
    if dose is None:
        doses: np.ndarray = np.full(len(perts), None, dtype=object)
    else:
        doses = _column(
            adata,
            dose,
            name=name,
            what="dose",
            fix="Pass dose=None if every component is at dose 1.",
        )
    cache: dict[tuple[str, str], Condition] = {}
    out = []
    for sid, p, d in zip(ids, perts, doses, strict=True):
        # controls may carry a NaN dose; other values are parsed once per distinct label
        key = (repr(p), repr(d))
        if key not in cache:
            try:
                cache[key] = parse_condition(
                    p,
                    None if (control is not None and p == control) else d,
                    control=control,
                    perturbation_column=perturbation,
                    dose_column=dose or "dose",
                )
            except RegistrationError as err:
                raise MultiModalDataError(f"Modality {name!r}, id {sid!r}: {err}") from err
        out.append(cache[key])
    return out


class MultiModalData:
    """Modalities keyed by name, aligned on the union of their sample ids.

    Build it with :meth:`from_anndatas`, :meth:`from_mudata` or :func:`load`.

    Ids are kept in first-seen order: the first modality's rows in their order, then each
    later modality's new ids in its row order (the order MuData uses).

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"perturbation": ["A", "B", "A+B"]}, index=["s0", "s1", "s2"])
    >>> rna = ad.AnnData(np.ones((3, 4), dtype=np.float32), obs=obs)
    >>> morph = ad.AnnData(np.ones((2, 2), dtype=np.float32), obs=obs.iloc[1:])
    >>> mm = MultiModalData.from_anndatas({"rna": rna, "morph": morph}, dose=None)
    >>> mm.observed.sum().to_dict()
    {'rna': 3, 'morph': 2}
    >>> mm.components
    ('A', 'B')
    """

    #: The ``var`` column that keeps each modality's feature names in a MuData.
    FEATURE_NAME_COLUMN = _FEATURE_NAME

    def __init__(
        self,
        *,
        ids: pd.Index,
        matrices: Mapping[str, np.ndarray],
        rows: Mapping[str, np.ndarray],
        features: Mapping[str, pd.Index],
        obs: Mapping[str, pd.DataFrame],
        conditions: Sequence[Condition],
        control: str | None,
    ) -> None:
        # internal: use from_anndatas / from_mudata, which validate
        self._ids = pd.Index(ids, dtype=object)
        self._matrices = dict(matrices)
        self._rows = dict(rows)
        self._features = dict(features)
        self._obs = dict(obs)
        self._conditions = tuple(conditions)
        self._control = control
        self._position = pd.Series(np.arange(len(self._ids)), index=self._ids)

    # ----------------------------------------------------------------- constructors
    @classmethod
    def from_anndatas(
        cls,
        mapping: Mapping[str, AnnData],
        *,
        perturbation: str = "perturbation",
        dose: str | None = "dose",
        control: str | None = None,
        id_key: str | None = None,
    ) -> MultiModalData:
        """Align AnnData objects, one per modality, on their sample ids.

        Parameters
        ----------
        mapping
            Modality name → AnnData (rows = samples, ``X`` numeric and finite). Dense or sparse
            ``X`` is stored densely as float32.
        perturbation
            obs column with each sample's perturbation (``"A"``, ``"A+B"``, the control label).
        dose
            obs column with doses (``"1+0.5"`` for a pair), or ``None`` for dose 1 everywhere.
        control
            The control label, or ``None`` when there are no control rows.
        id_key
            obs column holding sample ids; ``None`` uses ``obs_names``.

        Raises
        ------
        MultiModalDataError
            On an empty modality, duplicated ids or feature names, non-numeric or non-finite
            values, a missing column, or an id labelled differently in two modalities.
        """
        if not isinstance(mapping, Mapping) or not mapping:
            raise MultiModalDataError(
                "Pass a non-empty mapping of modality name -> AnnData, e.g. "
                "{'rna': adata_rna, 'morphology': adata_morph}."
            )
        seen: dict[str, int] = {}
        order: list[str] = []
        labels: dict[str, tuple[Condition, str]] = {}
        matrices, rows, features, obs, conds = {}, {}, {}, {}, []
        for name, adata in mapping.items():
            if not isinstance(name, str):
                raise TypeError(
                    f"Modality names must be str; got {name!r} ({type(name).__name__}). "
                    "Key the mapping by readout name, e.g. 'rna'."
                )
            if not isinstance(adata, AnnData):
                raise TypeError(
                    f"Modality {name!r} is a {type(adata).__name__}, not an AnnData. Wrap the "
                    "matrix as anndata.AnnData(X, obs=...)."
                )
            if adata.n_obs == 0 or adata.n_vars == 0:
                raise MultiModalDataError(
                    f"Modality {name!r} has shape {adata.shape}: it needs at least one row "
                    "(sample) and one feature. Drop the modality or fill it."
                )
            ids = _ids_of(adata, name=name, id_key=id_key)
            var = pd.Index(adata.var_names.astype(str))
            if _FEATURE_NAME in adata.var.columns:
                var = pd.Index(adata.var[_FEATURE_NAME].astype(str).to_numpy())
            if var.has_duplicates:
                dup = var[var.duplicated()].unique()
                raise MultiModalDataError(
                    f"Modality {name!r} has {len(dup)} duplicated feature name(s): "
                    f"{_shown(list(dup))}. Call adata.var_names_make_unique() first."
                )
            x = _dense_float32(adata, name=name)
            parsed = _conditions_of(
                adata, ids, name=name, perturbation=perturbation, dose=dose, control=control
            )
            pos = np.empty(len(ids), dtype=np.int64)
            for i, (sid, cond) in enumerate(zip(ids, parsed, strict=True)):
                if sid in labels:
                    first, where = labels[sid]
                    if first != cond:
                        raise MultiModalDataError(
                            f"Sample id {sid!r} is labelled {first.key!r} in modality {where!r} "
                            f"but {cond.key!r} in modality {name!r} (perturbation@dose). One id "
                            "must be one condition: fix the labels or use distinct ids."
                        )
                    pos[i] = seen[sid]
                else:
                    labels[sid] = (cond, name)
                    seen[sid] = len(order)
                    pos[i] = len(order)
                    order.append(sid)
                    conds.append(cond)
            frame = adata.obs.copy()
            frame.index = pd.Index(ids, dtype=object)
            matrices[name], rows[name], features[name], obs[name] = x, pos, var, frame
        return cls(
            ids=pd.Index(order, dtype=object),
            matrices=matrices,
            rows=rows,
            features=features,
            obs=obs,
            conditions=conds,
            control=control,
        )

    @classmethod
    def from_mudata(
        cls,
        mdata: MuData,
        *,
        perturbation: str = "perturbation",
        dose: str | None = "dose",
        control: str | None = None,
    ) -> MultiModalData:
        """Read the modalities of a MuData; ids are the modalities' ``obs_names``.

        The perturbation and dose columns are read from each modality's obs, or from the
        global ``mdata.obs`` for a modality that lacks them. Feature names are read from
        ``var["feature_name"]`` where present (see :meth:`to_mudata`), else ``var_names``.
        """
        mapping = {}
        for name, adata in mdata.mod.items():
            missing = [
                c
                for c in (perturbation, dose)
                if c is not None and c not in adata.obs.columns and c in mdata.obs.columns
            ]
            if missing:
                adata = adata.copy()
                for c in missing:
                    adata.obs[c] = mdata.obs.loc[adata.obs_names, c].to_numpy()
            mapping[name] = adata
        return cls.from_anndatas(mapping, perturbation=perturbation, dose=dose, control=control)

    def to_mudata(self) -> MuData:
        """A MuData with one AnnData per observed modality and the conditions in ``obs``.

        Global ``obs`` gets ``perturbation``, ``dose`` (canonical strings) and ``condition``
        (the key, e.g. ``"A+B@1+0.5"``). Feature names shared by two modalities get a
        ``"<modality>:"`` prefix in ``var_names``, the original kept in ``var["feature_name"]``.
        """
        import mudata

        counts = pd.Series([f for n in self.modalities for f in self._features[n]]).value_counts()
        clashes = set(counts.index[counts > 1])
        mods = {}
        for name in self.modalities:
            if not len(self._rows[name]):
                continue
            var = pd.DataFrame(index=pd.Index(self._features[name], dtype=object))
            if clashes.intersection(self._features[name]):
                var[_FEATURE_NAME] = list(self._features[name])
                var.index = pd.Index([f"{name}:{f}" for f in self._features[name]])
            mods[name] = AnnData(self._matrices[name].copy(), obs=self._obs[name].copy(), var=var)
        with mudata.set_options(pull_on_update=False):
            mdata = mudata.MuData(mods)
        observed = self._ids[self.observed.any(axis=1).to_numpy()]
        conds = pd.Series(self._conditions, index=self._ids).loc[observed]
        mdata.obs = pd.DataFrame(
            {
                "perturbation": [
                    c.perturbation if c.components else (self._control or "") for c in conds
                ],
                "dose": [c.dose for c in conds],
                "condition": [c.key for c in conds],
            },
            index=pd.Index(observed, dtype=object),
        ).loc[mdata.obs_names]
        return mdata

    # ----------------------------------------------------------------- accessors
    def __len__(self) -> int:
        return len(self._ids)

    def __repr__(self) -> str:
        parts = ", ".join(
            f"{n}: {len(self._rows[n])} × {self.n_features(n)}" for n in self.modalities
        )
        return f"MultiModalData({len(self)} ids; {parts})"

    @property
    def ids(self) -> pd.Index:
        """Sample ids (the union over modalities, first-seen order)."""
        return self._ids.copy()

    @property
    def modalities(self) -> tuple[str, ...]:
        """Modality names, in construction order."""
        return tuple(self._matrices)

    @property
    def control(self) -> str | None:
        """The control label given at construction."""
        return self._control

    def _check_name(self, name: str) -> None:
        if name not in self._matrices:
            raise KeyError(f"No modality {name!r}; the modalities are {list(self.modalities)}.")

    def n_features(self, name: str) -> int:
        """Number of features of modality ``name``."""
        self._check_name(name)
        return int(self._matrices[name].shape[1])

    def feature_names(self, name: str) -> pd.Index:
        """Feature names of modality ``name``."""
        self._check_name(name)
        return self._features[name].copy()

    def mask(self, name: str) -> np.ndarray:
        """``(n_ids,)`` bool: where modality ``name`` was measured."""
        self._check_name(name)
        out = np.zeros(len(self._ids), dtype=bool)
        out[self._rows[name]] = True
        return out

    def matrix(self, name: str) -> np.ndarray:
        """``(n_ids, n_features)`` float32 values of ``name``, NaN rows where unobserved."""
        self._check_name(name)
        out = np.full((len(self._ids), self.n_features(name)), np.nan, dtype=np.float32)
        out[self._rows[name]] = self._matrices[name]
        return out

    def obs(self, name: str) -> pd.DataFrame:
        """The obs table of modality ``name`` (its observed ids only, as given)."""
        self._check_name(name)
        return self._obs[name].copy()

    @property
    def observed(self) -> pd.DataFrame:
        """ids × modality bool table of which readouts each id has."""
        return pd.DataFrame({n: self.mask(n) for n in self.modalities}, index=self.ids)

    def overlap(self) -> pd.DataFrame:
        """modality × modality counts of ids measured in both (the diagonal: in each)."""
        m = self.observed.to_numpy().astype(np.int64)
        return pd.DataFrame(m.T @ m, index=list(self.modalities), columns=list(self.modalities))

    @property
    def conditions(self) -> pd.Series:
        """The parsed :class:`~phenocast.data.Condition` of every id (indexed by id)."""
        return pd.Series(self._conditions, index=self.ids, name="condition", dtype=object)

    @property
    def components(self) -> tuple[str, ...]:
        """Sorted vocabulary of perturbation components (controls contribute none)."""
        return tuple(sorted({c for cond in self._conditions for c in cond.components}))

    def encode_perturbations(
        self, *, max_components: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Integer codes and doses of every id's components.

        Parameters
        ----------
        max_components
            Width ``K`` of the output; default the largest number of components of any id
            (at least 1).

        Returns
        -------
        components, doses
            ``(n_ids, K)`` int64 indices into :attr:`components` (``-1`` pads; a control is all
            ``-1``) and ``(n_ids, K)`` float32 doses (0 where padded).
        """
        widest = max((len(c.components) for c in self._conditions), default=0)
        k = max(widest, 1) if max_components is None else int(max_components)
        if k < widest:
            raise ValueError(
                f"max_components={max_components} but some ids combine {widest} components; "
                f"pass max_components >= {widest} (or None)."
            )
        vocab = {c: i for i, c in enumerate(self.components)}
        codes = np.full((len(self), k), -1, dtype=np.int64)
        doses = np.zeros((len(self), k), dtype=np.float32)
        for i, cond in enumerate(self._conditions):
            for j, (c, d) in enumerate(zip(cond.components, cond.doses, strict=True)):
                codes[i, j], doses[i, j] = vocab[c], d
        return codes, doses

    # ----------------------------------------------------------------- subsets and splits
    def group_labels(self, groups: str | Sequence[object] | np.ndarray | None) -> np.ndarray | None:
        """One label per id for resampling ids that are not independent together.

        ``"perturbation"``: ids of one perturbation share a label (a drug's dose series, a
        pair's replicates); a sequence: one label per id, checked; ``None``: no groups.
        """
        if groups is None:
            return None
        if isinstance(groups, str):
            if groups != "perturbation":
                raise ValueError(
                    f"groups must be 'perturbation', one label per id or None, got {groups!r}."
                )
            return np.array([c.perturbation for c in self.conditions], dtype=object)
        labels = np.asarray(groups, dtype=object)
        if labels.shape != (len(self),):
            raise ValueError(
                f"groups has shape {labels.shape}; give one label per id of data ({len(self)})."
            )
        return labels

    def subset(self, ids: Iterable[str]) -> MultiModalData:
        """The ids given, in that order; a modality may end up with no rows (all masked)."""
        wanted = pd.Index([str(i) for i in ids], dtype=object)
        if wanted.has_duplicates:
            raise ValueError(f"subset: duplicated ids {_shown(list(wanted[wanted.duplicated()]))}.")
        unknown = wanted.difference(self._ids)
        if len(unknown):
            raise KeyError(
                f"subset: {len(unknown)} id(s) not in the data: {_shown(list(unknown))}."
            )
        new_pos = pd.Series(np.arange(len(wanted)), index=wanted)
        matrices, rows, obs = {}, {}, {}
        for name in self.modalities:
            have = self._ids[self._rows[name]]
            keep = np.flatnonzero(have.isin(wanted))
            positions = new_pos.loc[have[keep]].to_numpy()
            order = np.argsort(positions, kind="stable")
            matrices[name] = self._matrices[name][keep[order]]
            rows[name] = positions[order].astype(np.int64)
            obs[name] = self._obs[name].iloc[keep[order]]
        conds = [self._conditions[p] for p in self._position.loc[wanted].to_numpy()]
        return MultiModalData(
            ids=wanted,
            matrices=matrices,
            rows=rows,
            features=self._features,
            obs=obs,
            conditions=conds,
            control=self._control,
        )

    def folds(
        self,
        n_folds: int = 5,
        *,
        seed: int,
        by: Literal["id", "condition", "component"] = "id",
    ) -> list[Split]:
        """Fixed K-fold splits over ids.

        Parameters
        ----------
        n_folds
            Number of folds (>= 2).
        seed
            Seed of the random assignment.
        by
            ``"id"``: each id in one test fold, stratified by which modalities it has, so
            every fold sees the same mix of partial overlap. ``"condition"``: ids sharing a
            condition key (replicate wells) stay together. ``"component"``: components are
            dealt into ``n_folds`` groups; fold ``k`` tests every id touching a component of
            group ``k`` and trains on the rest (controls always train). Test sets of
            ``"component"`` folds overlap when an id combines components of two groups.
        """
        return _splits.folds(self, n_folds, seed=seed, by=by)

    def leave_one_pair_out(self) -> list[Split]:
        """One split per two-component combination: it tests every id with that pair (at any
        dose) and trains on all other ids, including the pair's singles."""
        return _splits.leave_one_pair_out(self)


def multimodal_datasets() -> dict[str, str]:
    """The multimodal datasets of the catalog (:data:`phenocast.data.DATASETS`, kind
    ``"multimodal"``): name → what it holds."""
    from ._datasets import DATASETS

    return {info.name: info.description for info in DATASETS if info.kind == "multimodal"}


def load_multimodal(name: str, *, data_dir: str | os.PathLike[str] | None = None) -> MultiModalData:
    """Load a multimodal dataset of the catalog as :class:`MultiModalData`.

    Parameters
    ----------
    name
        A catalog name of kind ``"multimodal"`` (see :func:`multimodal_datasets`):
        ``"cmea_cdrp_u2os"`` or ``"cellbox_korkut2015"``.
    data_dir
        Data directory; default ``PHENOCAST_DATA_DIR``, then ``~/.cache/phenocast``.
    """
    names = multimodal_datasets()
    if name not in names:
        raise KeyError(f"No multimodal dataset {name!r}; choose one of {sorted(names)}.")
    from ._datasets import load

    mods = load(name, data_dir=_data_dir(data_dir))
    first = next(iter(mods.values()))
    control = first.uns.get("phenocast", {}).get("control")
    return MultiModalData.from_anndatas(
        mods, perturbation="perturbation", dose="dose", control=control
    )
