"""The Lightning training plan, data loading and the fit loop shared by phenocast's models.

The plan owns the optimisers, the optional adversarial schedule, the seeded noise and the
logging; the module it trains only sees tensors. A module fits when it has
``loss(batch, *, adversary_weight, generator)`` returning an object with ``total`` (what the
optimiser minimises), ``tracked`` (the detached value early stopping watches) and
``adversary`` (or ``None``), and ``model_parameters()``; an adversarial module also has
``encode``, ``adversary_loss`` and ``adversary_parameters()``. No model needs a plan of its own.
"""

from __future__ import annotations

import contextlib
import copy
import logging
import math
import signal
import warnings
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import lightning.pytorch as pl
import torch
from torch.utils.data import DataLoader

from ._config import CHECKPOINT_NAME, TrainConfig
from ._errors import CheckpointError, NonFiniteLossError, TrainingInterrupted
from ._threads import threads

__all__ = [
    "FitHistory",
    "PairedBatches",
    "TensorBatches",
    "TrainingPlan",
    "batch_size",
    "fit_module",
]


def batch_size(batch: Any) -> int:
    """Rows in a minibatch: ``len(batch)`` for the models' batch types."""
    return len(batch)


class TensorBatches:
    """Minibatches sliced from in-memory tensors: one indexing op per batch, no per-cell loop."""

    def __init__(self, tensors: dict[str, torch.Tensor | None], make: Callable[..., Any]) -> None:
        self.tensors = tensors
        self.make = make

    def __call__(self, index: list[int]) -> Any:
        idx = torch.as_tensor(index, dtype=torch.long)
        return self.make(**{k: (None if v is None else v[idx]) for k, v in self.tensors.items()})

    def loader(
        self, rows: torch.Tensor, *, batch_size: int, shuffle: bool, seed: int
    ) -> DataLoader:
        """Minibatches of ``rows`` (``collate_fn`` is this object)."""
        gen = torch.Generator().manual_seed(seed)
        return DataLoader(
            rows.tolist(),  # type: ignore[arg-type]  # a list of row indices is a dataset
            batch_size=batch_size,
            shuffle=shuffle,
            collate_fn=self,
            generator=gen,
            drop_last=False,
        )


class PairedBatches(TensorBatches):
    """Like :class:`TensorBatches`, adding ``basal_x``: for each perturbed cell the values of a
    control cell drawn at random (anew every batch) from the same context.

    A perturbed cell's basal state is unobserved; encoding a random control of its context
    instead keeps every trace of the perturbation out of the basal latent by construction.
    Cells whose context has no controls, and controls themselves, use their own values.
    """

    def __init__(
        self,
        tensors: dict[str, torch.Tensor | None],
        make: Callable[..., Any],
        *,
        context: torch.Tensor,
        is_control: torch.Tensor,
        seed: int,
    ) -> None:
        super().__init__(tensors, make)
        n_ctx = int(context.max()) + 1 if context.numel() else 0
        ctrl_rows = torch.nonzero(is_control).ravel()
        order = torch.argsort(context[ctrl_rows], stable=True)
        self.ctrl_sorted = ctrl_rows[order]
        counts = torch.bincount(context[ctrl_rows], minlength=n_ctx)
        self.start = torch.cumsum(counts, 0) - counts
        self.count = counts
        self.context, self.is_control = context, is_control
        self.gen = torch.Generator().manual_seed(seed + 1)

    def __call__(self, index: list[int]) -> Any:
        idx = torch.as_tensor(index, dtype=torch.long)
        ctx = self.context[idx]
        count = self.count[ctx]
        u = torch.rand(idx.shape[0], generator=self.gen)
        pick = self.start[ctx] + (u * count.clamp(min=1)).long().clamp(max=(count - 1).clamp(min=0))
        partner = torch.where(
            (count > 0) & ~self.is_control[idx],
            self.ctrl_sorted[pick.clamp(max=max(len(self.ctrl_sorted) - 1, 0))],
            idx,
        )
        fields = {k: (None if v is None else v[idx]) for k, v in self.tensors.items()}
        x = self.tensors["x"]
        assert x is not None
        fields["basal_x"] = x[partner]
        return self.make(**fields)


