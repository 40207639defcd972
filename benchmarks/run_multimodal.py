"""Multimodal perturbation model (issue 7): cross-modal prediction on CMEA, held-out drug pairs
on CellBox, the value of a second modality, and mutual information on synthetic data.

Tasks (definitions in docs/benchmarks.md, sections ``multimodal-*``):

* ``cmea`` — CMEA CDRP U2OS (163 compounds, L1000 978 genes, Cell Painting 812 features),
  5 folds over compounds (``data.folds(5, seed=0)``), both directions. Models: no-change (0),
  training mean, ridge (standardised inputs, penalty by leave-one-out CV on the training fold),
  ``MultiModalModel`` (also without private latents, and with its regularisation chosen on an
  inner split of the training fold) and ridge / model fitted on a shuffled pairing (target
  rows permuted relative to the source rows in the training fold, ``default_rng(0)``).
* ``cellbox`` — CellBox Korkut 2015 (89 conditions; 82 proteins, 5 phenotypes),
  leave-one-pair-out: the model is fitted without the pair and generates its proteins and
  phenotypes from the perturbation alone. Baselines: additive (sum of the two drugs' single
  profiles, at the pair's concentration when measured, else the nearest in log concentration)
  and no-change.
* ``second`` — the same leave-one-pair-out protein prediction by a model trained on proteins
  only vs on proteins + phenotypes.
* ``synthetic`` — the models' predictive MI estimates (and ``gaussian_mi``) vs the analytic
  MI of ``synthetic_multimodal`` for seeds 0–5.
* ``real-mi`` — ``gaussian_mi`` between the readouts of both real datasets, grouped by
  perturbation.

The configurations are in :func:`_config` and ``CFG_TEXT`` (how they were chosen is stated
in the report). Run ``python benchmarks/run_multimodal.py [--tasks cmea,cellbox,second,
synthetic,real-mi] [--update-readme]``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _readme import check_block, update_block  # benchmarks/ is on sys.path

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("cmea", "cellbox", "second", "synthetic", "real-mi")
Z80 = 1.2815515655446004  # two-sided 80 % normal interval
N_PCS = 5
ALPHAS = tuple(10.0**k for k in np.arange(-1.0, 5.5, 0.5))


def _config(variant: str = "main") -> Any:
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


def select_config(train: Any, directions: list[tuple[str, str]]) -> tuple[str, dict[str, float]]:
    """The candidate with the best mean per-feature r over ``directions`` on an inner split of
    the training compounds (a quarter held out, ``folds(4, seed=1)[0]``); nothing outside
    ``train`` is used."""
    from phenocast.multimodal import MultiModalModel

    inner = train.folds(4, seed=1)[0]
    fit_on, score_on = train.subset(inner.train), train.subset(inner.test)
    scores = {}
    for name, change in INNER_CANDIDATES.items():
        model = MultiModalModel(dataclasses.replace(_config(), **change)).fit(fit_on)
        rs = []
        for s, t in directions:
            pred = model.predict_modality(score_on, source=s, target=t)[0].to_numpy()
            rs.append(_mean_nan(pearson_rows(pred.T, score_on.matrix(t).T)))
        scores[name] = float(np.mean(rs))
    return max(scores, key=lambda k: scores[k]), scores


CFG_TEXT = (
    "`model`: MultiModalConfig(latent_dim=8, hidden=(32,), dropout=0, private_dim=4, "
    "joint='mopoe', beta=1, conditional prior with sigmoid dose response, n_samples=100; AdamW "
    "lr 1e-3, batch 32, ≤ 2000 epochs, early stopping on 15 % of the training rows with "
    "patience 100, seed 0). `model (no private latents)`: the first run's configuration, "
    "private_dim=0, lr 5e-3, ≤ 400 epochs, patience 40. `model (linear)`, synthetic task only: "
    "hidden=(), latent_dim=4, private_dim=2 (the generator's sizes are 3 and 2), training as "
    "`model`"
)


# ---------------------------------------------------------------------- helpers
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


def pearson_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of every row of ``a`` with the same row of ``b`` (NaN if constant)."""
    a = a - a.mean(1, keepdims=True)
    b = b - b.mean(1, keepdims=True)
    den = np.sqrt((a**2).sum(1) * (b**2).sum(1))
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 1e-12, (a * b).sum(1) / np.where(den > 0, den, 1.0), np.nan)


