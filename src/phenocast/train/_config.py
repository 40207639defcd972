"""How a model is trained: the one training config every phenocast model uses."""

from __future__ import annotations

import dataclasses
import os
from dataclasses import dataclass
from typing import Any

__all__ = [
    "CHECKPOINT_NAME",
    "DATA_PATHS",
    "DENSE_LIMIT_BYTES",
    "LARGE_BATCH",
    "LARGE_DATA_ROWS",
    "PROGRESS_SECONDS",
    "READ_IN_BYTES",
    "SMALL_BATCH",
    "THREAD_ELEMENTS",
    "TrainConfig",
    "available_cores",
    "check_choice",
    "check_int",
    "check_number",
    "thread_count",
]

#: A run's checkpoint in ``TrainConfig.checkpoint_dir``: its state after the latest epoch.
CHECKPOINT_NAME = "last.ckpt"
#: How the training matrix is read (see :class:`TrainConfig`).
DATA_PATHS = ("auto", "memory", "stream")
#: ``data_path="auto"`` streams a matrix whose dense float32 size exceeds this.
DENSE_LIMIT_BYTES = 2 * 1024**3
#: ``data_path="auto"`` reads a matrix on disk into memory when its dense float32 size is at
#: most this (e.g. 32 k cells × 2,000 genes): small data trains fastest in memory
#: (``benchmarks/run_scale.py`` compares the two paths at 10 k and 100 k cells).
READ_IN_BYTES = 256 * 1024**2
#: Values per minibatch (``batch_size × n_genes``) each extra torch thread needs to pay off:
#: below, threads spend their time starting and spin-waiting (worst on a busy machine).
THREAD_ELEMENTS = 1 << 22
#: ``batch_size=None`` trains with ``SMALL_BATCH`` rows per minibatch, or ``LARGE_BATCH`` when
#: there are at least ``LARGE_DATA_ROWS`` training rows (more steps per epoch buy little there).
SMALL_BATCH, LARGE_BATCH, LARGE_DATA_ROWS = 64, 512, 50_000
#: Seconds between two plain progress lines where no bar can be drawn (``progress=True``).
PROGRESS_SECONDS = 10.0


def check_int(name: str, value: Any, *, minimum: int) -> None:
    """Refuse ``value`` of option ``name`` unless it is an integer (not a bool) >= ``minimum``."""
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")


