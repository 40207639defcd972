"""The README table of ``run_scale.py``'s rows, with the ratios the scale targets ask for."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

#: Genes of every synthetic set (run_scale.py imports it).
N_GENES = 2000


def load_rows(path: Path) -> dict[str, Any]:
    """A ``--json`` result, or the log of a run (its printed JSON row lines)."""
    text = path.read_text()
    if path.suffix == ".json":
        return json.loads(text)
    rows = [json.loads(ln) for ln in text.splitlines() if ln.startswith('{"cells"')]
    return {"genes": N_GENES, "cpus": os.cpu_count(), "rows": rows}


def table(result: dict[str, Any]) -> str:
    lines = [
        "| cells | step | seconds | cells/s | peak RSS (GB) |",
        "|---:|---|---:|---:|---:|",
    ]
    for r in result["rows"]:
        cps = r.get("cells_per_second")
        lines.append(
            f"| {r['cells']:,} | {r['step']} | {r['seconds']:.1f} | "
            f"{'' if cps is None else f'{cps:,.0f}'} | {r['peak_rss_gb']:.2f} |"
        )
    by = {(r["cells"], r["step"]): r for r in result["rows"]}
    notes = []
    for n in sorted({r["cells"] for r in result["rows"]}):
        disk, mem, before = (by.get((n, s)) for s in ("epoch-disk", "epoch-memory", "epoch-before"))
        if disk and mem:
            ratio = disk["cells_per_second"] / mem["cells_per_second"]
            notes.append(f"{n:,} cells: on-disk throughput {ratio:.0%} of in-memory")
        for label, new in (("on disk", disk), ("in memory", mem)):
            if new and before:
                ratio = new["cells_per_second"] / before["cells_per_second"]
                notes.append(
                    f"{n:,} cells: default batch size and path ({label}) {ratio:.2f}× the "
                    "cells/s of the path before (dense, batch 64, torch's default threads)"
                )
    for r in result["rows"]:
        if "cells_per_second_runs" in r:
            runs = r["cells_per_second_runs"]
            notes.append(
                f"{r['cells']:,} cells, {r['step']}: median of {len(runs)} runs taking turns "
                f"with the other epoch steps ({min(runs):,.0f}–{max(runs):,.0f} cells/s)"
            )
    sec = {n: by[(n, "epoch-disk")]["seconds"] for n, s in by if s == "epoch-disk"}
    if 100_000 in sec and 1_000_000 in sec:
        notes.append(f"seconds per epoch, 1 M / 100 k: {sec[1_000_000] / sec[100_000]:.1f}×")
    if (10_000, "epoch-busy-auto") in by and (10_000, "epoch-busy-default") in by:
        auto, default = by[(10_000, "epoch-busy-auto")], by[(10_000, "epoch-busy-default")]
        ratio = auto["cells_per_second"] / default["cells_per_second"]
        notes.append(
            f"10,000 cells beside a process busy on one core: {auto['cells_per_second']:,.0f} "
            f"cells/s with the default thread choice vs {default['cells_per_second']:,.0f} with "
            f"torch's default threads ({ratio:.1f}×)"
        )
    if (100_000, "ddp-1") in by and (100_000, "ddp-2") in by:
        one, two = by[(100_000, "ddp-1")], by[(100_000, "ddp-2")]
        notes.append(
            f"DDP on CPU, 100 k cells: 2 processes {two['seconds']:.1f} s vs 1 process "
            f"{one['seconds']:.1f} s per epoch ({result['cpus']} cores)"
        )
    return "\n".join(lines + [""] + [f"- {s}" for s in notes])