def ridge_predict(xs: np.ndarray, ys: np.ndarray, xt: np.ndarray) -> tuple[np.ndarray, float]:
    from sklearn.linear_model import RidgeCV
    from sklearn.preprocessing import StandardScaler

    scaler = StandardScaler().fit(xs)
    model = RidgeCV(alphas=ALPHAS).fit(scaler.transform(xs), ys)  # efficient leave-one-out
    return model.predict(scaler.transform(xt)), float(model.alpha_)


def _mean_nan(x: Any) -> float:
    x = np.asarray(x, dtype=float)
    return float(np.nanmean(x)) if np.isfinite(x).any() else math.nan


# ---------------------------------------------------------------------- (a) CMEA
def run_cmea(log: Any) -> dict[str, Any]:
    from phenocast.multimodal import MultiModalModel, load

    data = load("cmea_cdrp_u2os")
    mods = ("l1000", "cellpainting")
    x = {m: data.matrix(m).astype(np.float64) for m in mods}
    n = len(data)
    directions = [("l1000", "cellpainting"), ("cellpainting", "l1000")]
    models = (
        "no-change",
        "mean",
        "ridge",
        "model",
        "model (no private latents)",
        "model (inner-selected)",
        "ridge-shuffled",
        "model-shuffled",
    )
    oof = {d: {k: np.full_like(x[d[1]], np.nan) for k in models} for d in directions}
    pcs: dict[Any, dict[str, list[float]]] = {d: {k: [] for k in models} for d in directions}
    alphas: dict[str, list[float]] = {f"{s}->{t}": [] for s, t in directions}
    chosen: list[dict[str, Any]] = []
    pos = {sid: i for i, sid in enumerate(data.ids)}
    for k, split in enumerate(data.folds(5, seed=0)):
        tr = np.array([pos[i] for i in split.train])
        te = np.array([pos[i] for i in split.test])
        perm = np.random.default_rng(0).permutation(len(tr))
        train = data.subset(split.train)
        test = data.subset(split.test)
        shuffled = rebuild(
            train, {"l1000": x["l1000"][tr], "cellpainting": x["cellpainting"][tr][perm]}
        )
        model = MultiModalModel(_config()).fit(train)
        model_d = MultiModalModel(_config("diagonal")).fit(train)
        model_s = MultiModalModel(_config()).fit(shuffled)
        pick, inner_scores = select_config(train, directions)
        chosen.append({"fold": k, "chosen": pick, "inner_per_feature_r": inner_scores})
        model_i = MultiModalModel(dataclasses.replace(_config(), **INNER_CANDIDATES[pick]))
        model_i.fit(train)
        for s, t in directions:
            d = (s, t)
            pred = {
                "no-change": np.zeros((len(te), x[t].shape[1])),
                "mean": np.broadcast_to(x[t][tr].mean(0), (len(te), x[t].shape[1])),
            }
            pred["ridge"], alpha = ridge_predict(x[s][tr], x[t][tr], x[s][te])
            alphas[f"{s}->{t}"].append(alpha)
            pred["ridge-shuffled"], _ = ridge_predict(x[s][tr], x[t][tr][perm], x[s][te])
            pred["model"] = model.predict_modality(test, source=s, target=t)[0].to_numpy()
            pred["model (no private latents)"] = model_d.predict_modality(test, source=s, target=t)[
                0
            ].to_numpy()
            pred["model (inner-selected)"] = model_i.predict_modality(test, source=s, target=t)[
                0
            ].to_numpy()
            pred["model-shuffled"] = model_s.predict_modality(test, source=s, target=t)[
                0
            ].to_numpy()
            # top PCs of the target, fitted on the training fold, scored within the fold
            centre = x[t][tr].mean(0)
            _, _, vt = np.linalg.svd(x[t][tr] - centre, full_matrices=False)
            basis = vt[:N_PCS].T
            truth_pc = (x[t][te] - centre) @ basis
            for name, p in pred.items():
                oof[d][name][te] = p
                r = pearson_rows(((p - centre) @ basis).T, truth_pc.T)
                pcs[d][name].append(_mean_nan(r))
        log(f"cmea fold {k}: done")
    out: dict[str, Any] = {
        "n_compounds": n,
        "ridge_alpha": alphas,
        "inner_selection": chosen,
        "directions": {},
    }
    for s, t in directions:
        d, truth = (s, t), x[t]
        rows = {}
        for name in models:
            p = oof[d][name]
            rows[name] = {
                "mse": float(np.mean((p - truth) ** 2)),
                "per_feature_r": _mean_nan(pearson_rows(p.T, truth.T)),
                "per_compound_r": _mean_nan(pearson_rows(p, truth)),
                "top5_pc_r": _mean_nan(pcs[d][name]),
            }
        out["directions"][f"{s}->{t}"] = rows
    return out


