"""The multimodal model's array-level core recovers shared signal between views, and fails
when there is none; its module's densities are exact.

Data are linear-Gaussian and generated here: a shared latent ``z`` seen through two noisy
linear views, and (for generation) perturbations whose latents add up over a pair's singles.
"""

from __future__ import annotations

import dataclasses
import io
import json
import math

import numpy as np
import pytest
import torch

from phenocast.models.multimodal._config import MultiModalConfig, MultiModalTrainConfig
from phenocast.models.multimodal._core import ArrayCore
from phenocast.models.multimodal._module import MultiModalBatch, MultiModalModule
from phenocast.models.multimodal._persist import array_state, from_array_state


class MultiModalVAE(ArrayCore):
    """The model's array-level core driven directly, numpy in and out: these tests check the
    network and its densities below the data layer that ``MultiModalModel`` adds."""

    fit = ArrayCore._fit_arrays
    predict = ArrayCore._predict_arrays
    generate = ArrayCore._generate_arrays
    sample = ArrayCore._sample_arrays
    log_likelihood_target = ArrayCore._log_likelihoods
    to_state = array_state
    from_state = classmethod(from_array_state)


Z80 = 1.2815515655446004  # the 90 % normal quantile: mean ± Z80·sd is an 80 % interval


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    # tiny networks run faster on one thread, and far faster when other jobs share the cores
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def linear_views(n: int, *, seed: int, noise: float = 0.5, d_a: int = 30, d_b: int = 20):
    rng = np.random.default_rng(seed)
    w_a, w_b = rng.normal(size=(3, d_a)), rng.normal(size=(3, d_b))
    z = rng.normal(size=(n, 3))
    a = z @ w_a + noise * rng.normal(size=(n, d_a))
    b = z @ w_b + noise * rng.normal(size=(n, d_b))
    return a, b, (w_a, w_b, noise)


def gaussian_mi(w_a: np.ndarray, w_b: np.ndarray, noise: float) -> float:
    """``I(A; B)`` in nats of the linear-Gaussian views (``z ~ N(0, I)``)."""
    w = np.hstack([w_a, w_b])
    cov = w.T @ w + noise**2 * np.eye(w.shape[1])
    da = w_a.shape[1]
    logdet = [np.linalg.slogdet(c)[1] for c in (cov[:da, :da], cov[da:, da:], cov)]
    return 0.5 * (logdet[0] + logdet[1] - logdet[2])


def mse(pred: np.ndarray, truth: np.ndarray) -> float:
    return float(np.mean((pred - truth) ** 2))


def mean_pearson(pred: np.ndarray, truth: np.ndarray) -> float:
    """Mean over features of the held-out Pearson correlation."""
    p, t = pred - pred.mean(0), truth - truth.mean(0)
    return float(np.mean((p * t).sum(0) / np.sqrt((p**2).sum(0) * (t**2).sum(0))))


def ridge(x: np.ndarray, y: np.ndarray, x_new: np.ndarray, alpha: float = 1.0) -> np.ndarray:
    mx, my = x.mean(0), y.mean(0)
    xc = x - mx
    coef = np.linalg.solve(xc.T @ xc + alpha * np.eye(x.shape[1]), xc.T @ (y - my))
    return (x_new - mx) @ coef + my


CFG = MultiModalConfig(
    latent_dim=4,
    hidden=(32,),
    dropout=0.0,
    train=MultiModalTrainConfig(max_epochs=150, patience=25, batch_size=32, lr=5e-3),
)
TRAIN, TEST = np.arange(200), np.arange(200, 300)


@pytest.fixture(scope="module")
def paired():
    a, b, truth = linear_views(300, seed=0)
    model = MultiModalVAE(CFG).fit({"a": a[TRAIN], "b": b[TRAIN]})
    return a, b, truth, model


# ---------------------------------------------------------------------- cross-modal prediction
def test_cross_modal_prediction_beats_the_mean_and_matches_ridge(paired):
    a, b, _, model = paired
    mean, var = model.predict("a", "b", {"a": a[TEST]})
    assert mean.shape == var.shape == (100, 20) and (var > 0).all()
    base = mse(np.broadcast_to(b[TRAIN].mean(0), mean.shape), b[TEST])
    lin = ridge(a[TRAIN], b[TRAIN], a[TEST])
    # measured: MSE vae 0.30, ridge 0.31, mean 2.47; mean Pearson vae 0.89, ridge 0.87
    assert mse(mean, b[TEST]) < 0.25 * base
    assert mse(mean, b[TEST]) < 1.35 * mse(lin, b[TEST])
    assert mean_pearson(mean, b[TEST]) > mean_pearson(lin, b[TEST]) - 0.05


