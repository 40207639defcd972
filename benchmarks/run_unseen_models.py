"""Unseen single genes through the model protocol (issue 6 items 2 and 3a): models fitted on
cells, given a featuriser by name, predict a gene no training cell carried.

Leave-one-gene-out, as in `run_unseen_genes.py`: norman19 — each single-gene CRISPRa
condition is held out in turn, the models are fitted on the control cells and the other
singles' cells (doubles are left out); mcfaline23 — each knockdown gene is held out in all three
lines at once, the models are fitted on the other genes in all lines (covariate ``cell_line``)
and predict the held-out gene per line from that line's control cells. The registry is built on
the training cells only, so the held-out gene is unknown to it.

Models (each through ``create_model`` + ``fit`` + ``predict_mean``): no-change; mean-shift
(control + the average training Δ over all lines) and mean-shift[context] (``pool="context"``:
the average over the same line's training genes — the mean baseline every model is compared
with); linear with prior features
(`LinearConfig(features=..., ridge_grid=..., intercept="context")`, the model of Ahlmann-Eltze
et al. with the perturbation side P from the prior, penalty by leave-one-condition-out, and the
line's own mean Δ as intercept, so it starts from the mean baseline); and the compositional
model with prior features (`CompositionalConfig(features=...)`, a learned projection of the
unit-normalised features plus free corrections for trained genes). Featurisers: ``go_svd``
(GO annotations, dim 64) and ``spectral`` (GO-similarity graph, dim 64). Genes either
featuriser lacks are skipped for every model alike. Metric: Pearson Δ of the predicted mean
profile against the held-out condition's mean profile, both relative to the same controls.

Run ``python benchmarks/run_unseen_models.py [--update-readme] [--epochs N]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _readme import check_block, invocation, update_block  # benchmarks/ is on sys.path

from phenocast.data import write_json

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"norman19": "load_norman2019", "mcfaline23": "load_mcfaline2023"}
FEATURES = {"go_svd": {"dim": 64, "seed": 0}, "spectral": {"dim": 64, "seed": 0}}
RIDGE_GRID = tuple(float(10.0**k) for k in np.arange(-3.0, 3.5, 0.5))
BASE = "mean-shift[context]"


def model_specs(epochs: int, seeds: int) -> dict[str, tuple[str, dict[str, Any]]]:
    """Display name → (registered model, config) for every model of the table; the
    compositional model once per seed (``name#s<seed>``)."""
    specs: dict[str, tuple[str, dict[str, Any]]] = {
        "no-change": ("no-change", {}),
        "mean-shift": ("mean-shift", {}),
        BASE: ("mean-shift", {"pool": "context"}),
    }
    for feat, opts in FEATURES.items():
        specs[f"linear[{feat}]"] = (
            "linear",
            {
                "features": feat,
                "feature_options": opts,
                "ridge_grid": RIDGE_GRID,
                "intercept": "context",
            },
        )
    for feat, opts in FEATURES.items():
        for seed in range(seeds):
            specs[f"compositional[{feat}]#s{seed}"] = (
                "compositional",
                {
                    "features": feat,
                    "feature_options": opts,
                    "train": {"max_epochs": epochs, "patience": 15, "seed": seed},
                },
            )
    return specs


def _groups(models: list[str]) -> dict[str, list[str]]:
    """Table row → the model runs it averages (the seeds of one compositional variant)."""
    out: dict[str, list[str]] = {}
    for m in models:
        out.setdefault(m.split("#")[0], []).append(m)
    return out


def _single_genes(adata: Any) -> tuple[Any, list[str]]:
    """Control cells and single-gene cells; the sorted single genes."""
    from phenocast.data import parse_condition

    pert = adata.obs["perturbation"].astype(str)
    conds = {p: parse_condition(p, None, control="control") for p in pert.unique()}
    keep = np.array([conds[p].is_control or len(conds[p].components) == 1 for p in pert])
    genes = sorted(
        {c.components[0] for c in conds.values() if not c.is_control and len(c.components) == 1}
    )
    return adata[keep].copy(), genes


def run_dataset(
    name: str, specs: dict[str, tuple[str, dict[str, Any]]], console: Any
) -> dict[str, Any]:
    import phenocast.data as pdata
    from phenocast.evaluate.metrics import pearson_delta
    from phenocast.featurize import resolve_featuriser
    from phenocast.models import create_model

    adata, genes = _single_genes(getattr(pdata, DATASETS[name])())
    covs = ["cell_line"] if name == "mcfaline23" else []
    feats = {f: resolve_featuriser(f, o) for f, o in FEATURES.items()}
    skipped = sorted({g for g in genes for f in feats.values() if f.missing([g])})
    genes = [g for g in genes if g not in skipped]
    adata = adata[~adata.obs["perturbation"].astype(str).isin(skipped).to_numpy()].copy()
    pert = adata.obs["perturbation"].astype(str).to_numpy()
    lines = adata.obs["cell_line"].astype(str).to_numpy()
    rows: list[dict[str, Any]] = []
    seconds: dict[str, float] = {m: 0.0 for m in specs}
    for gene in genes:
        train = adata[pert != gene].copy()
        reg = pdata.register(
            train, perturbation="perturbation", control="control", covariates=covs, x_kind="auto"
        )
        fitted = {}
        for m, (model, cfg) in specs.items():
            t = time.perf_counter()
            fitted[m] = create_model(model, reg, cfg).fit(train)
            seconds[m] += time.perf_counter() - t
        for line in sorted(set(lines[pert == gene])):
            ctrl_mask = (pert == "control") & (lines == line)
            controls = adata[ctrl_mask].copy()
            frame = pd.DataFrame({"perturbation": [gene]})
            if covs:
                frame["cell_line"] = line
            x = reg.matrix(adata)
            ctrl = np.asarray(reg.matrix(controls).mean(0)).ravel()
            truth = np.asarray(x[(pert == gene) & (lines == line)].mean(0)).ravel()
            cells = x[(pert == gene) & (lines == line)]
            row: dict[str, Any] = {
                "gene": gene,
                "line": line,
                "noise ceiling": _ceiling(cells, ctrl),
            }
            for m, model in fitted.items():
                pred = model.predict_mean(controls, frame)[0]
                row[m] = None if m == "no-change" else float(pearson_delta(pred, truth, ctrl=ctrl))
            if "linear[go_svd]" in fitted:
                row["ridge[linear[go_svd]]"] = fitted["linear[go_svd]"].ridge_
            rows.append(row)
        shown = ", ".join(f"{m} {rows[-1][m]:.3f}" for m in specs if m != "no-change")
        console.log(f"{name} {gene}: {shown}", markup=False)
    return {
        "genes": len(genes),
        "conditions": len(rows),
        "skipped": skipped,
        "rows": rows,
        "fit_seconds": seconds,
    }


def _ceiling(cells: Any, ctrl: np.ndarray) -> float:
    """Noise ceiling (BENCHMARKS.md): Pearson Δ of one random half's mean (seed 0) against the
    other half's."""
    from phenocast.evaluate.metrics import pearson_delta

    x = cells.toarray() if hasattr(cells, "toarray") else np.asarray(cells)
    order = np.random.default_rng(0).permutation(len(x))
    half = len(x) // 2
    a, b = x[order[:half]].mean(0), x[order[half:]].mean(0)
    return float(pearson_delta(a, b, ctrl=ctrl))


def summarise(res: dict[str, Any], models: list[str]) -> dict[str, dict[str, float]]:
    """Per table row: mean Pearson Δ, paired difference to the baseline (± s.e. over
    conditions), wins; for several seeds, the condition scores are averaged over seeds first and
    ``seed_sd`` is the spread of the seeds' mean Pearson Δ."""
    rows = res["rows"]
    base = np.array([r[BASE] for r in rows])
    out = {}
    for name, runs in _groups(models).items():
        if name == "no-change":
            continue
        per_seed = np.array([[r[m] for r in rows] for m in runs])
        v = per_seed.mean(0)
        d = v - base
        out[name] = {
            "pearson": float(v.mean()),
            "diff": float(d.mean()),
            "diff_se": float(d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan"),
            "wins": int((d > 0).sum()),
            "seeds": len(runs),
            "seed_sd": float(per_seed.mean(1).std(ddof=1)) if len(runs) > 1 else 0.0,
        }
    return out


def markdown(
    results: dict[str, Any], models: list[str], command: str, secs: float
) -> tuple[str, bool]:
    lines = [
        "Leave-one-gene-out through the model protocol: mean Pearson Δ over held-out conditions, "
        f"paired difference to {BASE} (the mean of the training perturbations; ± s.e. over "
        "conditions) and conditions won.",
        "",
        f"| dataset | model | Pearson Δ | vs {BASE} | wins over {BASE} |",
        "|---|---|---|---|---|",
    ]
    met_by = []
    for ds, res in results.items():
        ceiling = np.mean([r["noise ceiling"] for r in res["rows"]])
        lines.append(f"| {ds} | noise ceiling (half vs half) | {ceiling:.3f} | — | — |")
        for m, s in summarise(res, models).items():
            if m == BASE:
                lines.append(f"| {ds} | {m} | {s['pearson']:.3f} | — | — |")
                continue
            spread = f" (seed sd {s['seed_sd']:.3f}, {s['seeds']} seeds)" if s["seeds"] > 1 else ""
            lines.append(
                f"| {ds} | {m} | {s['pearson']:.3f}{spread} | {s['diff']:+.3f} ± "
                f"{s['diff_se']:.3f} | {s['wins']}/{res['conditions']} |"
            )
            if s["diff"] >= 0.0005:  # shown as at least +0.001
                sig = "above" if s["diff"] > 2 * s["diff_se"] else "within"
                met_by.append(f"{m} on {ds} ({s['diff']:+.3f} ± {s['diff_se']:.3f}, {sig} 2 s.e.)")
    met = bool(met_by)
    verdict = (
        f"**Target met** (beats the mean baseline on ≥ 1 dataset): {'; '.join(met_by)}."
        if met
        else "**Target not met**: no model with prior features beats the mean baseline on either "
        "dataset."
    )
    info = "; ".join(
        f"{ds}: {r['genes']} genes, {r['conditions']} held-out conditions, skipped (no features): "
        f"{', '.join(r['skipped']) or 'none'}; fit time per fold "
        + ", ".join(
            f"{m} {sum(r['fit_seconds'][x] for x in runs) / len(runs) / max(r['genes'], 1):.1f} s"
            for m, runs in _groups(list(r["fit_seconds"])).items()
            if sum(r["fit_seconds"][x] for x in runs) > 0.5
        )
        for ds, r in results.items()
    )
    lines += ["", verdict, "", info + ".", "", f"_Generated by `{command}` in {secs:.0f} s._"]
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--epochs", type=int, default=100)
    parser.add_argument("--seeds", type=int, default=3, help="seeds of the compositional model")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.update_readme:
        check_block("unseen-models")
    from rich.console import Console

    console = Console()
    t0 = time.perf_counter()
    specs = model_specs(args.epochs, args.seeds)
    results = {}
    for ds in args.datasets.split(","):
        if ds not in DATASETS:
            raise SystemExit(f"Unknown dataset {ds!r}; choose from {sorted(DATASETS)}.")
        results[ds] = run_dataset(ds, specs, console)
    seconds = time.perf_counter() - t0
    command = invocation("run_unseen_models.py", argv)
    md, met = markdown(results, list(specs), command, seconds)
    console.print(md, markup=False, soft_wrap=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "unseen_models.json"
    payload = {
        "target_met": met,
        "summary": {ds: summarise(r, list(specs)) for ds, r in results.items()},
        "results": results,
        "seconds": seconds,
    }
    write_json(out, payload)
    console.log(f"wrote {out}")
    if args.update_readme:
        update_block("unseen-models", md)
        console.log("README.md updated")


if __name__ == "__main__":
    main()
