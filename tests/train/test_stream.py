"""Block-shuffled minibatches (BlockBatches) and the training config's scale options."""

from __future__ import annotations

import os

import numpy as np
import pytest
import torch

from phenocast.train import BlockBatches, TrainConfig, thread_count


def _loader(n=103, *, rows=None, pair=False, batch_size=8, shuffle=True, seed=0):
    x = np.arange(n, dtype=np.float32)[:, None].repeat(3, 1)
    context = np.arange(n) % 3
    is_control = np.arange(n) % 5 == 0
    loader = BlockBatches(
        x,
        {"row": torch.arange(n)},
        dict,
        rows=np.arange(n) if rows is None else rows,
        batch_size=batch_size,
        shuffle=shuffle,
        seed=seed,
        block_rows=10,
        window=2,
        context=context if pair else None,
        is_control=is_control if pair else None,
    )
    return loader, context, is_control


def test_every_row_once_per_epoch_in_new_block_order():
    rows = np.setdiff1d(np.arange(103), [5, 6, 50])
    loader, *_ = _loader(rows=rows)
    epochs = []
    for _ in range(2):
        batches = list(loader)
        assert len(batches) == len(loader)
        seen = torch.cat([b["row"] for b in batches]).numpy()
        assert sorted(seen.tolist()) == rows.tolist()  # each training row exactly once
        for b in batches:  # x is the row's own values
            np.testing.assert_array_equal(b["x"][:, 0].numpy(), b["row"].numpy())
        epochs.append(seen)
    assert not np.array_equal(epochs[0], epochs[1])  # reshuffled every epoch
    assert not np.array_equal(epochs[0], np.sort(epochs[0]))


def test_in_order_without_shuffle_and_reproducible_with_seed():
    loader, *_ = _loader(shuffle=False)
    seen = torch.cat([b["row"] for b in loader]).numpy()
    np.testing.assert_array_equal(seen, np.arange(103))
    a = torch.cat([b["row"] for b in _loader(seed=3)[0]])
    b = torch.cat([b["row"] for b in _loader(seed=3)[0]])
    assert torch.equal(a, b)


def test_partners_are_controls_of_the_same_context():
    loader, context, is_control = _loader(pair=True)
    for batch in loader:
        rows = batch["row"].numpy()
        partner = batch["basal_x"][:, 0].numpy().astype(int)
        ctrl = is_control[rows]
        np.testing.assert_array_equal(partner[ctrl], rows[ctrl])  # controls keep their own
        assert is_control[partner[~ctrl]].all()
        np.testing.assert_array_equal(context[partner[~ctrl]], context[rows[~ctrl]])


def test_scale_options_are_checked():
    with pytest.raises(ValueError, match="data_path"):
        TrainConfig(data_path="disk")
    with pytest.raises(ValueError, match="devices"):
        TrainConfig(devices=0)
    with pytest.raises(ValueError, match="num_threads"):
        TrainConfig(num_threads=0)
    assert TrainConfig(devices=[0, 1]).devices == [0, 1]
    assert thread_count(TrainConfig(num_threads=3), 10) == 3
    assert thread_count(TrainConfig(batch_size=64), 2000) == 1
    assert thread_count(TrainConfig(), 2000, n_rows=10**6) == 1  # 512 x 2000 values
    assert thread_count(TrainConfig(batch_size=8192), 20000) == min(os.cpu_count() or 1, 39)
    assert TrainConfig().batch_size_for(1000) == 64
    assert TrainConfig().batch_size_for(100_000) == 512
    assert TrainConfig(batch_size=7).batch_size_for(100_000) == 7


def test_ranks_share_the_rows_and_step_in_lockstep():
    n, world = 103, 3
    seen, lengths = [], []
    for rank in range(world):
        x = np.arange(n, dtype=np.float32)[:, None]
        loader = BlockBatches(
            x,
            {"row": torch.arange(n)},
            dict,
            rows=np.arange(n),
            batch_size=4,
            shuffle=True,
            seed=1,
            block_rows=10,
            rank_world=(rank, world),
        )
        batches = list(loader)
        lengths.append(len(batches))
        assert len(batches) == len(loader)
        seen.append(set(torch.cat([b["row"] for b in batches]).tolist()))
    assert len(set(lengths)) == 1  # every rank runs the same number of steps
    for a in range(world):  # no row is trained twice in an epoch
        for b in range(a + 1, world):
            assert not seen[a] & seen[b]
    assert len(set().union(*seen)) > 0.8 * n  # and together they cover nearly all rows
    # validation (in order): every row exactly once across the ranks
    val = []
    for rank in range(world):
        loader = BlockBatches(
            np.zeros((n, 1), np.float32),
            {"row": torch.arange(n)},
            dict,
            rows=np.arange(n),
            batch_size=7,
            shuffle=False,
            seed=0,
            rank_world=(rank, world),
        )
        val += torch.cat([b["row"] for b in loader]).tolist()
    assert sorted(val) == list(range(n))
