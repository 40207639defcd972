"""In-silico combinatorial screens: every combination of perturbations × doses × contexts,
predicted in large blocks and ranked, keeping the top k in bounded memory.

>>> import phenocast as pc                                               # doctest: +SKIP
>>> result = pc.screen.run(model, ["A", "B", "C"], max_order=2, doses=[0.1, 1, 10], top_k=50)
>>> result.hits.head()
"""

from ..models.compositional import CompositionalPredictor
from ._inputs import read_target
from ._predictors import GenericPredictor, ScreenPredictor, predictor_for
from ._run import SCORES, ScreenError, ScreenResult, run, target_vector
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
    "predictor_for",
    "read_target",
    "run",
    "target_vector",
]
