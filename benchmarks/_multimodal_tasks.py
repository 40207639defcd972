"""The model configurations and the fitting tasks of ``run_multimodal.py``: cross-modal
prediction on CMEA, a second modality on CMEA, and leave-one-pair-out on CellBox."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

from phenocast.metrics import pearson_rows
from phenocast.models import CrossModalRidge

Z80 = 1.2815515655446004  # two-sided 80 % normal interval
N_PCS = 5
DIRECTIONS = [("l1000", "cellpainting"), ("cellpainting", "l1000")]


def model_config(variant: str = "main") -> Any:
    """The benchmark's model configurations (see ``CFG_TEXT``)."""
    from phenocast.multimodal import MultiModalConfig, MultiModalTrainConfig

    if variant == "diagonal":  # the first run's configuration: no private latents
        return MultiModalConfig(
            latent_dim=8,
            hidden=(32,),
            dropout=0.0,
            private_dim=0,
            n_samples=100,
            train=MultiModalTrainConfig(max_epochs=400, patience=40, lr=5e-3, seed=0),
        )
    train = MultiModalTrainConfig(max_epochs=2000, patience=100, lr=1e-3, seed=0)
    if variant == "linear":  # linear encoders and decoders, latent sizes of the generator
        return MultiModalConfig(
            latent_dim=4, hidden=(), dropout=0.0, private_dim=2, n_samples=100, train=train
        )
    return MultiModalConfig(
        latent_dim=8, hidden=(32,), dropout=0.0, private_dim=4, n_samples=100, train=train
    )


# candidates of `model (inner-selected)`, fixed before it was first run
INNER_CANDIDATES = {
    "model": {},
    "dropout 0.2": {"dropout": 0.2},
    "latent 4": {"latent_dim": 4},
    "linear": {"hidden": ()},
}

CFG_TEXT = (
    "`model`: MultiModalConfig(latent_dim=8, hidden=(32,), dropout=0, private_dim=4, "
    "joint='mopoe', beta=1, conditional prior with sigmoid dose response, n_samples=100; AdamW "
    "lr 1e-3, batch 32, ≤ 2000 epochs, early stopping on 15 % of the training rows with "
    "patience 100, seed 0). `model (no private latents)`: the first run's configuration, "
    "private_dim=0, lr 5e-3, ≤ 400 epochs, patience 40. `model (linear)`, synthetic task only: "
    "hidden=(), latent_dim=4, private_dim=2 (the generator's sizes are 3 and 2), training as "
    "`model`"
)

SYNTHETIC_MODELS = {
    "model": "main",
    "model (linear)": "linear",
    "model (no private latents)": "diagonal",
}

# the held-out pair's phenotypes predicted from its measured proteins
CROSS = (
    "ridge from measured proteins",
    "model from measured proteins",
    "model from measured proteins + perturbation prior",
)


def fit(data: Any, variant: str = "main", **change: Any) -> Any:
    """A ``MultiModalModel`` of ``variant`` (with ``change`` to its config) fitted on ``data``."""
    from phenocast.multimodal import MultiModalModel

    return MultiModalModel(dataclasses.replace(model_config(variant), **change)).fit(data)


def predicted(model: Any, data: Any, source: str, target: str) -> np.ndarray:
    return model.predict_modality(data, source=source, target=target)[0].to_numpy()


def ridge(xs: np.ndarray, ys: np.ndarray, xt: np.ndarray) -> tuple[np.ndarray, float]:
    model = CrossModalRidge().fit(xs, ys)
    return model.predict(xt), float(model.alpha_)


def mean_nan(x: Any) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


def rebuild(data: Any, matrices: dict[str, np.ndarray]) -> Any:
    """A MultiModalData with the same ids and conditions and the given ``(n_ids, d)`` matrices
    (NaN rows unobserved), feature names taken from ``data``."""
    import anndata as ad
    import pandas as pd

    from phenocast.multimodal import MultiModalData

    conds = data.conditions
    mods = {}
    for m, x in matrices.items():
        keep = np.isfinite(x).all(1)
        obs = pd.DataFrame(
            {
                "perturbation": [c.perturbation for c in conds[keep]],
                "dose": [c.dose for c in conds[keep]],
            },
            index=data.ids[keep],
        )
        var = pd.DataFrame(index=data.feature_names(m))
        mods[m] = ad.AnnData(x[keep].astype(np.float32), obs=obs, var=var)
    return MultiModalData.from_anndatas(mods)


def load_arrays(
    name: str, mods: tuple[str, ...]
) -> tuple[Any, dict[str, np.ndarray], dict[str, int]]:
    """The dataset, its ``mods`` matrices as float64 and each id's row."""
    from phenocast.multimodal import load

    data = load(name)
    x = {m: data.matrix(m).astype(np.float64) for m in mods}
    return data, x, {sid: i for i, sid in enumerate(data.ids)}


# ---------------------------------------------------------------------- (a) CMEA
def select_config(train: Any) -> tuple[str, dict[str, float]]:
    """The candidate with the best mean per-feature r over both directions on an inner split
    of the training compounds (a quarter held out, ``folds(4, seed=1)[0]``); nothing outside
    ``train`` is used."""
    inner = train.folds(4, seed=1)[0]
    fit_on, score_on = train.subset(inner.train), train.subset(inner.test)
    scores = {}
    for name, change in INNER_CANDIDATES.items():
        model = fit(fit_on, **change)
        rs = [
            mean_nan(pearson_rows(predicted(model, score_on, s, t).T, score_on.matrix(t).T))
            for s, t in DIRECTIONS
        ]
        scores[name] = float(np.mean(rs))
    return max(scores, key=lambda k: scores[k]), scores


