"""Property-based tests of the perturbation / dose parsers and the CSV list reader: any input
parses or fails with the named error, and valid conditions round-trip through their keys."""

from __future__ import annotations

import math

import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phenocast.data import RegistrationError, format_condition, parse_condition, parse_conditions

SETTINGS = settings(max_examples=300, deadline=None, derandomize=True)

# anything a user's obs column may hold
values = st.one_of(
    st.none(),
    st.text(max_size=20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.integers(-5, 5),
    st.lists(st.text(max_size=6), max_size=4),
    st.lists(st.floats(allow_nan=True), max_size=4),
)
# names a condition can be written with: no separator, no surrounding space, not the control
names = st.text(
    alphabet=st.characters(blacklist_characters="+", blacklist_categories=("Cs", "Zs", "Cc")),
    min_size=1,
    max_size=8,
).filter(lambda s: s == s.strip() and s != "ctrl")
# doses a key writes exactly (its format keeps 6 significant digits)
doses = st.decimals(min_value=0, max_value=10_000, places=3, allow_nan=False).map(float)


@SETTINGS
@given(perturbation=values, dose=values)
def test_any_value_parses_or_fails_by_name(perturbation, dose):
    try:
        cond = parse_condition(perturbation, dose, control="ctrl")
    except RegistrationError as err:
        assert str(err)  # a message, never an empty error
        return
    assert len(cond.components) == len(cond.doses)
    assert all(math.isfinite(d) and d >= 0 for d in cond.doses)
    assert list(cond.components) == sorted(cond.components)


@SETTINGS
@given(st.lists(st.tuples(names, doses), min_size=1, max_size=4, unique_by=lambda t: t[0]))
def test_valid_conditions_round_trip_through_strings_and_keys(pairs):
    comps = [c for c, _ in pairs]
    ds = [d for _, d in pairs]
    cond = parse_condition("+".join(comps), "+".join(repr(d) for d in ds), control="ctrl")
    assert dict(zip(cond.components, cond.doses, strict=True)) == dict(pairs)
    assert format_condition(comps, ds) == cond.key
    # the key's two halves parse back to the same condition (names may hold '@')
    pert, dose = cond.key.rsplit("@", 1)
    assert parse_condition(pert, dose, control="ctrl") == cond
    # order does not matter
    rev = parse_condition(list(reversed(comps)), list(reversed(ds)), control="ctrl")
    assert rev == cond


@SETTINGS
@given(
    st.one_of(
        st.lists(values, max_size=4),
        st.dictionaries(st.sampled_from(["perturbation", "dose", "x"]), values, max_size=3),
        values,
    )
)
def test_parse_conditions_fails_only_with_named_errors(rows):
    if isinstance(rows, dict):
        rows = pd.DataFrame({k: [v] for k, v in rows.items()})
    try:
        out = parse_conditions(rows, control="ctrl")
    except (ValueError, TypeError) as err:
        assert str(err)
        return
    assert len(out) == len(rows)


@SETTINGS
@given(st.lists(st.tuples(st.text(max_size=12), st.text(max_size=12)), min_size=1, max_size=5))
def test_a_conditions_csv_parses_or_fails_by_name(tmp_path_factory, rows):
    # written and read back as `phenocast predict` reads its --conditions file
    path = tmp_path_factory.mktemp("csv") / "conditions.csv"
    pd.DataFrame(rows, columns=["perturbation", "dose"]).to_csv(path, index=False)
    table = pd.read_csv(path, dtype=str, keep_default_na=False)
    try:
        out = parse_conditions(table, control="ctrl")
    except ValueError as err:
        assert "conditions row" in str(err) or "conditions" in str(err)
        return
    assert len(out) == len(table)


def test_a_key_splits_at_its_last_at_sign():
    smiles = "C[C@H](N)O"
    cond = parse_condition(f"{smiles}+B", "1+2", control="ctrl")
    assert cond.key.rsplit("@", 1)[0] == f"B+{smiles}"
    with pytest.raises(RegistrationError, match="empty perturbation name"):
        parse_condition("A++B", None, control="ctrl")
