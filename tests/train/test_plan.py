"""The public training layer: one plan trains any module through its ``loss``; the one
training config validates itself and fills a model's own defaults."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from phenocast.models import LossOutput, MultiModalConfig, MultiModalTrainConfig
from phenocast.train import TensorBatches, TrainConfig, TrainingPlan, fit_module


class _Noisy(torch.nn.Module):
    """A linear regression whose loss adds reparameterised noise from the plan's generator."""

    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(3, 1)
        self.draws: list[float] = []

    def loss(self, batch, *, adversary_weight=0.0, generator=None):
        noise = torch.randn(1, generator=generator, device=batch.x.device)
        self.draws.append(float(noise))
        mse = (self.w(batch.x).squeeze(-1) - batch.y).pow(2).mean()
        total = mse + 0.0 * noise.sum()
        return LossOutput(total, mse.detach(), mse.new_zeros(()))

    def model_parameters(self):
        return list(self.parameters())


class _Batch:
    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return self.x.shape[0]


def _fit(seed: int | None):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.3
    data = TensorBatches({"x": x, "y": y}, _Batch)
    loader = torch.utils.data.DataLoader(list(range(48)), batch_size=16, collate_fn=data)
    val = torch.utils.data.DataLoader(list(range(48, 64)), batch_size=16, collate_fn=data)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(1)
        module = _Noisy()
    plan = TrainingPlan(module, lr=0.05, weight_decay=0.0, seed=seed)
    config = TrainConfig(max_epochs=30, patience=30)
    history = fit_module(plan, loader, val, config=config, n_cells=48)
    return module, history


def test_any_module_with_a_loss_trains_without_a_plan_of_its_own():
    _, history = _fit(seed=0)
    losses = [e["val_loss"] for e in history.epochs]
    assert losses[-1] < 0.1 * losses[0]
    assert history.best_epoch >= 0 and history.cells_per_second > 0
    assert "adversary_loss" not in history.epochs[0]  # a module without adversaries


def test_the_plan_seeds_the_modules_noise():
    a, _ = _fit(seed=5)
    b, _ = _fit(seed=5)
    c, _ = _fit(seed=6)
    assert a.draws == b.draws
    assert a.draws != c.draws
    # validation noise restarts every epoch, so every epoch's validation sees the same draw
    per_epoch = 3 + 1  # three training batches, one validation batch
    val_draws = a.draws[per_epoch - 1 :: per_epoch]
    assert len(set(val_draws)) == 1


def test_one_train_config_with_each_models_defaults():
    assert TrainConfig().max_epochs == 200  # the compositional model's defaults
    mm = MultiModalConfig()
    assert isinstance(mm.train, TrainConfig)
    assert (mm.train.max_epochs, mm.train.batch_size, mm.train.lr) == (300, 32, 3e-3)
    # a partial dict is filled from the model's defaults, not the class's
    cfg = MultiModalConfig.from_dict({"train": {"max_epochs": 5}})
    assert (cfg.train.max_epochs, cfg.train.patience) == (5, 30)
    assert MultiModalTrainConfig(seed=3) == dataclasses.replace(mm.train, seed=3)
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['epochs'\] for TrainConfig"):
        TrainConfig.from_dict({"epochs": 3})
    with pytest.raises(ValueError, match="batch_size must be an integer >= 1, got 0"):
        TrainConfig(batch_size=0)
    with pytest.raises(ValueError, match=r"val_fraction must be in \[0, 0.9\)"):
        TrainConfig(val_fraction=0.95)


def test_early_stopping_split_stratifies_large_groups_and_pools_small_ones():
    from phenocast.train import early_stopping_split

    groups = np.repeat(np.arange(5), [40, 40, 2, 2, 2])  # two conditions of cells, three wells
    train, val = early_stopping_split(groups, fraction=0.25, seed=0)
    assert np.array_equal(np.sort(np.concatenate([train, val])), np.arange(groups.size))
    assert [int((groups[val] == g).sum()) for g in (0, 1)] == [10, 10]
    assert int(np.isin(groups[val], [2, 3, 4]).sum()) == 2  # 25 % of the 6 pooled wells
    again, _ = early_stopping_split(groups, fraction=0.25, seed=0)
    assert np.array_equal(train, again)
    assert early_stopping_split(groups, fraction=0.0, seed=0)[1].size == 0
