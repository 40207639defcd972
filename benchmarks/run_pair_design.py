"""Benchmark pair-al (docs/benchmarks.md): active learning over gene pairs, replayed on the
Norman et al. 2019 CRISPRa genetic-interaction map.

The pool is every pair of the 112-gene GI map (`processed_emap.csv`, 6,216 pairs; the map is
symmetric and its diagonal is left out). Pair features (`phenocast.design.PairPool`): the sum
and elementwise product of the members' GO features — TF-IDF GO annotations reduced to 256
dimensions by a seeded randomised SVD, as in screen-al — and the members' single-gene growth
phenotypes (`single_phenotype_table.csv`); the 4 genes without GO annotations keep their
pairs in the pool. Hits are strong genetic interactions of either sign: the top 3 % of the
pairs by |GI score| (186 pairs), a rule fixed before any strategy was run. Start with 96
random pairs (seed 0..9), then 8 cycles of 96; surrogate: Bayesian ridge. Strategies: random,
greedy, ucb, hit-model, the pair priors strong-singles and pair-neighbours, the default
portfolio and the pair portfolio. Nothing was tuned on this map; the best single strategy is
also chosen on half the seeds and scored on the other half (:func:`held_out_by_seeds`).

Run ``python benchmarks/run_pair_design.py [--quick] [--jobs N] [--update-readme]``.
"""

from __future__ import annotations

import argparse
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _readme import check_block, invocation, update_block  # benchmarks/ is on sys.path
from threadpoolctl import threadpool_limits  # installed with scikit-learn

from phenocast.data import write_json

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = (
    "random",
    "greedy",
    "ucb",
    "hit-model",
    "strong-singles",
    "pair-neighbours",
    "portfolio",
    "pair-portfolio",
)
#: Strategies run with their arms fixed in advance: not candidates of the held-out choice.
PORTFOLIOS = ("portfolio", "pair-portfolio")
HIT_FRACTION, BATCH, CYCLES = 0.03, 96, 8
REPORT_CYCLES = (4, 8)


def setup() -> dict[str, Any]:
    """The pair pool and the GI scores of the map."""
    from phenocast.data import load_gene2go, load_norman2019_gi
    from phenocast.design import PairPool, pairs_from_matrix
    from phenocast.featurize import go_annotation_features

    tables = load_norman2019_gi()
    gi = pairs_from_matrix(tables["emap_full"])
    singles = tables["single_phenotypes_full"]["a.mean"]
    feats = go_annotation_features(load_gene2go(), dim=256, seed=0)
    return {"pool": PairPool(gi.index, feats, singles=singles), "gi": gi}


def describe(data: dict[str, Any]) -> dict[str, Any]:
    """What the map offers the pair priors: how |GI| follows the singles, how concentrated
    the hits are on a few genes, and how many hits have a member without GO features."""
    from scipy.stats import spearmanr

    pool, gi = data["pool"], data["gi"]
    oracle = pool.oracle(gi, direction="both", hit_fraction=HIT_FRACTION)
    names = list(oracle.values.index)
    ab = pool.members(names)
    s = np.abs(pool.singles.to_numpy(dtype=float))
    hits = oracle.hits()
    per_gene = pd.Series([g for h in hits for g in h.split(pool.sep)]).value_counts()
    return {
        "rho_singles": float(spearmanr(oracle.values.to_numpy(), s[ab[:, 0]] * s[ab[:, 1]])[0]),
        "top10_hits": sum(any(g in per_gene.index[:10] for g in h.split(pool.sep)) for h in hits),
        "featureless_hits": len(hits & set(pool.pairs_without_features)),
    }


