"""What every ``phenocast`` command shares: the app factory, the console, error exits, common
options, the library's defaults and the readers of command-line files."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Any

import typer

DataDir = Annotated[
    Path | None,
    typer.Option(
        "--data-dir",
        help="Folder holding the datasets (default: $PHENOCAST_DATA_DIR, else ~/.cache/phenocast).",
    ),
]
ModelDir = Annotated[Path, typer.Argument(help="Model directory written by `train`.")]


#: The exit status of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
INTERRUPTED = 130


def interrupted(message: str) -> typer.Exit:
    """Print ``message`` about a Ctrl-C; the caller raises the returned exit (code 130)."""
    console().print(f"[bold yellow]interrupted:[/bold yellow] {message}")
    return typer.Exit(code=INTERRUPTED)


def _interruptible(command: Callable[..., Any]) -> Callable[..., Any]:
    """``command`` ending on Ctrl-C with one line and exit 130 instead of a traceback. Every
    file a command writes is written to a temporary sibling and renamed, so nothing partial
    is left behind."""
    import functools

    @functools.wraps(command)
    def run(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except KeyboardInterrupt as err:
            said = f"{err} " if str(err) else ""
            raise interrupted(f"{said}Stopped by Ctrl-C; no partial output was left.") from None

    return run


class _App(typer.Typer):
    """A Typer app whose commands end on Ctrl-C with a message (see :func:`_interruptible`)."""

    def command(self, *args: Any, **kwargs: Any) -> Callable[[Callable[..., Any]], Any]:
        register = super().command(*args, **kwargs)
        return lambda func: (register(_interruptible(func)), func)[1]


def new_app(name: str, help: str) -> typer.Typer:
    return _App(
        name=name,
        help=help,
        no_args_is_help=True,
        add_completion=False,
        pretty_exceptions_enable=False,
    )


def defaults(func: Callable[..., Any]) -> dict[str, Any]:
    """The library's defaults of ``func``'s parameters (a function or a config class): an
    option repeating one takes it from here, so the two cannot drift."""
    return {k: p.default for k, p in inspect.signature(func).parameters.items()}


def console():
    from rich.console import Console

    return Console()


def fail(message: str) -> typer.Exit:
    """Print ``message`` as an error (as written: brackets such as ``.[eval]`` are not Rich
    markup); the caller raises the returned exit (code 2)."""
    from rich.markup import escape

    console().print(f"[bold red]error:[/bold red] {escape(str(message))}")
    return typer.Exit(code=2)


@contextmanager
def failing(*errors: type[Exception], prefix: str = "", suffix: str = "") -> Iterator[None]:
    """Turn the library's ``errors`` into an error exit with their message (a ``KeyError``'s
    without the quotes ``str`` adds)."""
    try:
        yield
    except errors as err:
        message = err.args[0] if isinstance(err, KeyError) and err.args else err
        raise fail(f"{prefix}{message}{suffix}") from None


def read_h5ad(path: Path, what: str):
    """An ``.h5ad`` file or AnnData zarr store: in memory when its matrix fits comfortably
    (dense float32 under ``phenocast.train.DENSE_LIMIT_BYTES``), else opened on disk."""
    from ..data import read
    from ..train import DENSE_LIMIT_BYTES

    if not path.exists():
        raise fail(f"{what} file {path} does not exist.")
    try:
        adata = read(path)
        if adata.n_obs * adata.n_vars * 4 <= DENSE_LIMIT_BYTES:
            adata = adata.to_memory()
            adata.uns.pop("phenocast_source", None)
        return adata
    except Exception as err:  # h5py / zarr / anndata raise many types for a bad file
        raise fail(
            f"{what} file {path} is not a readable .h5ad file or AnnData zarr store ({err})."
        ) from None


def read_list(value: str, what: str) -> list[str]:
    """A comma list, or ``@file`` / an existing file path with one name per line."""
    path = Path(value[1:] if value.startswith("@") else value)
    if value.startswith("@") or (path.suffix in {".txt", ".csv"} and path.is_file()):
        if not path.is_file():
            raise fail(f"{what} file {path} does not exist.")
        items = [ln.split(",")[0].strip() for ln in path.read_text().splitlines()]
    else:
        items = [v.strip() for v in value.split(",")]
    items = [v for v in items if v and not v.startswith("#")]
    if not items:
        raise fail(f"{what} lists nothing.")
    return items


CheckpointDir = Annotated[
    Path | None,
    typer.Option(
        help="Write the run's state after every epoch to one file in this folder (last.ckpt, "
        "replaced each epoch), so --resume can continue it; default: the config's "
        "train.checkpoint_dir, else none.",
    ),
]
Resume = Annotated[
    bool,
    typer.Option(
        help="Continue from the checkpoint in --checkpoint-dir (its epoch count, optimiser, "
        "best weights) up to --epochs, instead of starting afresh."
    ),
]


def read_config(
    cls: Any,
    path: Path | None,
    *,
    epochs: int | None,
    seed: int | None,
    checkpoint_dir: Path | None = None,
    resume: bool = False,
    **options,
):
    """A model config ``cls`` from a JSON file of options plus the ``options`` given on the
    command line (``None``: not given), with training progress on and the overrides; with
    ``resume``, the checkpoint folder must hold a checkpoint (checked before any work)."""
    import json

    try:
        values = json.loads(path.read_text()) if path is not None else {}
        values.update({k: v for k, v in options.items() if v is not None})
        changes: dict[str, Any] = {
            k: v for k, v in (("max_epochs", epochs), ("seed", seed)) if v is not None
        }
        if checkpoint_dir is not None:
            changes["checkpoint_dir"] = str(checkpoint_dir)
        cfg = cls.from_dict(values)
        folder = changes.get("checkpoint_dir", cfg.train.checkpoint_dir)
        if resume and folder is None:
            raise fail("--resume needs --checkpoint-dir: the folder of the run to continue.")
        cfg = cfg.with_train(progress=True, resume=resume or cfg.train.resume, **changes)
    except FileNotFoundError:
        raise fail(f"config file {path} does not exist.") from None
    except json.JSONDecodeError as err:
        raise fail(f"config file {path} is not valid JSON ({err}).") from None
    except ValueError as err:
        raise fail(str(err)) from None
    _check_checkpoint_dir(Path(folder) if folder is not None else None, cfg.train.resume)
    return cfg


def _check_checkpoint_dir(folder: Path | None, resume: bool) -> None:
    if folder is None:
        return
    if folder.exists() and not folder.is_dir():
        raise fail(f"--checkpoint-dir {folder} is a file, not a folder; give a folder.")
    if resume and not (folder.is_dir() and any(folder.glob("*.ckpt"))):
        raise fail(
            f"--resume: {folder} holds no checkpoint to resume from; train once with "
            "--checkpoint-dir (without --resume) to create one."
        )
    if not resume:
        from ..train import CHECKPOINT_NAME

        _check_writable(folder / CHECKPOINT_NAME)


def refuse_to_overwrite(out: Path, overwrite: bool) -> None:
    """Refuse, before any work, a model directory that cannot be written."""
    if out.exists() and not out.is_dir():
        raise fail(f"{out} is a file, not a directory; give a directory for the model.")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise fail(f"{out} is not empty; pass --overwrite to replace it.")
    _check_writable(out)


def check_output_file(out: Path, overwrite: bool, *, option: str = "--out") -> None:
    """Refuse, before any work, an output file that cannot be written: a directory in its
    place (a ``.zarr`` store is a directory, and counts as an existing output), an existing
    file without ``--overwrite``, or a folder that is not writable. ``option`` names the
    command-line option in the message."""
    if out.is_dir() and out.suffix != ".zarr":
        raise fail(f"{option} {out} is a directory; give a file name inside it instead.")
    if out.exists() and not overwrite:
        raise fail(f"{option} {out} exists; pass --overwrite to replace it.")
    _check_writable(out)


def check_output_folder(out: Path, names: Sequence[str], overwrite: bool) -> None:
    """Refuse, before any work, an output folder that cannot be written: a file in its place,
    a folder holding any of the entries ``names`` the command writes (without
    ``--overwrite``; other files in it are left alone), or a parent that is not writable."""
    if out.exists() and not out.is_dir():
        raise fail(f"--out {out} is a file, not a folder; give a folder to write into.")
    taken = [n for n in names if (out / n).exists()]
    if taken and not overwrite:
        raise fail(
            f"--out {out} already holds {', '.join(taken)}; pass --overwrite to replace them "
            "(other files are left alone), or give another folder."
        )
    if out.is_dir():
        import os

        if not os.access(out, os.W_OK):
            raise fail(f"cannot write into {out}: the folder is not writable.")
        return
    _check_writable(out)


def _check_writable(out: Path) -> None:
    """The nearest existing folder above ``out`` must be a writable directory."""
    import os

    parent = out.absolute().parent
    while not parent.exists():
        parent = parent.parent
    if not parent.is_dir():
        raise fail(f"cannot write {out}: {parent} is a file, not a folder.")
    if not os.access(parent, os.W_OK):
        raise fail(f"cannot write {out}: the folder {parent} is not writable.")


def load_model(model_dir: Path):
    """The compositional model saved in ``model_dir``."""
    from ..models import Compositional
    from ..models.compositional import ModelDirectoryError

    with failing(ModelDirectoryError):
        model = Compositional.load(model_dir)
    return model
