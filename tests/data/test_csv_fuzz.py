"""Property-based tests of the readers of a user's CSV files (a screen's target signature, a
design's gene features, any file through ``data.read_user_csv``): whatever bytes the file
holds, the reader returns a table or fails with its named error, never pandas' own."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from phenocast.data import read_user_csv
from phenocast.design import DesignError, gene_priors
from phenocast.screen import ScreenError, read_target

SETTINGS = settings(max_examples=200, deadline=None, derandomize=True)

# a file's bytes: CSV-like text (headers the readers look for, odd quoting, numbers, words),
# or arbitrary bytes (another encoding, a binary file given by mistake)
cells = st.one_of(
    st.sampled_from(["gene", "value", "direction", "up", "down", "G1", "G2", "1.5", "nan", ""]),
    st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=6),
)
rows = st.lists(st.lists(cells, min_size=1, max_size=4), max_size=6)
csv_text = rows.map(lambda rs: "\n".join(",".join(r) for r in rs).encode())
content = st.one_of(csv_text, st.binary(max_size=64), st.just(b""), st.just(b'"unclosed\n'))


def _write(tmp_path_factory, data: bytes):
    path = tmp_path_factory.mktemp("csv") / "file.csv"
    path.write_bytes(data)
    return path


@SETTINGS
@given(data=content)
def test_a_target_file_reads_or_fails_by_name(tmp_path_factory, data):
    path = _write(tmp_path_factory, data)
    try:
        read_target(path)
    except ScreenError as err:
        assert str(path) in str(err)


@SETTINGS
@given(data=content)
def test_a_features_file_reads_or_fails_by_name(tmp_path_factory, data):
    path = _write(tmp_path_factory, data)
    try:
        gene_priors(path)
    except DesignError as err:
        assert str(path) in str(err) or path.name in str(err)


@SETTINGS
@given(data=content)
def test_read_user_csv_raises_only_the_given_error(tmp_path_factory, data):
    path = _write(tmp_path_factory, data)
    try:
        read_user_csv(path, what="results", error=KeyError)
    except KeyError as err:
        assert "results file" in str(err) and str(path) in str(err)


def test_read_user_csv_names_a_missing_and_an_empty_file(tmp_path):
    with pytest.raises(ValueError, match=r"results file .* does not exist"):
        read_user_csv(tmp_path / "none.csv", what="results")
    (tmp_path / "empty.csv").write_text("")
    with pytest.raises(ValueError, match="is empty; it needs a header line"):
        read_user_csv(tmp_path / "empty.csv", what="results")