def test_predictive_intervals_are_calibrated_on_held_out_rows(paired):
    a, b, _, model = paired
    mean, var = model.predict("a", "b", {"a": a[TEST]}, n_samples=64)
    inside = np.abs(b[TEST] - mean) <= Z80 * np.sqrt(var)
    assert 0.6 <= inside.mean() <= 0.95  # measured: 0.80
    # the posterior's spread adds to the decoder's noise
    _, var0 = model.predict("a", "b", {"a": a[TEST]}, n_samples=0)
    assert (var >= var0 - 1e-9).all() and var.mean() > var0.mean()


def test_shuffled_pairing_destroys_prediction_and_information(paired):
    a, b, truth, model = paired
    rng = np.random.default_rng(1)
    shuffled = MultiModalVAE(CFG).fit({"a": a[TRAIN], "b": b[TRAIN][rng.permutation(200)]})
    base = mse(np.broadcast_to(b[TRAIN].mean(0), (100, 20)), b[TEST])
    mean, _ = shuffled.predict("a", "b", {"a": a[TEST]})
    assert mse(mean, b[TEST]) > 0.9 * base
    # predictive information: close to the truth when paired, near zero when shuffled
    held = {"a": a[TEST], "b": b[TEST]}
    cond, marg = model.log_likelihood_target("a", "b", held, seed=3)
    mi = float(np.mean(cond - marg))
    true_mi = gaussian_mi(*truth)  # 5.5 nats; measured estimate 5.3
    assert 0.6 * true_mi < mi < 1.2 * true_mi
    cond_s, marg_s = shuffled.log_likelihood_target("a", "b", held, seed=3)
    assert float(np.mean(cond_s - marg_s)) < 0.1 * true_mi


# ---------------------------------------------------------------------- missing modalities
def test_rows_missing_a_modality_are_used_and_masked():
    a, b, _ = linear_views(300, seed=2)
    rng = np.random.default_rng(0)
    missing = np.zeros(300, dtype=bool)
    missing[rng.choice(200, 60, replace=False)] = True  # 30 % of the training rows
    b_obs = b.copy()
    b_obs[missing] = np.nan
    with_a_only = MultiModalVAE(CFG).fit({"a": a[TRAIN], "b": b_obs[TRAIN]})
    keep = TRAIN[~missing[TRAIN]]
    dropped = MultiModalVAE(CFG).fit({"a": a[keep], "b": b[keep]})
    base = mse(np.broadcast_to(b[TRAIN].mean(0), (100, 20)), b[TEST])
    m_all, _ = with_a_only.predict("a", "b", {"a": a[TEST]})
    m_drop, _ = dropped.predict("a", "b", {"a": a[TEST]})
    assert mse(m_all, b[TEST]) < 0.25 * base
    assert mse(m_all, b[TEST]) < 1.1 * mse(m_drop, b[TEST])  # measured: 0.32 vs 0.33
    # the standardisation used only the measured rows of b
    np.testing.assert_allclose(with_a_only.means_["b"], b[keep].mean(0))
    # explicit masks: garbage in unmeasured rows changes nothing
    garbage = b.copy()
    garbage[missing] = 1e6
    masks = {"a": np.ones(200, dtype=bool), "b": ~missing[TRAIN]}
    masked = MultiModalVAE(CFG.with_train(max_epochs=3)).fit(
        {"a": a[TRAIN], "b": garbage[TRAIN]}, masks=masks
    )
    nan_rows = MultiModalVAE(CFG.with_train(max_epochs=3)).fit({"a": a[TRAIN], "b": b_obs[TRAIN]})
    for m1, m2 in zip(
        masked.to_state()["tensors"].values(), nan_rows.to_state()["tensors"].values(), strict=True
    ):
        torch.testing.assert_close(m1, m2)


