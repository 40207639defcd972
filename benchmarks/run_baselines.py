"""Run every benchmark task with every baseline; print the tables, write JSON and Markdown.

    PHENOCAST_DATA_DIR=../shared/data python benchmarks/run_baselines.py --update-readme

With ``--update-readme`` the summary tables replace the block between the
``<!-- baselines:begin -->`` and ``<!-- baselines:end -->`` markers of README.md, so the README
shows exactly what this script printed.
"""

from __future__ import annotations

import time

from _readme import report, runner_args  # benchmarks/ is on sys.path

from phenocast.evaluate import get_tasks, run_benchmark

#: Every general baseline on every task, then each task's own (e.g. l1000-time's nearest-time).
BASELINES = (
    "no-change,mean-shift,transfer,additive,nearest-dose,dose-interp,"
    "entity-additive,entity-ridge,linear,baselines"
)


def main() -> None:
    args = runner_args(
        __doc__, block="baselines", task="all", models=BASELINES, json="baselines.json"
    )
    t0 = time.perf_counter()
    result = run_benchmark(get_tasks(args.task), args.models)
    report(
        result,
        args,
        block="baselines",
        script="run_baselines.py",
        seconds=time.perf_counter() - t0,
        caption="; per-condition values in the JSON it writes. — : the model cannot predict"
        " that task's conditions (reason in brackets).",
    )


if __name__ == "__main__":
    main()
