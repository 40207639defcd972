"""The single-cell tasks on the second yardsticks (issue 17): cell-eval's scores and the
distribution metrics beside the mean metrics (each task's own, plus l2 and mse_top20_deg on every
task), for each task's baselines and the compositional model, in one run.

    PHENOCAST_DATA_DIR=../shared/data python benchmarks/run_yardsticks.py --update-readme

Mean-only baselines are scored as the context's control cells plus their predicted mean change
(the per-cell baseline); the compositional model as its per-cell predictions plus each start
cell's own residual (``· sampled noise``: its means plus Gaussian noise of its predicted
variance instead). Definitions in docs/benchmarks.md. With
``--update-readme`` the tables replace the README block between ``<!-- yardsticks:begin -->``
and ``<!-- yardsticks:end -->``.
"""

from __future__ import annotations

import dataclasses
import time

from _readme import report, runner_args  # benchmarks/ is on sys.path

from phenocast.evaluate import (
    CellEvalScorer,
    DistributionScorer,
    Task,
    get_tasks,
    run_benchmark,
)

TASKS = "kang-ood-celltype,norman-combos,crispri-transfer"
#: Magnitude metrics every task here is also scored on (issue 17's targets ask for them on
#: kang-ood-celltype too, whose BENCHMARKS.md metrics are correlations and R² only).
MAGNITUDE = ("l2", "mse_top20_deg")


def with_magnitude(task: Task) -> Task:
    extra = tuple(m for m in MAGNITUDE if m not in task.metrics)
    return dataclasses.replace(task, metrics=task.metrics + extra)


def main() -> None:
    args = runner_args(
        __doc__,
        block="yardsticks",
        task=TASKS,
        models="baselines,compositional",
        json="yardsticks.json",
    )
    cell_eval, dist = CellEvalScorer(), DistributionScorer()
    t0 = time.perf_counter()
    tasks = [with_magnitude(t) for t in get_tasks(args.task)]
    result = run_benchmark(tasks, args.models, on_fit=[cell_eval, dist])
    cell_eval.attach(result)
    dist.attach(result)
    seconds = time.perf_counter() - t0
    skipped = {**cell_eval.unscored, **dist.unscored}
    notes = "; ".join(f"{k}: {v}" for k, v in skipped.items())
    report(
        result,
        args,
        block="yardsticks",
        script="run_yardsticks.py",
        seconds=seconds,
        notes=f"\nNot scored: {notes}\n" if skipped else "",
        caption=". `ce:` columns: cell-eval 0.8's `vcc` profile (its ceiling in the noise-ceiling"
        " row); `dist:energy` (lower is better) and `dist:var_r2`: energy distance and R² of"
        " per-gene variances, predicted vs observed cells.",
    )


if __name__ == "__main__":
    main()
