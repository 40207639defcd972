"""Leave-one-screen-out: a strategy chosen on the other screens, scored on the held-out one."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.design import leave_one_screen_out


def test_leave_one_screen_out_chooses_on_the_other_screens():
    scores = pd.DataFrame(
        {
            "s1": [0.9, 0.45, 0.0],
            "s2": [0.9, 0.45, 0.2],
            "s3": [0.1, 0.45, 0.9],
            "s4": [0.1, 0.45, 0.3],
        },
        index=["A", "B", "C"],
    )
    out = leave_one_screen_out(scores).set_index("screen")
    assert out["chosen"].to_dict() == {"s1": "C", "s2": "B", "s3": "A", "s4": "A"}
    np.testing.assert_allclose(out["held_out"], [0.0, 0.45, 0.1, 0.1])
    np.testing.assert_allclose(out.loc["s3", "selection_score"], (0.9 + 0.9 + 0.1) / 3)
    # in-sample, A (mean 0.5) would be reported; held out, the choice is worth 0.1625
    assert scores.mean(axis=1).idxmax() == "A"
    assert out["held_out"].mean() == pytest.approx(0.1625)


def test_leave_one_screen_out_ties_and_bad_tables():
    tie = pd.DataFrame({"s1": [0.2, 0.2], "s2": [0.3, 0.3]}, index=["first", "second"])
    assert set(leave_one_screen_out(tie)["chosen"]) == {"first"}
    with pytest.raises(ValueError, match=r"at least 2 screens and 1 strategy, got \(2, 1\)"):
        leave_one_screen_out(tie[["s1"]])
    gap = tie.copy()
    gap.iloc[1, 0] = np.nan
    with pytest.raises(ValueError, match="missing values"):
        leave_one_screen_out(gap)