def _module_batch(
    n: int = 16, *, seed: int = 0, joint: str = "mopoe"
) -> tuple[MultiModalModule, MultiModalBatch]:
    gen = torch.Generator().manual_seed(seed)
    cfg = MultiModalConfig(hidden=(8,), dropout=0.0, joint=joint)  # type: ignore[arg-type]
    module = MultiModalModule(dims={"a": 6, "b": 4, "c": 3}, config=cfg)
    views = {m: torch.randn(n, d, generator=gen) for m, d in module.dims.items()}
    masks = {m: torch.rand(n, generator=gen) > 0.4 for m in module.dims}
    masks["a"] = masks["a"] | ~(masks["b"] | masks["c"])  # every sample has a modality
    for m in views:
        views[m][~masks[m]] = float("nan")
    return module, MultiModalBatch(views=views, masks=masks)


@pytest.mark.parametrize("joint", ["mopoe", "poe", "moe"])
def test_nan_rows_never_reach_the_loss(joint):
    module, batch = _module_batch(joint=joint)
    out = module.loss(batch, generator=torch.Generator().manual_seed(0))
    assert torch.isfinite(out.total) and out.kl >= 0
    out.total.backward()
    assert all(torch.isfinite(p.grad).all() for p in module.parameters() if p.grad is not None)
    other = {
        m: torch.where(batch.masks[m][:, None], v, torch.full_like(v, 7.0))
        for m, v in batch.views.items()
    }
    again = module.loss(
        MultiModalBatch(views=other, masks=batch.masks), generator=torch.Generator().manual_seed(0)
    )
    torch.testing.assert_close(again.total, out.total)
    mu, logvar = module.posterior(batch.views, batch.masks)
    assert mu.shape == logvar.shape == (16, module.config.latent_dim)
    z = module.sample_posterior(batch.views, batch.masks, n=5)
    assert z.shape == (5, 16, module.config.latent_dim) and torch.isfinite(z).all()


def test_product_of_experts_is_exact():
    module, batch = _module_batch()
    experts = module.encode(batch.views, batch.masks)
    mu, logvar, valid = module.compose(experts, module.subset_rows(["a", "b"]))
    both = batch.masks["a"] & batch.masks["b"]
    prec = 1 + (-experts.logvar[0]).exp() + (-experts.logvar[1]).exp()
    expect = (
        (-experts.logvar[0]).exp() * experts.mu[0] + (-experts.logvar[1]).exp() * experts.mu[1]
    ) / prec
    torch.testing.assert_close(mu[0][both], expect[both])
    torch.testing.assert_close(logvar[0][both], -prec.log()[both])
    assert torch.equal(valid[0], both)  # mopoe: the subset {a, b} only where both are measured


@pytest.mark.parametrize("rank", [0, 3])
def test_decoder_density_integrates_the_private_latent_exactly(rank):
    torch.manual_seed(0)
    cfg = MultiModalConfig(latent_dim=2, hidden=(8,), private_dim=rank)
    module = MultiModalModule(dims={"a": 6, "b": 4}, config=cfg).eval()
    with torch.no_grad():
        for raw in module.decoder_raw_var.values():
            raw.uniform_(-2.0, 1.0)  # unequal noise per feature
    z, x = torch.randn(5, 7, 2), torch.randn(7, 6)  # 5 draws of 7 samples
    with torch.no_grad():
        got = module.log_prob("a", z, x)
        mean, var = module._decode_one("a", z)
        psi = module._diagonal("a")
        cov = torch.diag(psi)
        if rank:
            factor = module.decoder_factor["a"]
            cov = cov + factor @ factor.T
    want = torch.distributions.MultivariateNormal(mean, covariance_matrix=cov).log_prob(x)
    torch.testing.assert_close(got, want, rtol=1e-4, atol=1e-4)
    # the reported variance is the marginal one: the diagonal of B Bᵀ + diag(ψ)
    torch.testing.assert_close(var[0, 0], cov.diagonal())
    assert len(module.decoder_factor) == (2 if rank else 0)


