"""Benchmark data larger than memory: write, register, train and predict from disk.

For synthetic count matrices of 10 k, 100 k and 1 M cells × 2,000 genes (sparse, on disk, in
zarr), every step runs in a child process of its own, whose wall time and peak resident memory
(``ru_maxrss`` of that child, from ``wait4``) are reported:

* ``write`` — ``synthetic(n_cells=N, out=...)`` generates and writes the cells block by block;
* ``register`` — open the store on disk and register it (one streaming pass over the values);
* ``epoch (disk)`` — one training epoch of the compositional model read from disk with the
  default settings (block-shuffled stream); cells/s counts the cells trained;
* ``epoch (memory)`` — the same epoch with the matrix read into memory first (where it fits);
* ``epoch (before)`` — the training path before this change: the matrix dense in memory,
  batch size 64 (the old default), torch's default threads;
* ``predict`` — per-cell predictions of 100 k start cells under one condition written to
  disk (``predict(..., out=)``);
* ``DDP`` — one epoch with two CPU processes (``torchrun``, gloo) beside one process, on the
  100 k set;
* ``epoch-busy-*`` — on the 10 k set, the in-memory epoch while another process keeps one core
  busy: with the default thread choice (``auto``) and with torch's default threads.

Run ``python benchmarks/run_scale.py [--sizes 10000,100000,1000000] [--repeats K] [--workdir
DIR] [--json out.json] [--update-readme]``; ``--repeats`` runs each epoch step K times, taking
turns, and reports the median (a one-epoch fit of 10 k cells lasts seconds: noisy). The
stores are written under ``--workdir`` (default: a temporary directory, removed at the end).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from _readme import update_block  # benchmarks/ is on sys.path
from _scale_table import N_GENES, load_rows, table

PREDICT_CELLS = 100_000
SYNTH = dict(n_genes=N_GENES, n_perturbations=20, n_cell_types=2, output="counts", seed=0)
ARGS = dict(perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"])


# ------------------------------------------------------------------ steps (run in children)
def _model(data: Any, **train: Any) -> Any:
    from phenocast.data import register
    from phenocast.models import Compositional, CompositionalConfig

    cfg = CompositionalConfig.from_dict({"train": {"max_epochs": 1, "val_fraction": 0.0, **train}})
    return Compositional(register(data, **ARGS), cfg)


def step(name: str, store: str, n_cells: int) -> dict[str, Any]:
    import phenocast as pc

    t0 = time.perf_counter()
    out: dict[str, Any] = {}
    if name == "write":
        pc.data.synthetic(**SYNTH, n_cells=n_cells, out=store, overwrite=True)
    elif name == "register":
        pc.data.register(pc.data.read(store), **ARGS)
    elif name.startswith("epoch"):
        data = pc.data.read(store)
        train: dict[str, Any] = {}
        if name != "epoch-disk":
            data = data.to_memory()
            train["data_path"] = "memory"
        if name == "epoch-before":
            train.update(batch_size=64, num_threads=os.cpu_count())
        if name == "epoch-busy-default":  # torch's default: one thread per core
            train.update(num_threads=os.cpu_count())
        t0 = time.perf_counter()  # the epoch alone: registration is its own step
        model = _model(data, **train).fit(data)
        out["cells_per_second"] = model.history_.cells_per_second
        out["batch_size"] = model.config.train.batch_size_for(data.n_obs)
        out["threads"] = getattr(model.history_, "threads", None)  # after the thread probe
    elif name == "predict":
        data = pc.data.read(store)
        model = _model(data, **{"max_epochs": 1}).fit(data)
        import numpy as np

        # start from control cells (predict refuses perturbed ones), under as many conditions
        # as it takes to predict PREDICT_CELLS cells
        ctrl = np.flatnonzero((data.obs["perturbation"] == "control").to_numpy())[:PREDICT_CELLS]
        starts = pc.data.read(store)[ctrl]
        firsts = data.obs[data.obs["perturbation"] != "control"].drop_duplicates("perturbation")
        k = -(-PREDICT_CELLS // len(ctrl))
        cond = firsts[["perturbation", "dose"]].iloc[:k].reset_index(drop=True)
        t0 = time.perf_counter()
        out_path = Path(store).with_suffix(".pred.zarr")
        pred = model.predict(starts, cond, out=out_path, overwrite=True)
        out["predicted_cells"] = int(pred.n_obs)
    else:
        raise SystemExit(f"unknown step {name!r}")
    out["seconds"] = time.perf_counter() - t0
    return out


def ddp_worker(store: str, world: int) -> dict[str, Any]:
    import phenocast as pc

    data = pc.data.read(store)
    train: dict[str, Any] = {"num_threads": 1}
    if world > 1:
        train.update(strategy="ddp", devices=world, accelerator="cpu")
    model = _model(data, **train).fit(data)
    return {"seconds": model.history_.seconds, "cells_per_second": model.history_.cells_per_second}


# ------------------------------------------------------------------ the parent
def _child(argv: list[str], *, torchrun: int = 0) -> dict[str, Any]:
    """Run this script as a child; its last stdout line is JSON. Adds peak RSS (GB)."""
    script = [str(Path(__file__).resolve()), *argv]
    if torchrun:
        cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={torchrun}"]
        cmd += ["--master_port", "29533", *script]
    else:
        cmd = [sys.executable, *script]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t0
    text = proc.stdout.read() if proc.stdout else ""
    if status != 0:
        raise SystemExit(f"step {argv} failed (status {status}); see its output above")
    result = json.loads(text.strip().splitlines()[-1])
    # ru_maxrss of a torchrun parent counts the launcher; the workers report their own
    result["peak_rss_gb"] = result.pop("worker_rss_gb", usage.ru_maxrss / 1024**2)
    result["wall_seconds"] = wall
    return result


def _busy() -> subprocess.Popen:
    """A competing process that keeps one core busy (single-threaded matrix products)."""
    one = {k: "1" for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")}
    code = "import numpy as np\na = np.random.rand(300, 300)\nwhile True:\n    a = a @ a / 300"
    return subprocess.Popen([sys.executable, "-c", code], env={**os.environ, **one})


def _rss_gb() -> float:
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024**2


def _argv(step_name: str, store: str, n: int) -> list[str]:
    return ["--step", step_name, "--store", store, "--cells", str(n)]


def _median(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of median cells/s, with every run's cells/s when there are several."""
    ranked = sorted(runs, key=lambda r: r["cells_per_second"])
    mid = dict(ranked[(len(ranked) - 1) // 2])
    if len(runs) > 1:
        mid["cells_per_second_runs"] = [r["cells_per_second"] for r in runs]
    return mid


def run(
    sizes: list[int], workdir: Path, steps: set[str] | None = None, repeats: int = 1
) -> dict[str, Any]:
    """Every step for every size (or only ``steps``, on stores already written); the epoch
    steps ``repeats`` times each, taking turns, reported by their median cells/s."""
    rows: list[dict[str, Any]] = []
    for n in sizes:
        store = str(workdir / f"cells{n}.zarr")
        plan = ["write", "register", "epoch-disk"]
        if n * N_GENES * 4 < 4 * 1024**3:  # the dense matrix fits comfortably
            plan += ["epoch-memory", "epoch-before"]
        if n >= 10 * PREDICT_CELLS:
            plan.append("predict")
        chosen = [p for p in plan if steps is None or p in steps]
        epochs = [p for p in chosen if p.startswith("epoch")]
        done = {"write": _child(_argv("write", store, n))} if "write" in chosen else {}
        runs: dict[str, list[dict[str, Any]]] = {p: [] for p in epochs}
        for _ in range(repeats):  # the epoch steps take turns
            for e in epochs:
                runs[e].append(_child(_argv(e, store, n)))
        for name in chosen:
            res = done.get(name) or (_median(runs[name]) if name in runs else None)
            res = res or _child(_argv(name, store, n))
            rows.append({"cells": n, "step": name, **res})
            print(json.dumps(rows[-1]), flush=True)
        if n == 10_000 and (steps is None or "epoch-busy" in steps):
            busy = _busy()
            try:
                for name in ("epoch-busy-auto", "epoch-busy-default"):
                    res = _child(["--step", name, "--store", store, "--cells", str(n)])
                    rows.append({"cells": n, "step": name, **res})
                    print(json.dumps(rows[-1]), flush=True)
            finally:
                busy.kill()
                busy.wait()
        if n == 100_000 and (steps is None or "ddp" in steps):
            for world in (1, 2):
                res = _child(["--ddp", store, "--world", str(world)], torchrun=world)
                rows.append({"cells": n, "step": f"ddp-{world}", **res})
                print(json.dumps(rows[-1]), flush=True)
    return {"genes": N_GENES, "cpus": os.cpu_count(), "rows": rows}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--sizes", default="10000,100000,1000000")
    ap.add_argument("--workdir", type=Path)
    ap.add_argument("--json", type=Path)
    ap.add_argument("--update-readme", action="store_true")
    ap.add_argument("--table-from", help="print (and --update-readme) from --json files (a,b)")
    ap.add_argument("--steps", help="only these steps (comma list), on stores already written")
    ap.add_argument("--repeats", type=int, default=1, help="runs of each epoch step (median)")
    ap.add_argument("--caption", help="the commands that measured the rows (with --table-from)")
    ap.add_argument("--step"), ap.add_argument("--store"), ap.add_argument("--cells", type=int)
    ap.add_argument("--ddp"), ap.add_argument("--world", type=int, default=1)
    args = ap.parse_args()
    if args.repeats < 1:
        ap.error(f"--repeats must be at least 1, not {args.repeats}")
    if args.step:  # a child
        print(json.dumps({**step(args.step, args.store, args.cells), "worker_rss_gb": _rss_gb()}))
        return
    if args.ddp:  # a torchrun worker: rank 0 reports
        res = ddp_worker(args.ddp, args.world)
        if int(os.environ.get("RANK", "0")) == 0:
            print(json.dumps({**res, "worker_rss_gb": _rss_gb()}))
        return
    sizes = [int(s) for s in args.sizes.split(",")]
    if args.table_from:  # the table of earlier runs, from their JSON (comma-separated)
        runs = [load_rows(Path(p)) for p in str(args.table_from).split(",")]
        result = {**runs[0], "rows": [r for run in runs for r in run["rows"]]}
        args.sizes = ",".join(str(n) for n in dict.fromkeys(r["cells"] for r in result["rows"]))
    else:
        workdir = args.workdir or Path(tempfile.mkdtemp(prefix="phenocast-scale-"))
        try:
            steps = None if args.steps is None else set(args.steps.split(","))
            result = run(sizes, workdir, steps, args.repeats)
        finally:
            if args.workdir is None:
                shutil.rmtree(workdir, ignore_errors=True)
    text = table(result)
    print(text)
    if args.json and not args.table_from:
        from phenocast.data import write_json

        write_json(args.json, result)
    if args.update_readme:
        caption = args.caption or f"`python benchmarks/run_scale.py --sizes {args.sizes}`"
        update_block("scale", text + f"\n\n_Measured by {caption}._")


if __name__ == "__main__":
    main()
