"""Benchmark loading phenocast's priors into typed knowledge graphs.

For the GO-similarity graph (371k edges), gene2go and PROGENy (top-100 footprint and full
model): the time to read the shared file (``phenocast.data`` loader), to validate and build the
:class:`~phenocast.knowledge.KnowledgeGraph` from the loaded table, and their sum, against the
issue's 30-second target for the GO graph; plus writing the GO graph as a PrimeKG-format CSV
and reading it back with :func:`~phenocast.knowledge.read_primekg` (same content hash).

Run ``taskset -c 0,1 python benchmarks/run_knowledge.py [--repeats 3] [--json out.json]``
(the target is for 2 CPU cores); the median over repeats is shown beside the first (cold) run,
and the result is written to ``benchmarks/results/knowledge.json`` unless ``--json`` says
otherwise.
"""

from __future__ import annotations

import argparse
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from _timing import timed  # benchmarks/ is on sys.path

from phenocast.data import load_gene2go, load_go_graph, load_progeny, write_json
from phenocast.knowledge import KnowledgeGraph, read_primekg

ROOT = Path(__file__).resolve().parent.parent
GO_TARGET_SECONDS = 30.0


def _prior(
    name: str,
    load: Callable[[], Any],
    build: Callable[[Any], KnowledgeGraph],
    repeats: int,
) -> dict[str, Any]:
    table, read_s, read_first = timed(load, repeats)
    kg, build_s, build_first = timed(lambda: build(table), repeats)
    return {
        "prior": name,
        "rows": len(table),
        "nodes": len(kg.nodes),
        "edges": len(kg.edges),
        "read_s": read_s,
        "build_s": build_s,
        "total_s": read_s + build_s,
        "first_total_s": read_first + build_first,
        "content_hash": kg.content_hash,
        "fixups": kg.report.fixups,
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--json", type=Path, default=ROOT / "benchmarks/results/knowledge.json")
    args = parser.parse_args(argv)

    rows = [
        _prior("GO graph", load_go_graph, KnowledgeGraph.from_go_graph, args.repeats),
        _prior("gene2go", load_gene2go, KnowledgeGraph.from_gene2go, args.repeats),
        _prior(
            "PROGENy top 100",
            lambda: load_progeny(top100=True),
            KnowledgeGraph.from_progeny,
            args.repeats,
        ),
        _prior(
            "PROGENy full",
            lambda: load_progeny(top100=False),
            KnowledgeGraph.from_progeny,
            args.repeats,
        ),
    ]
    go = KnowledgeGraph.from_go_graph()
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "go_kg.csv.gz"
        _, write_s, _ = timed(lambda: go.to_csv(path), args.repeats)
        back, reread_s, _ = timed(lambda: read_primekg(path), args.repeats)
    round_trip = {
        "write_s": write_s,
        "read_primekg_s": reread_s,
        "same_hash": back.content_hash == go.content_hash,
    }

    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    print(f"Knowledge graphs from the shared priors ({cores} CPU core(s), median of "
          f"{args.repeats})\n")  # fmt: skip
    print(f"| {'prior':<16}| {'rows':>9} | {'nodes':>7} | {'edges':>9} | read s | build s | "
          "total s | first s | content hash     |")  # fmt: skip
    print(
        f"|{'-' * 17}|{'-' * 11}|{'-' * 9}|{'-' * 11}|{'-' * 8}|{'-' * 9}|{'-' * 9}|{'-' * 9}|"
        f"{'-' * 18}|"
    )
    for r in rows:
        print(
            f"| {r['prior']:<16}| {r['rows']:>9,} | {r['nodes']:>7,} | {r['edges']:>9,} | "
            f"{r['read_s']:6.2f} | {r['build_s']:7.2f} | {r['total_s']:7.2f} | "
            f"{r['first_total_s']:7.2f} | "
            f"{r['content_hash']} |"
        )
    go_total = max(rows[0]["total_s"], rows[0]["first_total_s"])
    print(
        f"\nGO graph: {go_total:.2f} s (slower of median and first run) against the "
        f"{GO_TARGET_SECONDS:.0f} s target "
        f"({'met' if go_total < GO_TARGET_SECONDS else 'MISSED'}). As a PrimeKG CSV (.gz): "
        f"written in {write_s:.2f} s, read back by read_primekg in {reread_s:.2f} s, "
        f"content hash {'unchanged' if round_trip['same_hash'] else 'CHANGED'}."
    )
    for r in rows:
        for fix in r["fixups"]:
            print(f"  {r['prior']}: {fix}")

    result = {
        "cpu_cores": cores,
        "repeats": args.repeats,
        "priors": rows,
        "go_target_s": GO_TARGET_SECONDS,
        "go_round_trip": round_trip,
    }
    write_json(args.json, result, indent=2)
    print(f"\nwrote {args.json}")


if __name__ == "__main__":
    main()
