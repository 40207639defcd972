"""Why compositional[anchored] wins pearson_delta but loses l2 on norman-combos (issue 17
item 3): which baseline the anchor can validate, and what each blend does to magnitude.

The anchored model answers ``baseline + α · (model − baseline)``, with the baseline and α
chosen on perturbed groups held out of a first fit (``Compositional`` with an ``anchor``). This
script fits the model alone and every candidate baseline on the task's one fold, then scores
the held-out doubles for each baseline at each α — the grid the anchor chooses from — on
pearson_delta, l2 and mse_top20_deg, as the task does. It also counts the training doubles
whose members were both measured alone: the only groups on which the additive baseline (the
task's reference, which needs each member measured alone) could be validated.

This looks at the held-out doubles on purpose, to find the cause; it chooses nothing. Run
``python benchmarks/analyze_norman_magnitude.py`` (one fit of the model: minutes).
"""

from __future__ import annotations

import numpy as np

from phenocast.evaluate import fit_fold, get_tasks, score_fold
from phenocast.models import create_model

ALPHAS = (0.0, 0.25, 0.5, 0.75, 1.0)
BASELINES = ("additive", "entity-ridge", "entity-additive", "linear", "mean-shift")


def main() -> None:
    task = get_tasks("norman-combos")[0]
    (fold,) = task.build(None)
    perts = fold.train.obs["perturbation"].astype(str)
    singles = {p for p in perts.unique() if "+" not in p and p != "control"}
    doubles = sorted({p for p in perts.unique() if "+" in p})
    both = [p for p in doubles if all(c in singles for c in p.split("+"))]
    print(
        f"training doubles: {len(doubles)}; with both members measured alone: {len(both)} "
        f"(held out: {len(fold.groups[0].conditions)} doubles, all of that kind)\n"
    )
    alone = fit_fold(task, fold, "compositional", overrides={"anchor": None})
    model = alone.predictions[0]
    print("| baseline | α | pearson_delta | l2 | mse_top20_deg |")
    print("| --- | --- | --- | --- | --- |")
    for name in BASELINES:
        base = create_model(name, fold.registry).fit(fold.train)
        group = fold.groups[0]
        b = base.predict_mean(group.controls, group.conditions)
        for a in ALPHAS:
            scores = score_fold(task, fold, [b + a * (model - b)])
            cells = " | ".join(
                f"{np.nanmean(list(scores[m].values())):.4f}"
                for m in ("pearson_delta", "l2", "mse_top20_deg")
            )
            print(f"| {name} | {a:g} | {cells} |")
    print("\nα = 1 is the model alone for every baseline; α = 0 is the baseline.")


if __name__ == "__main__":
    main()
