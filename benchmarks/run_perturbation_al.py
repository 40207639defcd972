"""Perturbation-level active learning replayed on norman19 (CRISPRa) and mcfaline23 (CRISPRi).

Which perturbations to measure next so that the Δ profiles of the rest are predicted best.
Pool = the dataset's perturbation conditions (mean Δ vs the control of the same line); the
model is `phenocast.design.ProfileGP` (multi-output GP on GO-annotation features of the
perturbed genes, `go_annotation_features(load_gene2go(), dim=64, seed=0)`; a double is the sum
of its genes' latent profiles; lines enter through a cross-line correlation and a line offset).

Protocol (per seed 0..19): a fixed held-out set is drawn with `numpy.random.default_rng(10_000 +
seed)` (8 conditions of norman19, 7 of mcfaline23) and never acquired; `initial` random
conditions are measured, then 5 rounds of `batch` acquisitions (norman19: 3 + 5 × 3 of 24;
mcfaline23: 3 + 5 × 2 of 20). Every strategy of a seed shares the held-out set and the initial
conditions, so strategies are compared paired. Scores per round: mean Pearson Δ and MSE on the
held-out set and on the still unmeasured pool, beside the no-change and mean-of-measured
(same line) baselines. norman19's IER5L has no GO annotation and is dropped (32 conditions).

Run ``python benchmarks/run_perturbation_al.py [--quick] [--update-readme]``.
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
#: name → (loader, held-out size, initial size, batch size)
DATASETS = {"norman19": ("load_norman2019", 8, 3, 3), "mcfaline23": ("load_mcfaline2023", 7, 3, 2)}
ROUNDS = 5
STRATEGIES = ("random", "greedy", "max-variance", "batchbald", "coreset")
#: variants run where they differ: only norman19 has doubles
VARIANTS = {"norman19": ("random[sum-features]", "coreset[sum-features]")}
#: IterPert (GEARS on Replogle K562, 5 rounds of 100), Pearson Δ on unseen perturbations, as
#: quoted by issue 5 — a reference only, not measured here.
ITERPERT = {"kernel core-set": 0.272, "random": 0.256, "BatchBALD": 0.251}


def _data(name: str, features: Any) -> tuple[Any, list[str], Any]:
    import phenocast.data as pdata
    from phenocast.design import PerturbationPool

    adata = getattr(pdata, DATASETS[name][0])()
    pool = PerturbationPool.from_anndata(adata)
    dropped = pool.unfeaturised(features)
    pool = pool.subset([n for n in pool.names if n not in dropped])
    return pool, dropped, adata


def noise_ceiling(adata: Any, pool: Any) -> float:
    """Pearson Δ of one random half of each condition's cells against the other (seed 0),
    both against the full control mean of the line, averaged over the pool's conditions."""
    from phenocast.evaluate.metrics import pearson_delta

    rng = np.random.default_rng(0)
    obs = adata.obs
    pert, line = obs["perturbation"].astype(str), obs["cell_line"].astype(str)
    canon = pert.map(lambda p: "+".join(sorted(p.split("+"))))
    multi = line.nunique() > 1
    label = (canon + " | " + line) if multi else canon
    from scipy import sparse

    x = adata.X.toarray() if sparse.issparse(adata.X) else np.asarray(adata.X)
    vals = []
    for i, name in enumerate(pool.names):
        rows = np.flatnonzero((label == name).to_numpy())
        rows = rng.permutation(rows)
        half = len(rows) // 2
        a, b = x[rows[:half]].mean(0), x[rows[half:]].mean(0)
        vals.append(pearson_delta(a, b, ctrl=pool.ctrl[i]))
    return float(np.mean(vals))