def run_one(data: dict[str, Any], strategy: str, seed: int) -> dict[str, Any]:
    from phenocast.design import ActiveLoop

    pool = data["pool"]
    oracle = pool.oracle(data["gi"], direction="both", hit_fraction=HIT_FRACTION)
    res = ActiveLoop("bayesian-ridge", pool, oracle, strategy, batch_size=BATCH, cycles=CYCLES,
                     seed=seed).run()  # fmt: skip
    cyc = res.cycles.set_index("cycle")
    picked = res.picks[res.picks["featureless"]]
    return {
        "strategy": strategy,
        "seed": seed,
        "pool": res.meta["pool"],
        "hits": res.n_hits,
        "featureless": res.meta["featureless"],
        "featureless_picked": res.meta["featureless_picked"],
        "featureless_hits_found": int(picked["hit"].sum()),
        **{f"hits_{c}": int(cyc.loc[c, "hits_found"]) for c in REPORT_CYCLES},
        **{f"precision_{c}": float(cyc.loc[c, "precision"]) for c in REPORT_CYCLES},
        **{f"recall_{c}": float(cyc.loc[c, "recall"]) for c in REPORT_CYCLES},
        **{f"measured_{c}": int(cyc.loc[c, "measured"]) for c in REPORT_CYCLES},
        "curve": cyc["hits_found"].tolist(),
        "seconds": res.seconds,
    }


