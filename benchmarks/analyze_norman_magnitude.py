"""Why compositional lost l2 on norman-combos before its combinations were re-anchored
(issue 17 item 3), and what the model predicts now.

The model learns its zero-perturbation state and the components' effects together; only the
control cells tell them apart. A fit can move its zero state by ``b`` while every learned
effect carries ``−b``: its singles still fit, but a double counts ``−b`` twice. Predictions
now add ``(k − 1) · b`` to a combination of ``k`` components (``Compositional.predict_mean``;
``b`` is ``Compositional.zero_state_bias``), the start cells plus each member's change plus
the model's interaction. This script fits the model alone on the task's one fold and prints:

- the training doubles whose members were both measured alone (the only groups on which the
  additive baseline could be validated by the anchor);
- ``|b|`` on the fold's control cells, and how closely the model fits the measured singles;
- the held-out doubles scored for additive, for the model as it predicts now, and for the
  model in its own frame (``b`` counted twice: the predictions before the fix), on
  pearson_delta, l2 and mse_top20_deg, as the task scores them.

It looks at the held-out doubles on purpose, to explain; it chooses nothing. Run
``python benchmarks/analyze_norman_magnitude.py`` (one fit of the model: about a minute).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from phenocast.evaluate import fit_fold, get_tasks, score_fold
from phenocast.models import create_model

METRICS = ("pearson_delta", "l2", "mse_top20_deg")


def row(name: str, scores: dict[str, dict[str, float]]) -> str:
    cells = " | ".join(f"{np.nanmean(list(scores[m].values())):.4f}" for m in METRICS)
    return f"| {name} | {cells} |"


def main() -> None:
    task = get_tasks("norman-combos")[0]
    (fold,) = task.build(None)
    group = fold.groups[0]
    perts = fold.train.obs["perturbation"].astype(str)
    singles = {p for p in perts.unique() if "+" not in p and p != "control"}
    doubles = sorted({p for p in perts.unique() if "+" in p})
    both = [p for p in doubles if all(c in singles for c in p.split("+"))]
    print(
        f"training doubles: {len(doubles)}; with both members measured alone: {len(both)} "
        f"(held out: {len(group.conditions)} doubles, all of that kind)"
    )
    fit = fit_fold(task, fold, "compositional", overrides={"anchor": None})
    model, now = fit.model, fit.predictions[0]
    bias = model.zero_state_bias(group.controls)
    print(f"|b|, the model's zero state minus the control cells (l2 over genes): "
          f"{np.linalg.norm(bias):.3f}")  # fmt: skip
    members = sorted({c for p in group.conditions["perturbation"] for c in p.split("+")})
    asked = pd.DataFrame({"perturbation": members, "dose": "1", "cell_type": "k562"})
    fitted = model.predict_mean(group.controls, asked)
    x = fold.train.X
    gaps = [
        np.linalg.norm(fitted[i] - np.asarray(x[(perts == m).to_numpy()].mean(axis=0)).ravel())
        for i, m in enumerate(members)
    ]
    print(f"the held-out doubles' members: l2 of the model's single vs its measured mean "
          f"{np.mean(gaps):.3f} on average ({min(gaps):.3f}–{max(gaps):.3f})\n")  # fmt: skip
    additive = create_model("additive", fold.registry).fit(fold.train)
    base = additive.predict_mean(group.controls, group.conditions)
    k = group.conditions["perturbation"].str.count(r"\+").to_numpy() + 1
    own_frame = np.maximum(now - (k - 1)[:, None] * bias, 0.0)  # clipped, as predictions are
    print("| held-out doubles | " + " | ".join(METRICS) + " |")
    print("| --- | --- | --- | --- |")
    print(row("additive", score_fold(task, fold, [base])))
    print(row("compositional[alone], as it predicts", score_fold(task, fold, [now])))
    before = score_fold(task, fold, [own_frame])
    print(row("compositional[alone], b counted twice (before)", before))
    near_zero(group, base, now)


def near_zero(group: object, base: np.ndarray, model: np.ndarray) -> None:
    """cell-eval's MAE is over every gene, most of them near 0 here: the mean absolute error
    of the held-out doubles' means, on genes with a control mean below 0.05 and on the rest,
    and how often each answer is exactly 0 there (the additive baseline as cell-eval scores
    it: its cells, controls plus its change, clipped at 0)."""
    truth, ctrl = group.truth, group.ctrl
    cells = dense(group.controls.X)
    additive = np.stack([np.maximum(cells + (b - ctrl), 0.0).mean(axis=0) for b in base])
    low = ctrl < 0.05
    print(f"\nmean absolute error of the doubles' means; {low.sum()} of {low.size} genes have a "
          "control mean below 0.05:")  # fmt: skip
    print("| answer | all genes | control mean < 0.05 | the rest | exactly 0 (< 0.05 genes) |")
    print("| --- | --- | --- | --- | --- |")
    for name, pred in (("observed", truth), ("additive cells", additive), ("model", model)):
        err = np.abs(pred - truth)
        print(f"| {name} | {err.mean():.5f} | {err[:, low].mean():.5f} | "
              f"{err[:, ~low].mean():.5f} | {(pred[:, low] == 0).mean():.2f} |")  # fmt: skip


def dense(x: object) -> np.ndarray:
    return np.asarray(x.toarray() if hasattr(x, "toarray") else x, dtype=np.float64)


if __name__ == "__main__":
    main()
