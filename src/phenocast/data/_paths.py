"""Where phenocast looks for datasets."""

from __future__ import annotations

import os
from pathlib import Path

ENV_VAR = "PHENOCAST_DATA_DIR"
DEFAULT_DATA_DIR = Path("~/.cache/phenocast")


def data_dir(path: str | os.PathLike[str] | None = None) -> Path:
    """Return the data directory.

    Parameters
    ----------
    path
        Explicit directory. When ``None``, the ``PHENOCAST_DATA_DIR`` environment variable is
        used, then ``~/.cache/phenocast``.
    """
    if path is not None:
        return Path(path).expanduser()
    env = os.environ.get(ENV_VAR)
    if env:
        return Path(env).expanduser()
    return DEFAULT_DATA_DIR.expanduser()
