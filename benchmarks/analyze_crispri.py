"""Why crispri-transfer stays near 0.07 pearson_delta: how much of a knockdown's effect in one
cell line the data show in another (issue 17 item 2, the written analysis).

crispri-transfer predicts a knockdown's mean change in a glioblastoma line (A172, T98G or
U87MG) where no knockdown was measured, from the same knockdowns in the two other lines and the
line's own control cells. Whatever a model learns, its answer for line L can only carry what
the other lines' effects share with L's. This script measures that, on the task's own data:

* **within-line reliability**: the Pearson correlation of a condition's Δ (mean − the line's
  control mean) between two random halves of its cells (20 splits; the task's noise ceiling
  scores one such split), and its Spearman–Brown value for the whole sample;
* **cross-line agreement**: corr(Δ_{p,L}, Δ_{p,L'}) for the same knockdown p in two lines, and
  the same for two *different* knockdowns in one line (a response shared by any knockdown,
  e.g. to the guide library or the selection, which is not knockdown-specific);
* the agreement corrected for noise (divided by the geometric mean of the two reliabilities):
  how similar the true effects are, were the measurements noise-free;
* the response every knockdown of a line shares (its mean Δ over knockdowns), compared
  between lines;
* the target gene: whether the knocked-down gene is among the task's 500 genes, and its Δ.

Run ``python benchmarks/analyze_crispri.py`` (seconds).
"""

from __future__ import annotations

import itertools

import numpy as np

from phenocast.data import load_mcfaline2023


def _corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a, b)[0, 1])


def main() -> None:
    a = load_mcfaline2023()
    x = a.X.toarray() if hasattr(a.X, "toarray") else np.asarray(a.X)
    line = a.obs["cell_line"].astype(str).to_numpy()
    pert = a.obs["perturbation"].astype(str).to_numpy()
    ctrl = a.obs["is_control"].to_numpy(dtype=bool)
    lines = sorted(set(line))
    perts = sorted(set(pert[~ctrl]))
    rng = np.random.default_rng(0)
    base = {ln: x[(line == ln) & ctrl].mean(0) for ln in lines}
    delta, rel_half, rel_full = {}, {}, {}
    for ln, p in itertools.product(lines, perts):
        cells = x[(line == ln) & (pert == p)]
        if len(cells) < 4:
            continue
        delta[p, ln] = cells.mean(0) - base[ln]
        halves = []
        for _ in range(20):
            order = rng.permutation(len(cells))
            h = len(cells) // 2
            halves.append(
                _corr(cells[order[:h]].mean(0) - base[ln], cells[order[h:]].mean(0) - base[ln])
            )
        rel_half[p, ln] = float(np.mean(halves))
        r = max(rel_half[p, ln], 1e-6)
        rel_full[p, ln] = 2 * r / (1 + r)
    same_pert, other_pert, corrected = [], [], []
    for p in perts:
        for l1, l2 in itertools.combinations(lines, 2):
            if (p, l1) in delta and (p, l2) in delta:
                r = _corr(delta[p, l1], delta[p, l2])
                same_pert.append(r)
                corrected.append(r / np.sqrt(max(rel_full[p, l1] * rel_full[p, l2], 1e-6)))
    for ln in lines:
        for p1, p2 in itertools.combinations(perts, 2):
            if (p1, ln) in delta and (p2, ln) in delta:
                other_pert.append(_corr(delta[p1, ln], delta[p2, ln]))
    # the response shared by every knockdown of a line: does it carry over to another line?
    shared = {ln: np.mean([d for (p, o), d in delta.items() if o == ln], axis=0) for ln in lines}
    shared_cross = [_corr(shared[l1], shared[l2]) for l1, l2 in itertools.combinations(lines, 2)]
    # the transfer baseline's question: the other lines' mean effect against this line's
    transfer = []
    for (p, ln), d in delta.items():
        others = [delta[p, o] for o in lines if o != ln and (p, o) in delta]
        if others:
            transfer.append(_corr(np.mean(others, axis=0), d))
    genes = list(a.var_names)
    targets = [p for p in perts if p in genes]
    print("## crispri-transfer: what the data share across cell lines\n")
    print(f"{len(delta)} conditions ({len(perts)} knockdowns × {len(lines)} lines), "
          f"{a.n_vars} genes, {int((~ctrl).sum())} knockdown cells.\n")  # fmt: skip
    print("| quantity | mean | min–max |")
    print("| --- | --- | --- |")
    rows = [
        ("within-line split-half corr of Δ (the noise ceiling's question)", [*rel_half.values()]),
        ("within-line reliability, whole sample (Spearman–Brown)", list(rel_full.values())),
        ("same knockdown, two lines: corr of Δ", same_pert),
        ("two different knockdowns, one line: corr of Δ", other_pert),
        ("same knockdown, two lines, corrected for noise", corrected),
        ("mean Δ of all knockdowns of a line, two lines", shared_cross),
        ("other lines' mean Δ vs this line's Δ (the transfer baseline)", transfer),
    ]
    for name, values in rows:
        v = np.asarray(values, dtype=float)
        print(f"| {name} | {v.mean():.3f} | {v.min():.3f} – {v.max():.3f} |")
    print(f"\nKnocked-down genes among the task's genes: {targets or 'none'}.")
    for p in targets:
        j = genes.index(p)
        shown = ", ".join(f"{ln} {delta[p, ln][j]:+.2f}" for ln in lines if (p, ln) in delta)
        print(f"- {p}: Δ of its own expression {shown} (log-normalised)")


if __name__ == "__main__":
    main()