def test_private_latents_let_the_conditional_density_approach_the_truth():
    """Views with private factors: a diagonal decoder covariance must widen to cover them."""
    rng = np.random.default_rng(4)
    n = 300
    z, w_a, w_b = rng.normal(size=(n, 2)), rng.normal(size=(n, 2)), rng.normal(size=(n, 2))
    load = [rng.normal(size=(2, d)) for d in (12, 10, 12, 10)]
    a = z @ load[0] + w_a @ load[2] + 0.3 * rng.normal(size=(n, 12))
    b = z @ load[1] + w_b @ load[3] + 0.3 * rng.normal(size=(n, 10))
    tr, te = np.arange(200), np.arange(200, n)
    cov_b = load[1].T @ load[1] + load[3].T @ load[3] + 0.09 * np.eye(10)
    cov_ab = load[0].T @ load[1]
    cov_a = load[0].T @ load[0] + load[2].T @ load[2] + 0.09 * np.eye(12)
    gain = np.linalg.solve(cov_a, cov_ab).T
    cond = cov_b - gain @ cov_ab
    resid = b[te] - a[te] @ gain.T
    _, logdet = np.linalg.slogdet(cond)
    quad = np.einsum("ij,jk,ik->i", resid, np.linalg.inv(cond), resid)
    true_c = float(np.mean(-0.5 * (10 * np.log(2 * np.pi) + logdet + quad)))
    got = {}
    for rank in (0, 2):
        cfg = dataclasses.replace(CFG, latent_dim=2, private_dim=rank)
        vae = MultiModalVAE(cfg).fit({"a": a[tr], "b": b[tr]})
        lc, _ = vae.log_likelihood_target("a", "b", {"a": a[te], "b": b[te]}, n_samples=64)
        got[rank] = float(np.mean(lc))
    # measured: true −7.4, rank 2 −8.1, rank 0 −16.8 nats per sample
    assert got[2] > got[0] + 4.0
    assert got[2] > true_c - 1.5


def test_a_given_prior_expert_replaces_the_standard_normal_one():
    module, batch = _module_batch()
    experts = module.encode(batch.views, batch.masks)
    row = module.subset_rows(["a", "b"])
    both = batch.masks["a"] & batch.masks["b"]
    n, latent = experts.mu.shape[1], experts.mu.shape[2]
    prior = (torch.full((n, latent), 0.7), torch.full((n, latent), math.log(0.25)))
    mu, logvar, _ = module.compose(experts, row, prior)
    prec = 4.0 + (-experts.logvar[0]).exp() + (-experts.logvar[1]).exp()
    expect = (
        4.0 * 0.7
        + (-experts.logvar[0]).exp() * experts.mu[0]
        + (-experts.logvar[1]).exp() * experts.mu[1]
    ) / prec
    torch.testing.assert_close(mu[0][both], expect[both])
    torch.testing.assert_close(logvar[0][both], -prec.log()[both])
    # the standard-normal expert is the default
    std = (torch.zeros(n, latent), torch.zeros(n, latent))
    for got, want in zip(
        module.compose(experts, row, std), module.compose(experts, row), strict=True
    ):
        torch.testing.assert_close(got, want)


# ---------------------------------------------------------------------- perturbation prior
def perturbation_data(seed: int = 0):
    """8 singles (3 replicates) and all 28 pairs (2 replicates), latents additive."""
    rng = np.random.default_rng(seed)
    effects = rng.normal(scale=1.5, size=(8, 3))
    w_a, w_b = rng.normal(size=(3, 30)), rng.normal(size=(3, 20))
    conds = [(i, -1) for i in range(8) for _ in range(3)]
    pairs = [(i, j) for i in range(8) for j in range(i + 1, 8)]
    conds += [p for p in pairs for _ in range(2)]
    comps = np.array(conds)
    z = (effects[comps.clip(min=0)] * (comps >= 0)[..., None]).sum(1)
    z = z + 0.2 * rng.normal(size=z.shape)
    a = z @ w_a + 0.3 * rng.normal(size=(len(z), 30))
    b = z @ w_b + 0.3 * rng.normal(size=(len(z), 20))
    held = {pairs[k] for k in rng.choice(len(pairs), 10, replace=False)}
    test = np.array([tuple(c) in held for c in conds])
    return comps, a, b, test