def check_number(name: str, value: Any, *, allow_zero: bool) -> None:
    """Refuse ``value`` of option ``name`` unless it is a number > 0 (>= 0 with
    ``allow_zero``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ValueError(f"{name} must be a number, got {value!r}.")
    if not (value >= 0 if allow_zero else value > 0):
        raise ValueError(f"{name} must be {'>= 0' if allow_zero else '> 0'}, got {value!r}.")


def check_choice(name: str, value: Any, options: tuple[str, ...]) -> None:
    """Refuse ``value`` of option ``name`` unless it is one of ``options``."""
    if value not in options:
        raise ValueError(f"{name} must be one of {options}, got {value!r}.")


@dataclass(frozen=True, kw_only=True)
class TrainConfig:
    """How a model is trained: one class for every model, the home of the training defaults.

    A model's config holds one in its ``train`` field; a model whose training wants other
    defaults declares them (e.g. the multimodal model's ``MULTIMODAL_TRAIN``) and a partial
    ``train`` dict is filled from them.

    Attributes
    ----------
    max_epochs, patience
        Stop after ``max_epochs`` or when the validation loss has not improved for
        ``patience`` epochs (early stopping); the best weights are restored.
    batch_size, lr, weight_decay
        Minibatch size (``None``: :data:`SMALL_BATCH`, or :data:`LARGE_BATCH` from
        :data:`LARGE_DATA_ROWS` training rows on, see :meth:`batch_size_for`) and AdamW
        settings.
    val_fraction
        Fraction of the rows (cells, or samples of a multimodal model) held out for early
        stopping; 0 trains on everything for ``max_epochs``.
    seed
        Seeds the weights, the validation split, the minibatch order and the model's own
        noise; torch's global random state is left untouched.
    progress
        Show training progress (the default): a Rich progress bar on a terminal or in a
        notebook; elsewhere (a log file, a pipe) a plain line on stderr at the first epoch,
        then at most every :data:`phenocast.train.PROGRESS_SECONDS`, and when training ends.
        ``False`` trains silently.
    checkpoint_dir, resume
        With ``checkpoint_dir``, the run's state after each epoch (epoch count, optimisers,
        early-stopping count, history and the best weights so far) is written to one file
        there, :data:`CHECKPOINT_NAME` (a model fitted in several runs, such as an anchored
        compositional model, writes one file per run), replacing the previous epoch's; a new
        run without ``resume`` starts afresh and replaces it. ``resume=True`` continues from
        it up to ``max_epochs`` (raise ``max_epochs`` to train longer); it needs
        ``checkpoint_dir``, and fitting refuses a missing checkpoint or one written by a
        different model, configuration or data (:class:`phenocast.train.CheckpointError`).
        ``None`` keeps no checkpoint.
    accelerator, devices, num_nodes, strategy, precision
        Passed to the Lightning trainer: ``accelerator`` ``"cpu"``, ``"gpu"`` or ``"auto"``;
        ``devices`` a count, ``"auto"`` or a list of device indices; ``strategy`` e.g.
        ``"auto"`` or ``"ddp"`` (one process per device; under ``torchrun`` / SLURM Lightning
        reads the launcher's environment); ``precision`` e.g. ``"32-true"`` or
        ``"bf16-mixed"`` on GPUs. With several processes every rank reads its own share of
        the data blocks (see ``data_path``) and ``batch_size`` is per process.
    num_threads
        CPU threads torch uses while training; ``None`` lets the fit choose. It starts from
        the work size: one thread per :data:`THREAD_ELEMENTS` values in a minibatch
        (``batch_size × n_genes``), at least one and at most the cores (so one for every
        model in the benchmarks: on a busy machine extra threads cost more than they bring).
        A fit with minibatches of at least ``PROBE_ELEMENTS`` values and at least
        ``PROBE_MIN_STEPS`` planned minibatches (``max_epochs`` × per epoch), on several
        cores, then times its first minibatches at one thread and at every core and trains
        on with the faster (:class:`phenocast.train.ThreadProbe`; ``FitHistory.threads``
        says which). The thread count changes floating-point rounding, so two such fits can
        differ in their last digits when the machine's load changes between them; set
        ``num_threads`` for a fixed count. The previous setting is restored afterwards.
    data_path, block_rows, window
        ``"memory"`` holds the training matrix densely in memory (fastest for small data);
        ``"stream"`` reads it in contiguous blocks of ``block_rows`` rows, ``window`` blocks
        at a time, shuffling block order and rows within the window every epoch (data on
        disk, or larger than memory); ``"auto"`` streams when the matrix is on disk
        (:func:`phenocast.data.read`, ``backed="r"``) and its dense size exceeds
        :data:`READ_IN_BYTES` (a smaller one is read into memory), or when its dense size
        exceeds :data:`DENSE_LIMIT_BYTES`.
    """

    max_epochs: int = 200
    patience: int = 20
    batch_size: int | None = None
    lr: float = 5e-3
    weight_decay: float = 1e-5
    val_fraction: float = 0.1
    seed: int = 0
    progress: bool = True
    checkpoint_dir: str | None = None
    resume: bool = False
    accelerator: str = "cpu"
    devices: int | str | list[int] = 1
    num_nodes: int = 1
    strategy: str = "auto"
    precision: str | int | None = None
    num_threads: int | None = None
    data_path: str = "auto"
    block_rows: int = 4096
    window: int = 4

    def __post_init__(self) -> None:
        for name in ("num_nodes", "block_rows", "window"):
            check_int(name, getattr(self, name), minimum=1)
        if self.num_threads is not None:
            check_int("num_threads", self.num_threads, minimum=1)
        check_choice("data_path", self.data_path, DATA_PATHS)
        d = self.devices
        count = isinstance(d, int) and not isinstance(d, bool) and (d >= 1 or d == -1)
        if not (count or d == "auto" or isinstance(d, list)):
            raise ValueError(
                f"devices must be a count >= 1, -1 (all), 'auto' or a list of device indices, "
                f"got {d!r}."
            )
        for name in ("max_epochs", "patience"):
            check_int(name, getattr(self, name), minimum=1)
        if self.batch_size is not None:
            check_int("batch_size", self.batch_size, minimum=1)
        check_int("seed", self.seed, minimum=0)
        check_number("lr", self.lr, allow_zero=False)
        check_number("weight_decay", self.weight_decay, allow_zero=True)
        check_number("val_fraction", self.val_fraction, allow_zero=True)
        if not self.val_fraction < 0.9:
            raise ValueError(f"val_fraction must be in [0, 0.9), got {self.val_fraction!r}.")
        for name in ("progress", "resume"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}.")
        if self.resume and self.checkpoint_dir is None:
            raise ValueError(
                "resume=True needs checkpoint_dir: the folder holding the checkpoint to "
                "resume from."
            )

    @classmethod
    def from_dict(
        cls, values: dict[str, Any] | None = None, *, defaults: dict[str, Any] | None = None
    ) -> TrainConfig:
        """Build from a dict, filling absent options from ``defaults`` (then the class's own);
        unknown options are refused by name."""
        values = {**(defaults or {}), **(values or {})}
        fields = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(values) - fields)
        if unknown:
            raise ValueError(
                f"Unknown option(s) {unknown} for TrainConfig; valid options: {sorted(fields)}."
            )
        return cls(**values)

    def batch_size_for(self, n_rows: int) -> int:
        """The minibatch size for ``n_rows`` training rows (``batch_size`` when set)."""
        if self.batch_size is not None:
            return self.batch_size
        return LARGE_BATCH if n_rows >= LARGE_DATA_ROWS else SMALL_BATCH

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


def available_cores() -> int:
    """CPU cores this process may run on (its affinity mask where the OS has one)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def thread_count(config: TrainConfig, n_genes: int, *, n_rows: int = 0) -> int:
    """Threads to start training with: ``config.num_threads`` if set, else one per
    :data:`THREAD_ELEMENTS` values in a minibatch of ``n_rows`` training rows, between 1 and
    the available cores."""
    if config.num_threads is not None:
        return config.num_threads
    elements = config.batch_size_for(n_rows) * n_genes
    return max(1, min(available_cores(), elements // THREAD_ELEMENTS))
