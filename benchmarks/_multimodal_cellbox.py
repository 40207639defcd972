"""The CellBox task of ``run_multimodal.py``: each drug pair held out in turn, generated from
its perturbation alone (and its phenotypes predicted from its measured proteins), beside the
additive baseline; with ``second``, a model trained on the proteins alone."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from _multimodal_tasks import CROSS, Z80, fit, load_arrays, mean_nan, rebuild, ridge

from phenocast.metrics import pearson_rows
from phenocast.models import additive_from_singles


def run_cellbox(log: Any, *, second: bool, main: bool) -> dict[str, Any]:
    import pandas as pd

    mods = ("proteins", "phenotypes")
    data, x, pos = load_arrays("cellbox_korkut2015", mods)
    conds = data.conditions
    per_pair: list[dict[str, Any]] = []
    dose_use: list[str] = []
    for split in data.leave_one_pair_out():
        te = [pos[i] for i in split.test]
        tr = [pos[i] for i in split.train]
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
            model, model_d = fit(train), fit(train, "diagonal")
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
            only = rebuild(train, {"proteins": x["proteins"][tr]})
            gens["proteins-only"] = fit(only).generate(frame, target="proteins")
        for m in mods:
            truth = x[m][te]
            add = []
            for i in te:
                prof, used = additive_from_singles(conds, x[m], conds.iloc[i])
                add.append(prof)
                if m == mods[0]:
                    dose_use.extend(used)
            # (name in the table, key in gens) of every generated prediction, for coverage
            keys = [("model", m), ("model (no private latents)", f"{m}:diagonal")] if main else []
            preds = {"no-change": np.zeros_like(truth), "additive": np.array(add)}
            preds |= {name: gens[g][0].to_numpy() for name, g in keys}
            if main and m == "phenotypes":
                preds[CROSS[0]], _ = ridge(
                    x["proteins"][tr], x["phenotypes"][tr], x["proteins"][te]
                )
                keys += [(CROSS[1], "from proteins"), (CROSS[2], "from proteins + prior")]
            if second and m == "proteins":
                keys.append(("proteins-only model", "proteins-only"))
            for name, g in keys:
                preds.setdefault(name, gens[g][0].to_numpy())
            for name, p in preds.items():
                row[f"{m}:{name}:r"] = mean_nan(pearson_rows(p, truth))
                row[f"{m}:{name}:mse"] = float(np.mean((p - truth) ** 2))
            for name, g in keys:
                mean, var = gens[g][0].to_numpy(), gens[g][1].to_numpy()
                row[f"{m}:{name}:cover80"] = float(
                    np.mean(np.abs(truth - mean) <= Z80 * np.sqrt(var))
                )
        per_pair.append(row)
    log(f"cellbox: {len(per_pair)} held-out pairs")
    frame = pd.DataFrame(per_pair)
    cols = [c for c in frame.columns if c not in ("pair", "ids")]
    return {
        "n_pairs": len(per_pair),
        "additive_doses": {k: dose_use.count(k) for k in sorted(set(dose_use))},
        "summary": {c: float(frame[c].mean()) for c in cols},
        "se": {c: float(frame[c].std(ddof=1) / math.sqrt(len(frame))) for c in cols},
        "per_pair": per_pair,
    }
