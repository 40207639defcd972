"""Pure metric functions: profiles of one condition, populations of cells, calibration of
predicted variances, and the mutual information between two readouts.

A leaf of the package: every other package may import it, and it imports none of them.
Profile metrics follow ``BENCHMARKS.md`` exactly; nothing here does I/O or touches AnnData.
"""

from __future__ import annotations

from ._mi import MIEstimate, gaussian_mi, gaussian_mi_from_covariance, predictive_mi
from ._profiles import (
    HIGHER_IS_BETTER,
    METRICS,
    energy_distance,
    gaussian_nll,
    interval_coverage,
    l2,
    mmd,
    mse,
    mse_topk_deg,
    pearson,
    pearson_delta,
    pearson_rows,
    r2,
    r2_delta,
    rmse,
    top_deg_indices,
    uncertainty_spearman,
)

__all__ = [
    "HIGHER_IS_BETTER",
    "METRICS",
    "MIEstimate",
    "energy_distance",
    "gaussian_mi",
    "gaussian_mi_from_covariance",
    "gaussian_nll",
    "interval_coverage",
    "l2",
    "mmd",
    "mse",
    "mse_topk_deg",
    "pearson",
    "pearson_delta",
    "pearson_rows",
    "predictive_mi",
    "r2",
    "r2_delta",
    "rmse",
    "top_deg_indices",
    "uncertainty_spearman",
]
