"""A torchrun worker for tests/train/test_ddp.py: fit on synthetic data, rank 0 saves results.

Usage: ``python _ddp_worker.py OUT_DIR WORLD PER_PROCESS_BATCH``.
"""

import json
import sys
import warnings
from pathlib import Path

import numpy as np

import phenocast as pc


def main() -> None:
    warnings.simplefilter("ignore")
    out, world, batch = Path(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3])
    data = pc.data.synthetic(
        n_genes=40, n_perturbations=4, cells_per_condition=30, output="counts", seed=5
    )
    reg = pc.data.register(
        data, perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"]
    )
    train = {"max_epochs": 8, "batch_size": batch, "data_path": "stream", "block_rows": 64}
    if world > 1:
        train.update(strategy="ddp", devices=world, accelerator="cpu")
    cfg = pc.models.CompositionalConfig.from_dict({"train": train})
    model = pc.models.Compositional(reg, cfg).fit(data)
    import torch.distributed as dist

    rank = dist.get_rank() if dist.is_available() and dist.is_initialized() else 0
    if rank == 0:
        controls = data[data.obs["perturbation"] == "control"]
        conds = data.obs.loc[
            data.obs["perturbation"] != "control", ["perturbation", "dose", "cell_type"]
        ].drop_duplicates()
        np.save(out / "pred.npy", model.predict_mean(controls, conds.reset_index(drop=True)))
        (out / "history.json").write_text(json.dumps(model.history_.epochs))


if __name__ == "__main__":
    main()