def _adamw(params: Any, *, lr: float, weight_decay: float = 1e-2) -> torch.optim.AdamW:
    """AdamW (torch's default weight decay unless given), fused into one kernel over all
    parameters where torch has one for them (CPU and CUDA): on a CPU the per-tensor loop
    otherwise costs a sizeable share of a small minibatch's step."""
    params = list(params)
    fused = bool(params) and all(
        p.device.type in ("cpu", "cuda") and p.dtype.is_floating_point for p in params
    )
    return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=fused or None)


class TrainingPlan(pl.LightningModule):
    """Every model's training step: the module's ``loss`` drives it.

    With ``adversary``, each step first updates the adversaries on a detached basal latent,
    then the model, whose loss subtracts the adversaries' loss with weight
    ``adversary_weight`` once ``adversary_warmup`` epochs have passed. With ``seed``, the
    module's own noise (e.g. a VAE's reparameterisation) is drawn from a generator seeded
    ``seed + 1`` for training and, every epoch anew, ``seed + 2`` for validation, so epochs
    compare on equal terms; without it the module draws from torch's global generator.
    """

    def __init__(
        self,
        module: Any,
        *,
        lr: float,
        weight_decay: float,
        adversary: bool = False,
        adversary_weight: float = 0.0,
        adversary_warmup: int = 0,
        seed: int | None = None,
    ) -> None:
        super().__init__()
        self.module: Any = module
        self.lr, self.weight_decay = lr, weight_decay
        self.adversary = adversary
        self.adversary_weight, self.adversary_warmup = adversary_weight, adversary_warmup
        self.seed = seed
        self.automatic_optimization = False
        self.history: list[dict[str, float]] = []
        self._epoch: dict[str, list[float]] = {}
        self._noise: dict[str, torch.Generator] = {}
        #: What a checkpoint of this run must match to be resumed (set by :func:`fit_module`).
        self.fingerprint: dict[str, Any] = {}

    def on_save_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        checkpoint["phenocast"] = {"fingerprint": self.fingerprint, "history": self.history}

    def on_load_checkpoint(self, checkpoint: dict[str, Any]) -> None:
        self.history = list(checkpoint.get("phenocast", {}).get("history", []))

    def configure_optimizers(self) -> Any:
        opts = [_adamw(self.module.model_parameters(), lr=self.lr, weight_decay=self.weight_decay)]
        if self.adversary:
            opts.append(_adamw(self.module.adversary_parameters(), lr=self.lr))
        return opts

    def _record(self, key: str, value: torch.Tensor) -> None:
        self._epoch.setdefault(key, []).append(float(value))

    def _generator(self, stage: str, *, restart: bool) -> torch.Generator | None:
        """The seeded noise of ``stage`` on this plan's device (``None`` without a seed)."""
        if self.seed is None:
            return None
        if restart or stage not in self._noise:
            offset = 1 if stage == "train" else 2
            gen = torch.Generator(device=self.device).manual_seed(self.seed + offset)
            self._noise[stage] = gen
        return self._noise[stage]

    def _check_finite(self, loss: torch.Tensor, stage: str, batch_idx: int) -> None:
        """Stop at once, by name, when the loss is NaN or infinite (never train on it)."""
        if bool(torch.isfinite(loss).all()):
            return
        raise NonFiniteLossError(
            f"The {stage} loss became {float(loss.detach())} at epoch {self.current_epoch}, "
            f"minibatch {batch_idx} (lr={self.lr}); training stopped and no model was kept.",
            epoch=int(self.current_epoch),
            step=int(self.global_step),
            stage=stage,
        )

    def training_step(self, batch: Any, batch_idx: int) -> None:
        opts = self.optimizers()
        opts = opts if isinstance(opts, list) else [opts]
        weight = 0.0
        if self.adversary:
            with torch.no_grad():
                z, _ = self.module.encode(batch)
            adv = self.module.adversary_loss(z, batch)
            opts[1].zero_grad()
            self.manual_backward(adv)
            opts[1].step()
            if self.current_epoch >= self.adversary_warmup:
                weight = self.adversary_weight
        gen = self._generator("train", restart=False)
        out = self.module.loss(batch, adversary_weight=weight, generator=gen)
        self._check_finite(out.total, "train", batch_idx)
        opts[0].zero_grad()
        self.manual_backward(out.total)
        opts[0].step()
        self._record("train_loss", out.tracked)
        if out.adversary is not None:
            self._record("adversary_loss", out.adversary)

    def validation_step(self, batch: Any, batch_idx: int) -> None:
        gen = self._generator("val", restart=batch_idx == 0)
        out = self.module.loss(batch, adversary_weight=0.0, generator=gen)
        self._check_finite(out.tracked, "validation", batch_idx)
        self.log(
            "val_loss", out.tracked, on_epoch=True, batch_size=batch_size(batch), sync_dist=True
        )
        self._record("val_loss", out.tracked)

    def on_validation_epoch_end(self) -> None:
        summary = {k: sum(v) / len(v) for k, v in self._epoch.items() if v}
        summary["epoch"] = float(self.current_epoch)
        if "val_loss" in summary:
            self.history.append(summary)
        self._epoch = {}


