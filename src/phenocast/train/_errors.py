"""Why a training run produced no usable model (no torch, no Lightning)."""

from __future__ import annotations

__all__ = ["CheckpointError", "NonFiniteLossError", "TrainingError", "TrainingInterrupted"]


class TrainingError(RuntimeError):
    """Training ended without a usable model; nothing was kept."""


class NonFiniteLossError(TrainingError):
    """The loss became NaN or infinite; training stopped at that step.

    Attributes
    ----------
    epoch, step
        Where it happened (0-based epoch, optimiser step within the run).
    stage
        ``"train"`` or ``"validation"``.
    """

    def __init__(self, message: str, *, epoch: int, step: int, stage: str) -> None:
        super().__init__(message)
        self.epoch, self.step, self.stage = epoch, step, stage


class TrainingInterrupted(KeyboardInterrupt):
    """Training was interrupted (Ctrl-C); nothing was kept.

    A ``KeyboardInterrupt``, so it stops the program as Ctrl-C does, but with a message (the
    trainer's own handling would exit the process with status 1 and no word).
    """


class CheckpointError(ValueError):
    """Training cannot resume: no checkpoint to resume from, or one written by another run
    (the message names the file and what differs)."""