CMEA_MODELS = (
    "no-change",
    "mean",
    "ridge",
    "model",
    "model (no private latents)",
    "model (inner-selected)",
    "ridge-shuffled",
    "model-shuffled",
)


def run_cmea(log: Any) -> dict[str, Any]:
    data, x, pos = load_arrays("cmea_cdrp_u2os", ("l1000", "cellpainting"))
    oof = {d: {k: np.full_like(x[d[1]], np.nan) for k in CMEA_MODELS} for d in DIRECTIONS}
    pcs: dict[Any, dict[str, list[float]]] = {d: {k: [] for k in CMEA_MODELS} for d in DIRECTIONS}
    alphas: dict[str, list[float]] = {f"{s}->{t}": [] for s, t in DIRECTIONS}
    chosen: list[dict[str, Any]] = []
    for k, split in enumerate(data.folds(5, seed=0)):
        tr = np.array([pos[i] for i in split.train])
        te = np.array([pos[i] for i in split.test])
        perm = np.random.default_rng(0).permutation(len(tr))
        train, test = data.subset(split.train), data.subset(split.test)
        shuffled = rebuild(
            train, {"l1000": x["l1000"][tr], "cellpainting": x["cellpainting"][tr][perm]}
        )
        models = {"model": fit(train), "model (no private latents)": fit(train, "diagonal")}
        models["model-shuffled"] = fit(shuffled)
        pick, inner_scores = select_config(train)
        chosen.append({"fold": k, "chosen": pick, "inner_per_feature_r": inner_scores})
        models["model (inner-selected)"] = fit(train, **INNER_CANDIDATES[pick])
        for s, t in DIRECTIONS:
            d = (s, t)
            pred = {
                "no-change": np.zeros((len(te), x[t].shape[1])),
                "mean": np.broadcast_to(x[t][tr].mean(0), (len(te), x[t].shape[1])),
            }
            pred["ridge"], alpha = ridge(x[s][tr], x[t][tr], x[s][te])
            alphas[f"{s}->{t}"].append(alpha)
            pred["ridge-shuffled"], _ = ridge(x[s][tr], x[t][tr][perm], x[s][te])
            for name in ("model", "model (no private latents)", "model (inner-selected)"):
                pred[name] = predicted(models[name], test, s, t)
            pred["model-shuffled"] = predicted(models["model-shuffled"], test, s, t)
            # top PCs of the target, fitted on the training fold, scored within the fold
            centre = x[t][tr].mean(0)
            _, _, vt = np.linalg.svd(x[t][tr] - centre, full_matrices=False)
            basis = vt[:N_PCS].T
            truth_pc = (x[t][te] - centre) @ basis
            for name, p in pred.items():
                oof[d][name][te] = p
                pcs[d][name].append(mean_nan(pearson_rows(((p - centre) @ basis).T, truth_pc.T)))
        log(f"cmea fold {k}: done")
    out: dict[str, Any] = {"n_compounds": len(data), "ridge_alpha": alphas}
    out |= {"inner_selection": chosen, "directions": {}}
    for s, t in DIRECTIONS:
        truth = x[t]
        out["directions"][f"{s}->{t}"] = {
            name: _scores(oof[(s, t)][name], truth) | {"top5_pc_r": mean_nan(pcs[(s, t)][name])}
            for name in CMEA_MODELS
        }
    return out


def _scores(p: np.ndarray, truth: np.ndarray) -> dict[str, float]:
    return {
        "mse": float(np.mean((p - truth) ** 2)),
        "per_feature_r": mean_nan(pearson_rows(p.T, truth.T)),
        "per_compound_r": mean_nan(pearson_rows(p, truth)),
    }


def run_cmea_half(log: Any) -> dict[str, Any]:
    """(c) on CMEA: half of each training fold paired, the rest split into l1000-only and
    cellpainting-only compounds; the model fitted on the paired half alone vs on all of it."""
    data, x, pos = load_arrays("cmea_cdrp_u2os", ("l1000", "cellpainting"))
    variants = ("paired half only", "paired half + unpaired rest")
    oof = {(d, v): np.full_like(x[d[1]], np.nan) for d in DIRECTIONS for v in variants}
    for split in data.folds(5, seed=0):
        tr = np.array([pos[i] for i in split.train])
        order = np.random.default_rng(0).permutation(len(tr))
        half = len(tr) // 2
        paired, rest = tr[order[:half]], tr[order[half:]]
        only = {"l1000": rest[: len(rest) // 2], "cellpainting": rest[len(rest) // 2 :]}
        full = {}
        for m in ("l1000", "cellpainting"):
            full[m] = np.full_like(x[m], np.nan)
            full[m][paired] = x[m][paired]
            full[m][only[m]] = x[m][only[m]]
        sub_all = rebuild(data, full).subset([data.ids[i] for i in tr])
        sub_half = data.subset([data.ids[i] for i in paired])
        test, te = data.subset(list(split.test)), np.array([pos[i] for i in split.test])
        fitted = {variants[0]: fit(sub_half), variants[1]: fit(sub_all)}
        for s, t in DIRECTIONS:
            for v, model in fitted.items():
                oof[((s, t), v)][te] = predicted(model, test, s, t)
    log("cmea half-paired: done")
    out: dict[str, Any] = {}
    for s, t in DIRECTIONS:
        for v in variants:
            r = _scores(oof[((s, t), v)], x[t])
            out[f"{s}->{t}|{v}"] = {k: r[k] for k in ("per_feature_r", "per_compound_r", "mse")}
    return out
