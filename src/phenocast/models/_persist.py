"""The save format every phenocast model writes: a directory of ``config.json`` (format,
version, the model's config and metadata), ``registry.json`` (what the model knows of its
data: genes / features, categories, package version) and ``weights.pt`` (a plain tensor
state dict read back with ``weights_only=True``, so loading never executes code from the
file). A new directory is written as a temporary sibling and renamed into place; a directory
replaced in place loses its ``config.json`` first and has each file written to a temporary
file and renamed, ``config.json`` last, so a directory with one is complete.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from ..data import atomic_write, atomic_write_text

__all__ = ["ModelDirectoryError", "ModelFileMissingError", "read_model_dir", "write_model_dir"]


class ModelDirectoryError(ValueError):
    """A save directory is missing, corrupt, or was not written by this model."""


class ModelFileMissingError(ModelDirectoryError, FileNotFoundError):
    """A file the save format needs is not in the directory."""


def write_model_dir(
    path: str | os.PathLike[str],
    *,
    meta: dict[str, Any],
    registry: str,
    tensors: dict[str, Any],
    overwrite: bool,
) -> Path:
    """Write a model directory.

    Parameters
    ----------
    path
        The directory (created if needed).
    meta
        JSON-able ``config.json`` content; must hold ``format`` and ``format_version``
        (``phenocast_version`` is added).
    registry
        The ``registry.json`` text.
    tensors
        Name → tensor, saved as ``weights.pt``.
    overwrite
        Replace a directory that already holds files; otherwise refuse it.
    """
    import torch

    from .. import __version__

    path = Path(path)
    if path.exists() and not path.is_dir():
        raise FileExistsError(f"{path} exists and is not a directory.")
    if path.exists() and any(path.iterdir()) and not overwrite:
        raise FileExistsError(f"{path} is not empty; pass overwrite=True to replace the model.")
    meta = {**meta, "phenocast_version": __version__}
    train = meta.get("config", {}).get("train") if isinstance(meta.get("config"), dict) else None
    if isinstance(train, dict) and "checkpoint_dir" in train:
        # how the run was checkpointed is not part of the model: a loaded model refits afresh
        meta["config"] = {
            **meta["config"],
            "train": {**train, "checkpoint_dir": None, "resume": False},
        }
    if path.exists() and any(path.iterdir()):  # replaced in place: other files are kept
        (path / "config.json").unlink(missing_ok=True)  # incomplete until rewritten last
        atomic_write(path / "weights.pt", lambda p: torch.save(tensors, p))
        atomic_write_text(path / "registry.json", registry)
        atomic_write_text(path / "config.json", json.dumps(meta, indent=1))
        return path
    # a new directory is written beside its place and renamed onto it: all or nothing
    path.absolute().parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.absolute().parent))
    try:
        torch.save(tensors, tmp / "weights.pt")
        (tmp / "registry.json").write_text(registry, encoding="utf-8")
        (tmp / "config.json").write_text(json.dumps(meta, indent=1), encoding="utf-8")
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o777 & ~umask)  # mkdtemp's folder is private
        os.replace(tmp, path)  # onto nothing or an empty directory
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return path


def read_model_dir(
    path: str | os.PathLike[str],
    *,
    format: str,
    versions: tuple[int, ...],
    writer: str,
    registry_since: int = 1,
) -> tuple[dict[str, Any], str | None, dict[str, Any]]:
    """Read and check a model directory: ``(meta, registry text, tensors)``.

    ``format`` / ``versions`` are what ``config.json`` must declare; ``writer`` names the
    method that writes such directories, for messages. Directories of a version below
    ``registry_since`` have no ``registry.json`` (its text is then ``None``).
    """
    import torch

    path = Path(path)
    for name in ("config.json", "weights.pt"):
        if not (path / name).is_file():
            raise ModelFileMissingError(
                f"{path} is not a saved phenocast model: {name} is missing (expected "
                f"config.json, registry.json and weights.pt, as written by {writer})."
            )
    try:
        meta = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise ModelDirectoryError(f"{path}/config.json is corrupt ({err}).") from None
    found = meta.get("format") if isinstance(meta, dict) else None
    version = meta.get("format_version") if isinstance(meta, dict) else None
    if found != format:
        raise ModelDirectoryError(
            f"{path}/config.json is not a {format} file: it was not written by {writer} "
            f"(format {found!r})."
        )
    if isinstance(version, int) and version > max(versions):
        raise ModelDirectoryError(f"{path} was saved by a newer phenocast; upgrade to load it.")
    if version not in versions:
        raise ModelDirectoryError(
            f"{path}/config.json is a {format} file of version {version!r}; this phenocast "
            f"reads versions {list(versions)}."
        )
    registry = None
    if version >= registry_since:
        if not (path / "registry.json").is_file():
            raise ModelFileMissingError(
                f"{path} is not a complete saved model: registry.json is missing."
            )
        registry = (path / "registry.json").read_text(encoding="utf-8")
    try:
        tensors = torch.load(path / "weights.pt", weights_only=True, map_location="cpu")
    except Exception as err:  # unpickling refused or file damaged
        first = str(err).splitlines()[0] if str(err) else ""
        raise ModelDirectoryError(
            f"{path}/weights.pt could not be read as a plain tensor state dict "
            f"({type(err).__name__}: {first}). It may be corrupt or not a phenocast file; "
            "nothing in it was executed."
        ) from None
    if not isinstance(tensors, dict):
        raise ModelDirectoryError(f"{path}/weights.pt does not hold a state dict.")
    return meta, registry, tensors