class _BestWeights(pl.Callback):
    """Keep the weights of the epoch with the lowest validation loss; restore them at the end."""

    def __init__(self) -> None:
        self.best = math.inf
        self.state: dict[str, torch.Tensor] | None = None
        self.best_epoch = -1

    def on_validation_epoch_end(self, trainer: pl.Trainer, plan: Any) -> None:
        loss = trainer.callback_metrics.get("val_loss")
        if loss is not None and float(loss) < self.best:
            self.best = float(loss)
            self.best_epoch = trainer.current_epoch
            self.state = copy.deepcopy(plan.module.state_dict())

    def on_train_end(self, trainer: pl.Trainer, plan: Any) -> None:
        if self.state is not None:
            plan.module.load_state_dict(self.state)

    def state_dict(self) -> dict[str, Any]:
        # in the run's checkpoint, so a resumed run still restores the best weights
        return {"best": self.best, "best_epoch": self.best_epoch, "state": self.state}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.best, self.best_epoch = state_dict["best"], state_dict["best_epoch"]
        self.state = state_dict["state"]


class _LastCheckpoint(pl.Callback):
    """Write the run's state after every epoch to one file, atomically (a temporary sibling
    renamed onto it): the epoch, optimisers, early-stopping count, best weights and history."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.saved = False  # in this run

    def on_train_epoch_end(self, trainer: pl.Trainer, plan: Any) -> None:
        import os

        tmp = self.path.with_name(f".{self.path.name}.tmp")
        try:
            trainer.save_checkpoint(tmp)  # every rank takes part; global rank 0 writes
            if trainer.is_global_zero:
                os.replace(tmp, self.path)
            self.saved = True
        except BaseException:
            if trainer.is_global_zero:
                tmp.unlink(missing_ok=True)
            raise


@dataclass
class FitHistory:
    """Per-epoch losses, the epoch whose weights were kept, throughput, and the CPU threads
    trained with (after the thread probe, see :class:`TrainConfig`'s ``num_threads``; 0 when
    nothing was trained)."""

    epochs: list[dict[str, float]]
    best_epoch: int
    seconds: float
    cells_per_second: float
    threads: int = 0


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Silence Lightning's banner and its advice about dataloader workers, for this call only."""
    loggers = [logging.getLogger(n) for n in ("lightning.pytorch", "lightning.fabric")]
    levels = [lg.level for lg in loggers]
    for lg in loggers:
        lg.setLevel(logging.WARNING)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not have many workers.*")
        warnings.filterwarnings("ignore", message=".*number of training batches.*")
        warnings.filterwarnings("ignore", message=".*LeafSpec.*")
        # val_fraction=0 trains without validation on purpose
        warnings.filterwarnings("ignore", message=".*no `val_dataloader`.*")
        try:
            yield
        finally:
            for lg, lv in zip(loggers, levels, strict=True):
                lg.setLevel(lv)


