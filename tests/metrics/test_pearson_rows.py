"""pearson_rows, tested by its properties and against the 1-D pearson."""

from __future__ import annotations

import numpy as np
import pytest

from phenocast.metrics import pearson, pearson_rows

rng = np.random.default_rng(0)
TRUE = rng.normal(size=(6, 40))
PRED = TRUE + rng.normal(scale=0.7, size=(6, 40))


def test_perfect_prediction_scores_one_per_row():
    np.testing.assert_allclose(pearson_rows(TRUE, TRUE), np.ones(6))


def test_each_row_is_the_pearson_of_that_row_and_symmetric():
    r = pearson_rows(PRED, TRUE)
    assert r.shape == (6,)
    np.testing.assert_allclose(r, [pearson(p, t) for p, t in zip(PRED, TRUE, strict=True)])
    np.testing.assert_allclose(pearson_rows(TRUE, PRED), r)


def test_invariant_to_a_positive_affine_map_of_a_row_and_flipped_by_negation():
    r = pearson_rows(PRED, TRUE)
    scale = rng.uniform(0.5, 3.0, size=(6, 1))
    np.testing.assert_allclose(pearson_rows(scale * PRED + 4.0, TRUE), r)
    np.testing.assert_allclose(pearson_rows(-PRED, TRUE), -r)


def test_transposed_arrays_give_one_value_per_column():
    per_feature = pearson_rows(PRED.T, TRUE.T)
    assert per_feature.shape == (40,)
    assert per_feature[3] == pytest.approx(pearson(PRED[:, 3], TRUE[:, 3]))


def test_a_constant_row_is_nan_and_the_others_are_kept():
    pred = PRED.copy()
    pred[2] = 1.5
    r = pearson_rows(pred, TRUE)
    assert np.isnan(r[2])
    assert np.isfinite(np.delete(r, 2)).all()


def test_bad_shapes_are_reported():
    with pytest.raises(ValueError, match=r"2-D arrays of one shape, got \(6, 40\) and \(6, 39\)"):
        pearson_rows(PRED, TRUE[:, :39])
    with pytest.raises(ValueError, match=r"2-D arrays of one shape, got \(40,\) and \(40,\)"):
        pearson_rows(PRED[0], TRUE[0])
