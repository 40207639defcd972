"""Training resumes from its one checkpoint file, and refuses one of another run by name."""

from __future__ import annotations

import pytest
import torch

from phenocast.models import LossOutput
from phenocast.train import (
    CHECKPOINT_NAME,
    CheckpointError,
    TensorBatches,
    TrainConfig,
    TrainingPlan,
    fit_module,
)


class _Linear(torch.nn.Module):
    def __init__(self, width: int = 3, stop_at: int = 0) -> None:
        super().__init__()
        self.w = torch.nn.Linear(width, 1)
        self.calls, self.stop_at = 0, stop_at

    def loss(self, batch, *, adversary_weight=0.0, generator=None):
        self.calls += 1
        if self.calls == self.stop_at:
            raise KeyboardInterrupt  # as Ctrl-C would
        mse = (self.w(batch.x[:, : self.w.in_features]).squeeze(-1) - batch.y).pow(2).mean()
        return LossOutput(mse, mse.detach(), mse.new_zeros(()))

    def model_parameters(self):
        return list(self.parameters())


class _Batch:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return self.x.shape[0]


def _fit(config: TrainConfig, *, width: int = 3, rows: int = 48, stop_at: int = 0):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    data = TensorBatches({"x": x, "y": x @ torch.tensor([1.0, -2.0, 0.5])}, _Batch)
    loader = torch.utils.data.DataLoader(list(range(rows)), batch_size=16, collate_fn=data)
    val = torch.utils.data.DataLoader(list(range(48, 64)), batch_size=16, collate_fn=data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        module = _Linear(width, stop_at)
    plan = TrainingPlan(module, lr=0.05, weight_decay=0.0)
    return module, fit_module(plan, loader, val, config=config, n_cells=rows)


def test_resume_continues_the_epoch_count_and_keeps_one_checkpoint(tmp_path):
    first, history = _fit(TrainConfig(max_epochs=2, patience=10, checkpoint_dir=str(tmp_path)))
    assert [e["epoch"] for e in history.epochs] == [0, 1]
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]
    cfg = TrainConfig(max_epochs=4, patience=10, checkpoint_dir=str(tmp_path), resume=True)
    module, history = _fit(cfg)
    assert [e["epoch"] for e in history.epochs] == [0, 1, 2, 3]  # continued, not restarted
    assert module.calls == first.calls  # two more epochs: as many loss calls as the first two
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]
    # a run without resume starts afresh and replaces the file
    _, history = _fit(TrainConfig(max_epochs=1, checkpoint_dir=str(tmp_path)))
    assert [e["epoch"] for e in history.epochs] == [0]
    assert [p.name for p in tmp_path.iterdir()] == [CHECKPOINT_NAME]


def test_resume_keeps_the_best_weights_across_runs(tmp_path):
    _fit(TrainConfig(max_epochs=3, patience=10, checkpoint_dir=str(tmp_path)))
    cfg = TrainConfig(max_epochs=3, patience=10, checkpoint_dir=str(tmp_path), resume=True)
    resumed, history = _fit(cfg)  # already at max_epochs: nothing left to train
    whole, expected = _fit(TrainConfig(max_epochs=3, patience=10))
    assert resumed.calls == 0
    assert history.best_epoch == expected.best_epoch
    assert torch.equal(resumed.w.weight, whole.w.weight)


def test_resume_without_a_checkpoint_is_refused_by_name(tmp_path):
    with pytest.raises(CheckpointError, match=rf"Nothing to resume: {tmp_path} holds no checkp"):
        _fit(TrainConfig(max_epochs=2, checkpoint_dir=str(tmp_path), resume=True))
    with pytest.raises(ValueError, match="resume=True needs checkpoint_dir"):
        TrainConfig(resume=True)


def test_resume_refuses_a_checkpoint_of_another_run(tmp_path):
    _fit(TrainConfig(max_epochs=1, checkpoint_dir=str(tmp_path)))
    cfg = TrainConfig(max_epochs=2, checkpoint_dir=str(tmp_path), resume=True)
    ckpt = tmp_path / CHECKPOINT_NAME
    with pytest.raises(CheckpointError, match=rf"{ckpt}: .*different run \(other layer shapes"):
        _fit(cfg, width=2)
    with pytest.raises(CheckpointError, match=r"\(48 training rows, not 32"):
        _fit(cfg, rows=32)
    with pytest.raises(CheckpointError, match=r"seed 0, not 3"):
        _fit(TrainConfig(max_epochs=2, checkpoint_dir=str(tmp_path), resume=True, seed=3))
    ckpt.write_text("not a checkpoint")
    with pytest.raises(CheckpointError, match=rf"{ckpt}: not a phenocast training checkpoint"):
        _fit(cfg)


def test_ctrl_c_keeps_the_last_finished_epoch_to_resume_from(tmp_path):
    import signal

    from phenocast.train import TrainingInterrupted

    before = signal.getsignal(signal.SIGINT)
    cfg = TrainConfig(max_epochs=4, patience=10, checkpoint_dir=str(tmp_path))
    with pytest.raises(TrainingInterrupted, match=r"in epoch 1; the checkpoint .* holds the las"):
        _fit(cfg, stop_at=6)  # four loss calls per epoch: stopped in the second
    signal.signal(signal.SIGINT, before)
    _, history = _fit(
        TrainConfig(max_epochs=4, patience=10, checkpoint_dir=str(tmp_path), resume=True)
    )
    assert [e["epoch"] for e in history.epochs] == [0, 1, 2, 3]
    with pytest.raises(TrainingInterrupted, match=r"in epoch 0; nothing was kept"):
        _fit(TrainConfig(max_epochs=2, checkpoint_dir=str(tmp_path / "new")), stop_at=2)
    signal.signal(signal.SIGINT, before)