def test_generate_unseen_pairs_from_trained_singles():
    comps, a, b, test = perturbation_data()
    doses = np.where(comps >= 0, 1.0, 0.0)
    cfg = MultiModalConfig(
        latent_dim=4,
        hidden=(32,),
        dropout=0.0,
        train=MultiModalTrainConfig(max_epochs=200, patience=40, batch_size=16, lr=5e-3),
    )
    model = MultiModalVAE(cfg).fit(
        {"a": a[~test], "b": b[~test]}, components=comps[~test], doses=doses[~test]
    )
    mean, var = model.generate("b", comps[test], doses[test])
    assert mean.shape == var.shape == (int(test.sum()), 20)
    base = mse(np.broadcast_to(b[~test].mean(0), mean.shape), b[test])
    assert mse(mean, b[test]) < 0.5 * base  # measured: 0.36 vs 8.5 (one-hot additive ridge 0.28)
    inside = np.abs(b[test] - mean) <= Z80 * np.sqrt(var)
    assert 0.5 <= inside.mean() <= 0.99


def test_a_pairs_prior_is_the_sum_of_its_singles():
    cfg = MultiModalConfig(hidden=(8,))
    module = MultiModalModule(dims={"a": 3}, config=cfg, n_components=4, use_doses=True)
    with torch.no_grad():
        module.dose_mid.copy_(torch.tensor([0.0, -1.0, 0.5, 0.0]))
    pair = torch.tensor([[1, 2]])
    doses = torch.tensor([[0.3, 2.0]])
    mu_pair, _ = module.prior(pair, doses)
    mu_1, _ = module.prior(torch.tensor([[1, -1]]), torch.tensor([[0.3, 0.0]]))
    mu_2, _ = module.prior(torch.tensor([[2, -1]]), torch.tensor([[2.0, 0.0]]))
    torch.testing.assert_close(mu_pair, mu_1 + mu_2)
    control, _ = module.prior(torch.tensor([[-1, -1]]), torch.zeros(1, 2))
    assert torch.equal(control, torch.zeros_like(control))
    # a higher dose of the same component moves the latent further along its embedding
    low, _ = module.prior(torch.tensor([[1]]), torch.tensor([[0.01]]))
    high, _ = module.prior(torch.tensor([[1]]), torch.tensor([[10.0]]))
    assert high.norm() > low.norm()


def test_components_with_features_embed_unseen_components():
    cfg = MultiModalConfig(hidden=(8,), free_embedding=False)
    module = MultiModalModule(dims={"a": 3}, config=cfg, n_components=2, n_features=5)
    table = torch.randn(4, 5, generator=torch.Generator().manual_seed(0))
    mu, _ = module.prior(torch.tensor([[3, -1]]), None, table)
    torch.testing.assert_close(mu[0], module.feature_proj(table[3]))
    with pytest.raises(ValueError, match="free_embedding=False needs component features"):
        MultiModalModule(dims={"a": 3}, config=cfg, n_components=2)
    free = MultiModalModule(dims={"a": 3}, config=MultiModalConfig(hidden=(8,)), n_components=2)
    with pytest.raises(ValueError, match="training vocabulary"):
        free.prior(torch.tensor([[3]]))


def test_unseen_components_are_generated_from_their_features():
    rng = np.random.default_rng(4)
    feats = rng.normal(size=(16, 6))
    effects = feats @ rng.normal(scale=0.6, size=(6, 3))
    w_b = rng.normal(size=(3, 20))
    seen = [(i, -1) for i in range(12) for _ in range(3)]
    seen += [(i, j) for i in range(12) for j in range(i + 1, 12) if (i + j) % 3 == 0]
    unseen = [(i, -1) for i in range(12, 16)] + [(i, 15) for i in range(12, 15)]

    def readout(conds):
        comps = np.array(conds)
        z = (effects[comps.clip(min=0)] * (comps >= 0)[..., None]).sum(1)
        return comps, z @ w_b + 0.3 * rng.normal(size=(len(z), 20))

    (c_tr, b_tr), (c_te, b_te) = readout(seen), readout(unseen)
    cfg = CFG.with_train(max_epochs=200, patience=40, batch_size=16)
    cfg = MultiModalConfig.from_dict({**cfg.to_dict(), "free_embedding": False})
    model = MultiModalVAE(cfg).fit({"b": b_tr}, components=c_tr, component_features=feats[:12])
    with pytest.raises(ValueError, match="has no row in the 12-row feature table"):
        model.generate("b", c_te)
    mean, _ = model.generate("b", c_te, features=feats)
    base = mse(np.broadcast_to(b_tr.mean(0), mean.shape), b_te)
    assert mse(mean, b_te) < 0.5 * base  # measured: 0.22 vs 5.5


