"""RidgeRegression against closed-form ridge solutions."""

from __future__ import annotations

import pytest
import torch

from policies.bandits.ridge import RidgeRegression
from recgym.errors import ConfigError


def _batches(num_users: int, num_features: int, steps: int, seed: int = 0):
    generator = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        contexts = torch.randn(num_users, 2, num_features, generator=generator)
        rewards = torch.rand(num_users, 2, generator=generator)
        observed = torch.rand(num_users, 2, generator=generator) < 0.8
        yield contexts, rewards, observed


def _closed_form(batches, regularization: float, user: int | None) -> tuple[torch.Tensor, torch.Tensor]:
    rows = [(c if user is None else c[user : user + 1]) for c, _, _ in batches]
    rewards = [(r if user is None else r[user : user + 1]) for _, r, _ in batches]
    masks = [(m if user is None else m[user : user + 1]) for _, _, m in batches]
    design = torch.cat([c[m] for c, m in zip(rows, masks, strict=True)]).double()
    targets = torch.cat([r[m] for r, m in zip(rewards, masks, strict=True)]).double()
    precision = design.T @ design + regularization * torch.eye(design.shape[1], dtype=torch.float64)
    return torch.linalg.solve(precision, design.T @ targets), torch.linalg.inv(precision)


def test_shared_model_equals_closed_form_ridge() -> None:
    batches = list(_batches(num_users=6, num_features=5, steps=20))
    model = RidgeRegression(5, regularization=2.0)
    for contexts, rewards, observed in batches:
        model.update(contexts, rewards, observed)
    theta, covariance = _closed_form(batches, 2.0, user=None)
    torch.testing.assert_close(model.theta[0].double(), theta, atol=1e-5, rtol=1e-5)
    probe = torch.randn(3, 4, 5)
    expected_variance = torch.einsum("bcd,de,bce->bc", probe.double(), covariance, probe.double())
    torch.testing.assert_close(model.variance(probe).double(), expected_variance, atol=1e-5, rtol=1e-4)


@pytest.mark.parametrize("refresh_every", [1000, 3])
def test_per_user_woodbury_updates_equal_closed_form(refresh_every: int) -> None:
    batches = list(_batches(num_users=4, num_features=6, steps=25, seed=1))
    model = RidgeRegression(6, num_models=4, regularization=1.0, refresh_every=refresh_every)
    for contexts, rewards, observed in batches:
        model.update(contexts, rewards, observed)
    for user in range(4):
        theta, covariance = _closed_form(batches, 1.0, user=user)
        torch.testing.assert_close(model.theta[user].double(), theta, atol=1e-4, rtol=1e-4)
        torch.testing.assert_close(model.covariance[user].double(), covariance, atol=1e-5, rtol=1e-3)


def test_diagonal_model_is_exact_for_one_hot_contexts() -> None:
    """With axis-aligned contexts the design matrix is diagonal, so Diag-LinUCB loses nothing."""
    generator = torch.Generator().manual_seed(3)
    full, diagonal = RidgeRegression(4), RidgeRegression(4, diagonal=True)
    for _ in range(30):
        contexts = torch.nn.functional.one_hot(torch.randint(4, (8, 2), generator=generator), 4).float()
        rewards = torch.rand(8, 2, generator=generator)
        observed = torch.ones(8, 2, dtype=torch.bool)
        full.update(contexts, rewards, observed)
        diagonal.update(contexts, rewards, observed)
    probe = torch.eye(4).unsqueeze(0)
    torch.testing.assert_close(diagonal.mean(probe), full.mean(probe), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(diagonal.variance(probe), full.variance(probe), atol=1e-6, rtol=1e-5)


def test_posterior_draws_have_the_posterior_covariance() -> None:
    model = RidgeRegression(3, regularization=1.0)
    for contexts, rewards, observed in _batches(num_users=5, num_features=3, steps=4, seed=2):
        model.update(contexts, rewards, observed)
    normals = torch.randn(1, 200_000, 3, generator=torch.Generator().manual_seed(0))
    draws = model.sample_theta(normals, scale=1.0)[0].double()
    torch.testing.assert_close(draws.mean(dim=0), model.theta[0].double(), atol=3e-3, rtol=0)
    torch.testing.assert_close(torch.cov(draws.T), model.covariance[0].double(), atol=2e-3, rtol=0.03)


def test_unobserved_positions_teach_nothing() -> None:
    model = RidgeRegression(3)
    model.update(torch.randn(2, 2, 3), torch.ones(2, 2), torch.zeros(2, 2, dtype=torch.bool))
    assert torch.equal(model.theta, torch.zeros(1, 3))


def test_bad_shapes_and_settings_are_rejected() -> None:
    with pytest.raises(ConfigError, match="regularization"):
        RidgeRegression(3, regularization=0.0)
    model = RidgeRegression(3, num_models=4)
    with pytest.raises(ConfigError, match="per-user model for 4 users"):
        model.mean(torch.randn(5, 2, 3))
    with pytest.raises(ConfigError, match="built for 3"):
        model.mean(torch.randn(4, 2, 7))