def held_out_by_seeds(frame: pd.DataFrame, column: str) -> pd.DataFrame:
    """Choose the strategy of best mean ``column`` on one half of the seeds, score it on the
    other half; once per half (halves: the first and second half of the sorted seeds).

    Returns one row per held-out half: ``chosen``, ``selection`` (its mean on the choosing
    half) and ``held_out`` (its mean on the held-out half).
    """
    seeds = sorted(set(frame["seed"]))
    if len(seeds) < 2:
        raise ValueError(f"A held-out choice needs at least 2 seeds, got {seeds}.")
    halves = (seeds[: len(seeds) // 2], seeds[len(seeds) // 2 :])
    rows = []
    for choose, score in (halves, halves[::-1]):
        means = frame[frame["seed"].isin(choose)].groupby("strategy", sort=False)[column].mean()
        chosen = str(means.idxmax())  # first of the best in table order
        held = frame[frame["seed"].isin(score) & (frame["strategy"] == chosen)][column].mean()
        rows.append({"choose_on": choose, "score_on": score, "chosen": chosen,
                     "selection": float(means[chosen]), "held_out": float(held)})  # fmt: skip
    return pd.DataFrame(rows)


def markdown(
    rows: list[dict[str, Any]], facts: dict[str, Any], command: str, seconds: float
) -> str:
    frame = pd.DataFrame(rows)
    strategies = [s for s in STRATEGIES if s in set(frame["strategy"])]
    seeds = sorted(set(frame["seed"]))
    first = frame.iloc[0]
    c1, c2 = REPORT_CYCLES
    n1, n2 = first[f"measured_{c1}"], first[f"measured_{c2}"]
    agg = frame.drop(columns="curve").groupby("strategy").agg(["mean", "std"])
    ref = {s: agg.loc[s, (f"hits_{c2}", "mean")] for s in ("greedy", "random") if s in agg.index}
    lines = [
        f"Hits found among the first {n1} and {n2} pairs measured (96 random, then cycles of "
        f"96; mean ± sd over seeds {seeds[0]}–{seeds[-1]}) of {first['pool']:,} pairs; hits = "
        f"the top 3 % by |GI score| ({first['hits']} pairs). Precision = hits / pairs "
        "measured, recall = hits / all hits of the map.",
        "",
        f"| strategy | hits @{n1} | hits @{n2} | precision @{n2} | recall @{n2} | × greedy "
        f"| × random | pairs without GO features picked (hits) |",
        "|---|---|---|---|---|---|---|---|",
    ]

    def ms(s: str, col: str, fmt: str) -> str:
        m, sd = agg.loc[s, (col, "mean")], agg.loc[s, (col, "std")]
        return f"{m:{fmt}} ± {0 if np.isnan(sd) else sd:{fmt}}"

    for s in strategies:
        mean = agg.loc[s, (f"hits_{c2}", "mean")]
        ratios = [f"{mean / ref[r]:.2f}" if r in ref else "—" for r in ("greedy", "random")]
        fl = f"{agg.loc[s, ('featureless_picked', 'mean')]:.0f}"
        flh = f"{agg.loc[s, ('featureless_hits_found', 'mean')]:.1f}"
        lines.append(
            f"| {s} | {ms(s, f'hits_{c1}', '.1f')} | {ms(s, f'hits_{c2}', '.1f')} | "
            f"{ms(s, f'precision_{c2}', '.3f')} | {ms(s, f'recall_{c2}', '.3f')} | "
            f"{ratios[0]} | {ratios[1]} | {fl} ({flh}) |"
        )
    singles = frame[~frame["strategy"].isin(PORTFOLIOS)]
    if len(seeds) >= 2 and singles["strategy"].nunique() > 1:
        col = f"hits_{c2}"
        held = held_out_by_seeds(singles, col)
        best = singles.groupby("strategy")[col].mean()
        top = str(best.idxmax())
        outs = ", ".join(
            f"{r.chosen} on seeds {r.choose_on[0]}–{r.choose_on[-1]} → {r.held_out:.1f} on "
            f"{r.score_on[0]}–{r.score_on[-1]}"
            for r in held.itertuples()
        )
        lines += [
            "",
            f"Choosing one strategy (portfolios aside) by looking at this map: in-sample the "
            f"best is {top} ({best[top]:.1f} hits @{n2}); chosen on one half of the seeds and "
            f"scored on the other ({outs}) it finds {held['held_out'].mean():.1f}, the "
            "held-out number. The halves share the map, so this guards against seed luck, "
            "not against a choice that fits this map only.",
        ]
    lines += [
        "",
        f"Pool: {first['pool']:,} pairs of 112 genes; {first['featureless']} pairs have a "
        "member without GO features (ELMSAN1, IER5L, RP5-862P8.2, TMEM173) and stay in the "
        "pool, featurised by the other member and the singles "
        f"({facts['featureless_hits']} of the {first['hits']} hits are among them). "
        f"Over all pairs, Spearman ρ of |GI| with |s_A|·|s_B| (the singles' strength, "
        f"strong-singles' ranking) = {facts['rho_singles']:.2f}; the 10 genes in most hit "
        f"pairs are members of {facts['top10_hits']} of the {first['hits']} hits (what "
        "pair-neighbours can follow).",
        "",
        f"_Generated by `{command}` in {seconds:.0f} s; one replay takes "
        f"{np.median(frame['seconds']):.1f} s (median). Per-seed values and curves in the "
        "JSON._",
    ]
    return "\n".join(lines)


_WORKER: dict[str, Any] = {}


def _task(task: tuple[str, list[int]]) -> list[dict[str, Any]]:
    strategy, seeds = task
    return [run_one(_WORKER["data"], strategy, s) for s in seeds]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2 seeds")
    parser.add_argument("--strategies", default=",".join(STRATEGIES))
    parser.add_argument("--seeds", type=int, default=10)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "pairs")
    parser.add_argument("--jobs", type=int, default=1, help="replays run in parallel")
    parser.add_argument("--update-readme", action="store_true")
    args = parser.parse_args(argv)
    if args.update_readme:
        if args.quick:
            raise SystemExit("--update-readme refuses --quick numbers.")
        check_block("pair-design")  # fail fast, before the run
    from rich.console import Console

    console = Console()
    seeds = list(range(2 if args.quick else args.seeds))
    # small matrix algebra: BLAS threads only contend with each other and the --jobs workers
    threadpool_limits(1)
    t0 = time.perf_counter()
    _WORKER["data"] = setup()  # forked workers inherit it
    console.log(f"pool ready in {time.perf_counter() - t0:.0f} s: {_WORKER['data']['pool']!r}")
    tasks = [(s, seeds) for s in args.strategies.split(",")]
    rows: list[dict[str, Any]] = []
    with ProcessPoolExecutor(args.jobs, mp_context=get_context("fork")) as workers:
        for (strategy, _), got in zip(tasks, workers.map(_task, tasks), strict=True):
            rows += got
            hits = [r[f"hits_{REPORT_CYCLES[-1]}"] for r in got]
            console.log(f"{strategy}: {np.mean(hits):.1f} ± {np.std(hits):.1f}", markup=False)
    seconds = time.perf_counter() - t0
    command = invocation("run_pair_design.py", argv)
    md = markdown(rows, describe(_WORKER["data"]), command, seconds)
    console.print(md, markup=False)
    args.out.mkdir(parents=True, exist_ok=True)
    write_json(args.out / "pair_design.json", rows)
    if args.update_readme:
        update_block("pair-design", md)
        console.log("README.md updated")


if __name__ == "__main__":
    main()
