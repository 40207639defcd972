"""Choosing a strategy by looking at several screens, scored on a screen it was not chosen on."""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["leave_one_screen_out"]


def leave_one_screen_out(scores: pd.DataFrame) -> pd.DataFrame:
    """Choose a strategy on all screens but one, score it on that one; once per screen.

    The mean of the held-out scores is the honest number for "the best strategy on these
    screens": the in-sample best (the row of best mean) is chosen on the very screens it is
    scored on.

    Parameters
    ----------
    scores
        Mean score (higher is better) with one row per candidate strategy and one column per
        screen.

    Returns
    -------
    pandas.DataFrame
        One row per held-out screen: ``screen``, ``chosen`` (the strategy of best mean score
        over the other screens; ties go to the earlier row), ``selection_score`` (that mean)
        and ``held_out`` (the chosen strategy's score on the held-out screen).

    Examples
    --------
    >>> scores = pd.DataFrame({"s1": [0.9, 0.4], "s2": [0.1, 0.4]}, index=["A", "B"])
    >>> leave_one_screen_out(scores)[["screen", "chosen", "held_out"]]
      screen chosen  held_out
    0     s1      B       0.4
    1     s2      A       0.1
    """
    if scores.shape[1] < 2 or scores.empty:
        raise ValueError(
            f"Leave-one-screen-out needs at least 2 screens and 1 strategy, got {scores.shape}."
        )
    if scores.isna().any().any():
        raise ValueError(f"scores has missing values: {scores[scores.isna().any(axis=1)]}.")
    rows = []
    for held in scores.columns:
        others = scores.drop(columns=held).mean(axis=1)
        chosen = others.index[int(np.argmax(others.to_numpy()))]  # first of the best
        rows.append(
            {
                "screen": held,
                "chosen": chosen,
                "selection_score": float(others[chosen]),
                "held_out": float(scores.loc[chosen, held]),
            }
        )
    return pd.DataFrame(rows)
