"""In-silico combinatorial screens: every combination of perturbations × doses × contexts,
predicted in large blocks and ranked, keeping the top k in bounded memory.

>>> import phenocast as pc                                               # doctest: +SKIP
>>> result = pc.screen.run(model, ["A", "B", "C"], max_order=2, doses=[0.1, 1, 10], top_k=50)
>>> result.hits.head()

A large screen can be shared by processes: ``run(..., shard=(i, n))`` screens shard ``i`` of
``n`` (counted from 0) of the condition space, each condition in exactly one shard, and
:func:`merge` joins the shards' results (objects, or the JSON files
:meth:`ScreenResult.write_json` wrote) into the top k of the whole screen — the same rows, order
and scores as one process gives. It refuses shards of different screens (naming the settings
that differ), a shard given twice and missing shards (naming them).

>>> parts = [pc.screen.run(model, top_k=50, shard=(i, 4)) for i in range(4)]  # doctest: +SKIP
>>> hits = pc.screen.merge(parts).hits                                         # doctest: +SKIP

On the command line, one process per shard, then the merge::

    N=4
    for i in $(seq 0 $((N - 1))); do
        phenocast screen model --order 2 --top 100 --shard $i/$N --out shards/$i.json &
    done; wait
    phenocast screen-merge shards/*.json --out hits.csv

As a SLURM array (``sbatch --array=0-3``; the ids must start at 0)::

    phenocast screen model --order 2 --top 100 \\
        --shard $SLURM_ARRAY_TASK_ID/$SLURM_ARRAY_TASK_COUNT \\
        --out shards/$SLURM_ARRAY_TASK_ID.json

then, once every task has finished, ``phenocast screen-merge shards/*.json --out hits.csv``.
Under torchrun (or Lightning DDP launched by torchrun) ``shard="auto"`` / ``--shard auto``
takes the shard from ``RANK`` and ``WORLD_SIZE``.
"""

from ..models.compositional import CompositionalPredictor
from ._inputs import read_target
from ._predictors import GenericPredictor, ScreenPredictor, predictor_for
from ._result import ScreenResult
from ._run import SCORES, ScreenError, run, target_vector
from ._shard import merge, parse_shard
from ._space import Chunk, ConditionSpace

__all__ = [
    "SCORES",
    "Chunk",
    "CompositionalPredictor",
    "ConditionSpace",
    "GenericPredictor",
    "ScreenError",
    "ScreenPredictor",
    "ScreenResult",
    "merge",
    "parse_shard",
    "predictor_for",
    "read_target",
    "run",
    "target_vector",
]
