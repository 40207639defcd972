"""Why a training run produced no usable model (no torch, no Lightning)."""

from __future__ import annotations

__all__ = ["NonFiniteLossError", "TrainingError"]


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
