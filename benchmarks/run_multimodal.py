"""Multimodal perturbation model (issue 7): cross-modal prediction on CMEA, held-out drug pairs
on CellBox, the value of a second modality, and mutual information on synthetic data.

Tasks (definitions in docs/benchmarks.md, sections ``multimodal-*``):

* ``cmea`` — CMEA CDRP U2OS (163 compounds, L1000 978 genes, Cell Painting 812 features),
  5 folds over compounds (``data.folds(5, seed=0)``), both directions. Models: no-change (0),
  training mean, ridge (standardised inputs, penalty by leave-one-out CV on the training fold),
  ``MultiModalModel`` (also without private latents, and with its regularisation chosen on an
  inner split of the training fold) and ridge / model fitted on a shuffled pairing (target
  rows permuted relative to the source rows in the training fold, ``default_rng(0)``).
* ``cellbox`` — CellBox Korkut 2015 (89 conditions; 82 proteins, 5 phenotypes),
  leave-one-pair-out: the model is fitted without the pair and generates its proteins and
  phenotypes from the perturbation alone. Baselines: additive (sum of the two drugs' single
  profiles, at the pair's concentration when measured, else the nearest in log concentration)
  and no-change.
* ``second`` — the same leave-one-pair-out protein prediction by a model trained on proteins
  only vs on proteins + phenotypes.
* ``synthetic`` — the models' predictive MI estimates (and ``gaussian_mi``) vs the analytic
  MI of ``synthetic_multimodal`` for seeds 0–5.
* ``real-mi`` — ``gaussian_mi`` between the readouts of both real datasets, grouped by
  perturbation.

The configurations are in ``_multimodal_tasks.py`` (``model_config``, ``CFG_TEXT``; how they
were chosen is stated in the report), the CMEA tasks there too, CellBox in
``_multimodal_cellbox.py`` and the report's Markdown in ``_multimodal_report.py``; the baselines
are library functions (``phenocast.models.CrossModalRidge``, ``additive_from_singles``). Run
``python benchmarks/run_multimodal.py [--tasks cmea,cellbox,second,synthetic,real-mi]
[--update-readme]``.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

# benchmarks/ is on sys.path
from _multimodal_cellbox import run_cellbox
from _multimodal_report import markdown
from _multimodal_tasks import CFG_TEXT, SYNTHETIC_MODELS, fit, run_cmea, run_cmea_half
from _readme import check_block, invocation, update_block

ROOT = Path(__file__).resolve().parent.parent
TASKS = ("cmea", "cellbox", "second", "synthetic", "real-mi")


# ---------------------------------------------------------------------- (d) synthetic MI
SYNTHETIC_SEEDS = (0, 1, 2, 3, 4, 5)  # 0-2 were used while choosing the configuration


def run_synthetic(log: Any) -> dict[str, Any]:
    from phenocast.metrics import gaussian_mi
    from phenocast.multimodal import synthetic_multimodal

    rows = []
    for seed in SYNTHETIC_SEEDS:
        data, truth = synthetic_multimodal(
            n_samples=600, dims={"rna": 30, "morphology": 20}, seed=seed
        )
        split = data.folds(3, seed=0)[0]
        train, test = data.subset(split.train), data.subset(split.test)
        true = truth.mi_between("rna", "morphology")
        row: dict[str, Any] = {"seed": seed, "truth": true}
        for name, variant in SYNTHETIC_MODELS.items():
            model = fit(train, variant)
            est = model.mutual_information(test, "rna", "morphology", n_boot=1000, seed=0)
            row[name] = [est.value, est.ci_low, est.ci_high]
            row[f"{name} covers"] = bool(est.ci_low <= true <= est.ci_high)
        g = gaussian_mi(data.matrix("rna"), data.matrix("morphology"), n_boot=200, seed=0)
        row["gaussian"] = [g.value, g.ci_low, g.ci_high]
        row["gaussian covers"] = bool(g.ci_low <= true <= g.ci_high)
        row["gaussian_components"] = list(g.details["n_components"])
        rows.append(row)
        log(f"synthetic seed {seed}: done")
    return {"rows": rows}


REAL_MI = {
    "cmea_cdrp_u2os": ("l1000", "cellpainting"),
    "cellbox_korkut2015": ("proteins", "phenotypes"),
}


def run_real_mi(log: Any) -> dict[str, Any]:
    """gaussian_mi between the two readouts of each real dataset, with its bootstrap interval
    and a permutation p-value (200 shuffled pairings)."""
    from phenocast.metrics import gaussian_mi
    from phenocast.multimodal import load

    rows = []
    for name, (a, b) in REAL_MI.items():
        data = load(name)
        # dose series of one drug (or drug pair) are one group: folds and bootstrap keep them
        groups = np.array([c.perturbation for c in data.conditions], dtype=object)
        g = gaussian_mi(
            data.matrix(a), data.matrix(b), n_boot=200, n_perm=200, groups=groups, seed=0
        )
        rows.append(
            {
                "dataset": name,
                "pair": f"{a}–{b}",
                "n": g.n,
                "groups": g.details["n_groups"],
                "value": g.value,
                "ci": [g.ci_low, g.ci_high],
                "se": g.se,
                "p_perm": g.details.get("p_value"),
                "components": list(g.details["n_components"]),
            }
        )
        log(f"real MI {name}: {g.value:.3f}")
    return {"rows": rows}


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tasks", default=",".join(TASKS))
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results")
    parser.add_argument("--update-readme", action="store_true")
    parser.add_argument(
        "--render",
        type=Path,
        metavar="JSON",
        help="Only write the report of an earlier run's multimodal.json (no model is fitted).",
    )
    args = parser.parse_args(argv)
    if args.render is not None:
        payload = json.loads(args.render.read_text())
        md = markdown(payload["results"], payload["command"], payload["seconds"])
        print(md)
        if args.update_readme:
            update_block("multimodal", md)
        return
    tasks = args.tasks.split(",")
    if unknown := sorted(set(tasks) - set(TASKS)):
        raise SystemExit(f"Unknown task(s) {unknown}; choose from {list(TASKS)}.")
    if args.update_readme:
        check_block("multimodal")
    t0 = time.perf_counter()

    def log(msg: str) -> None:
        print(f"[{time.perf_counter() - t0:6.0f} s] {msg}", file=sys.stderr, flush=True)

    results: dict[str, Any] = {}
    if "cmea" in tasks:
        results["cmea"] = run_cmea(log)
    if "cellbox" in tasks or "second" in tasks:
        results["cellbox"] = run_cellbox(log, second="second" in tasks, main="cellbox" in tasks)
    if "second" in tasks:
        results["cmea_half"] = run_cmea_half(log)
    if "synthetic" in tasks:
        results["synthetic"] = run_synthetic(log)
    if "real-mi" in tasks:
        results["real-mi"] = run_real_mi(log)
    seconds = time.perf_counter() - t0
    command = invocation("run_multimodal.py", argv)
    md = markdown(results, command, seconds)
    print(md)
    args.out.mkdir(parents=True, exist_ok=True)
    out = args.out / "multimodal.json"
    payload = {"config": CFG_TEXT, "command": command, "results": results, "seconds": seconds}
    from phenocast.data import atomic_write_text

    atomic_write_text(out, json.dumps(payload, indent=1, default=float))
    log(f"wrote {out}")
    if args.update_readme:
        update_block("multimodal", md)
        log("README.md updated")


if __name__ == "__main__":
    main()
