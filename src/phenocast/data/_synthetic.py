"""Seeded synthetic perturbation data with a known ground truth."""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from itertools import product
from typing import Any, Literal

import anndata as ad
import numpy as np
import pandas as pd

__all__ = ["INTERACTION_KINDS", "SyntheticTruth", "expected_profile", "synthetic"]

INTERACTION_KINDS = ("additive", "synergistic", "buffering", "neomorphic")
_OUTPUTS = ("counts", "log-normalized")
_CONTROL = "control"
_TARGET_SUM = 1e4
_LIBRARY_SD = 0.3  # log-normal spread of per-cell library sizes
_N_NODES = 1024  # latent-noise integration nodes for the expected profiles


def _softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


@lru_cache(maxsize=8)
def _latent_nodes(k: int) -> np.ndarray:
    """Fixed antithetic standard-normal draws used to integrate the basal latent noise."""
    z = np.random.default_rng(20240607).standard_normal((_N_NODES // 2, k))
    out = np.concatenate([z, -z])
    out.flags.writeable = False
    return out


@dataclass(frozen=True)
class SyntheticTruth:
    """Parsed ground truth of a :func:`synthetic` dataset (``adata.uns["ground_truth"]``)."""

    perturbations: list[str]
    cell_types: list[str]
    effects: np.ndarray  # (n_perturbations, n_genes), log fold change of the rates
    ec50: np.ndarray
    hill: np.ndarray
    dose_response: bool
    gains: np.ndarray  # (n_cell_types, n_perturbations)
    basal_log_rate: np.ndarray  # (n_cell_types, n_genes)
    latent_loadings: np.ndarray  # (n_genes, latent_dim)
    basal_noise: float
    library_size: float
    dispersion: float
    combo_kind: dict[frozenset[str], str]
    combo_magnitude: dict[frozenset[str], float]
    combo_vector: dict[frozenset[str], np.ndarray]

    @classmethod
    def from_uns(cls, truth: Mapping[str, Any]) -> SyntheticTruth:
        """Build from the (possibly h5ad round-tripped) ``uns["ground_truth"]`` mapping."""
        combos = truth["combinations"]
        names = [str(n) for n in np.atleast_1d(np.asarray(combos["name"], dtype=object))]
        keys = [frozenset(n.split("+")) for n in names]
        kinds = [str(k) for k in np.atleast_1d(np.asarray(combos["kind"], dtype=object))]
        mags = np.asarray(combos["magnitude"], dtype=float).reshape(-1)
        n_genes = np.shape(truth["effects"])[1]
        vecs = np.asarray(combos["interaction"], dtype=float).reshape(len(names), n_genes)
        return cls(
            perturbations=[str(p) for p in np.asarray(truth["perturbations"], dtype=object)],
            cell_types=[str(c) for c in np.asarray(truth["cell_types"], dtype=object)],
            effects=np.asarray(truth["effects"], dtype=float),
            ec50=np.asarray(truth["ec50"], dtype=float),
            hill=np.asarray(truth["hill"], dtype=float),
            dose_response=bool(np.asarray(truth["dose_response"])),
            gains=np.asarray(truth["gains"], dtype=float),
            basal_log_rate=np.asarray(truth["basal_log_rate"], dtype=float),
            latent_loadings=np.asarray(truth["latent_loadings"], dtype=float),
            basal_noise=float(np.asarray(truth["basal_noise"])),
            library_size=float(np.asarray(truth["library_size"])),
            dispersion=float(np.asarray(truth["dispersion"])),
            combo_kind=dict(zip(keys, kinds, strict=True)),
            combo_magnitude=dict(zip(keys, mags.tolist(), strict=True)),
            combo_vector=dict(zip(keys, vecs, strict=True)),
        )

    def scale(self, p: int, dose: float) -> float:
        """Dose-response scale ``s_p(d)`` in [0, 1] (Hill equation; 1 for genetic data)."""
        if dose <= 0:
            return 0.0
        if not self.dose_response:
            return 1.0
        return float(1.0 / (1.0 + (self.ec50[p] / dose) ** self.hill[p]))

    def log_rate(self, components: Sequence[str], doses: Sequence[float], t: int) -> np.ndarray:
        """Noise-free log-rate of a condition (additive effects plus recorded interactions)."""
        idx = [self.perturbations.index(c) for c in components]
        s = [self.scale(p, d) for p, d in zip(idx, doses, strict=True)]
        g = self.gains[t, idx]
        eta = self.basal_log_rate[t].copy()
        for p, si, gi in zip(idx, s, g, strict=True):
            eta += gi * si * self.effects[p]
        for i in range(len(idx)):
            for j in range(i + 1, len(idx)):
                key = frozenset((components[i], components[j]))
                kind = self.combo_kind.get(key, "additive")
                if kind in ("synergistic", "buffering"):
                    both = g[i] * self.effects[idx[i]] + g[j] * self.effects[idx[j]]
                    eta += s[i] * s[j] * self.combo_magnitude[key] * both
                elif kind == "neomorphic":
                    eta += s[i] * s[j] * np.sqrt(g[i] * g[j]) * self.combo_vector[key]
        return eta

    def expected_log_normalized(self, eta: np.ndarray) -> np.ndarray:
        """``E[log1p(1e4 x / sum(x))]`` of cells whose noise-free log-rate is ``eta``.

        The basal latent noise is integrated with fixed antithetic draws, the library-size and
        negative-binomial noise with a second-order (delta-method) expansion of ``log1p``.
        """
        W = self.latent_loadings
        q = _softmax(eta + self.basal_noise * _latent_nodes(W.shape[1]) @ W.T)
        m = _TARGET_SUM * q
        lib_term = np.exp(_LIBRARY_SD**2) / self.library_size
        var = _TARGET_SUM**2 * (q * lib_term + self.dispersion * q**2)
        return (np.log1p(m) - var / (2.0 * (1.0 + m) ** 2)).mean(axis=0)

    def profile(self, components: Sequence[str], doses: Sequence[float], t: int) -> np.ndarray:
        """Expected mean log-normalized profile of a condition."""
        return self.expected_log_normalized(self.log_rate(components, doses, t))


def _check(ok: bool, msg: str) -> None:
    if not ok:
        raise ValueError(msg)


def _n_perturbed_conditions(
    n_perturbations: int,
    combinations: int | Sequence[str] | Mapping[str, str] | None,
    doses: Sequence[float] | None,
    combination_doses: str,
) -> int:
    """Perturbed conditions per cell type the generator makes with these settings."""
    n_doses = 1 if doses is None else len(doses)
    if combinations is None:
        n_pairs = min(4, n_perturbations * (n_perturbations - 1) // 2)
    elif isinstance(combinations, int):
        n_pairs = int(combinations)
    else:
        n_pairs = len(combinations)
    per_pair = n_doses**2 if combination_doses == "grid" else n_doses
    return n_perturbations * n_doses + n_pairs * per_pair


def _cells_per_condition(
    n_cells: int, *, n_cell_types: int, n_conditions: int, n_controls: int | None
) -> int:
    """Cells per perturbed condition that make about ``n_cells`` in all."""
    if n_controls is None:  # controls are 2 x cells_per_condition per cell type
        return max(1, round(n_cells / (n_cell_types * (n_conditions + 2))))
    left = n_cells - n_cell_types * n_controls
    return max(1, round(left / max(n_cell_types * n_conditions, 1)))


def _parse_combinations(
    combinations: int | Sequence[str] | Mapping[str, str],
    names: list[str],
    rng: np.random.Generator,
    fraction: float,
    kinds: Sequence[str],
) -> tuple[list[tuple[str, str]], list[str]]:
    n_pert = len(names)
    if isinstance(combinations, (int, np.integer)) and not isinstance(combinations, bool):
        n_max = n_pert * (n_pert - 1) // 2
        _check(
            0 <= combinations <= n_max,
            f"combinations={combinations} must be between 0 and the {n_max} possible pairs "
            f"of {n_pert} perturbations",
        )
        iu = np.triu_indices(n_pert, k=1)
        chosen = np.sort(rng.choice(n_max, size=int(combinations), replace=False))
        pairs = [(names[iu[0][k]], names[iu[1][k]]) for k in chosen]
        given: list[str] | None = None
    elif isinstance(combinations, str):
        raise ValueError("combinations must be an int, a sequence of 'A+B' names or a mapping")
    else:
        items = list(combinations)  # type: ignore[arg-type]
        given = [str(combinations[k]) for k in items] if isinstance(combinations, Mapping) else None
        pairs, seen = [], set()
        for name in items:
            parts = str(name).split("+")
            _check(len(parts) == 2, f"combination {name!r} must name exactly two perturbations")
            unknown = [p for p in parts if p not in names]
            _check(not unknown, f"combination {name!r} names unknown perturbation(s) {unknown}")
            key = frozenset(parts)
            _check(len(key) == 2, f"combination {name!r} repeats a perturbation")
            _check(key not in seen, f"duplicate combination {name!r}")
            seen.add(key)
            pairs.append((parts[0], parts[1]))
    if given is not None:
        bad = [k for k in given if k not in INTERACTION_KINDS]
        _check(not bad, f"unknown interaction kind(s) {bad}; expected one of {INTERACTION_KINDS}")
        return pairs, given
    out = ["additive"] * len(pairs)
    n_int = round(fraction * len(pairs))
    for i, k in enumerate(rng.permutation(len(pairs))[:n_int]):
        out[k] = kinds[i % len(kinds)]
    return pairs, out


def synthetic(
    *,
    n_genes: int = 200,
    n_cell_types: int = 2,
    n_perturbations: int = 8,
    combinations: int | Sequence[str] | Mapping[str, str] | None = None,
    doses: Sequence[float] | None = (0.01, 0.1, 1.0, 10.0),
    combination_doses: Literal["matched", "grid"] = "matched",
    cells_per_condition: int = 50,
    n_controls_per_cell_type: int | None = None,
    output: Literal["counts", "log-normalized"] = "log-normalized",
    latent_dim: int = 10,
    basal_noise: float = 0.5,
    effect_fraction: float = 0.1,
    effect_size: float = 1.0,
    cell_type_gain_sd: float = 0.3,
    interaction_fraction: float = 0.5,
    interaction_strength: float = 1.0,
    interaction_kinds: Sequence[str] = ("synergistic", "buffering"),
    library_size: float = 5000.0,
    dispersion: float = 0.1,
    seed: int | np.random.Generator = 0,
    n_cells: int | None = None,
    out: str | os.PathLike[str] | None = None,
    block: int = 8192,
    overwrite: bool = False,
) -> ad.AnnData:
    r"""Simulate a perturbation screen whose generating parameters are known.

    Generative model (natural-log rates, gene ``g``, cell type ``t``, cell ``i``):

    * **Basal state.** ``eta_t = b + W z_t`` with per-gene baseline ``b ~ N(0, 1.2)``, loadings
      ``W`` (``n_genes x latent_dim``) and a random cell-type latent ``z_t`` of norm
      ``sqrt(latent_dim)``. Every cell adds shared-structure variation
      ``W (basal_noise * u_i)``, ``u_i ~ N(0, I)``.
    * **Single perturbations.** ``Delta_p`` is sparse-ish: a random ``effect_fraction`` of genes
      get ``N(0, effect_size)`` log fold changes, all genes a weak ``N(0, effect_size / 10)``.
      In cell type ``t`` it is scaled by a gain ``g_tp = exp(N(0, cell_type_gain_sd))``.
    * **Dose response.** Hill equation ``s_p(d) = 1 / (1 + (ec50_p / d) ** h_p)``, i.e. a
      sigmoid in ``log10 d`` with slope ``h_p ~ U(0.8, 2.5)`` and ``log10 ec50_p`` uniform over
      the tested dose range. With ``doses=None`` (genetic screen) every dose is ``1`` and
      ``s_p = 1``.
    * **Combinations** ``A+B``: ``g_tA s_A Delta_A + g_tB s_B Delta_B + I_AB`` where
      ``I_AB = s_A s_B k (g_tA Delta_A + g_tB Delta_B)`` with ``k > 0`` (synergistic) or
      ``-1 < k < 0`` (buffering), ``I_AB = s_A s_B sqrt(g_tA g_tB) v_AB`` for a random sparse
      ``v_AB`` (neomorphic), or ``0`` (additive). Untested pairs are additive.
    * **Observation.** ``mu_i = L_i softmax(eta_i)`` with log-normal library size ``L_i``
      (mean ``library_size``); counts are negative binomial (variance ``mu + dispersion mu^2``,
      Poisson if ``dispersion=0``). ``"log-normalized"`` output is ``log1p(1e4 x / sum(x))``
      of the same counts.

    Parameters
    ----------
    n_genes, n_cell_types, n_perturbations
        Sizes; perturbations are named ``P0, P1, ...``, cell types ``T0, ...``, genes ``G0000``.
    combinations
        Number of random pairs (default ``min(4, possible pairs)``), a sequence of ``"A+B"``
        names, or a mapping name -> kind (one of :data:`INTERACTION_KINDS`) to fix the
        interaction types.
    doses
        Tested doses (µM) of every perturbation; ``None`` for a genetic screen (dose ``1``).
    combination_doses
        ``"matched"``: pairs at ``(d, d)`` for each dose; ``"grid"``: all dose pairs.
    cells_per_condition, n_controls_per_cell_type
        Cells per perturbed condition and control cells per cell type (default
        ``2 * cells_per_condition``).
    output
        ``"log-normalized"`` (default) or integer-valued ``"counts"``.
    latent_dim, basal_noise
        Rank of the basal structure and per-cell latent noise scale.
    effect_fraction, effect_size, cell_type_gain_sd
        Effect sparsity, log-fold-change scale and spread of the per-cell-type gains.
    interaction_fraction, interaction_strength, interaction_kinds
        Fraction of sampled pairs with an interaction, its scale and the kinds cycled through.
    library_size, dispersion
        Mean total counts per cell and negative-binomial dispersion.
    seed
        Integer seed or a :class:`numpy.random.Generator` (one integer is drawn from it and
        recorded as ``uns["phenocast"]["seed"]``, so the data can be regenerated).
    n_cells
        Approximate total number of cells: sets ``cells_per_condition`` (controls keep their
        share, ``n_controls_per_cell_type`` or twice a condition's) so the total is close.
    out, block, overwrite
        With ``out`` (``*.h5ad`` or ``*.zarr``), the cells are generated ``block`` at a time
        and written to that file (sparse CSR) as they are made, so data larger than memory
        can be made; the file is returned opened on disk (:func:`phenocast.data.read`). The
        values then depend on ``block`` as well as ``seed`` (the random draws are made block
        by block); with ``n_cells <= block`` they equal the in-memory ones. An existing
        ``out`` is replaced only with ``overwrite``.

    Returns
    -------
    anndata.AnnData
        Dense float32 ``X``; categorical ``obs`` columns ``perturbation`` (``"control"``,
        ``"P3"``, ``"P0+P4"``), ``dose`` (``"0"``, ``"0.1"``, ``"1+0.1"``), ``cell_type``,
        ``condition`` (``perturbation@dose``) and boolean ``is_control``;
        ``uns["phenocast"]`` (dataset, x_kind, control, dose_unit, seed) and
        ``uns["ground_truth"]``: ``perturbations``, ``cell_types``, ``genes``, ``effects`` and
        ``effect_mask`` (perturbations x genes), ``ec50``, ``hill``, ``dose_response``,
        ``gains`` (cell types x perturbations), ``basal_log_rate`` and ``basal_mean`` (cell
        types x genes), ``latent_loadings``, ``combinations`` (``name``, ``kind``,
        ``magnitude`` ``k``, full-dose ``interaction`` vectors), ``condition_means``
        (``cell_type``, ``perturbation``, ``dose``, ``condition`` keys and the ``mean`` matrix
        of expected log-normalized profiles, as :func:`expected_profile`) and the noise
        settings. :class:`SyntheticTruth` parses it.
    """
    for name, val in [
        ("n_genes", n_genes),
        ("n_cell_types", n_cell_types),
        ("n_perturbations", n_perturbations),
        ("cells_per_condition", cells_per_condition),
        ("latent_dim", latent_dim),
    ]:
        _check(int(val) == val and val >= 1, f"{name} must be an integer >= 1, got {val}")
    if n_cells is not None:
        _check(int(n_cells) == n_cells and n_cells >= 1, f"n_cells must be >= 1, got {n_cells}")
        cells_per_condition = _cells_per_condition(
            int(n_cells),
            n_cell_types=int(n_cell_types),
            n_conditions=_n_perturbed_conditions(
                n_perturbations, combinations, doses, combination_doses
            ),
            n_controls=n_controls_per_cell_type,
        )
    n_ctrl = n_controls_per_cell_type
    n_ctrl = 2 * cells_per_condition if n_ctrl is None else n_ctrl
    _check(output in _OUTPUTS, f"output must be one of {_OUTPUTS}, got {output!r}")
    _check(
        combination_doses in ("matched", "grid"),
        f"combination_doses must be 'matched' or 'grid', got {combination_doses!r}",
    )
    checks: list[tuple[str, float, bool, str]] = [
        ("n_controls_per_cell_type", n_ctrl, n_ctrl >= 1, ">= 1"),
        ("basal_noise", basal_noise, basal_noise >= 0, ">= 0"),
        ("effect_size", effect_size, effect_size >= 0, ">= 0"),
        ("cell_type_gain_sd", cell_type_gain_sd, cell_type_gain_sd >= 0, ">= 0"),
        ("interaction_strength", interaction_strength, interaction_strength >= 0, ">= 0"),
        ("dispersion", dispersion, dispersion >= 0, ">= 0"),
        ("effect_fraction", effect_fraction, 0 < effect_fraction <= 1, "in (0, 1]"),
        ("interaction_fraction", interaction_fraction, 0 <= interaction_fraction <= 1, "in [0, 1]"),
        ("library_size", library_size, library_size > 0, "> 0"),
    ]
    for label, value, ok, req in checks:
        _check(ok, f"{label} must be {req}, got {value}")
    bad_kinds = [k for k in interaction_kinds if k not in INTERACTION_KINDS[1:]]
    _check(
        len(interaction_kinds) > 0 and not bad_kinds,
        f"interaction_kinds must be a non-empty subset of {INTERACTION_KINDS[1:]}",
    )
    dose_response = doses is not None
    dose_list = [1.0] if doses is None else [float(d) for d in doses]
    _check(len(dose_list) > 0, "doses must not be empty (use doses=None for genetic screens)")
    _check(all(d > 0 for d in dose_list), f"doses must be positive, got {dose_list}")
    _check(len(set(dose_list)) == len(dose_list), f"doses must be unique, got {dose_list}")
    if isinstance(seed, np.random.Generator):
        seed = int(seed.integers(2**32))
    elif isinstance(seed, bool) or not isinstance(seed, (int, np.integer)):
        raise TypeError(f"seed must be an int or a numpy.random.Generator, got {type(seed)}")
    _check(seed >= 0, f"seed must be >= 0, got {seed}")
    seed = int(seed)
    rng = np.random.default_rng([seed, 0])  # ground truth
    cell_rng = np.random.default_rng([seed, 1])  # cells and counts

    G, T, P, K = int(n_genes), int(n_cell_types), int(n_perturbations), int(latent_dim)
    perts = [f"P{p}" for p in range(P)]
    cell_types = [f"T{t}" for t in range(T)]
    genes = [f"G{g:04d}" for g in range(G)]
    baseline = rng.normal(0.0, 1.2, G)
    W = rng.normal(0.0, 0.6 / np.sqrt(K), (G, K))
    z = rng.standard_normal((T, K))
    z *= np.sqrt(K) / np.linalg.norm(z, axis=1, keepdims=True)  # equally distinct cell types
    basal_log_rate = baseline + z @ W.T
    basal_log_rate -= np.log(np.exp(basal_log_rate).sum(axis=1, keepdims=True))
    mask = rng.random((P, G)) < effect_fraction
    mask[np.arange(P), rng.integers(G, size=P)] = True
    effects = effect_size * (mask * rng.standard_normal((P, G)) + 0.1 * rng.standard_normal((P, G)))
    lo, hi = np.log10(min(dose_list)), np.log10(max(dose_list))
    if hi - lo < 1e-9:
        lo, hi = lo - 1.0, hi + 1.0
    ec50 = 10 ** rng.uniform(lo, hi, P) if dose_response else np.ones(P)
    hill = rng.uniform(0.8, 2.5, P) if dose_response else np.ones(P)
    gains = np.exp(cell_type_gain_sd * rng.standard_normal((T, P)))

    if combinations is None:
        combinations = min(4, P * (P - 1) // 2)
    pairs, kinds = _parse_combinations(
        combinations, perts, rng, interaction_fraction, list(interaction_kinds)
    )
    n_c = len(pairs)
    u = rng.uniform(0.5, 1.0, n_c) * interaction_strength
    neo = (
        effect_size
        * interaction_strength
        * ((rng.random((n_c, G)) < effect_fraction) * rng.standard_normal((n_c, G)))
    )
    mags, vecs = np.zeros(n_c), np.zeros((n_c, G))
    for k, ((a, b), kind) in enumerate(zip(pairs, kinds, strict=True)):
        both = effects[perts.index(a)] + effects[perts.index(b)]
        if kind == "synergistic":
            mags[k], vecs[k] = u[k], u[k] * both
        elif kind == "buffering":
            mags[k] = -(1.0 - np.exp(-u[k]))
            vecs[k] = mags[k] * both
        elif kind == "neomorphic":
            mags[k], vecs[k] = interaction_strength, neo[k]

    truth: dict[str, Any] = {
        "perturbations": np.array(perts, dtype=str),
        "cell_types": np.array(cell_types, dtype=str),
        "genes": np.array(genes, dtype=str),
        "effects": effects,
        "effect_mask": mask,
        "ec50": ec50,
        "hill": hill,
        "dose_response": np.bool_(dose_response),
        "gains": gains,
        "basal_log_rate": basal_log_rate,
        "latent_loadings": W,
        "combinations": {
            "name": np.array([f"{a}+{b}" for a, b in pairs], dtype=object).astype(str),
            "kind": np.array(kinds, dtype=object).astype(str),
            "magnitude": mags,
            "interaction": vecs,
        },
        "basal_noise": float(basal_noise),
        "library_size": float(library_size),
        "dispersion": float(dispersion),
        "target_sum": _TARGET_SUM,
    }
    model = SyntheticTruth.from_uns(truth)

    conds: list[tuple[int, tuple[str, ...], tuple[float, ...], int]] = []
    for t in range(T):
        conds.append((t, (), (), n_ctrl))
        conds += [(t, (p,), (d,), cells_per_condition) for p in perts for d in dose_list]
        for a, b in pairs:
            dd = (
                product(dose_list, dose_list)
                if combination_doses == "grid"
                else zip(dose_list, dose_list, strict=True)
            )
            conds += [(t, (a, b), tuple(ds), cells_per_condition) for ds in dd]
    c_pert = [("+".join(c) or _CONTROL) for _, c, _, _ in conds]
    c_dose = [("+".join(f"{d:g}" for d in ds) or "0") for _, _, ds, _ in conds]
    c_type = [cell_types[t] for t, _, _, _ in conds]
    eta_c = np.stack([model.log_rate(c, ds, t) for t, c, ds, _ in conds])
    means = np.stack([model.expected_log_normalized(e) for e in eta_c])
    basal_mean = means[[i for i, (_, c, _, _) in enumerate(conds) if not c]]
    truth["basal_mean"] = basal_mean
    truth["condition_means"] = {
        "cell_type": np.array(c_type, dtype=str),
        "perturbation": np.array(c_pert, dtype=str),
        "dose": np.array(c_dose, dtype=str),
        "condition": np.array([f"{p}@{d}" for p, d in zip(c_pert, c_dose, strict=True)]),
        "mean": means,
    }

    idx = np.repeat(np.arange(len(conds)), [n for *_, n in conds])
    n_cells = idx.size
    pert_col = np.array(c_pert, dtype=object)[idx]
    dose_col = np.array(c_dose, dtype=object)[idx]
    obs = pd.DataFrame(
        {
            "perturbation": pd.Categorical(pert_col),
            "dose": pd.Categorical(dose_col),
            "cell_type": pd.Categorical(np.array(c_type, dtype=object)[idx]),
            "is_control": pert_col == _CONTROL,
            "condition": pd.Categorical(pert_col + "@" + dose_col),
        },
        index=pd.Index([f"cell{i:06d}" for i in range(n_cells)]),
    )
    var = pd.DataFrame(index=pd.Index(genes))
    uns = {
        "phenocast": {
            "dataset": "synthetic",
            "x_kind": output,
            "control": _CONTROL,
            "dose_unit": "uM",
            "seed": seed,
        },
        "ground_truth": truth,
    }

    def cells(rows: np.ndarray) -> np.ndarray:
        """Values of the cells ``rows`` (drawn from ``cell_rng`` in this order)."""
        eta = eta_c[idx[rows]] + (basal_noise * cell_rng.standard_normal((rows.size, K))) @ W.T
        lib = library_size * np.exp(
            _LIBRARY_SD * cell_rng.standard_normal(rows.size) - _LIBRARY_SD**2 / 2
        )
        mu = lib[:, None] * _softmax(eta)
        if dispersion > 0:
            mu = cell_rng.gamma(1.0 / dispersion, dispersion * mu)
        counts = cell_rng.poisson(mu).astype(np.float64)
        if output == "counts":
            return counts.astype(np.float32)
        total = np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
        return np.log1p(counts / total * _TARGET_SUM).astype(np.float32)

    if out is None:
        return ad.AnnData(X=cells(np.arange(n_cells)), obs=obs, var=var, uns=uns)
    return _write_blocks(out, cells, obs, var, uns, block=block, overwrite=overwrite)


def _write_blocks(
    out: str | os.PathLike[str],
    cells: Callable[[np.ndarray], np.ndarray],
    obs: pd.DataFrame,
    var: pd.DataFrame,
    uns: dict[str, Any],
    *,
    block: int,
    overwrite: bool,
) -> ad.AnnData:
    """Generate the cells ``block`` at a time into a sparse on-disk file; open it on disk."""
    import scipy.sparse as sp

    from ._ondisk import MatrixWriter, read

    _check(int(block) == block and block >= 1, f"block must be an integer >= 1, got {block}")
    n = len(obs)
    with MatrixWriter(out, var, sparse=True, overwrite=overwrite) as writer:
        for start in range(0, n, int(block)):
            rows = np.arange(start, min(start + int(block), n))
            writer.append(sp.csr_matrix(cells(rows)), obs.iloc[rows])
        writer.close(uns=uns)
    return read(out)


def expected_profile(
    adata_or_truth: ad.AnnData | Mapping[str, Any],
    perturbation: str,
    dose: str | float | Sequence[float],
    cell_type: str,
) -> np.ndarray:
    """Ground-truth mean log-normalized profile of any condition of a :func:`synthetic` dataset.

    Works for untested doses and untested combinations (additive in log-rate space plus any
    recorded pairwise interaction, see :func:`synthetic`). The value is the expected mean of
    ``log1p(1e4 x / sum(x))`` over cells of the condition: the basal latent noise is integrated
    numerically (fixed draws) and the count noise by a second-order expansion, so observed
    sample means scatter around it with their standard error. For ``"counts"`` data it is the
    mean after that normalisation.

    Parameters
    ----------
    adata_or_truth
        A dataset from :func:`synthetic` or its ``uns["ground_truth"]`` mapping.
    perturbation
        ``"control"``, a perturbation name, or components joined by ``"+"``.
    dose
        ``"1+0.1"``-style string (one dose per component), a number used for all components,
        or a sequence of numbers.
    cell_type
        Cell-type name, e.g. ``"T0"``.

    Returns
    -------
    numpy.ndarray
        Expected profile, shape ``(n_genes,)``.
    """
    truth = adata_or_truth
    if isinstance(truth, ad.AnnData):
        truth = truth.uns["ground_truth"]
    model = SyntheticTruth.from_uns(truth)
    _check(cell_type in model.cell_types, f"unknown cell type {cell_type!r}")
    t = model.cell_types.index(cell_type)
    if perturbation == _CONTROL:
        return model.profile([], [], t)
    comps = perturbation.split("+")
    unknown = [c for c in comps if c not in model.perturbations]
    _check(not unknown, f"unknown perturbation(s) {unknown} in {perturbation!r}")
    _check(len(set(comps)) == len(comps), f"perturbation {perturbation!r} repeats a component")
    if isinstance(dose, str):
        doses = [float(d) for d in dose.split("+")]
    elif np.ndim(dose) > 0:
        doses = [float(d) for d in np.ravel(dose)]
    else:
        doses = [float(dose)] * len(comps)  # type: ignore[arg-type]
    _check(len(doses) == len(comps), f"dose {dose!r} does not match {len(comps)} component(s)")
    _check(all(d >= 0 for d in doses), f"doses must be >= 0, got {doses}")
    return model.profile(comps, doses, t)
