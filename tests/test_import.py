"""`import phenocast` must stay cheap: no torch, scanpy or matplotlib, and well under 1 s."""

from __future__ import annotations

import re
import subprocess
import sys

HEAVY = ("torch", "scanpy", "matplotlib", "lightning", "anndata")


def _importtime() -> str:
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import phenocast"],
        capture_output=True,
        text=True,
        check=True,
    )
    return proc.stderr


def test_import_does_not_load_heavy_modules():
    log = _importtime()
    loaded = {m.group(1).strip() for m in re.finditer(r"\|\s+([\w.]+)\s*$", log, re.M)}
    top = {name.split(".")[0] for name in loaded}
    assert not top.intersection(HEAVY), f"import phenocast loaded {top.intersection(HEAVY)}"


def test_import_is_fast():
    log = _importtime()
    # the cumulative time (µs) of the phenocast line itself
    line = next(ln for ln in log.splitlines() if re.search(r"\|\s+phenocast\s*$", ln))
    cumulative_us = int(line.split("|")[1])
    assert cumulative_us < 1_000_000, f"import phenocast took {cumulative_us / 1e6:.2f} s"


def test_submodules_load_lazily():
    import phenocast

    assert phenocast.data.register is not None
    assert "data" in dir(phenocast)
    try:
        phenocast.not_a_module  # noqa: B018
    except AttributeError as err:
        assert "not_a_module" in str(err)
    else:  # pragma: no cover
        raise AssertionError("unknown attribute did not raise")