def _strategy(name: str) -> str:
    """Lightning's strategy for ``name``: plain ``"ddp"`` looks for unused parameters, since a
    model's optional parts (adversaries, interaction terms) take no gradient in some steps."""
    return "ddp_find_unused_parameters_true" if name == "ddp" else name


def _fingerprint(plan: TrainingPlan, n_cells: int, seed: int) -> dict[str, Any]:
    """What a run's checkpoint must match to be resumed: the module's class, its parameters'
    names and shapes, the rows trained on and the seed."""
    module = plan.module
    return {
        "module": f"{type(module).__module__}.{type(module).__qualname__}",
        "parameters": {k: list(v.shape) for k, v in module.state_dict().items()},
        "rows": int(n_cells),
        "seed": seed,
    }


def _resumable(path: Path, fingerprint: dict[str, Any]) -> int:
    """The epoch a checkpoint was written in (-1: none, start afresh); refuse, by name, a
    directory without checkpoints and a checkpoint unreadable or of another run."""
    if not path.is_file():
        if any(path.parent.glob("*.ckpt")):  # an earlier run of the same fit was reached
            return -1
        raise CheckpointError(
            f"Nothing to resume: {path.parent} holds no checkpoint ({path.name}). Train once "
            "with this checkpoint directory (without resume) to create it, or drop "
            "resume / --resume."
        )
    try:
        saved = torch.load(path, map_location="cpu", weights_only=True)
        theirs, epoch = saved["phenocast"]["fingerprint"], int(saved["epoch"])
    except Exception as err:  # torch / pickle raise many types for a foreign file
        raise CheckpointError(
            f"Cannot resume from {path}: not a phenocast training checkpoint ({err}). "
            "Delete it, or point checkpoint_dir elsewhere."
        ) from None
    diff = sorted(k for k in fingerprint if theirs.get(k) != fingerprint[k])
    if diff:
        what = {
            "module": "another model class",
            "parameters": "other layer shapes (another model configuration or data)",
            "rows": f"{theirs.get('rows')} training rows, not {fingerprint['rows']}",
            "seed": f"seed {theirs.get('seed')}, not {fingerprint['seed']}",
        }
        raise CheckpointError(
            f"Cannot resume from {path}: it was written by a different run "
            f"({'; '.join(what[k] for k in diff)}). Train without resume to start afresh "
            "(this replaces it), or use another checkpoint_dir."
        )
    return epoch


