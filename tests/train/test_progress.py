"""Training shows progress by default: Rich's bar on a terminal, plain lines elsewhere,
nothing with ``progress=False``."""

from __future__ import annotations

import io

import pytest
import torch

from phenocast.train import (
    PlainProgress,
    TensorBatches,
    TrainConfig,
    TrainingPlan,
    _progress,
    fit_module,
)

from .test_plan import _Batch, _Noisy


def _fit(config: TrainConfig, *, val: bool = True) -> None:
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(32, 3, generator=gen)
    data = TensorBatches({"x": x, "y": x.sum(1)}, _Batch)
    loader = torch.utils.data.DataLoader(list(range(24)), batch_size=8, collate_fn=data)
    held = torch.utils.data.DataLoader(list(range(24, 32)), batch_size=8, collate_fn=data)
    plan = TrainingPlan(_Noisy(), lr=0.05, weight_decay=0.0, seed=0)
    fit_module(plan, loader, held if val else None, config=config, n_cells=24)


def test_progress_is_on_by_default_as_plain_lines_off_a_terminal(capsys):
    assert TrainConfig().progress is True
    _fit(TrainConfig(max_epochs=4, patience=10))
    out, err = capsys.readouterr()
    lines = err.splitlines()
    assert out == ""  # progress goes to stderr, leaving stdout to the results
    # the first epoch at once, then nothing until PROGRESS_SECONDS pass, then the summary
    assert lines[0].startswith("training: epoch 1 of at most 4, val loss ")
    assert lines[-1].startswith("training: done after 4 epoch(s) in ")
    assert "best val loss" in lines[-1] and len(lines) == 2


def test_plain_progress_prints_every_interval_and_without_validation(capsys, monkeypatch):
    _fit(TrainConfig(max_epochs=3, val_fraction=0.0), val=False)
    lines = capsys.readouterr().err.splitlines()
    assert lines[0].startswith("training: epoch 1 of at most 3, ")
    assert lines[-1].startswith("training: done after 3 epoch(s)")
    assert not any("val loss" in ln for ln in lines)
    stream = io.StringIO()
    every = PlainProgress(every=0.0, stream=stream)
    monkeypatch.setattr(_progress, "PlainProgress", lambda: every)
    _fit(TrainConfig(max_epochs=3, patience=10))
    lines = stream.getvalue().splitlines()
    assert [ln.split(",")[0] for ln in lines[:3]] == [
        f"training: epoch {i} of at most 3" for i in (1, 2, 3)
    ]
    assert len(lines) == 4


def test_progress_false_trains_silently(capsys):
    _fit(TrainConfig(max_epochs=2, progress=False))
    assert capsys.readouterr() == ("", "")


def test_a_terminal_gets_richs_bar(monkeypatch):
    from lightning.pytorch.callbacks import RichProgressBar

    monkeypatch.setattr(_progress, "rich_terminal", lambda: True)
    shown, enabled = _progress.progress_callbacks(True)
    assert enabled and len(shown) == 1 and isinstance(shown[0], RichProgressBar)
    monkeypatch.setattr(_progress, "rich_terminal", lambda: False)
    shown, enabled = _progress.progress_callbacks(True)
    assert not enabled and isinstance(shown[0], PlainProgress)
    assert _progress.progress_callbacks(False) == ([], False)
    with pytest.raises(ValueError, match="progress must be True or False, got 'yes'"):
        TrainConfig(progress="yes")