def run_one(dataset: str, pool: Any, features: Any, strategy: str, seed: int) -> dict[str, Any]:
    from phenocast.design import PerturbationLoop

    _, n_hold, initial, batch = DATASETS[dataset]
    name, _, variant = strategy.partition("[")
    composition = variant.rstrip("]") or "additive"
    holdout = np.random.default_rng(10_000 + seed).choice(pool.names, n_hold, replace=False)
    loop = PerturbationLoop(
        pool, features, name, batch_size=batch, rounds=ROUNDS, initial_size=initial,
        holdout=list(holdout), seed=seed, composition=composition,
    )  # fmt: skip
    res = loop.run()
    return {
        "dataset": dataset,
        "strategy": strategy,
        "seed": seed,
        "pool": len(pool),
        "holdout": sorted(holdout.tolist()),
        "rounds": res.rounds.to_dict("records"),
        "picks": res.picks.to_dict("records"),
        "seconds": res.seconds,
    }


def _curve(row: dict[str, Any], col: str) -> np.ndarray:
    return np.array([r[col] for r in row["rounds"]], dtype=float)


def _verdicts(frame: pd.DataFrame) -> list[str]:
    """One sentence per dataset, from the numbers: model vs mean baseline, strategies vs random
    (paired over seeds at round 5, "beats" = more than 2 standard errors)."""
    out = []
    for ds in [d for d in DATASETS if d in set(frame["dataset"])]:
        sub = frame[frame["dataset"] == ds]
        last = {
            (r["strategy"], r["seed"]): (_curve(r, "test_pearson")[-1],
                                         _curve(r, "test_pearson_mean")[-1])
            for r in sub.to_dict("records")
        }  # fmt: skip
        seeds = sorted(set(sub["seed"]))
        model = np.mean([last[("random", s)][0] for s in seeds])
        base = np.mean([last[("random", s)][1] for s in seeds])
        better, worse = [], []
        for strat in dict.fromkeys(sub["strategy"]):
            if strat == "random":
                continue
            d = np.array([last[(strat, s)][0] - last[("random", s)][0] for s in seeds])
            se = d.std(ddof=1) / np.sqrt(len(d))
            (better if d.mean() > 2 * se else worse if d.mean() < -2 * se else []).append(strat)
        out.append(
            f"**{ds}**, round 5, held-out Pearson Δ under random acquisition: model {model:.3f} "
            f"vs mean baseline {base:.3f} ({'above' if model > base else 'below'}); beat random "
            f"by > 2 s.e.: {', '.join(better) or 'none'}; worse than random by > 2 s.e.: "
            f"{', '.join(worse) or 'none'}."
        )
    return out


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any], command: str, secs: float) -> str:
    frame = pd.DataFrame(rows)
    seeds = sorted(set(frame["seed"]))
    lines = [
        f"Pearson Δ on the **held-out** perturbations after each round (mean ± sd over "
        f"{len(seeds)} seeds; in brackets the mean-of-measured baseline on the same "
        "conditions and round); `vs random` = paired mean difference ± s.e. at round 5; "
        "`pool r5` = Pearson Δ on the still-unmeasured pool at round 5 (baseline in brackets); "
        "MSE at round 5: model / mean baseline / no-change.",
        "",
        "| dataset | strategy | "
        + " | ".join(f"r{r}" for r in range(ROUNDS + 1))
        + " | vs random | pool r5 | MSE r5 (×1e-3) |",
        "|---|---|" + "---|" * (ROUNDS + 4),
    ]
    for ds in [d for d in DATASETS if d in set(frame["dataset"])]:
        sub = frame[frame["dataset"] == ds]
        rand = {
            r["seed"]: _curve(r, "test_pearson")[-1]
            for r in sub[sub["strategy"] == "random"].to_dict("records")
        }
        for strat in dict.fromkeys(sub["strategy"]):
            grp = sub[sub["strategy"] == strat].to_dict("records")
            model = np.stack([_curve(r, "test_pearson") for r in grp])
            base = np.stack([_curve(r, "test_pearson_mean") for r in grp])
            cells = [
                f"{model[:, k].mean():.3f} ± {model[:, k].std(ddof=1):.3f} "
                f"({base[:, k].mean():.3f})"
                for k in range(ROUNDS + 1)
            ]
            if strat == "random" or not rand:
                vs = "—"
            else:
                diff = np.array([_curve(r, "test_pearson")[-1] - rand[r["seed"]] for r in grp])
                vs = f"{diff.mean():+.3f} ± {diff.std(ddof=1) / np.sqrt(len(diff)):.3f}"
            pool_m = np.mean([_curve(r, "pool_pearson")[-1] for r in grp])
            pool_b = np.mean([_curve(r, "pool_pearson_mean")[-1] for r in grp])
            mses = [
                1e3 * np.mean([_curve(r, c)[-1] for r in grp])
                for c in ("test_mse", "test_mse_mean", "test_mse_nochange")
            ]
            lines.append(
                f"| {ds} | {strat} | " + " | ".join(cells) + f" | {vs} | {pool_m:.3f} "
                f"({pool_b:.3f}) | " + " / ".join(f"{m:.2f}" for m in mses) + " |"
            )
    for verdict in _verdicts(frame):
        lines += ["", verdict]
    info = "; ".join(
        f"{ds}: {m['pool']} conditions ({m['held_out']} held out, {m['initial']} initial + "
        f"{ROUNDS} × {m['batch']}), dropped without GO features: {m['dropped'] or 'none'}, "
        f"noise ceiling (split-half Pearson Δ) {m['noise_ceiling']:.3f}"
        for ds, m in meta.items()
    )
    lines += [
        "",
        f"{info}. No-change has no Pearson Δ (its Δ is zero). BALD is not listed: with one "
        "noise level for all conditions it ranks exactly as max-variance. `[sum-features]`: a "
        "double is one point with the sum of its genes' features instead of the sum of their "
        "latent profiles.",
        "",
        "Reference only, not measured here (different data, model and scale): IterPert "
        "(GEARS on Replogle K562, 5 rounds of 100) reports Pearson Δ on unseen perturbations "
        + ", ".join(f"{k} {v}" for k, v in ITERPERT.items())
        + ".",
        "",
        f"_Generated by `{command}` in {secs:.0f} s; one replay takes "
        f"{np.median(frame['seconds']):.2f} s (median). Per-seed rounds, picks and reasons "
        "in the JSON._",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="3 seeds")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.update_readme:
        if args.quick:
            raise SystemExit("--update-readme refuses --quick numbers.")
        check_block("perturbation-al")
    from rich.console import Console

    from phenocast.data import load_gene2go
    from phenocast.featurize import go_annotation_features

    console = Console()
    t0 = time.perf_counter()
    features = go_annotation_features(load_gene2go(), dim=64, seed=0)
    seeds = range(3 if args.quick else args.seeds)
    rows, meta = [], {}
    for ds in args.datasets.split(","):
        if ds not in DATASETS:
            raise SystemExit(f"Unknown dataset {ds!r}; choose from {sorted(DATASETS)}.")
        pool, dropped, adata = _data(ds, features)
        _, n_hold, initial, batch = DATASETS[ds]
        meta[ds] = {"pool": len(pool), "held_out": n_hold, "initial": initial, "batch": batch,
                    "dropped": dropped, "noise_ceiling": noise_ceiling(adata, pool)}  # fmt: skip
        for strategy in [*args.strategies.split(","), *VARIANTS.get(ds, ())]:
            for seed in seeds:
                rows.append(run_one(ds, pool, features, strategy, seed))
            got = [_curve(r, "test_pearson")[-1] for r in rows[-len(seeds) :]]
            console.log(f"{ds} {strategy}: r5 held-out Pearson Δ {np.mean(got):.3f}")
    seconds = time.perf_counter() - t0
    command = invocation("run_perturbation_al.py", argv)
    md = markdown(rows, meta, command, seconds)
    console.print(md, markup=False, soft_wrap=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "perturbation_al.json"
    write_json(out, {"meta": meta, "rows": rows})
    console.log(f"wrote {out}")
    if args.update_readme:
        update_block("perturbation-al", md)
        console.log("README.md updated")


if __name__ == "__main__":
    main()