def fit_module(
    plan: TrainingPlan,
    train: Any,
    val: Any | None,
    *,
    config: TrainConfig,
    n_cells: int,
    n_genes: int | None = None,
    run: str | None = None,
) -> FitHistory:
    """Train as ``config`` says: at most ``max_epochs``, early stopping on the validation
    loss after ``patience`` epochs without improvement, the progress (a Rich bar on a
    terminal, plain lines on stderr elsewhere, see :data:`PROGRESS_SECONDS`), the checkpoint
    directory, the accelerator, devices and strategy; the best weights are restored.
    ``n_cells`` (rows per epoch, all ranks together) gives the throughput; ``n_genes`` sizes
    the thread count (:func:`phenocast.train.thread_count`). ``train`` / ``val`` are
    DataLoaders or any re-iterable of minibatches with ``len`` (e.g. a
    :class:`phenocast.train.BlockBatches`).

    With ``config.checkpoint_dir`` the run's state is written after every epoch to one file
    there, ``<run>.ckpt`` (default :data:`CHECKPOINT_NAME`), replacing the previous epoch's;
    it also holds the best weights so far. With ``config.resume`` training continues from that
    file (its epoch count, optimiser, early-stopping count, best weights and history) up to
    ``max_epochs``. A model fitted in several runs names each (``run``); with ``resume``, a
    run whose file is missing while an earlier run's exists (it was interrupted before this
    run began) starts afresh.

    Raises
    ------
    CheckpointError
        ``resume`` without a checkpoint to resume from, or with one written by a different
        run (module, layer shapes, training rows or seed differ).
    """
    import time

    from lightning.pytorch.callbacks import EarlyStopping

    callbacks: list[pl.Callback] = []
    best = _BestWeights()
    if val is not None:
        callbacks += [EarlyStopping("val_loss", patience=config.patience, mode="min"), best]
    plan.fingerprint = _fingerprint(plan, n_cells, config.seed)
    ckpt: Path | None = None
    last: _LastCheckpoint | None = None
    start = 0
    if config.checkpoint_dir is not None:
        ckpt = Path(config.checkpoint_dir) / (CHECKPOINT_NAME if run is None else f"{run}.ckpt")
        if config.resume:
            start = _resumable(ckpt, plan.fingerprint) + 1
        ckpt.parent.mkdir(parents=True, exist_ok=True)
        last = _LastCheckpoint(ckpt)
        callbacks.append(last)
    from ._config import thread_count
    from ._progress import progress_callbacks

    shown, lightning_bar = progress_callbacks(config.progress)
    callbacks += shown

    n_threads = (
        thread_count(config, n_genes, n_rows=n_cells) if n_genes is not None else config.num_threads
    )
    probe = _thread_probe(config, train, n_genes, n_cells, n_threads)
    if probe is not None:
        callbacks.append(probe)
    with _quiet_lightning(), threads(n_threads):
        trainer = pl.Trainer(
            max_epochs=config.max_epochs,
            accelerator=config.accelerator,
            devices=config.devices,
            num_nodes=config.num_nodes,
            strategy=_strategy(config.strategy),
            precision=config.precision,  # type: ignore[arg-type]
            logger=False,
            callbacks=callbacks,
            enable_checkpointing=False,  # _LastCheckpoint writes the one checkpoint
            enable_progress_bar=lightning_bar,
            enable_model_summary=False,
            num_sanity_val_steps=0,
            deterministic=False,
        )
        t0 = time.perf_counter()
        try:
            trainer.fit(
                plan,
                train_dataloaders=train,
                val_dataloaders=val,
                ckpt_path=ckpt if start else None,
                weights_only=True,
            )
        except SystemExit:  # Lightning exits the process on Ctrl-C
            if not trainer.interrupted:
                raise
            signal.signal(signal.SIGINT, signal.default_int_handler)  # it ignored Ctrl-C
            kept = (
                f"the checkpoint {ckpt} holds the last finished epoch (resume to continue)."
                if last is not None and (last.saved or start > 0)
                else "nothing was kept."
            )
            raise TrainingInterrupted(
                f"Training was interrupted (Ctrl-C) in epoch {trainer.current_epoch}; {kept}"
            ) from None
        seconds = time.perf_counter() - t0
        used = torch.get_num_threads()
    epochs_run = max(trainer.current_epoch - start, 1)
    return FitHistory(
        epochs=plan.history,
        best_epoch=best.best_epoch,
        seconds=seconds,
        cells_per_second=n_cells * epochs_run / max(seconds, 1e-9),
        threads=used,
    )


def _thread_probe(
    config: TrainConfig, train: Any, n_genes: int | None, n_cells: int, n_threads: int | None
) -> Any:
    """A :class:`ThreadProbe` of one thread against every core (and the work-size rule's
    count) for a fit whose thread count is left to phenocast, long and wide enough to be
    worth it; else ``None``."""
    from ._config import available_cores
    from ._threads import PROBE_ELEMENTS, PROBE_MIN_STEPS, ThreadProbe

    cores = available_cores()
    if config.num_threads is not None or n_genes is None or cores < 2:
        return None
    try:
        planned = config.max_epochs * len(train)
    except TypeError:  # an iterable without len: its size is unknown
        return None
    if planned < PROBE_MIN_STEPS or config.batch_size_for(n_cells) * n_genes < PROBE_ELEMENTS:
        return None
    return ThreadProbe(sorted({1, n_threads or 1, cores}))
