"""The compositional module's fast loss and decoder paths equal their plain definitions."""

from __future__ import annotations

import pytest
import torch
from torch.nn import functional as F

from phenocast.models.compositional import CompositionalConfig
from phenocast.models.compositional._module import Batch, CompositionalModule


def _module(
    likelihood: str, *, fractional: bool = False, **options: object
) -> tuple[CompositionalModule, Batch]:
    torch.manual_seed(0)
    n, genes = 40, 30
    config = CompositionalConfig.from_dict({"hidden": [16], "latent_dim": 8, **options})
    module = CompositionalModule(
        n_genes=genes, n_components=5, covariate_sizes=[3], config=config, likelihood=likelihood
    )
    if likelihood == "nb":
        # mostly zeros, some large counts, one all-zero cell
        x = torch.distributions.Poisson(torch.full((n, genes), 0.7)).sample()
        x[0, :3] = torch.tensor([250.0, 31.0, 1.0])
        x[1] = 0.0
        if fractional:  # not counts: the likelihood takes its plain formula
            x[2, 5] = 0.5
        with torch.no_grad():
            module.log_theta.normal_(0.0, 1.0)
    else:
        x = torch.randn(n, genes)
    batch = Batch(
        x=x,
        components=torch.randint(-1, 5, (n, 2)),
        doses=torch.rand(n, 2) + 0.1,
        covariates=torch.randint(0, 3, (n, 1)),
        library=x.sum(1).clamp(min=1.0) if likelihood == "nb" else None,
    )
    return module, batch


def _grads(module: CompositionalModule, loss: torch.Tensor) -> dict[str, torch.Tensor]:
    module.zero_grad()
    loss.backward(retain_graph=True)
    return {k: p.grad.clone() for k, p in module.named_parameters() if p.grad is not None}


def _same(fast: dict[str, torch.Tensor], plain: dict[str, torch.Tensor]) -> None:
    """Equal gradients; a parameter the fast path leaves out must have none in the plain one
    (the context network's last bias, which cancels in g(h, e) − g(h, 0))."""
    assert set(fast) <= set(plain)
    for k in plain:
        if k in fast:
            torch.testing.assert_close(fast[k], plain[k], rtol=1e-4, atol=1e-6, msg=k)
        else:
            assert not plain[k].any(), k


@pytest.mark.parametrize("fractional", [False, True])
def test_negative_binomial_loss_equals_the_dense_formula(fractional: bool) -> None:
    module, batch = _module("nb", fractional=fractional)
    z, _ = module.encode(batch)
    mean, _ = module.decode(*module.compose(z, batch), batch.library)
    fast = module.reconstruction_loss(batch, mean, mean)
    x, theta, eps = batch.x, module.log_theta.exp()[None, :], 1e-6
    log_p = (
        torch.lgamma(x + theta)
        - torch.lgamma(theta)
        - torch.lgamma(x + 1)
        + theta * (torch.log(theta + eps) - torch.log(theta + mean + eps))
        + x * (torch.log(mean + eps) - torch.log(theta + mean + eps))
    )
    plain = -log_p.sum(-1).mean() / x.shape[1]
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    _same(_grads(module, fast), _grads(module, plain))


@pytest.mark.parametrize("variance", ["gene", "cell"])
def test_gaussian_loss_equals_torchs(variance: str) -> None:
    module, batch = _module("gaussian", variance=variance)
    z, _ = module.encode(batch)
    mean, var = module.decode(*module.compose(z, batch))
    fast = module.reconstruction_loss(batch, mean, var)
    plain = F.gaussian_nll_loss(mean, batch.x, var, reduction="mean", full=False)
    torch.testing.assert_close(fast, plain, rtol=1e-5, atol=1e-6)
    _same(_grads(module, fast), _grads(module, plain))


def test_context_correction_equals_two_passes_of_its_network() -> None:
    module, batch = _module("gaussian")
    z, _ = module.encode(batch)
    h, e = module.compose(z, batch)
    net = module.context_interaction
    fast = module._context_correction(h, e)
    plain = net(torch.cat([h, e], -1)) - net(torch.cat([h, torch.zeros_like(e)], -1))
    torch.testing.assert_close(fast, plain, rtol=1e-4, atol=1e-5)
    _same(_grads(module, fast.pow(2).sum()), _grads(module, plain.pow(2).sum()))
    # no perturbation, no correction
    assert torch.equal(module._context_correction(h, torch.zeros_like(e)), torch.zeros_like(fast))
