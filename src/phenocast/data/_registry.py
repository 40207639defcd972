"""Register an AnnData for phenocast: which slots hold what, checked once, saved as JSON.

The :class:`Registry` is the only thing models read about a dataset's layout: column names,
the control label, perturbation components, covariate categories, genes and the kind of values
in ``X``. It is plain data (JSON round-trip) and holds no reference to the AnnData, so two
registries for two datasets never interfere.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ._io import atomic_write_text
from ._ondisk import fingerprint
from ._parse import Condition, RegistrationError, parse_condition

if TYPE_CHECKING:  # pragma: no cover
    from anndata import AnnData

__all__ = ["Encoded", "Registry", "XKind", "register"]

XKind = Literal["counts", "log-normalized", "continuous"]
_X_KINDS = ("counts", "log-normalized", "continuous")
_FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class Encoded:
    """Per-cell integer / float encodings of a registered AnnData.

    Attributes
    ----------
    components
        ``(n_obs, max_components)`` component indices into ``Registry.components``, ``-1`` pads.
    doses
        ``(n_obs, max_components)`` doses aligned with ``components`` (0 where padded).
    time
        ``(n_obs,)`` times, or ``None`` when the registry has no time column.
    covariates
        Covariate name → ``(n_obs,)`` category codes into ``Registry.covariate_categories``.
    is_control
        ``(n_obs,)`` bool.
    condition
        ``(n_obs,)`` canonical condition keys (``"A+B@1+0.5"``, ``"control"``).
    """

    components: np.ndarray
    doses: np.ndarray
    time: np.ndarray | None
    covariates: dict[str, np.ndarray]
    is_control: np.ndarray
    condition: np.ndarray


@dataclass(frozen=True, kw_only=True)
class Registry:
    """What phenocast knows about a registered dataset. Create it with :func:`register`."""

    perturbation_key: str
    control: str | None
    dose_key: str | None = None
    time_key: str | None = None
    covariate_keys: tuple[str, ...] = ()
    layer: str | None = None
    components: tuple[str, ...] = ()
    conditions: tuple[str, ...] = ()
    covariate_categories: dict[str, tuple[str, ...]] = field(default_factory=dict)
    var_names: tuple[str, ...] = ()
    x_kind: XKind = "log-normalized"
    summary: dict[str, Any] = field(default_factory=dict)
    format_version: int = _FORMAT_VERSION

    # ----------------------------------------------------------------- serialisation
    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["covariate_keys"] = list(self.covariate_keys)
        d["components"] = list(self.components)
        d["conditions"] = list(self.conditions)
        d["var_names"] = list(self.var_names)
        d["covariate_categories"] = {k: list(v) for k, v in self.covariate_categories.items()}
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Registry:
        known = set(cls.__dataclass_fields__)
        unknown = set(d) - known
        if unknown:
            raise ValueError(
                f"Unknown registry field(s) {sorted(unknown)}; this file was not written by "
                "this version of phenocast's Registry.to_json."
            )
        if d.get("format_version", _FORMAT_VERSION) > _FORMAT_VERSION:
            raise ValueError(
                f"Registry format version {d['format_version']} is newer than this phenocast "
                f"supports ({_FORMAT_VERSION}); upgrade phenocast."
            )
        kw = dict(d)
        for key in ("covariate_keys", "components", "conditions", "var_names"):
            if key in kw:
                kw[key] = tuple(kw[key])
        if "covariate_categories" in kw:
            kw["covariate_categories"] = {
                k: tuple(v) for k, v in kw["covariate_categories"].items()
            }
        return cls(**kw)

    def to_json(self, path: str | os.PathLike[str] | None = None) -> str:
        """Serialise to JSON; with ``path``, also write the file atomically."""
        text = json.dumps(self.to_dict(), indent=1)
        if path is not None:
            atomic_write_text(Path(path), text)
        return text

    @classmethod
    def from_json(cls, text_or_path: str | os.PathLike[str]) -> Registry:
        """Read a registry from a JSON string or a file path."""
        text = str(text_or_path)
        if not text.lstrip().startswith("{"):
            text = Path(text_or_path).read_text()
        return cls.from_dict(json.loads(text))

    # ----------------------------------------------------------------- access
    @property
    def n_vars(self) -> int:
        return len(self.var_names)

    @property
    def condition_columns(self) -> list[str]:
        """The obs columns that describe a condition (perturbation, dose, time, covariates)."""
        cols = [self.perturbation_key]
        cols += [c for c in (self.dose_key, self.time_key) if c is not None]
        return cols + list(self.covariate_keys)

    def matrix(self, adata: AnnData) -> Any:
        """The registered expression matrix (``X`` or the registered layer) of ``adata``."""
        if self.layer is None:
            return adata.X
        if self.layer not in adata.layers:
            raise RegistrationError(
                f"Layer {self.layer!r} is registered but missing from this AnnData "
                f"(layers: {list(adata.layers)})."
            )
        return adata.layers[self.layer]

    def check_genes(self, adata: AnnData) -> None:
        """Raise if ``adata``'s var_names differ from the registered genes, or if ``adata`` is
        the on-disk file this registry was made from and that file has changed since."""
        from ._ondisk import check_fingerprint

        check_fingerprint(adata, self.summary.get("source"), what="registration")
        names = tuple(map(str, adata.var_names))
        if names == self.var_names:
            return
        missing = [g for g in self.var_names if g not in set(names)]
        extra = [g for g in names if g not in set(self.var_names)]
        if not missing and not extra:
            raise RegistrationError(
                "The genes match the registry but in another order; reorder with "
                "adata[:, list(registry.var_names)]."
            )
        raise RegistrationError(
            f"Genes differ from the registry: {len(missing)} registered gene(s) missing "
            f"(e.g. {missing[:5]}), {len(extra)} unregistered (e.g. {extra[:5]}). Subset "
            "with adata[:, list(registry.var_names)] or register the new data."
        )

    def parse(self, perturbation: object, dose: object = None) -> Condition:
        """Parse one perturbation (and dose) value with this registry's control label."""
        return parse_condition(
            perturbation,
            dose,
            control=self.control,
            perturbation_column=self.perturbation_key,
            dose_column=self.dose_key or "dose",
        )

    def parse_frame(self, frame: pd.DataFrame) -> list[Condition]:
        """Parse the perturbation / dose columns of ``frame`` (obs or a conditions table)."""
        _require_columns(frame, [self.perturbation_key], what="perturbation")
        pert = frame[self.perturbation_key]
        if self.dose_key is not None and self.dose_key in frame.columns:
            dose = frame[self.dose_key]
        else:
            dose = pd.Series([None] * len(frame), index=frame.index, dtype=object)
        return _parse_columns(pert, dose, registry=self)

    def decode_conditions(
        self,
        components: np.ndarray,
        doses: np.ndarray,
        *,
        context: dict[str, str] | None = None,
    ) -> pd.DataFrame:
        """The conditions table of encoded conditions (the inverse of :meth:`encode`).

        ``components`` ``(B, K)`` index :attr:`components` (-1 pads; a row of pads is the
        control); ``doses`` ``(B, K)`` are their doses. The perturbation column holds the
        canonical names (``"A+B"``), the dose column a tuple of floats per row, so doses pass
        to a model as numbers, never through text. ``context`` adds one column per covariate.
        """
        perts: list[str] = []
        dose_col: list[tuple[float, ...]] = []
        for comp, dose in zip(
            np.asarray(components).tolist(), np.asarray(doses).tolist(), strict=True
        ):
            used = [(c, float(d)) for c, d in zip(comp, dose, strict=True) if c >= 0]
            cond = Condition(tuple(self.components[c] for c, _ in used), tuple(d for _, d in used))
            perts.append(cond.perturbation or self.control or "control")
            dose_col.append(cond.doses)
        frame = pd.DataFrame({self.perturbation_key: perts})
        if self.dose_key is not None:
            frame[self.dose_key] = pd.Series(dose_col, dtype=object)
        for key, value in (context or {}).items():
            frame[key] = value
        return frame

    def encode(
        self, adata_or_obs: AnnData | pd.DataFrame, *, allow_unseen: bool = False
    ) -> Encoded:
        """Encode perturbations, doses, time and covariates as arrays.

        Parameters
        ----------
        adata_or_obs
            An AnnData (its ``obs`` is used) or a DataFrame with the registered columns.
        allow_unseen
            Encode components / covariate categories absent from the registry as ``-1``
            instead of raising.
        """
        obs = adata_or_obs if isinstance(adata_or_obs, pd.DataFrame) else adata_or_obs.obs
        conds = self.parse_frame(obs)
        n = len(conds)
        k = max(
            self.summary.get("max_components", 1),
            max((len(c.components) for c in conds), default=1),
            1,
        )
        index = {c: i for i, c in enumerate(self.components)}
        comp = np.full((n, k), -1, dtype=np.int64)
        dose = np.zeros((n, k), dtype=np.float64)
        cache: dict[Condition, tuple[list[int], tuple[float, ...]]] = {}
        for i, c in enumerate(conds):
            got = cache.get(c)
            if got is None:
                idx = []
                for name in c.components:
                    j = index.get(name, -1)
                    if j < 0 and not allow_unseen:
                        known = list(self.components)
                        shown = ", ".join(map(repr, known[:20])) + (
                            " ..." if len(known) > 20 else ""
                        )
                        raise RegistrationError(
                            f"Perturbation component {name!r} (column "
                            f"{self.perturbation_key!r}) is not in the registry; models "
                            "trained on this registry cannot encode it. Known components: "
                            f"{shown}. Use a featuriser that embeds unseen perturbations, or "
                            "pass allow_unseen=True."
                        )
                    idx.append(j)
                got = cache[c] = (idx, c.doses)
            m = len(got[0])
            comp[i, :m] = got[0]
            dose[i, :m] = got[1]
        time = None
        if self.time_key is not None:
            _require_columns(obs, [self.time_key], what="time")
            time = _numeric_column(obs, self.time_key, allow_nan=False)
        covs: dict[str, np.ndarray] = {}
        for key in self.covariate_keys:
            _require_columns(obs, [key], what="covariate")
            cats = self.covariate_categories[key]
            codes = pd.Categorical(obs[key].astype(str), categories=list(cats)).codes
            bad = codes < 0
            if bad.any() and not allow_unseen:
                unseen = sorted(set(obs[key].astype(str)[bad]))
                raise RegistrationError(
                    f"Covariate {key!r} has categories not in the registry: {unseen[:5]}; "
                    f"known: {list(cats)[:10]}. Pass allow_unseen=True to encode them as -1."
                )
            covs[key] = codes.astype(np.int64)
        is_control = np.array([c.is_control for c in conds], dtype=bool)
        keys = np.array([c.key for c in conds], dtype=object)
        return Encoded(comp, dose, time, covs, is_control, keys)

    def conditions_of(self, adata_or_obs: AnnData | pd.DataFrame) -> pd.Series:
        """Canonical condition key per cell (``"A+B@1+0.5"``, ``"control"``)."""
        obs = adata_or_obs if isinstance(adata_or_obs, pd.DataFrame) else adata_or_obs.obs
        return pd.Series([c.key for c in self.parse_frame(obs)], index=obs.index, name="condition")


