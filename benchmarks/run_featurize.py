"""Benchmark phenocast's featurisers on the shared priors.

Times loading the GO-similarity graph (371k directed edges → ``GeneGraph``), its spectral
embedding (dim 64 and 256) and random-walk embedding of ~18.8k genes, GO-annotation SVD
features from gene2go, a 2-hop propagation of the GO-SVD features over the graph, and Morgan
fingerprints of the sci-Plex 3 drugs (needs RDKit; skipped without it). The issue's target is
loading the GO graph and embedding its genes in under 30 s on 2 CPU cores; each embedding's
"+ load" column is that sum.

Run ``OPENBLAS_NUM_THREADS=1 taskset -c 0,1 python benchmarks/run_featurize.py [--repeats 1]
[--json out.json]``. The table shows the median over repeats, the first (cold) run, and the
ratio to the previous run's median read from the JSON file being replaced
(``benchmarks/results/featurize.json`` unless ``--json`` says otherwise).
"""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any

from _timing import timed  # benchmarks/ is on sys.path

from phenocast.data import load_gene2go, load_go_graph, write_json
from phenocast.featurize import (
    go_annotation_features,
    morgan_fingerprints,
    propagate_features,
    random_walk_embedding,
    sciplex_smiles,
    spectral_gene_embedding,
)
from phenocast.knowledge import GeneGraph

ROOT = Path(__file__).resolve().parent.parent
TARGET_SECONDS = 30.0


def _row(step: str, out: Any, median: float, first: float, load_s: float | None) -> dict:
    row: dict[str, Any] = {"step": step, "seconds": median, "first_s": first}
    if load_s is not None:
        row["with_load_s"] = load_s + median
    if hasattr(out, "matrix"):
        row |= {"rows": len(out), "dim": out.dim, "hash": out.content_hash, "method": out.method}
    elif isinstance(out, GeneGraph):
        row |= {"rows": len(out.genes), "dim": None, "hash": out.content_hash}
    return row


def _previous(path: Path) -> dict[str, float]:
    try:
        old = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return {r["step"]: r["seconds"] for r in old.get("steps", [])}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=1)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/featurize.json")
    args = parser.parse_args(argv)
    r = args.repeats
    previous = _previous(args.json)

    def load_graph() -> GeneGraph:
        return GeneGraph.from_edges(load_go_graph(), name="GO Jaccard top-20")

    rows = []
    graph, load_s, first = timed(load_graph, r)
    rows.append(_row("load GO graph", graph, load_s, first, None))
    for dim in (64, 256):
        out, med, first = timed(lambda d=dim: spectral_gene_embedding(graph, dim=d, seed=0), r)
        rows.append(_row(f"spectral dim {dim}", out, med, first, load_s))
    out, med, first = timed(lambda: random_walk_embedding(graph, dim=64, seed=0), r)
    rows.append(_row("random walk dim 64", out, med, first, load_s))
    g2go, g2go_s, first = timed(load_gene2go, r)
    rows.append(_row("load gene2go", None, g2go_s, first, None))
    go_svd, med, first = timed(lambda: go_annotation_features(g2go, dim=256, seed=0), r)
    rows.append(_row("GO-annotation SVD dim 256", go_svd, med, first, g2go_s))
    out, med, first = timed(lambda: propagate_features(go_svd, graph, hops=2), r)
    rows.append(_row("2-hop propagation of GO-SVD", out, med, first, None))
    try:
        import rdkit  # noqa: F401
    except ImportError:
        print(
            "RDKit is not installed: Morgan fingerprints skipped (pip install 'phenocast[chem]')."
        )
    else:
        smiles, smiles_s, first = timed(sciplex_smiles, r)
        rows.append(_row("load sci-Plex SMILES", None, smiles_s, first, None))
        out, med, first = timed(lambda: morgan_fingerprints(smiles), r)
        rows.append(_row("Morgan r2 2048-bit (sci-Plex)", out, med, first, smiles_s))

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    threads = os.environ.get("OPENBLAS_NUM_THREADS", "unset")
    print(f"Featurisers on the shared priors ({cores} CPU core(s), OPENBLAS_NUM_THREADS="
          f"{threads}, median of {r})\n")  # fmt: skip
    print(f"| {'step':<30}| {'rows':>7} | {'dim':>5} | seconds | first s | + load s | "
          "vs previous | content hash     |")  # fmt: skip
    print(f"|{'-' * 31}|{'-' * 9}|{'-' * 7}|{'-' * 9}|{'-' * 9}|{'-' * 10}|{'-' * 13}|{'-' * 18}|")
    for row in rows:
        old = previous.get(row["step"])
        ratio = f"{row['seconds'] / old:10.2f}×" if old else f"{'—':>11}"
        with_load = f"{row['with_load_s']:8.2f}" if "with_load_s" in row else f"{'':8}"
        print(
            f"| {row['step']:<30}| {row.get('rows') or '':>7} | {row.get('dim') or '':>5} | "
            f"{row['seconds']:7.2f} | {row['first_s']:7.2f} | {with_load} | {ratio} | "
            f"{row.get('hash', ''):<16} |"
        )
    graph_rows = [x for x in rows if x["step"].startswith(("spectral", "random walk"))]
    print(f"\nTarget: load the GO graph and embed its genes in under {TARGET_SECONDS:.0f} s.")
    for row in graph_rows:
        verdict = "met" if row["with_load_s"] < TARGET_SECONDS else "MISSED"
        print(f"  {row['step']}: {row['with_load_s']:.2f} s with loading ({verdict})")

    result = {
        "cpu_cores": cores,
        "openblas_threads": threads,
        "repeats": r,
        "target_s": TARGET_SECONDS,
        "steps": rows,
    }
    write_json(args.json, result, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
