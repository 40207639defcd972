"""Does the gene prior raise the hit ratio of the active-learning screens? (issue 6 item 3b)

The screen-al replay (`run_active_learning.py`: five GeneDisco screens, 64 random genes, then 20
cycles of 64, hits = top 1 %, Bayesian-ridge surrogate on 256-d GO-annotation features) run for
the strategies that use the prior — greedy and hit-model (the features), kg-exploit (the
features and the GO-similarity graph) — twice: with the real prior, and with the prior
scrambled by a seeded permutation (feature rows permuted among the genes that have features,
graph node labels permuted among the graph's nodes). The pool, the essential-gene list and
everything else are the same, so the difference is what the prior's gene-to-knowledge
assignment is worth. Random is the floor.

Run ``python benchmarks/run_screen_prior.py [--seeds 5] [--update-readme]``.
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
from run_active_learning import SCREENS  # the screen-al screens, in its order

from phenocast.data import write_json

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("greedy", "hit-model", "kg-exploit")


def scrambled(feats: Any, graph_edges: pd.DataFrame, seed: int) -> tuple[Any, Any]:
    """The prior with genes' knowledge reassigned at random (same values, other genes)."""
    from phenocast.featurize import GeneFeatures
    from phenocast.knowledge import GeneGraph

    rng = np.random.default_rng(seed)
    perm = rng.permutation(len(feats.genes))
    shuffled = GeneFeatures(
        genes=feats.genes,
        matrix=feats.matrix[perm],
        source=feats.source,
        method=f"{feats.method}, rows permuted (seed {seed})",
    )
    nodes = pd.unique(pd.concat([graph_edges["source"], graph_edges["target"]]).astype(str))
    relabel = dict(zip(nodes, rng.permutation(nodes), strict=True))
    edges = graph_edges.assign(
        source=graph_edges["source"].astype(str).map(relabel),
        target=graph_edges["target"].astype(str).map(relabel),
    )
    return shuffled, GeneGraph.from_edges(edges, name=f"GO graph, labels permuted ({seed})")


def run_one(screen: str, oracle: Any, strategy: str, seed: int, prior: tuple) -> dict[str, Any]:
    from phenocast.design import ActiveLoop

    feats, graph, essential = prior
    loop = ActiveLoop(
        "bayesian-ridge", feats, oracle, strategy, batch_size=64, cycles=20, seed=seed,
        graph=graph, essential=essential,
    )  # fmt: skip
    res = loop.run()
    cyc = res.cycles.set_index("cycle")
    return {"hit_ratio_20": float(cyc.loc[20, "recall_in_pool"]), "hits": int(res.n_hits)}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    from threadpoolctl import threadpool_limits  # installed with scikit-learn

    # one replay is small matrix algebra: more BLAS threads only contend (as in screen-al)
    threadpool_limits(1)
    if args.update_readme:
        check_block("screen-prior")
    from rich.console import Console

    from phenocast.data import (
        load_essential_genes,
        load_gene2go,
        load_genedisco_screen,
        load_go_graph,
    )
    from phenocast.design import ReplayOracle
    from phenocast.featurize import go_annotation_features
    from phenocast.knowledge import GeneGraph

    console = Console()
    t0 = time.perf_counter()
    feats = go_annotation_features(load_gene2go(), dim=256, seed=0)
    edges = load_go_graph()
    real = (feats, GeneGraph.from_edges(edges, name="GO Jaccard top-20"), load_essential_genes())
    # one scrambled prior per seed, shared by the screens (building the graph takes a second)
    fakes = {
        seed: (*scrambled(feats, edges, seed=1000 + seed), real[2]) for seed in range(args.seeds)
    }
    rows = []
    for screen in SCREENS:
        oracle = ReplayOracle.from_screen(load_genedisco_screen(screen))
        for seed in range(args.seeds):
            rows.append(
                {"screen": screen, "strategy": "random", "prior": "—", "seed": seed}
                | run_one(screen, oracle, "random", seed, real)
            )
            fake = fakes[seed]
            for strategy in STRATEGIES:
                for label, prior in (("real", real), ("scrambled", fake)):
                    rows.append(
                        {"screen": screen, "strategy": strategy, "prior": label, "seed": seed}
                        | run_one(screen, oracle, strategy, seed, prior)
                    )
        console.log(f"{screen} done ({time.perf_counter() - t0:.0f} s)")
    seconds = time.perf_counter() - t0
    frame = pd.DataFrame(rows)
    command = invocation("run_screen_prior.py", argv)
    md = markdown(frame, command, seconds, args.seeds)
    console.print(md, markup=False, soft_wrap=True)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "screen_prior.json"
    write_json(out, {"rows": rows, "seconds": seconds})
    console.log(f"wrote {out}")
    if args.update_readme:
        update_block("screen-prior", md)
        console.log("README.md updated")


def markdown(frame: pd.DataFrame, command: str, seconds: float, seeds: int) -> str:
    short = {s: s.split("_")[1] for s in SCREENS}
    head = "| strategy | prior | " + " | ".join(short[s] for s in SCREENS) + " | mean |"
    lines = [
        f"Hit ratio after 20 cycles, mean ± sd over {seeds} seeds; scrambled = the same "
        "features and graph with genes' rows / node labels permuted (a new permutation per "
        "seed).",
        "",
        head,
        "|" + "---|" * (len(SCREENS) + 3),
    ]
    for (strategy, prior), grp in frame.groupby(["strategy", "prior"], sort=False):
        cells = []
        for s in SCREENS:
            v = grp.loc[grp["screen"] == s, "hit_ratio_20"]
            cells.append(
                f"{v.mean():.3f} ± {v.std(ddof=1):.3f}" if len(v) > 1 else f"{v.mean():.3f}"
            )
        mean = grp.groupby("screen")["hit_ratio_20"].mean().mean()
        lines.append(f"| {strategy} | {prior} | " + " | ".join(cells) + f" | {mean:.3f} |")
    verdicts = []
    for strategy in STRATEGIES:
        sub = frame[frame["strategy"] == strategy]
        piv = sub.pivot_table(index=["screen", "seed"], columns="prior", values="hit_ratio_20")
        gain = (piv["real"] - piv["scrambled"]).groupby("screen").mean()
        wins = int((gain > 0).sum())
        verdicts.append(
            f"{strategy}: real − scrambled {gain.mean():+.3f} on average, higher on "
            f"{wins}/{len(SCREENS)} screens ("
            + ", ".join(f"{short[s]} {gain[s]:+.3f}" for s in SCREENS)
            + ")"
        )
    lines += [
        "",
        "What the prior is worth (paired by seed): " + "; ".join(verdicts) + ".",
        "",
        f"_Generated by `{command}` in {seconds:.0f} s._",
    ]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