# --------------------------------------------------------------------------- helpers


def _require_columns(frame: pd.DataFrame, cols: Iterable[str], *, what: str) -> None:
    for col in cols:
        if col not in frame.columns:
            raise RegistrationError(
                f"The {what} column {col!r} is not in obs. Available columns: "
                f"{list(frame.columns)[:20]}. Pass the right column name or add it to "
                "adata.obs."
            )


def _numeric_column(frame: pd.DataFrame, col: str, *, allow_nan: bool) -> np.ndarray:
    try:
        values = pd.to_numeric(frame[col], errors="raise").to_numpy(dtype=np.float64)
    except (TypeError, ValueError):
        bad = frame[col][pd.to_numeric(frame[col], errors="coerce").isna()].iloc[:3]
        raise RegistrationError(
            f"Column {col!r} must be numeric; found {list(bad)}. Convert it to numbers."
        ) from None
    if not allow_nan and np.isnan(values).any():
        raise RegistrationError(
            f"Column {col!r} has {int(np.isnan(values).sum())} NaN value(s); fill or drop them."
        )
    if (values < 0).any():
        raise RegistrationError(
            f"Column {col!r} has negative value(s), e.g. {values[values < 0][:3].tolist()}; "
            "it must be non-negative."
        )
    return values


def _parse_columns(pert: pd.Series, dose: pd.Series, *, registry: Registry) -> list[Condition]:
    """Parse per cell, evaluating each distinct (perturbation, dose) pair once."""
    is_ctrl = (pert.astype(object) == registry.control).to_numpy() if registry.control else None
    pairs: dict[tuple[Any, Any], Condition] = {}
    out: list[Condition] = []
    pv = pert.to_numpy(dtype=object)
    dv = dose.to_numpy(dtype=object)
    for i in range(len(pv)):
        p, d = pv[i], dv[i]
        if is_ctrl is not None and is_ctrl[i]:
            d = None  # a control's dose is irrelevant (often NaN or 0)
        key = (tuple(p) if isinstance(p, list) else p, tuple(d) if isinstance(d, list) else d)
        try:
            cond = pairs[key]
        except KeyError:
            cond = pairs[key] = registry.parse(p, d)
        except TypeError:  # unhashable odd values
            cond = registry.parse(p, d)
        out.append(cond)
    return out


