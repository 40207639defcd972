"""A seeded linear-Gaussian multimodal generator whose mutual information is known.

Every sample has a shared latent ``z_s ~ N(0, I)`` and, per modality ``m``, a private latent
``z_m ~ N(0, I)``; the readout is ``x_m = A_m z_s + B_m z_m + noise * eps``. The joint
covariance of all readouts is then known, and so is the mutual information between any two
readouts and between a readout and ``z_s``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from itertools import combinations
from types import MappingProxyType

import numpy as np
import pandas as pd
from anndata import AnnData

from ..metrics import gaussian_mi_from_covariance
from ._multimodal import MultiModalData

__all__ = ["MultiModalTruth", "synthetic_multimodal"]

_DEFAULT_DIMS: Mapping[str, int] = MappingProxyType({"rna": 60, "morphology": 40})


@dataclass(frozen=True, kw_only=True)
class MultiModalTruth:
    """The parameters and latents behind :func:`synthetic_multimodal`, and its exact MI.

    Attributes
    ----------
    modalities
        Modality names, in order.
    loadings_shared, loadings_private
        Modality → ``A_m`` ``(d_m, shared_dim)`` and ``B_m`` ``(d_m, private_dim)``.
    noise
        Standard deviation of the isotropic observation noise.
    z_shared
        ``(n_samples, shared_dim)`` shared latents, rows in :attr:`MultiModalData.ids` order.
    z_private
        Modality → ``(n_samples, private_dim)`` private latents.
    mi
        ``(a, b)`` → I(x_a; x_b) in nats, for every pair in modality order (see
        :meth:`mi_between` for either order).
    mi_shared
        Modality → I(x_m; z_shared) in nats.
    components
        Component names (empty without perturbations).
    effects_shared
        ``(n_components, shared_dim)`` latent effect of each component in the shared space.
    effects_private
        Modality → ``(n_components, private_dim)`` effects in each private space.
    """

    modalities: tuple[str, ...]
    loadings_shared: Mapping[str, np.ndarray]
    loadings_private: Mapping[str, np.ndarray]
    noise: float
    z_shared: np.ndarray
    z_private: Mapping[str, np.ndarray]
    mi: Mapping[tuple[str, str], float]
    mi_shared: Mapping[str, float]
    components: tuple[str, ...] = ()
    effects_shared: np.ndarray | None = None
    effects_private: Mapping[str, np.ndarray] | None = None

    def covariance(self, a: str, b: str) -> np.ndarray:
        """The population covariance block ``Cov(x_a, x_b)``."""
        for m in (a, b):
            if m not in self.loadings_shared:
                raise KeyError(f"No modality {m!r}; the modalities are {list(self.modalities)}.")
        cov = self.loadings_shared[a] @ self.loadings_shared[b].T
        if a == b:
            bp = self.loadings_private[a]
            cov = cov + bp @ bp.T + self.noise**2 * np.eye(bp.shape[0])
        return cov

    def mi_between(self, a: str, b: str) -> float:
        """I(x_a; x_b) in nats (symmetric)."""
        if (a, b) in self.mi:
            return self.mi[(a, b)]
        if (b, a) in self.mi:
            return self.mi[(b, a)]
        raise KeyError(
            f"No modality pair ({a!r}, {b!r}); the modalities are {list(self.modalities)}."
        )


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ValueError(msg)


def _conditions(
    n_samples: int, n_components: int, rng: np.random.Generator
) -> tuple[list[str], list[tuple[int, ...]]]:
    """Every single plus every pair of components; each sample is one of them."""
    width = max(2, len(str(n_components - 1)))
    names = [f"C{i:0{width}d}" for i in range(n_components)]
    conds = [(i,) for i in range(n_components)] + list(combinations(range(n_components), 2))
    _check(
        n_samples >= n_components,
        f"n_samples={n_samples} < n_components={n_components}: every single must be a "
        "sample. Raise n_samples or lower n_components.",
    )
    if n_samples >= len(conds):
        picks = np.concatenate(
            [np.arange(len(conds)), rng.integers(0, len(conds), n_samples - len(conds))]
        )
    else:
        pairs = n_components + rng.choice(
            len(conds) - n_components, n_samples - n_components, replace=False
        )
        picks = np.concatenate([np.arange(n_components), pairs])
    picks = picks[rng.permutation(n_samples)]
    return names, [conds[p] for p in picks]


def synthetic_multimodal(
    *,
    n_samples: int = 400,
    dims: Mapping[str, int] = _DEFAULT_DIMS,
    shared_dim: int = 3,
    private_dim: int = 2,
    noise: float = 0.3,
    missing: float = 0.0,
    n_components: int = 0,
    effect_fraction: float = 0.5,
    seed: int = 0,
) -> tuple[MultiModalData, MultiModalTruth]:
    """Draw a linear-Gaussian multimodal dataset with known mutual information.

    Parameters
    ----------
    n_samples
        Number of sample ids.
    dims
        Modality name → number of features.
    shared_dim, private_dim
        Sizes of the shared latent and of each modality's private latent (``private_dim`` may
        be 0).
    noise
        Standard deviation of the observation noise.
    missing
        Fraction of samples dropped from each modality after the first (independently per
        modality); the first modality keeps every sample, so no sample is unobserved.
    n_components
        ``0``: ids are plain samples (perturbation ``"S0000"``...). ``> 0``: each id is a
        condition made of one or two components ``"C00"``... (every single at least once,
        pairs for the rest, replicates once all conditions are used); a condition's latent
        is the sum of its components' effects (in the shared and every private space) plus a
        per-sample residual.
    effect_fraction
        With perturbations, the share of the latent variance (averaged over samples) that the
        component effects explain; the rest is the residual. The latents have covariance
        ``I`` either way.
    seed
        Seed of everything drawn.

    Returns
    -------
    data, truth
        The :class:`MultiModalData` (features ``"<modality>_<j>"``, ``dose`` 1) and the
        :class:`MultiModalTruth`.

    Examples
    --------
    >>> data, truth = synthetic_multimodal(n_samples=50, seed=0)
    >>> data.modalities, round(truth.mi_between("rna", "morphology"), 2) > 0
    (('rna', 'morphology'), True)
    """
    _check(int(n_samples) >= 2, f"n_samples must be >= 2; got {n_samples}.")
    _check(len(dims) >= 2, f"dims needs at least two modalities; got {dict(dims)}.")
    for name, d in dims.items():
        _check(isinstance(name, str), f"Modality names must be str; got {name!r}.")
        _check(int(d) >= 1, f"dims[{name!r}] must be >= 1; got {d}.")
    _check(int(shared_dim) >= 1, f"shared_dim must be >= 1; got {shared_dim}.")
    _check(int(private_dim) >= 0, f"private_dim must be >= 0; got {private_dim}.")
    _check(noise > 0, f"noise must be > 0 (it keeps covariances invertible); got {noise}.")
    _check(0 <= missing < 1, f"missing must be in [0, 1); got {missing}.")
    _check(int(n_components) >= 0, f"n_components must be >= 0; got {n_components}.")
    _check(0 < effect_fraction < 1, f"effect_fraction must be in (0, 1); got {effect_fraction}.")
    rng = np.random.default_rng(seed)
    names = tuple(dims)
    n, s, p = int(n_samples), int(shared_dim), int(private_dim)
    n_drop = round(missing * n)
    _check(
        n_drop < n,
        f"missing={missing} drops all {n} samples from a modality; lower missing.",
    )
    # loadings scaled so every feature's latent variance is ~1, whatever the latent sizes
    scale = 1.0 / np.sqrt(s + p)
    a_load = {m: rng.normal(0, scale, (int(dims[m]), s)) for m in names}
    b_load = {m: rng.normal(0, scale, (int(dims[m]), p)) for m in names}

    comp_names: tuple[str, ...] = ()
    eff_s, eff_p = None, None
    if n_components:
        comp_list, conds = _conditions(n, int(n_components), rng)
        comp_names = tuple(comp_list)
        sizes = np.array([len(c) for c in conds])
        # effect variance so that the effects explain effect_fraction of a sample's variance
        tau2 = effect_fraction / sizes.mean()
        _check(
            tau2 * sizes.max() < 1,
            f"effect_fraction={effect_fraction} is too large for these conditions (mean "
            f"{sizes.mean():.2f} components): a pair's effects would exceed its whole latent "
            "variance. Lower effect_fraction.",
        )
        resid = np.sqrt(1 - tau2 * sizes)[:, None]
        member = np.zeros((n, int(n_components)))
        for i, c in enumerate(conds):
            member[i, list(c)] = 1.0
        eff_s = rng.normal(0, np.sqrt(tau2), (int(n_components), s))
        eff_p = {m: rng.normal(0, np.sqrt(tau2), (int(n_components), p)) for m in names}
        z_s = member @ eff_s + resid * rng.normal(size=(n, s))
        z_p = {m: member @ eff_p[m] + resid * rng.normal(size=(n, p)) for m in names}
        perts = ["+".join(comp_names[j] for j in c) for c in conds]
        doses = ["+".join("1" for _ in c) for c in conds]
    else:
        z_s = rng.normal(size=(n, s))
        z_p = {m: rng.normal(size=(n, p)) for m in names}
        perts = [f"S{i:04d}" for i in range(n)]
        doses = ["1"] * n
    ids = [f"s{i:04d}" for i in range(n)]

    mods = {}
    for k, m in enumerate(names):
        x = z_s @ a_load[m].T + z_p[m] @ b_load[m].T + noise * rng.normal(size=(n, int(dims[m])))
        keep = np.ones(n, dtype=bool)
        if k > 0 and missing > 0:
            keep[rng.choice(n, n_drop, replace=False)] = False
        obs = pd.DataFrame(
            {
                "perturbation": np.asarray(perts, dtype=object)[keep],
                "dose": np.asarray(doses, dtype=object)[keep],
            },
            index=pd.Index(np.asarray(ids, dtype=object)[keep]),
        )
        var = pd.DataFrame(index=[f"{m}_{j}" for j in range(int(dims[m]))])
        mods[m] = AnnData(x[keep].astype(np.float32), obs=obs, var=var)
    data = MultiModalData.from_anndatas(mods, perturbation="perturbation", dose="dose")

    def cov(a: str, b: str) -> np.ndarray:
        c = a_load[a] @ a_load[b].T
        if a == b:
            c = c + b_load[a] @ b_load[a].T + noise**2 * np.eye(int(dims[a]))
        return c

    mi = {}
    for a, b in combinations(names, 2):
        joint = np.block([[cov(a, a), cov(a, b)], [cov(b, a), cov(b, b)]])
        mi[(a, b)] = gaussian_mi_from_covariance(joint, int(dims[a]))
    mi_shared = {}
    for m in names:
        joint = np.block([[cov(m, m), a_load[m]], [a_load[m].T, np.eye(s)]])
        mi_shared[m] = gaussian_mi_from_covariance(joint, int(dims[m]))

    truth = MultiModalTruth(
        modalities=names,
        loadings_shared=MappingProxyType(a_load),
        loadings_private=MappingProxyType(b_load),
        noise=float(noise),
        z_shared=z_s,
        z_private=MappingProxyType(z_p),
        mi=MappingProxyType(mi),
        mi_shared=MappingProxyType(mi_shared),
        components=comp_names,
        effects_shared=eff_s,
        effects_private=None if eff_p is None else MappingProxyType(eff_p),
    )
    return data, truth