def run_cmea_half(log: Any) -> dict[str, Any]:
    """(c) on CMEA: half of each training fold paired, the rest split into l1000-only and
    cellpainting-only compounds; the model fitted on the paired half alone vs on all of it."""
    from phenocast.multimodal import MultiModalModel, load

    data = load("cmea_cdrp_u2os")
    mods = ("l1000", "cellpainting")
    x = {m: data.matrix(m).astype(np.float64) for m in mods}
    pos = {sid: i for i, sid in enumerate(data.ids)}
    variants = ("paired half only", "paired half + unpaired rest")
    directions = [("l1000", "cellpainting"), ("cellpainting", "l1000")]
    oof = {(d, v): np.full_like(x[d[1]], np.nan) for d in directions for v in variants}
    for split in data.folds(5, seed=0):
        tr = np.array([pos[i] for i in split.train])
        te_ids = list(split.test)
        order = np.random.default_rng(0).permutation(len(tr))
        half = len(tr) // 2
        paired, rest = tr[order[:half]], tr[order[half:]]
        only = {"l1000": rest[: len(rest) // 2], "cellpainting": rest[len(rest) // 2 :]}
        full = {}
        for m in mods:
            mat = np.full_like(x[m], np.nan)
            mat[paired] = x[m][paired]
            mat[only[m]] = x[m][only[m]]
            full[m] = mat
        sub_all = rebuild(data, full).subset([data.ids[i] for i in tr])
        sub_half = data.subset([data.ids[i] for i in paired])
        test = data.subset(te_ids)
        te = np.array([pos[i] for i in te_ids])
        fitted = {
            variants[0]: MultiModalModel(_config()).fit(sub_half),
            variants[1]: MultiModalModel(_config()).fit(sub_all),
        }
        for s, t in directions:
            for v, model in fitted.items():
                oof[((s, t), v)][te] = model.predict_modality(test, source=s, target=t)[
                    0
                ].to_numpy()
    log("cmea half-paired: done")
    out: dict[str, Any] = {}
    for s, t in directions:
        for v in variants:
            p = oof[((s, t), v)]
            out[f"{s}->{t}|{v}"] = {
                "per_feature_r": _mean_nan(pearson_rows(p.T, x[t].T)),
                "per_compound_r": _mean_nan(pearson_rows(p, x[t])),
                "mse": float(np.mean((p - x[t]) ** 2)),
            }
    return out


# ---------------------------------------------------------------------- (b), (c) CellBox
def _additive(data: Any, pair: Any, x: np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Sum of the singles' profiles at the pair's doses (else nearest in log dose)."""
    singles: dict[str, list[tuple[float, int]]] = {}
    for i, c in enumerate(data.conditions):
        if len(c.components) == 1:
            singles.setdefault(c.components[0], []).append((c.doses[0], i))
    total = np.zeros(x.shape[1])
    used = []
    for comp, dose in zip(pair.components, pair.doses, strict=True):
        if comp not in singles:
            raise SystemExit(f"additive baseline: drug {comp!r} has no single-drug condition.")
        dd, i = min(singles[comp], key=lambda s: abs(math.log(s[0]) - math.log(dose)))
        total += x[i]
        used.append("same" if math.isclose(dd, dose) else f"nearest ({dd:g} for {dose:g})")
    return total, used


# the held-out pair's phenotypes predicted from its measured proteins
CROSS = (
    "ridge from measured proteins",
    "model from measured proteins",
    "model from measured proteins + perturbation prior",
)


def run_cellbox(log: Any, *, second: bool, main: bool) -> dict[str, Any]:
    import pandas as pd

    from phenocast.multimodal import MultiModalModel, load

    data = load("cellbox_korkut2015")
    mods = ("proteins", "phenotypes")
    x = {m: data.matrix(m).astype(np.float64) for m in mods}
    pos = {sid: i for i, sid in enumerate(data.ids)}
    conds = data.conditions
    per_pair: list[dict[str, Any]] = []
    dose_use: list[str] = []
    for split in data.leave_one_pair_out():
        te = [pos[i] for i in split.test]
        train = data.subset(split.train)
        frame = pd.DataFrame(
            {
                "perturbation": [conds.iloc[i].perturbation for i in te],
                "dose": [conds.iloc[i].dose for i in te],
            }
        )
        row: dict[str, Any] = {"pair": split.name, "ids": list(split.test)}
        gens: dict[str, Any] = {}
        if main:
            model = MultiModalModel(_config()).fit(train)
            model_d = MultiModalModel(_config("diagonal")).fit(train)
            for m in mods:
                gens[m] = model.generate(frame, target=m)
                gens[f"{m}:diagonal"] = model_d.generate(frame, target=m)
            # the pair's phenotypes from its measured proteins, without / with its prior
            held = data.subset(split.test)
            for key, use in (("from proteins", False), ("from proteins + prior", True)):
                gens[key] = model.predict_modality(
                    held, source="proteins", target="phenotypes", use_perturbation=use
                )
        if second:
            tr = [pos[i] for i in split.train]
            only = rebuild(train, {"proteins": x["proteins"][tr]})
            gens["proteins-only"] = (
                MultiModalModel(_config()).fit(only).generate(frame, target="proteins")
            )
        for m in mods:
            truth = x[m][te]
            add = []
            for i in te:
                prof, used = _additive(data, conds.iloc[i], x[m])
                add.append(prof)
                if m == mods[0]:
                    dose_use.extend(used)
            preds = {"no-change": np.zeros_like(truth), "additive": np.array(add)}
            if main:
                preds["model"] = gens[m][0].to_numpy()
                preds["model (no private latents)"] = gens[f"{m}:diagonal"][0].to_numpy()
            if main and m == "phenotypes":
                tr = [pos[i] for i in split.train]
                preds[CROSS[0]], _ = ridge_predict(
                    x["proteins"][tr], x["phenotypes"][tr], x["proteins"][te]
                )
                preds[CROSS[1]] = gens["from proteins"][0].to_numpy()
                preds[CROSS[2]] = gens["from proteins + prior"][0].to_numpy()
            if second and m == "proteins":
                preds["proteins-only model"] = gens["proteins-only"][0].to_numpy()
            for name, p in preds.items():
                row[f"{m}:{name}:r"] = _mean_nan(pearson_rows(p, truth))
                row[f"{m}:{name}:mse"] = float(np.mean((p - truth) ** 2))
            keys = [("model", m), ("model (no private latents)", f"{m}:diagonal")] if main else []
            if main and m == "phenotypes":
                keys += [(CROSS[1], "from proteins"), (CROSS[2], "from proteins + prior")]
            if second and m == "proteins":
                keys.append(("proteins-only model", "proteins-only"))
            for name, g in keys:
                mean, var = gens[g][0].to_numpy(), gens[g][1].to_numpy()
                row[f"{m}:{name}:cover80"] = float(
                    np.mean(np.abs(truth - mean) <= Z80 * np.sqrt(var))
                )
        per_pair.append(row)
    log(f"cellbox: {len(per_pair)} held-out pairs")
    frame = pd.DataFrame(per_pair)
    summary = {c: float(frame[c].mean()) for c in frame.columns if c not in ("pair", "ids")}
    se = {
        c: float(frame[c].std(ddof=1) / math.sqrt(len(frame)))
        for c in frame.columns
        if c not in ("pair", "ids")
    }
    return {
        "n_pairs": len(per_pair),
        "additive_doses": {k: dose_use.count(k) for k in sorted(set(dose_use))},
        "summary": summary,
        "se": se,
        "per_pair": per_pair,
    }


# ---------------------------------------------------------------------- (d) synthetic MI
SYNTHETIC_SEEDS = (0, 1, 2, 3, 4, 5)  # 0-2 were used while choosing the configuration
SYNTHETIC_MODELS = {
    "model": "main",
    "model (linear)": "linear",
    "model (no private latents)": "diagonal",
}


def run_synthetic(log: Any) -> dict[str, Any]:
    from phenocast.multimodal import MultiModalModel, gaussian_mi, synthetic_multimodal

    rows = []
    for seed in SYNTHETIC_SEEDS:
        data, truth = synthetic_multimodal(
            n_samples=600, dims={"rna": 30, "morphology": 20}, seed=seed
        )
        split = data.folds(3, seed=0)[0]
        train, test = data.subset(split.train), data.subset(split.test)
        true = truth.mi_between("rna", "morphology")
        row: dict[str, Any] = {"seed": seed, "truth": true}
        for name, variant in SYNTHETIC_MODELS.items():
            model = MultiModalModel(_config(variant)).fit(train)
            est = model.mutual_information(test, "rna", "morphology", n_boot=1000, seed=0)
            row[name] = [est.value, est.ci_low, est.ci_high]
            row[f"{name} covers"] = bool(est.ci_low <= true <= est.ci_high)
        g = gaussian_mi(data.matrix("rna"), data.matrix("morphology"), n_boot=200, seed=0)
        row["gaussian"] = [g.value, g.ci_low, g.ci_high]
        row["gaussian covers"] = bool(g.ci_low <= true <= g.ci_high)
        row["gaussian_components"] = list(g.details["n_components"])
        rows.append(row)
        log(f"synthetic seed {seed}: done")
    return {"rows": rows}


REAL_MI = {
    "cmea_cdrp_u2os": ("l1000", "cellpainting"),
    "cellbox_korkut2015": ("proteins", "phenotypes"),
}


def run_real_mi(log: Any) -> dict[str, Any]:
    """gaussian_mi between the two readouts of each real dataset, with its bootstrap interval
    and a permutation p-value (200 shuffled pairings)."""
    from phenocast.multimodal import gaussian_mi, load

    rows = []
    for name, (a, b) in REAL_MI.items():
        data = load(name)
        # dose series of one drug (or drug pair) are one group: folds and bootstrap keep them
        groups = np.array([c.perturbation for c in data.conditions], dtype=object)
        g = gaussian_mi(
            data.matrix(a), data.matrix(b), n_boot=200, n_perm=200, groups=groups, seed=0
        )
        rows.append(
            {
                "dataset": name,
                "pair": f"{a}–{b}",
                "n": g.n,
                "groups": g.details["n_groups"],
                "value": g.value,
                "ci": [g.ci_low, g.ci_high],
                "se": g.se,
                "p_perm": g.details.get("p_value"),
                "components": list(g.details["n_components"]),
            }
        )
        log(f"real MI {name}: {g.value:.3f}")
    return {"rows": rows}


# ---------------------------------------------------------------------- markdown
def _f(v: float, digits: int = 3) -> str:
    return "—" if v is None or not np.isfinite(v) else f"{v:.{digits}f}"


def markdown(results: dict[str, Any], command: str, secs: float) -> str:
    lines = [
        f"Configurations: {CFG_TEXT}. The first run used only `model (no private latents)`; "
        "after its real-data numbers were known, private latents and the slower training were "
        "chosen on synthetic data (seeds 0–2), and no other variant was run on CMEA or CellBox. "
        "Both are reported here from the same run.",
        "",
    ]
    verdicts = []
    if "cmea" in results:
        res = results["cmea"]
        lines += [
            f"**CMEA cross-modal prediction** ({res['n_compounds']} compounds, 5 folds over "
            "compounds, seed 0; out-of-fold predictions pooled). Per-feature r: Pearson across "
            "held-out compounds, mean over features; per-compound r: across features, mean over "
            f"compounds; top-{N_PCS} PC r: Pearson on the target's top PCs (PCA of the training "
            "fold), per fold, mean over PCs and folds. No-change predicts 0 (the profiles are "
            "relative to control), so it has no Pearson. `model (inner-selected)`: per outer "
            "fold, one of "
            + "; ".join(
                f"`{k}` ("
                + (", ".join(f"{o}={v!r}" for o, v in change.items()) or "unchanged")
                + ")"
                for k, change in INNER_CANDIDATES.items()
            )
            + ", chosen by mean per-feature r over both directions on a quarter of the "
            "training compounds held out, then refitted on the whole training fold; chosen: "
            + ", ".join(c["chosen"] for c in res.get("inner_selection", []))
            + ".",
            "",
            "| direction | model | per-feature r | per-compound r | top-5 PC r | MSE |",
            "|---|---|---|---|---|---|",
        ]
        for d, rows in res["directions"].items():
            for name, r in rows.items():
                nc = name == "no-change"
                cells = [
                    "—" if nc else _f(r["per_feature_r"]),
                    "—" if nc else _f(r["per_compound_r"]),
                    "—" if nc else _f(r["top5_pc_r"]),
                    _f(r["mse"], 4),
                ]
                lines.append(f"| {d} | {name} | " + " | ".join(cells) + " |")
            m, rg, ms = rows["model"], rows["ridge"], rows["model-shuffled"]
            above = m["per_feature_r"] > rg["per_feature_r"]
            clear = m["per_feature_r"] > ms["per_feature_r"] + 0.05
            verdicts.append(
                f"CMEA {d}: model {'above' if above else 'NOT above'} ridge in per-feature r "
                f"({m['per_feature_r']:.3f} vs {rg['per_feature_r']:.3f}; top-5 PC r "
                f"{m['top5_pc_r']:.3f} vs {rg['top5_pc_r']:.3f}) and "
                f"{'clearly above' if clear else 'NOT clearly above'} its shuffled pairing "
                f"({ms['per_feature_r']:.3f})"
            )
        lines.append("")
    if "cellbox" in results:
        res = results["cellbox"]
        s, se = res["summary"], res["se"]
        names = [
            "no-change",
            "additive",
            "model",
            "model (no private latents)",
            "proteins-only model",
            *CROSS,
        ]
        lines += [
            f"**CellBox leave-one-pair-out** ({res['n_pairs']} held-out drug pairs; the model "
            "never saw the pair and generates it from the perturbation alone). Per pair: "
            "Pearson across features and MSE; mean (± s.e.) over pairs. Additive = sum of the "
            "two single-drug profiles (concentration used: "
            + ", ".join(f"{k}: {v}" for k, v in res["additive_doses"].items())
            + "). Coverage: share of held-out values inside the model's 80 % predictive "
            "interval. The last three phenotype rows are a cross-modal task on the same "
            "split: the pair's phenotypes predicted from its *measured* proteins, by ridge "
            "(fitted on the training conditions) and by the model from the proteins alone or "
            "with the pair's perturbation prior as an extra expert (`use_perturbation=True`).",
            "",
            "| modality | model | Pearson r | MSE | 80 % coverage |",
            "|---|---|---|---|---|",
        ]
        for m in ("proteins", "phenotypes"):
            for name in names:
                k = f"{m}:{name}"
                if f"{k}:mse" not in s:
                    continue
                r = "—" if name == "no-change" else f"{s[k + ':r']:.3f} ± {se[k + ':r']:.3f}"
                cov = _f(s.get(f"{k}:cover80", math.nan), 2)
                lines.append(
                    f"| {m} | {name} | {r} | {s[k + ':mse']:.4f} ± {se[k + ':mse']:.4f} | {cov} |"
                )
        lines.append("")
        if "proteins:model:r" in s:
            for m in ("proteins", "phenotypes"):
                mr, ar = s[f"{m}:model:r"], s[f"{m}:additive:r"]
                mm, am = s[f"{m}:model:mse"], s[f"{m}:additive:mse"]
                ok = mr >= ar and mm <= am
                diff = np.array([p[f"{m}:model:r"] - p[f"{m}:additive:r"] for p in res["per_pair"]])
                dse = diff.std(ddof=1) / math.sqrt(len(diff))
                verdicts.append(
                    f"CellBox {m}: model {'at or above' if ok else 'NOT at or above'} additive "
                    f"(r {mr:.3f} vs {ar:.3f}, paired difference {diff.mean():+.3f} ± {dse:.3f}; "
                    f"MSE {mm:.4f} vs {am:.4f})"
                )
        if f"phenotypes:{CROSS[2]}:r" in s:
            cross = {n: s[f"phenotypes:{n}:r"] for n in CROSS}
            d = np.array(
                [
                    p[f"phenotypes:{CROSS[2]}:r"] - p[f"phenotypes:{CROSS[1]}:r"]
                    for p in res["per_pair"]
                ]
            )
            verdicts.append(
                "CellBox phenotypes from measured proteins: r "
                + ", ".join(f"{n} {v:.3f}" for n, v in cross.items())
                + f"; the prior adds {d.mean():+.3f} ± {d.std(ddof=1) / math.sqrt(len(d)):.3f}"
            )
        if "proteins:proteins-only model:r" in s and "proteins:model:r" in s:
            a, b = s["proteins:model:r"], s["proteins:proteins-only model:r"]
            o = np.array(
                [
                    p["proteins:proteins-only model:r"] - p["proteins:additive:r"]
                    for p in res["per_pair"]
                ]
            )
            verdicts.append(
                f"CellBox proteins, proteins-only model vs additive: r {b:.3f} vs "
                f"{s['proteins:additive:r']:.3f}, paired difference {o.mean():+.3f} ± "
                f"{o.std(ddof=1) / math.sqrt(len(o)):.3f}"
            )
            verdicts.append(
                f"second modality (CellBox proteins): proteins+phenotypes r {a:.3f} vs proteins "
                f"only {b:.3f} (MSE {s['proteins:model:mse']:.4f} vs "
                f"{s['proteins:proteins-only model:mse']:.4f})"
            )
    if "cmea_half" in results:
        res = results["cmea_half"]
        lines += [
            "**Second modality on CMEA**: per training fold, a random half of the compounds "
            "keeps both readouts, the other half is split into L1000-only and "
            "Cell-Painting-only compounds (`default_rng(0)`); the model fitted on the paired "
            "half alone vs on the paired half plus the unpaired compounds (same folds).",
            "",
            "| direction | training data | per-feature r | per-compound r | MSE |",
            "|---|---|---|---|---|",
        ]
        for key, r in res.items():
            d, v = key.split("|")
            lines.append(
                f"| {d} | {v} | {_f(r['per_feature_r'])} | {_f(r['per_compound_r'])} | "
                f"{_f(r['mse'], 4)} |"
            )
        lines.append("")
        for d in ("l1000->cellpainting", "cellpainting->l1000"):
            a = res[f"{d}|paired half + unpaired rest"]["per_feature_r"]
            b = res[f"{d}|paired half only"]["per_feature_r"]
            verdicts.append(
                f"second modality (CMEA {d}, unpaired compounds added): per-feature r {a:.3f} "
                f"vs {b:.3f} paired only"
            )
    if "synthetic" in results:
        rows = results["synthetic"]["rows"]
        names = [n for n in SYNTHETIC_MODELS if n in rows[0]]
        lines += [
            "**Synthetic mutual information** (`synthetic_multimodal(n_samples=600, dims="
            "{rna: 30, morphology: 20})`, shared 3 / private 2 latent dims, noise 0.3; seeds "
            "0–2 were used while choosing the configuration, 3–5 were not). Models: "
            "`MultiModalModel.mutual_information` (predictive estimator, 95 % bootstrap "
            "interval over ids) on the third of the ids held out of fit (`folds(3, seed=0)[0]`); "
            "gaussian_mi: cross-fitted canonical-correlation estimate on all ids (95 % "
            "re-centred bootstrap). Nats; ✓ where the interval covers the analytic MI.",
            "",
            "| seed | analytic MI | " + " | ".join(names) + " | gaussian_mi |",
            "|---|---|" + "---|" * (len(names) + 1),
        ]

        def cell(r: dict[str, Any], key: str, cover: str) -> str:
            v = r[key]
            return f"{v[0]:.2f} [{v[1]:.2f}, {v[2]:.2f}] {'✓' if r[cover] else '✗'}"

        for r in rows:
            cells = [cell(r, n, f"{n} covers") for n in names]
            cells.append(cell(r, "gaussian", "gaussian covers"))
            lines.append(f"| {r['seed']} | {r['truth']:.2f} | " + " | ".join(cells) + " |")
        lines.append("")
        for key, label in [*((n, n) for n in names), ("gaussian", "gaussian_mi")]:
            fresh = [r for r in rows if r["seed"] >= 3]
            verdicts.append(
                f"synthetic MI, {label}: interval covers the truth for "
                f"{sum(r[f'{key} covers'] for r in rows)}/{len(rows)} seeds "
                f"({sum(r[f'{key} covers'] for r in fresh)}/{len(fresh)} of the unseen seeds 3–5)"
            )
    if "real-mi" in results:
        lines += [
            "**Mutual information between the real readouts** (`gaussian_mi`: cross-fitted "
            "canonical-correlation estimate, 95 % re-centred bootstrap interval, permutation "
            "p-value from 200 shuffled pairings; nats). Samples are grouped by perturbation "
            "(a drug's or drug pair's doses are one group, kept in one fold and resampled "
            "whole). CellBox's pairs still share single drugs with each other, which no "
            "grouping separates, so its interval remains somewhat optimistic.",
            "",
            "| dataset | readouts | n (groups) | MI [95 % CI] | permutation p | PCA components |",
            "|---|---|---|---|---|---|",
        ]
        for r in results["real-mi"]["rows"]:
            p_perm = "—" if r["p_perm"] is None else f"{r['p_perm']:.3f}"
            lines.append(
                f"| {r['dataset']} | {r['pair']} | {r['n']} ({r['groups']}) | {r['value']:.2f} "
                f"[{r['ci'][0]:.2f}, {r['ci'][1]:.2f}] | {p_perm} | "
                f"{'/'.join(map(str, r['components']))} |"
            )
        lines.append("")
    lines += ["**Targets.**", "", *(f"- {v}." for v in verdicts), ""]
    lines.append(f"_Generated by `{command}` in {secs:.0f} s. Per-pair scores in the JSON._")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="Only write the report of an earlier run's multimodal.json (no model is fitted).",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        payload = json.loads(args.render.read_text())
        md = markdown(payload["results"], payload["command"], payload["seconds"])
        print(md)
        if args.update_readme:
            update_block("multimodal", md)
        return
    tasks = args.tasks.split(",")
    if unknown := sorted(set(tasks) - set(TASKS)):
        raise SystemExit(f"Unknown task(s) {unknown}; choose from {list(TASKS)}.")
    if args.update_readme:
        check_block("multimodal")
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {}
    if "cmea" in tasks:
        results["cmea"] = run_cmea(log)
    if "cellbox" in tasks or "second" in tasks:
        results["cellbox"] = run_cellbox(log, second="second" in tasks, main="cellbox" in tasks)
    if "second" in tasks:
        results["cmea_half"] = run_cmea_half(log)
    if "synthetic" in tasks:
        results["synthetic"] = run_synthetic(log)
    if "real-mi" in tasks:
        results["real-mi"] = run_real_mi(log)
    seconds = time.perf_counter() - t0
    command = "python benchmarks/run_multimodal.py" + "".join(
        f" {shlex.quote(a)}" for a in argv if a != "--update-readme"
    )
    md = markdown(results, command, seconds)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "multimodal.json"
    payload = {"config": CFG_TEXT, "command": command, "results": results, "seconds": seconds}
    from phenocast.data import atomic_write_text

    atomic_write_text(out, json.dumps(payload, indent=1, default=float))
    log(f"wrote {out}")
    if args.update_readme:
        update_block("multimodal", md)
        log("README.md updated")


if __name__ == "__main__":
    main()
