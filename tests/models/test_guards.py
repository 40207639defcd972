"""No silent NaN: training and prediction refuse, by name, what would give a wrong answer."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

import phenocast as pc
from phenocast.data import RegistrationError
from phenocast.train import NonFiniteLossError, TrainingError

ARGS = dict(perturbation="perturbation", control="control", dose="dose", covariates=["cell_type"])


def _cfg(**kw):
    train = {"max_epochs": 3, **kw.pop("train", {})}
    return pc.models.CompositionalConfig.from_dict(
        {"latent_dim": 8, "hidden": [16], **kw, "train": train}
    )


@pytest.fixture(scope="module")
def data():
    return pc.data.synthetic(n_genes=20, n_perturbations=3, cells_per_condition=10, seed=1)


@pytest.fixture(scope="module")
def model(data):
    return pc.models.Compositional(pc.data.register(data, **ARGS), _cfg()).fit(data)


def test_nb_on_values_that_are_not_counts_is_refused_before_training(data):
    reg = pc.data.register(data, **ARGS)  # log-normalised
    with pytest.raises(RegistrationError, match=r"likelihood='nb'.*'log-normalized'"):
        pc.models.Compositional(reg, _cfg(likelihood="nb")).fit(data)


def test_a_loss_that_becomes_nan_stops_training_and_names_the_cause(data):
    reg = pc.data.register(data, **ARGS)
    model = pc.models.Compositional(reg, _cfg(train={"lr": 1e6}))  # diverges at once
    with pytest.raises(NonFiniteLossError, match=r"loss became nan .*\(lr=1000000\.0; try 10×"):
        model.fit(data)
    assert model.module is None  # nothing kept
    assert issubclass(NonFiniteLossError, TrainingError)


def test_data_without_perturbations_or_genes_is_refused(data):
    ctrl = data[data.obs["perturbation"] == "control"].copy()
    with pytest.raises(RegistrationError, match="no perturbations"):
        pc.models.Compositional(pc.data.register(ctrl, **ARGS), _cfg()).fit(ctrl)


def test_start_cells_are_checked(model, data):
    controls = data[data.obs["perturbation"] == "control"].copy()
    conds = pd.DataFrame({"perturbation": ["P0"], "dose": ["1"], "cell_type": ["T0"]})
    assert np.isfinite(model.predict_mean(controls, conds)).all()
    with pytest.raises(RegistrationError, match="0 cells"):
        model.predict(controls[:0], conds)
    nan = controls.copy()
    nan.X[2, 3] = np.nan
    with pytest.raises(RegistrationError, match=r"1 NaN or infinite value\(s\) in 1 cell"):
        model.predict_mean(nan, conds)
    mixed = data[data.obs["perturbation"].isin(["control", "P1"])].copy()
    with pytest.raises(RegistrationError, match=r"start cells are perturbed .*'P1'"):
        model.predict(mixed, conds)


def _fit_toy(on_third_call):
    """Fit a one-weight module whose third loss call does ``on_third_call(value)``."""
    import torch

    from phenocast.models import LossOutput
    from phenocast.train import TrainConfig, TrainingPlan, fit_module

    class Module(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.w = torch.nn.Parameter(torch.ones(1))
            self.calls = 0

        def model_parameters(self):
            return [self.w]

        def loss(self, batch, *, adversary_weight, generator):
            self.calls += 1
            value = (self.w * batch).mean()
            if self.calls == 3:
                value = on_third_call(value)
            return LossOutput(value, value.detach(), value.new_zeros(()), None)

    module = Module()
    loader = torch.utils.data.DataLoader(torch.ones(8, 1), batch_size=2)
    plan = TrainingPlan(module, lr=0.1, weight_decay=0.0)
    try:
        fit_module(plan, loader, None, config=TrainConfig(max_epochs=2), n_cells=8)
    finally:
        assert module.calls == 3  # stopped at once


def test_the_training_layer_stops_at_the_first_non_finite_loss():
    with pytest.raises(NonFiniteLossError, match="train loss became nan at epoch 0, minibatch 2"):
        _fit_toy(lambda value: value * float("nan"))


def test_ctrl_c_during_training_raises_a_named_interrupt_and_restores_ctrl_c():
    import signal

    from phenocast.train import TrainingInterrupted

    def ctrl_c(value):
        raise KeyboardInterrupt  # as Ctrl-C would, mid-epoch

    before = signal.getsignal(signal.SIGINT)
    with pytest.raises(TrainingInterrupted, match=r"interrupted \(Ctrl-C\) in epoch 0"):
        _fit_toy(ctrl_c)
    assert signal.getsignal(signal.SIGINT) is not signal.SIG_IGN
    signal.signal(signal.SIGINT, before)


def test_a_context_the_model_never_saw_is_an_unsupported_condition(model, data):
    from phenocast.models import UnsupportedConditionError, predict_rows

    cond = pd.DataFrame({"perturbation": ["P0"], "dose": ["1"], "cell_type": ["T7"]})
    with pytest.raises(UnsupportedConditionError, match=r"'cell_type' has value\(s\) \['T7'\]"):
        model.predict_mean(None, cond)
    ctrl = data[data.obs["is_control"].to_numpy()][:4].copy()
    ctrl.obs["cell_type"] = "T7"
    with pytest.raises(RegistrationError, match="never saw"):  # start cells in it: named too
        model.predict_mean(ctrl, cond.drop(columns="cell_type"))
    # the benchmark runner's path: an unanswerable row is NaN, not a crash
    rows = predict_rows(model, None, cond, n_genes=data.n_vars)
    assert np.isnan(rows).all()
