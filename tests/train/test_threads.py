"""The thread count of a fit: the probe times minibatches and keeps the fastest count."""

from __future__ import annotations

import pytest
import torch

from phenocast.train import (
    TensorBatches,
    ThreadProbe,
    TrainConfig,
    TrainingPlan,
    _config,
    _threads,
    fit_module,
)


class _Clock:
    """A fake ``time.perf_counter``: each minibatch costs ``cost[threads]`` seconds."""

    def __init__(self, cost: dict[int, float]) -> None:
        self.now, self.cost = 0.0, cost

    def __call__(self) -> float:
        return self.now

    def step(self) -> None:
        self.now += self.cost[torch.get_num_threads()]


class _Rows:
    def __len__(self) -> int:
        return 10


def _drive(probe: ThreadProbe, clock: _Clock, n: int) -> list[int]:
    """Run ``n`` minibatches through the probe's hooks; the thread count of each."""
    used = []
    for i in range(n):
        probe.on_train_batch_start(None, None, _Rows(), i)  # type: ignore[arg-type]
        used.append(torch.get_num_threads())
        clock.step()
        probe.on_train_batch_end(None, None, None, _Rows(), i)  # type: ignore[arg-type]
    return used


@pytest.fixture
def restore_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


@pytest.mark.parametrize("faster", [1, 2])
def test_probe_keeps_the_faster_thread_count(monkeypatch, restore_threads, faster):
    clock = _Clock({1: 1.0, 2: 0.6} if faster == 2 else {1: 1.0, 2: 1.4})
    monkeypatch.setattr(_threads.time, "perf_counter", clock)
    probe = ThreadProbe([1, 2], steps=3)
    used = _drive(probe, clock, 12)
    # one untimed and three timed minibatches per count, then the rest at the faster
    assert used == [1] * 4 + [2] * 4 + [faster] * 4
    assert probe.chosen == faster
    assert [len(probe.timings[n]) for n in (1, 2)] == [3, 3]
    assert probe.timings[1][0] == pytest.approx(0.1)  # seconds per row


def test_probe_abandons_a_count_far_slower_than_one_thread(monkeypatch, restore_threads):
    clock = _Clock({1: 1.0, 2: 10.0})  # threads spin-waiting for busy cores
    monkeypatch.setattr(_threads.time, "perf_counter", clock)
    probe = ThreadProbe([1, 2], steps=3)
    used = _drive(probe, clock, 8)
    assert used == [1] * 4 + [2] * 2 + [1] * 2
    assert probe.chosen == 1 and len(probe.timings[2]) == 1


def test_probe_times_again_when_the_cores_get_busy_and_every_so_often(monkeypatch, restore_threads):
    clock = _Clock({1: 1.0, 2: 0.5})
    monkeypatch.setattr(_threads.time, "perf_counter", clock)
    probe = ThreadProbe([1, 2], steps=2, every=20)
    assert _drive(probe, clock, 9) == [1] * 3 + [2] * 6
    clock.cost = {1: 2.0, 2: 7.0}  # another process takes a core: two threads stall
    used = _drive(probe, clock, 12)
    # a stalled minibatch (7 s against 1 s at one thread) starts a new probe; two threads are
    # abandoned after one timed minibatch (7 > 3 × 2 s) and one thread is kept
    assert used == [2] + [1] * 3 + [2] * 2 + [1] * 6
    assert probe.rounds == 2 and probe.chosen == 1
    clock.cost = {1: 1.0, 2: 0.5}  # the cores are free again: one thread is kept until
    used = _drive(probe, clock, 25)  # `every` minibatches after the choice
    assert used[:14] == [1] * 14 and used[14:] == [1] * 3 + [2] * 8
    assert probe.rounds == 3 and probe.chosen == 2


def test_a_count_stalling_from_its_first_minibatch_costs_one_and_is_timed_less_often(
    monkeypatch, restore_threads
):
    clock = _Clock({1: 1.0, 2: 50.0})
    monkeypatch.setattr(_threads.time, "perf_counter", clock)
    probe = ThreadProbe([1, 2], steps=1, every=3)
    used = _drive(probe, clock, 18)
    # two threads are dropped after their first minibatch; one thread wins each time, so
    # the next probe comes after 3, then 6 minibatches
    probe_round = [1, 1, 2]
    assert used == probe_round + [1] * 3 + probe_round + [1] * 6 + probe_round
    assert probe.rounds == 3 and probe.chosen == 1


def _fit(config: TrainConfig, n_genes: int):
    gen = torch.Generator().manual_seed(0)
    x = torch.randn(64, 3, generator=gen)
    y = x @ torch.tensor([1.0, -2.0, 0.5])

    class Batch:
        def __init__(self, x, y):
            self.x, self.y = x, y

        def __len__(self):
            return self.x.shape[0]

    class Linear(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Linear(3, 1)

        def loss(self, batch, *, adversary_weight=0.0, generator=None):
            from phenocast.models import LossOutput

            mse = (self.w(batch.x).squeeze(-1) - batch.y).pow(2).mean()
            return LossOutput(mse, mse.detach(), mse.new_zeros(()))

        def model_parameters(self):
            return list(self.parameters())

    data = TensorBatches({"x": x, "y": y}, Batch)
    loader = data.loader(torch.arange(64), batch_size=8, shuffle=True, seed=0)
    plan = TrainingPlan(Linear(), lr=0.05, weight_decay=0.0)
    return fit_module(plan, loader, None, config=config, n_cells=64, n_genes=n_genes)


def test_a_long_wide_fit_probes_and_says_which_count_it_kept(monkeypatch, restore_threads):
    # this fit is far too small to probe: lower the bars and pretend to have two cores
    monkeypatch.setattr(_threads, "PROBE_MIN_STEPS", 10)
    monkeypatch.setattr(_threads, "PROBE_ELEMENTS", 8)
    monkeypatch.setattr(_config, "available_cores", lambda: 2)
    probes: list[ThreadProbe] = []

    class Recorded(ThreadProbe):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            probes.append(self)

    monkeypatch.setattr(_threads, "ThreadProbe", Recorded)
    torch.set_num_threads(1)
    config = TrainConfig(max_epochs=3, val_fraction=0.0, progress=False)
    history = _fit(config, n_genes=3)  # 24 minibatches
    (probe,) = probes
    assert probe.candidates == [1, 2]
    assert len(probe.timings[1]) == _threads.PROBE_STEPS
    assert history.threads == probe.chosen
    assert torch.get_num_threads() == 1  # restored after the fit
    # a fixed count is kept as given, and a fit too short is not probed
    assert _fit(TrainConfig(**{**config.to_dict(), "num_threads": 2}), 3).threads == 2
    monkeypatch.setattr(_threads, "PROBE_MIN_STEPS", 25)
    assert _fit(config, n_genes=3).threads == 1
    assert len(probes) == 1