def _value_stats(x: Any) -> tuple[np.dtype, int, int, bool, bool]:
    """dtype, NaN count, inf count, any negative, all integer — one pass over ``x``,
    a block at a time when ``x`` is on disk."""
    import scipy.sparse as sp

    from ._ondisk import is_on_disk, row_blocks

    blocks = (b for *_, b in row_blocks(x, dense=False)) if is_on_disk(x) else iter([x])
    dtype, n_nan, n_inf, neg, integer = None, 0, 0, False, True
    for block in blocks:
        values = block.data if sp.issparse(block) else np.asarray(block)
        dtype = values.dtype if dtype is None else dtype
        if values.dtype.kind not in "fiu":
            return values.dtype, 0, 0, False, True
        if not values.size:
            continue
        finite = np.isfinite(values)
        if not finite.all():
            nan = int(np.isnan(values).sum())
            n_nan += nan
            n_inf += int((~finite).sum()) - nan
            values = values[finite]
        neg = neg or bool((values < 0).any())
        integer = integer and bool(np.all(values == np.round(values)))
    return np.dtype(dtype or np.float32), n_nan, n_inf, neg, integer


def _check_matrix(x: Any, *, x_kind: str, where: str) -> XKind:
    """Validate values and return the (declared or detected) kind."""
    dtype, n_nan, n_inf, has_neg, integer = _value_stats(x)
    if dtype.kind not in "fiu":
        raise RegistrationError(f"{where} has dtype {dtype}; it must be numeric.")
    if n_nan or n_inf:
        raise RegistrationError(
            f"{where} holds {n_nan} NaN and {n_inf} infinite value(s). Remove or impute them "
            "before registering (e.g. filter the affected cells or genes)."
        )
    if x_kind == "auto":
        if has_neg:
            return "continuous"
        return "counts" if integer else "log-normalized"
    if x_kind not in _X_KINDS:
        raise RegistrationError(f"x_kind must be 'auto' or one of {_X_KINDS}, not {x_kind!r}.")
    if x_kind in ("counts", "log-normalized") and has_neg:
        raise RegistrationError(
            f"{where} has negative values but was declared as {x_kind!r}. Counts and "
            "log-normalised expression are non-negative: pass the raw counts / log1p layer, "
            "or declare x_kind='continuous' for z-scores or morphology features."
        )
    if x_kind == "counts" and not integer:
        raise RegistrationError(
            f"{where} has non-integer values but was declared as counts. Pass the raw-count "
            "layer (layer=...), or declare x_kind='log-normalized'."
        )
    return x_kind  # type: ignore[return-value]


