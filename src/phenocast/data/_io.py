"""Safe file writing (never leave a half-written user file behind) and reading a user's CSV
with a named error."""

from __future__ import annotations

import json
import math
import os
import tempfile
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["atomic_write", "atomic_write_text", "json_safe", "read_user_csv", "write_json"]


def atomic_write(path: str | os.PathLike[str], write: Callable[[Path], object]) -> Path:
    """Call ``write(tmp_path)`` then rename the temporary file onto ``path``.

    The temporary file lives in the destination directory so the rename is atomic; it is
    removed if ``write`` raises. The file gets the permissions a plainly created file would
    (``0o666`` less the umask, or the replaced file's mode), not ``mkstemp``'s private 0o600.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        write(tmp_path)
        os.chmod(tmp_path, _mode_for(path))
        os.replace(tmp_path, path)
    except BaseException:
        tmp_path.unlink(missing_ok=True)
        raise
    return path


def _mode_for(path: Path) -> int:
    try:
        return path.stat().st_mode & 0o7777
    except FileNotFoundError:
        umask = os.umask(0)
        os.umask(umask)
        return 0o666 & ~umask


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write ``text`` to ``path`` atomically (UTF-8)."""
    return atomic_write(path, lambda p: p.write_text(text, encoding="utf-8"))


def json_safe(obj: Any) -> Any:
    """``obj`` as strict JSON values: numpy scalars and arrays as Python numbers and lists,
    NaN and ±inf as ``None``, tuples as lists, mapping keys and paths as strings (recursively).

    >>> json_safe({1: (np.float32(0.5), float("nan")), "a": np.arange(2)})
    {'1': [0.5, None], 'a': [0, 1]}
    """
    if isinstance(obj, np.ndarray):
        obj = obj.tolist()
    elif isinstance(obj, np.generic):
        obj = obj.item()
    if isinstance(obj, float):
        return obj if math.isfinite(obj) else None
    if isinstance(obj, Mapping):
        return {str(k): json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    if isinstance(obj, os.PathLike):
        return os.fspath(obj)
    return obj


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 1) -> Path:
    """Write ``obj`` to ``path`` as strict JSON (through :func:`json_safe`), atomically, with a
    final newline; another type than those ``json_safe`` knows raises ``TypeError``."""
    text = json.dumps(json_safe(obj), indent=indent, allow_nan=False)
    return atomic_write_text(path, text + "\n")


def read_user_csv(
    path: str | os.PathLike[str],
    *,
    what: str,
    error: type[Exception] = ValueError,
    **options: Any,
) -> Any:
    """Read a CSV file a user gave (``pandas.read_csv`` with ``options``).

    A missing file, an empty one, one that is not UTF-8 text or that pandas cannot parse
    raises ``error`` naming ``what`` and the file, instead of pandas' own exception.
    """
    import pandas as pd

    path = Path(path)
    if not path.is_file():
        raise error(f"{what} file {path} does not exist.")
    try:
        return pd.read_csv(path, **options)
    except pd.errors.EmptyDataError:
        raise error(f"{what} file {path} is empty; it needs a header line and rows.") from None
    except (pd.errors.ParserError, UnicodeDecodeError, ValueError) as err:
        raise error(f"{what} file {path} is not a readable CSV file ({err}).") from None
