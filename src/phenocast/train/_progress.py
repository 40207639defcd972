"""Training progress: a Rich bar on a terminal, plain periodic lines anywhere else.

A log file or a pipe cannot show a redrawn bar, and a bar that only appears at the end says
nothing for minutes; there a line on stderr at the first epoch, then at most every
:data:`PROGRESS_SECONDS`, and one when training ends, shows that training moves.
"""

from __future__ import annotations

import math
import sys
import time
from typing import Any, TextIO

import lightning.pytorch as pl

from ._config import PROGRESS_SECONDS

__all__ = ["PlainProgress", "progress_callbacks", "rich_terminal"]


def rich_terminal() -> bool:
    """Whether Rich's console can redraw a progress bar (a terminal or a notebook)."""
    from rich import get_console

    console = get_console()
    return bool(console.is_terminal or console.is_jupyter)


class PlainProgress(pl.Callback):
    """Plain lines on ``stream`` (default: stderr, looked up when training starts):
    ``training: epoch 3 of at most 200, val loss 0.4567 (best 0.4501), 12 s``."""

    def __init__(self, *, every: float = PROGRESS_SECONDS, stream: TextIO | None = None) -> None:
        self.every = every
        self.stream = stream
        self.start = self.last = 0.0
        self.best = math.inf

    def _print(self, trainer: pl.Trainer, text: str) -> None:
        if trainer.is_global_zero:  # one line per step, not one per process
            print(f"training: {text}", file=self.stream or sys.stderr, flush=True)

    def on_train_start(self, trainer: pl.Trainer, plan: Any) -> None:
        self.start = self.last = time.perf_counter()
        self.best = math.inf

    def on_train_epoch_end(self, trainer: pl.Trainer, plan: Any) -> None:
        now = time.perf_counter()
        loss = trainer.callback_metrics.get("val_loss")
        text = f"epoch {trainer.current_epoch + 1} of at most {trainer.max_epochs}"
        if loss is not None:
            self.best = min(self.best, float(loss))
            text += f", val loss {float(loss):.4g} (best {self.best:.4g})"
        if trainer.current_epoch == 0 or now - self.last >= self.every:
            self.last = now
            self._print(trainer, f"{text}, {now - self.start:.0f} s")

    def on_train_end(self, trainer: pl.Trainer, plan: Any) -> None:
        best = f", best val loss {self.best:.4g}" if math.isfinite(self.best) else ""
        self._print(
            trainer,
            f"done after {trainer.current_epoch} epoch(s) in "
            f"{time.perf_counter() - self.start:.1f} s{best}",
        )


def progress_callbacks(enabled: bool) -> tuple[list[pl.Callback], bool]:
    """The progress callbacks for a trainer, and whether Lightning's own bar is enabled:
    Rich's bar on a terminal, :class:`PlainProgress` elsewhere, nothing when disabled."""
    if not enabled:
        return [], False
    if rich_terminal():
        from lightning.pytorch.callbacks import RichProgressBar

        return [RichProgressBar(leave=False)], True
    return [PlainProgress()], False