def register(
    adata: AnnData,
    *,
    perturbation: str,
    control: str | None,
    dose: str | None = None,
    time: str | None = None,
    covariates: Sequence[str] = (),
    layer: str | None = None,
    x_kind: Literal["auto", "counts", "log-normalized", "continuous"] = "auto",
) -> Registry:
    """Check ``adata`` and describe its layout in a :class:`Registry`.

    Parameters
    ----------
    adata
        Cells (or wells) × genes (or features).
    perturbation
        obs column with the perturbation of each cell: ``"A"``, ``"A+B"`` for combinations, or a
        list of names; control cells carry the ``control`` label.
    control
        The control label in the perturbation column, or ``None`` when the values are already
        relative to control (e.g. signatures or synergy scores) and there are no control rows.
    dose
        obs column with doses: a number, or one number per component joined by ``"+"``
        (``"1+0.5"``). Without it, every component has dose 1.
    time
        obs column with a numeric time (e.g. hours).
    covariates
        obs columns with categorical covariates (cell type, cell line, batch, donor ...).
    layer
        Read values from ``adata.layers[layer]`` instead of ``adata.X``.
    x_kind
        What the values are; ``"auto"`` detects counts (non-negative integers),
        ``"log-normalized"`` (non-negative) or ``"continuous"`` (any sign).

    Returns
    -------
    Registry
        Serialisable description; the AnnData is not modified.

    Examples
    --------
    >>> import anndata as ad, numpy as np, pandas as pd
    >>> obs = pd.DataFrame({"pert": ["ctrl", "A", "A+B"], "dose": ["0", "1", "1+0.5"]},
    ...                    index=["c0", "c1", "c2"])
    >>> reg = register(ad.AnnData(np.ones((3, 2)), obs=obs), perturbation="pert",
    ...                control="ctrl", dose="dose")
    >>> reg.components, reg.conditions
    (('A', 'B'), ('A+B@1+0.5', 'A@1'))
    """
    obs = adata.obs
    if not obs.index.is_unique:
        dup = obs.index[obs.index.duplicated()].unique()[:3].tolist()
        raise RegistrationError(
            f"obs_names are not unique (e.g. {dup}); call adata.obs_names_make_unique() "
            "first so cells can be told apart."
        )
    if not adata.var_names.is_unique:
        dup = adata.var_names[adata.var_names.duplicated()].unique()[:3].tolist()
        raise RegistrationError(
            f"var_names are not unique (e.g. {dup}); call adata.var_names_make_unique() first."
        )
    _require_columns(obs, [perturbation], what="perturbation")
    if dose is not None:
        _require_columns(obs, [dose], what="dose")
    if time is not None:
        _require_columns(obs, [time], what="time")
    covariates = tuple(covariates)
    if isinstance(covariates, str) or any(not isinstance(c, str) for c in covariates):
        raise RegistrationError("covariates must be a sequence of obs column names.")
    _require_columns(obs, covariates, what="covariate")
    for key in (perturbation, dose, time):
        if key is not None and key in covariates:
            raise RegistrationError(
                f"Column {key!r} is given both as a covariate and as another role."
            )
    if layer is not None and layer not in adata.layers:
        raise RegistrationError(
            f"Layer {layer!r} not found; available layers: {list(adata.layers)}. Pass "
            "layer=None to use adata.X."
        )
    if control is not None:
        labels = obs[perturbation].astype(object)
        if not (labels == control).any():
            top = labels.astype(str).value_counts().index[:8].tolist()
            raise RegistrationError(
                f"Control label {control!r} does not occur in column {perturbation!r} "
                f"(most frequent values: {top}). Pass the label your control cells carry, "
                "or control=None if the data are already relative to control."
            )

    provisional = Registry(perturbation_key=perturbation, control=control, dose_key=dose)
    conds = provisional.parse_frame(obs)
    time_values = _numeric_column(obs, time, allow_nan=False) if time is not None else None

    cov_cats: dict[str, tuple[str, ...]] = {}
    for key in covariates:
        col = obs[key]
        if col.isna().any():
            raise RegistrationError(
                f"Covariate column {key!r} has {int(col.isna().sum())} missing value(s); "
                "fill them (e.g. 'unknown') or drop those cells."
            )
        cats = col.cat.categories if isinstance(col.dtype, pd.CategoricalDtype) else col.unique()
        present = set(col.astype(str))
        cov_cats[key] = tuple(sorted(str(c) for c in cats if str(c) in present))

    where = f"adata.layers[{layer!r}]" if layer is not None else "adata.X"
    matrix = adata.layers[layer] if layer is not None else adata.X
    kind = _check_matrix(matrix, x_kind=x_kind, where=where)

    components = sorted({c for cond in conds for c in cond.components})
    keys = sorted({cond.key for cond in conds if not cond.is_control})
    n_control = sum(cond.is_control for cond in conds)
    summary: dict[str, Any] = {
        "n_obs": int(adata.n_obs),
        "n_vars": int(adata.n_vars),
        "n_control": int(n_control),
        "n_conditions": len(keys),
        "max_components": max((len(c.components) for c in conds), default=1) or 1,
    }
    if time_values is not None:
        summary["time_range"] = [float(time_values.min()), float(time_values.max())]
    source = fingerprint(adata)
    if source:
        summary["source"] = source
    return Registry(
        perturbation_key=perturbation,
        control=control,
        dose_key=dose,
        time_key=time,
        covariate_keys=covariates,
        layer=layer,
        components=tuple(components),
        conditions=tuple(keys),
        covariate_categories=cov_cats,
        var_names=tuple(map(str, adata.var_names)),
        x_kind=kind,
        summary=summary,
    )
