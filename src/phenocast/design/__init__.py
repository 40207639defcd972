"""Experiment design: surrogate models with uncertainty, acquisition functions (explore and
exploit) and an active-learning loop replayed against real screens."""

from ._acquisition import (
    ACQUISITIONS,
    Acquisition,
    AcquisitionContext,
    Selection,
    make_acquisition,
    register_acquisition,
)
from ._llm import LLMAcquisition
from ._loop import ActiveLoop, LoopResult, ReplayOracle
from ._pair_acquisitions import PAIR_ARMS, PairNeighbours, PairPortfolio, StrongSingles
from ._pairs import PairPool, pair_features, pairs_from_matrix
from ._perturbation import PerturbationLoop, PerturbationPool, PerturbationResult, ProfileGP
from ._portfolio import DEFAULT_ARMS, Portfolio
from ._propose import DesignError, gene_priors, hit_curve, propose
from ._selection import leave_one_screen_out
from ._surrogates import (
    SURROGATES,
    BayesianRidge,
    BootstrapEnsemble,
    Prediction,
    Surrogate,
    make_surrogate,
)

__all__ = [
    "ACQUISITIONS",
    "DEFAULT_ARMS",
    "PAIR_ARMS",
    "SURROGATES",
    "Acquisition",
    "AcquisitionContext",
    "ActiveLoop",
    "BayesianRidge",
    "BootstrapEnsemble",
    "DesignError",
    "LLMAcquisition",
    "LoopResult",
    "PairNeighbours",
    "PairPool",
    "PairPortfolio",
    "PerturbationLoop",
    "PerturbationPool",
    "PerturbationResult",
    "Portfolio",
    "Prediction",
    "ProfileGP",
    "ReplayOracle",
    "Selection",
    "StrongSingles",
    "Surrogate",
    "gene_priors",
    "hit_curve",
    "leave_one_screen_out",
    "make_acquisition",
    "make_surrogate",
    "pair_features",
    "pairs_from_matrix",
    "propose",
    "register_acquisition",
]
