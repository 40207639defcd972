"""Reading a screen's target signature file: both forms, and every malformed file named."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from phenocast.data import Registry
from phenocast.screen import ScreenError, read_target, target_vector


def test_a_value_file_is_a_signature_run_accepts(tmp_path):
    path = tmp_path / "target.csv"
    path.write_text("gene,value,note\nG2,1.5,x\nG0,-2,\n")
    target = read_target(path)
    pd.testing.assert_series_equal(target, pd.Series([1.5, -2.0], index=["G2", "G0"]))
    registry = Registry(perturbation_key="perturbation", control=None, var_names=("G0", "G1", "G2"))
    vec, kind = target_vector(registry, target)
    assert kind == "signature"
    np.testing.assert_array_equal(vec, [-2.0, np.nan, 1.5])


def test_a_direction_file_gives_up_and_down_lists(tmp_path):
    path = tmp_path / "target.csv"
    path.write_text("gene,direction\nG1, UP\nG2,down\nG3,Up\n")
    assert read_target(str(path)) == {"up": ["G1", "G3"], "down": ["G2"]}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("gene,value\nG1,1\nG2,lots\n", "column 'value' is not a number for genes ['G2']"),
        ("gene,value\nG1,1\nG1,2\n", "genes listed twice: ['G1']"),
        ("gene,direction\nG1,up\nG2,sideways\n", "must be 'up' or 'down', found ['sideways']"),
        ("name,value\nG1,1\n", "needs a 'gene' column and a 'value' or 'direction' column; it "
         "has ['name', 'value']"),
        ("gene,weight\nG1,1\n", "needs a 'value' or a 'direction' column beside 'gene'"),
    ],
)  # fmt: skip
def test_malformed_files_are_named(tmp_path, text, message):
    path = tmp_path / "target.csv"
    path.write_text(text)
    with pytest.raises(ScreenError) as err:
        read_target(path)
    assert str(err.value).startswith(str(path)) and message in str(err.value)


def test_a_missing_file_is_named(tmp_path):
    with pytest.raises(ScreenError, match=r"target file .*nope\.csv does not exist"):
        read_target(tmp_path / "nope.csv")
