"""Shared fixtures: real data is used where present; under CI it must be present."""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

import pytest


def run_or_skip(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    """Call ``fn``; skip the test if a dataset is missing, unless CI=true (then fail)."""
    from phenocast.data import DatasetNotFoundError

    try:
        return fn(*args, **kwargs)
    except DatasetNotFoundError as err:
        if os.environ.get("CI") == "true":
            pytest.fail(f"CI needs the real data: {err}")
        pytest.skip(str(err))