@pytest.mark.parametrize("joint", ["poe", "moe"])
def test_three_modalities_with_gaps_fit_and_predict_from_several_sources(joint):
    a, b, _ = linear_views(90, seed=6)
    c = a[:, :5] + 0.1
    a_obs = a.copy()
    a_obs[::4] = np.nan  # some samples only have b and c, or c alone at prediction
    cfg = MultiModalConfig.from_dict({**CFG.to_dict(), "joint": joint})
    model = MultiModalVAE(cfg.with_train(max_epochs=5)).fit({"a": a_obs, "b": b, "c": c})
    mean, var = model.predict(["a", "c"], "b", {"a": a_obs, "c": c}, n_samples=6)
    assert mean.shape == (90, 20) and np.isfinite(mean).all() and (var > 0).all()
    cond, marg = model.log_likelihood_target(["a", "c"], "b", {"a": a_obs, "b": b, "c": c})
    assert np.isfinite(cond).all() and np.isfinite(marg).all()


# ---------------------------------------------------------------------- seeding and state
def test_seeded_fits_are_reproducible_and_leave_the_global_rng_alone():
    a, b, _ = linear_views(80, seed=5)
    cfg = CFG.with_train(max_epochs=5)
    state = torch.get_rng_state()
    one = MultiModalVAE(cfg).fit({"a": a, "b": b})
    assert torch.equal(torch.get_rng_state(), state)
    two = MultiModalVAE(cfg).fit({"a": a, "b": b})
    p1, v1 = one.predict("a", "b", {"a": a}, n_samples=10)
    p2, v2 = two.predict("a", "b", {"a": a}, n_samples=10)
    np.testing.assert_array_equal(p1, p2)
    np.testing.assert_array_equal(v1, v2)
    assert torch.equal(torch.get_rng_state(), state)
    p3, _ = one.predict("a", "b", {"a": a}, n_samples=10, seed=99)
    assert not np.array_equal(p1, p3)
    other = MultiModalVAE(cfg.with_train(seed=1)).fit({"a": a, "b": b})
    assert not np.array_equal(other.predict("a", "b", {"a": a}, n_samples=10)[0], p1)


def test_state_round_trip_without_pickles(paired):
    a, _, _, model = paired
    state = model.to_state()
    text = json.dumps({"config": state["config"], "meta": state["meta"]})
    buffer = io.BytesIO()
    torch.save(state["tensors"], buffer)
    buffer.seek(0)
    tensors = torch.load(buffer, weights_only=True)
    loaded = MultiModalVAE.from_state({**json.loads(text), "tensors": tensors})
    for got, want in zip(
        loaded.predict("a", "b", {"a": a[TEST]}),
        model.predict("a", "b", {"a": a[TEST]}),
        strict=True,
    ):
        np.testing.assert_allclose(got, want, rtol=1e-6)
    assert loaded.config == model.config
    with pytest.raises(ValueError, match=r"Not a phenocast\.multimodal_vae state"):
        MultiModalVAE.from_state({**state, "meta": {"format": "other"}})


def test_states_written_before_private_latents_still_load(paired):
    a, b, _, _ = paired
    cfg = dataclasses.replace(CFG, private_dim=0).with_train(max_epochs=3)
    old = MultiModalVAE(cfg).fit({"a": a[TRAIN], "b": b[TRAIN]})
    state = old.to_state()
    config = {k: v for k, v in state["config"].items() if k != "private_dim"}
    v1 = {"config": config, "meta": {**state["meta"], "format_version": 1}}
    loaded = MultiModalVAE.from_state({**v1, "tensors": state["tensors"]})
    assert loaded.config.private_dim == 0
    np.testing.assert_allclose(
        loaded.predict("a", "b", {"a": a[TEST]})[0], old.predict("a", "b", {"a": a[TEST]})[0]
    )


