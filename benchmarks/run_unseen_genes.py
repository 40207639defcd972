"""Unseen single genes predicted from prior knowledge, on norman19 (CRISPRa) and mcfaline23
(CRISPRi) — issue 6 item 3a.

Leave-one-gene-out: norman19 — each single-gene activation is held out in turn and predicted
from all the other singles (doubles are excluded from training and testing); mcfaline23 — each
knockdown gene is held out in all three lines at once, the model is trained on the other genes
in all lines and predicts the held-out gene per line. Profiles are the mean Δ per condition
and line (`phenocast.design.PerturbationPool.from_anndata`).

Models: no-change (Δ = 0; no Pearson Δ), mean of the training perturbations' Δ (per line),
ridge Δ = b + W·φ(gene) on GO-annotation features (`go_annotation_features(load_gene2go(),
dim=64, seed=0)`) and on spectral GO-graph features (`spectral_gene_embedding(GeneGraph.
from_edges(load_go_graph()), dim=64, seed=0)`), per line, features unit-normalised, the
intercept b the training mean (so a large penalty gives the mean baseline) and the penalty
chosen by leave-one-out MSE on the training genes; and `phenocast.design.ProfileGP` on the GO
features (all lines in one model, hyperparameters by marginal likelihood). Genes lacking either
feature set are listed and skipped for every model alike.

Run ``python benchmarks/run_unseen_genes.py [--update-readme]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
from _readme import check_block, invocation, update_block  # benchmarks/ is on sys.path

from phenocast.data import write_json

ROOT = Path(__file__).resolve().parent.parent
DATASETS = {"norman19": "load_norman2019", "mcfaline23": "load_mcfaline2023"}
MODELS = ("no-change", "mean", "ridge[GO-SVD]", "ridge[spectral]", "ProfileGP[GO-SVD]")
LAMBDAS = tuple(10.0**k for k in np.arange(-3.0, 3.5, 0.5))
TOPK = 20


def _pool(name: str, feats: dict[str, Any]) -> tuple[Any, list[str]]:
    """Single-gene conditions of the dataset whose gene has every feature set; the skipped."""
    import phenocast.data as pdata
    from phenocast.design import PerturbationPool

    pool = PerturbationPool.from_anndata(getattr(pdata, DATASETS[name])())
    singles = [n for n, c in zip(pool.names, pool.components, strict=True) if len(c) == 1]
    genes = sorted({pool.components[pool.names.index(n)][0] for n in singles})
    missing = sorted({g for g in genes for f in feats.values() if f.missing([g])})
    keep = [n for n in singles if pool.components[pool.names.index(n)][0] not in missing]
    return pool.subset(keep), missing


def _unit(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _ridge_fit(x: np.ndarray, y: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """Dual ridge with the training mean as intercept: returns (coefficients α, intercept)."""
    mu = y.mean(0)
    alpha = np.linalg.solve(x @ x.T + lam * np.eye(len(x)), y - mu)
    return alpha, mu


def ridge_predict(x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray) -> tuple[np.ndarray, float]:
    """Ridge prediction for ``x_te``, penalty by leave-one-out MSE over the training rows."""
    best = (np.inf, LAMBDAS[0])
    for lam in LAMBDAS:
        err = 0.0
        for i in range(len(x_tr)):
            rest = np.delete(np.arange(len(x_tr)), i)
            alpha, mu = _ridge_fit(x_tr[rest], y_tr[rest], lam)
            err += float(np.mean((mu + x_tr[i] @ x_tr[rest].T @ alpha - y_tr[i]) ** 2))
        if err < best[0]:
            best = (err, lam)
    alpha, mu = _ridge_fit(x_tr, y_tr, best[1])
    return mu + x_te @ x_tr.T @ alpha, best[1]


def run_dataset(name: str, feats: dict[str, Any]) -> dict[str, Any]:
    from phenocast.design import ProfileGP
    from phenocast.evaluate.metrics import mse_topk_deg, pearson_delta

    pool, missing = _pool(name, feats)
    gene_of = np.array([c[0] for c in pool.components])
    lines = np.array(pool.lines)
    gp = ProfileGP(pool, feats["GO-SVD"])
    phi = {k: _unit(f.rows(list(gene_of)).astype(np.float64)) for k, f in feats.items()}
    rows = []
    for gene in sorted(set(gene_of)):
        test, train = np.flatnonzero(gene_of == gene), np.flatnonzero(gene_of != gene)
        lam: dict[str, list[float]] = {}
        gp_pred = gp.fit(train).predict(test).mean
        for j, i in enumerate(test):
            tr = train[lines[train] == lines[i]]
            p = {"no-change": np.zeros(pool.delta.shape[1]), "mean": pool.delta[tr].mean(0)}
            for fname, x in phi.items():
                key = f"ridge[{fname}]"
                p[key], best = ridge_predict(x[tr], pool.delta[tr], x[[i]])
                p[key] = p[key][0]
                lam.setdefault(key, []).append(best)
            p["ProfileGP[GO-SVD]"] = gp_pred[j]
            ctrl, true = pool.ctrl[i], pool.ctrl[i] + pool.delta[i]
            row: dict[str, Any] = {"gene": gene, "line": pool.lines[i], "condition": pool.names[i]}
            for m in MODELS:
                row[f"pearson[{m}]"] = (
                    None if m == "no-change" else pearson_delta(ctrl + p[m], true, ctrl=ctrl)
                )
                row[f"mse_top{TOPK}[{m}]"] = mse_topk_deg(ctrl + p[m], true, ctrl=ctrl, k=TOPK)
            row["ridge_lambda"] = {k: v[-1] for k, v in lam.items()}
            row["gp_params"] = dict(gp.params_ or {})
            rows.append(row)
    return {"conditions": len(pool), "genes": len(set(gene_of)), "skipped": missing, "rows": rows}


def summarise(res: dict[str, Any]) -> dict[str, dict[str, Any]]:
    rows = res["rows"]
    genes = sorted({r["gene"] for r in rows})

    def per_gene(col: str) -> np.ndarray:
        return np.array([np.mean([r[col] for r in rows if r["gene"] == g]) for g in genes])

    base_c = np.array([r["pearson[mean]"] for r in rows])
    base_g = per_gene("pearson[mean]")
    out = {}
    for m in MODELS:
        s: dict[str, Any] = {"mse_topk": float(np.mean([r[f"mse_top{TOPK}[{m}]"] for r in rows]))}
        if m != "no-change":
            pc = np.array([r[f"pearson[{m}]"] for r in rows])
            d = pc - base_c
            s |= {
                "pearson": float(pc.mean()),
                "diff": float(d.mean()),
                "diff_se": float(d.std(ddof=1) / np.sqrt(len(d))),
                "wins_genes": int((per_gene(f"pearson[{m}]") > base_g).sum()),
                "wins_conditions": int((d > 0).sum()),
            }
        out[m] = s
    return out


def markdown(results: dict[str, Any], command: str, secs: float) -> tuple[str, bool]:
    lines = [
        f"Leave-one-gene-out on single-gene perturbations: mean Pearson Δ over held-out "
        f"conditions, paired difference to the mean-of-training-perturbations baseline "
        f"(± s.e. over conditions), MSE on the top-{TOPK} DEGs of each held-out condition, and "
        "the number of held-out genes (conditions) where the model's Pearson Δ beats the mean "
        "baseline's (mcfaline23: gene = mean over its three lines).",
        "",
        f"| dataset | model | Pearson Δ | vs mean | MSE top-{TOPK} (×1e-3) | beats mean: genes "
        "(conditions) |",
        "|---|---|---|---|---|---|",
    ]
    met_by: list[str] = []
    for ds, res in results.items():
        summ = summarise(res)
        n_g, n_c = res["genes"], res["conditions"]
        for m, s in summ.items():
            if m == "no-change":
                cells = ["—", "—", f"{1e3 * s['mse_topk']:.2f}", "—"]
            elif m == "mean":
                cells = [f"{s['pearson']:.3f}", "—", f"{1e3 * s['mse_topk']:.2f}", "—"]
            else:
                cells = [
                    f"{s['pearson']:.3f}", f"{s['diff']:+.3f} ± {s['diff_se']:.3f}",
                    f"{1e3 * s['mse_topk']:.2f}",
                    f"{s['wins_genes']}/{n_g} ({s['wins_conditions']}/{n_c})",
                ]  # fmt: skip
                if s["diff"] > 0:
                    sig = "above" if s["diff"] > 2 * s["diff_se"] else "within"
                    met_by.append(
                        f"{m} on {ds} ({s['diff']:+.3f} ± {s['diff_se']:.3f}, {sig} 2 s.e.)"
                    )
            lines.append(f"| {ds} | {m} | " + " | ".join(cells) + " |")
    met = bool(met_by)
    verdict = (
        "**Target met** (an unseen-gene model beats the mean baseline's mean Pearson Δ on at "
        f"least one dataset): {'; '.join(met_by)}."
        if met
        else "**Target not met**: no unseen-gene model beats the mean baseline's mean Pearson Δ "
        "on either dataset."
    )
    at_max = "; ".join(
        f"{ds} {k} {sum(r['ridge_lambda'][k] == LAMBDAS[-1] for r in res['rows'])}/"
        f"{len(res['rows'])}"
        for ds, res in results.items()
        for k in ("ridge[GO-SVD]", "ridge[spectral]")
    )
    info = "; ".join(
        f"{ds}: {r['genes']} genes, {r['conditions']} held-out conditions, skipped (no GO-SVD "
        f"or no spectral features): {', '.join(r['skipped']) or 'none'}"
        for ds, r in results.items()
    )
    lines += [
        "",
        verdict,
        "",
        f"{info}. norman19 doubles are excluded from training and testing. No-change has no "
        "Pearson Δ (its Δ is zero). Ridge: Δ = training mean + W·φ on unit-normalised 64-d "
        "features, fitted per line, penalty from "
        f"{LAMBDAS[0]:g}…{LAMBDAS[-1]:g} by leave-one-out MSE on the training genes (the "
        f"largest penalty, i.e. ≈ the mean baseline, chosen for: {at_max} conditions). "
        "ProfileGP: "
        "`phenocast.design.ProfileGP` on GO-SVD features, all lines jointly (cross-line "
        "correlation and offset chosen by marginal likelihood).",
        "",
        f"_Generated by `{command}` in {secs:.0f} s. Per-condition scores, chosen penalties and "
        "GP hyperparameters in the JSON._",
    ]
    return "\n".join(lines), met


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.update_readme:
        check_block("unseen-genes")
    from rich.console import Console

    from phenocast.data import load_gene2go, load_go_graph
    from phenocast.featurize import go_annotation_features, spectral_gene_embedding
    from phenocast.knowledge import GeneGraph

    console = Console()
    t0 = time.perf_counter()
    feats = {
        "GO-SVD": go_annotation_features(load_gene2go(), dim=64, seed=0),
        "spectral": spectral_gene_embedding(GeneGraph.from_edges(load_go_graph()), dim=64, seed=0),
    }
    results = {}
    for ds in args.datasets.split(","):
        if ds not in DATASETS:
            raise SystemExit(f"Unknown dataset {ds!r}; choose from {sorted(DATASETS)}.")
        results[ds] = run_dataset(ds, feats)
        console.log(f"{ds}: {results[ds]['genes']} genes, skipped {results[ds]['skipped']}")
    seconds = time.perf_counter() - t0
    command = invocation("run_unseen_genes.py", argv)
    md, met = markdown(results, command, seconds)
    console.print(md, markup=False, soft_wrap=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "unseen_genes.json"
    summary = {ds: summarise(r) for ds, r in results.items()}
    payload = {"target_met": met, "summary": summary, "results": results, "seconds": seconds}
    write_json(out, payload)
    console.log(f"wrote {out}")
    if args.update_readme:
        update_block("unseen-genes", md)
        console.log("README.md updated")


if __name__ == "__main__":
    main()
