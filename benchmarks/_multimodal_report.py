"""The Markdown report of ``run_multimodal.py`` (its README section), from the results JSON."""

from __future__ import annotations

import math
from typing import Any

import numpy as np
from _multimodal_tasks import CFG_TEXT, CROSS, INNER_CANDIDATES, N_PCS, SYNTHETIC_MODELS


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