# ---------------------------------------------------------------------- configs and errors
def test_config_rejects_unknown_keys_and_bad_values():
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['latnt_dim'\]"):
        MultiModalConfig.from_dict({"latnt_dim": 3})
    with pytest.raises(ValueError, match=r"Unknown option\(s\) \['epochs'\]"):
        MultiModalConfig.from_dict({"train": {"epochs": 3}})
    for bad, message in [
        ({"latent_dim": 0}, "latent_dim must be an integer >= 1"),
        ({"joint": "sum"}, "joint must be one of"),
        ({"dose_response": "linear"}, "dose_response must be one of"),
        ({"beta": -1.0}, "beta must be >= 0"),
        ({"dropout": 1.0}, r"dropout must be in \[0, 1\)"),
        ({"hidden": (0,)}, "hidden must be a tuple of integer widths >= 1"),
        ({"hidden": 32}, "hidden must be a tuple of integer widths >= 1"),
        ({"n_samples": -1}, "n_samples must be an integer >= 0"),
        ({"conditional_prior": "yes"}, "conditional_prior must be True or False"),
        ({"train": {"val_fraction": 0.95}}, r"val_fraction must be in \[0, 0.9\)"),
        ({"train": {"lr": 0}}, "lr must be > 0"),
    ]:
        with pytest.raises(ValueError, match=message):
            MultiModalConfig.from_dict(bad)
    cfg = MultiModalConfig.from_dict({"hidden": [16, 8], "train": {"max_epochs": 7}})
    assert cfg.hidden == (16, 8) and cfg.train.max_epochs == 7
    assert MultiModalConfig(hidden=()).hidden == ()  # linear encoders and decoders
    assert MultiModalConfig.from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg
    with pytest.raises(TypeError):
        MultiModalConfig(8)  # type: ignore[misc]  # keyword-only


def test_clear_errors_for_bad_inputs(paired):
    a, b, _, model = paired
    fast = CFG.with_train(max_epochs=1)
    b_nan = b[:20].copy()
    a_nan = a[:20].copy()
    a_nan[3], b_nan[3] = np.nan, np.nan
    with pytest.raises(
        ValueError, match=r"1 sample\(s\) have no observed modality \(e.g. rows \[3\]"
    ):
        MultiModalVAE(fast).fit({"a": a_nan, "b": b_nan})
    partial = a[:20].copy()
    partial[2, 0] = np.nan
    with pytest.raises(ValueError, match="rows with some missing"):
        MultiModalVAE(fast).fit({"a": partial, "b": b[:20]})
    with pytest.raises(ValueError, match="same number of rows"):
        MultiModalVAE(fast).fit({"a": a[:20], "b": b[:19]})
    with pytest.raises(ValueError, match="must be a 2-D"):
        MultiModalVAE(fast).fit({"a": a[:20, 0], "b": b[:20]})
    with pytest.raises(ValueError, match="must be a boolean array of shape"):
        MultiModalVAE(fast).fit({"a": a[:20], "b": b[:20]}, masks={"b": np.ones(20)})
    with pytest.raises(ValueError, match="components must be an integer"):
        MultiModalVAE(fast).fit({"a": a[:20]}, components=np.zeros((19, 1), dtype=int))
    with pytest.raises(ValueError, match="has 29 features; the model was fitted on 30"):
        model.predict("a", "b", {"a": a[:5, :29]})
    with pytest.raises(ValueError, match="Unknown modalities"):
        model.predict("a", "b", {"a": a[:5], "c": a[:5]})
    with pytest.raises(ValueError, match="must name modalities"):
        model.predict("c", "b", {"a": a[:5]})
    with pytest.raises(ValueError, match=r"have none of the modalities \['a'\] observed"):
        model.predict("a", "b", {"a": a_nan})
    with pytest.raises(ValueError, match="needs the perturbation prior"):
        model.generate("b", np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match="needs the perturbation prior"):
        model.sample(np.zeros((2, 1), dtype=int))
    with pytest.raises(ValueError, match=r"predict\(components=\) needs the perturbation"):
        model.predict("a", "b", {"a": a[:2]}, components=np.zeros((2, 1), dtype=int))
    with pytest.raises(RuntimeError, match="not fitted"):
        MultiModalVAE().predict("a", "b", {"a": a})
    # samples with nothing to condition on get NaN log-likelihoods, not an error
    cond, marg = model.log_likelihood_target("a", "b", {"a": a_nan, "b": b[:20]}, n_samples=4)
    assert np.isnan(cond[3]) and np.isnan(marg[3]) and np.isfinite(np.delete(cond, 3)).all()
