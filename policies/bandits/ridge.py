"""Online Bayesian ridge regression of reward on context, batched: the model behind every linear bandit.

Reward ~ theta . x. The model keeps the precision A = lambda I + sum x x^T and b = sum r x,
so theta = A^-1 b is the ridge estimate and A^-1 the posterior covariance (up to the noise
scale). One model can serve every user (``num_models=1``) or each user can own one
(``num_models=B``, the "disjoint" LinUCB of Li et al. with users as the disjoint units).

- Shared: A and b are summed over the whole batch in float64 and A is re-inverted exactly
  (a d x d Cholesky) after each update: cheap, since d is small.
- Per user: A^-1 is updated in place by the Woodbury identity (rank K per step), in float32
  for speed, and recomputed exactly from the float64 A every ``refresh_every`` updates so
  rounding never accumulates.
- Diagonal (Diag-LinUCB, YouTube's Online Matching): only diag(A) is kept, each coordinate
  is estimated on its own (theta_j = b_j / A_jj) and x^T A^-1 x becomes sum x_j^2 / A_jj, so
  act and update cost O(d) per item instead of O(d^2).
"""

from __future__ import annotations

from typing import Any

import torch

from recgym.errors import ConfigError


class RidgeRegression:
    """``num_models`` independent ridge regressions over ``num_features``-dim contexts; see the module docstring."""

    def __init__(
        self,
        num_features: int,
        num_models: int = 1,
        regularization: float = 1.0,
        diagonal: bool = False,
        refresh_every: int = 64,
        device: torch.device | str = "cpu",
    ) -> None:
        if num_features <= 0 or num_models <= 0:
            raise ConfigError(f"num_features and num_models must be positive; got {num_features}, {num_models}.")
        if regularization <= 0:
            raise ConfigError(f"regularization (the ridge lambda) must be positive; got {regularization}.")
        if refresh_every <= 0:
            raise ConfigError(f"refresh_every must be positive; got {refresh_every}.")
        self.num_features = num_features
        self.num_models = num_models
        self.regularization = regularization
        self.diagonal = diagonal
        self.refresh_every = refresh_every
        self.device = torch.device(device)
        self.updates = 0
        self._reset_all()

    # -- state ---------------------------------------------------------------------------------
    def _prior_precision(self, count: int) -> torch.Tensor:
        shape = (count, self.num_features) if self.diagonal else (count, self.num_features, self.num_features)
        precision = torch.zeros(shape, dtype=torch.float64, device=self.device)
        if self.diagonal:
            return precision.fill_(self.regularization)
        precision.diagonal(dim1=1, dim2=2).fill_(self.regularization)
        return precision

    def _reset_all(self) -> None:
        self.precision = self._prior_precision(self.num_models)
        """A, float64 [M, d, d] ([M, d] when diagonal)."""
        self.target = torch.zeros(self.num_models, self.num_features, dtype=torch.float64, device=self.device)
        """b = sum of reward * context, float64 [M, d]."""
        self.covariance = (1.0 / self.precision).to(torch.float32) if self.diagonal else self._invert(self.precision)
        """A^-1, float32, same shape as A."""
        self.theta = torch.zeros(self.num_models, self.num_features, device=self.device)
        """Ridge estimate A^-1 b, float32 [M, d]."""
        self._cholesky: torch.Tensor | None = None

    @staticmethod
    def _invert(precision: torch.Tensor) -> torch.Tensor:
        return torch.cholesky_inverse(torch.linalg.cholesky(precision)).to(torch.float32)

    def reset_models(self, rows: torch.Tensor) -> None:
        """Back to the prior for the models at ``rows`` (new users in per-user mode)."""
        if rows.numel() == 0:
            return
        fresh = self._prior_precision(rows.numel())
        self.precision[rows] = fresh
        self.target[rows] = 0.0
        self.covariance[rows] = (1.0 / fresh).to(torch.float32) if self.diagonal else self._invert(fresh)
        self.theta[rows] = 0.0
        self._cholesky = None

    # -- predictions -----------------------------------------------------------------------------
    def _check_contexts(self, contexts: torch.Tensor) -> None:
        if contexts.shape[-1] != self.num_features:
            raise ConfigError(
                f"Contexts have {contexts.shape[-1]} features; this model was built for {self.num_features}."
            )
        if self.num_models > 1 and contexts.shape[0] != self.num_models:
            raise ConfigError(
                f"A per-user model for {self.num_models} users got contexts for {contexts.shape[0]}; "
                "keep the batch size fixed, or use a shared model."
            )

    def mean(self, contexts: torch.Tensor) -> torch.Tensor:
        """theta . x of each context [B, C, d] (or [N, d] for a shared model), [B, C]."""
        self._check_contexts(contexts)
        if self.num_models == 1:
            return contexts @ self.theta[0]
        return torch.einsum("bcd,bd->bc", contexts, self.theta)

    def variance(self, contexts: torch.Tensor) -> torch.Tensor:
        """x^T A^-1 x of each context [B, C, d] (or [N, d] for a shared model), [B, C]."""
        self._check_contexts(contexts)
        if self.diagonal:
            squares = contexts.square()
            if self.num_models == 1:
                return squares @ self.covariance[0]
            return torch.einsum("bcd,bd->bc", squares, self.covariance)
        if self.num_models == 1:
            flat = contexts.reshape(-1, self.num_features)
            return (flat @ self.covariance[0]).mul_(flat).sum(dim=-1).view(contexts.shape[:-1])
        return torch.bmm(contexts, self.covariance).mul_(contexts).sum(dim=-1)

    def sample_theta(self, normals: torch.Tensor, scale: float) -> torch.Tensor:
        """Posterior draws theta + scale * A^-1/2 z for standard normals z [B, S, d], [B, S, d]."""
        self._check_contexts(normals)
        if self.diagonal:
            spread = self.covariance.sqrt().unsqueeze(1)
            return self.theta.unsqueeze(1) + scale * spread * normals
        if self._cholesky is None:
            # A = L L^T, so L^-T z has covariance A^-1; float64 because A's condition number grows with data.
            self._cholesky = torch.linalg.cholesky(self.precision)
        upper = self._cholesky.transpose(1, 2)
        if self.num_models == 1:
            flat = normals.reshape(-1, self.num_features).T.to(torch.float64)
            offsets = torch.linalg.solve_triangular(upper[0], flat, upper=True).T.reshape(normals.shape)
        else:
            columns = normals.transpose(1, 2).to(torch.float64)
            offsets = torch.linalg.solve_triangular(upper, columns, upper=True).transpose(1, 2)
        return self.theta.unsqueeze(1) + scale * offsets.to(torch.float32)

    # -- learning --------------------------------------------------------------------------------
    def update(self, contexts: torch.Tensor, rewards: torch.Tensor, observed: torch.Tensor) -> None:
        """Learn from rewards [B, K] of contexts [B, K, d]; positions where ``observed`` [B, K] is false are ignored."""
        self._check_contexts(contexts)
        weights = observed.to(contexts.dtype)
        contexts = contexts * weights.unsqueeze(-1)  # an unobserved row adds nothing to A or b
        rewards = rewards.to(contexts.dtype) * weights
        self._cholesky = None
        self.updates += 1
        if self.diagonal:
            self._update_diagonal(contexts, rewards)
        elif self.num_models == 1:
            self._update_shared(contexts, rewards)
        else:
            self._update_per_user(contexts, rewards)

    def _update_diagonal(self, contexts: torch.Tensor, rewards: torch.Tensor) -> None:
        squares = contexts.square()
        weighted = contexts * rewards.unsqueeze(-1)
        if self.num_models == 1:
            self.precision += squares.sum(dim=(0, 1)).to(torch.float64)
            self.target += weighted.sum(dim=(0, 1)).to(torch.float64)
        else:
            self.precision += squares.sum(dim=1).to(torch.float64)
            self.target += weighted.sum(dim=1).to(torch.float64)
        self.covariance = (1.0 / self.precision).to(torch.float32)
        self.theta = (self.target / self.precision).to(torch.float32)

    def _update_shared(self, contexts: torch.Tensor, rewards: torch.Tensor) -> None:
        flat = contexts.reshape(-1, self.num_features)
        self.precision[0] += (flat.T @ flat).to(torch.float64)
        self.target[0] += (rewards.reshape(-1) @ flat).to(torch.float64)
        covariance = torch.cholesky_inverse(torch.linalg.cholesky(self.precision))
        self.covariance = covariance.to(torch.float32)
        self.theta = torch.einsum("mde,me->md", covariance, self.target).to(torch.float32)

    def _update_per_user(self, contexts: torch.Tensor, rewards: torch.Tensor) -> None:
        self.precision += torch.bmm(contexts.transpose(1, 2), contexts).to(torch.float64)
        self.target += torch.einsum("bk,bkd->bd", rewards, contexts).to(torch.float64)
        if self.updates % self.refresh_every == 0:
            self.covariance = self._invert(self.precision)
        else:
            # Woodbury: (A + X^T X)^-1 = S - S X^T (I + X S X^T)^-1 X S, with S = A^-1.
            spread = torch.bmm(self.covariance, contexts.transpose(1, 2))  # S X^T, [B, d, K]
            inner = torch.bmm(contexts, spread)
            inner.diagonal(dim1=1, dim2=2).add_(1.0)
            # inner >= I is well conditioned, and a batched K x K inverse is ~20x faster than linalg.solve on CPU.
            self.covariance -= torch.bmm(spread, torch.bmm(torch.linalg.inv(inner), spread.transpose(1, 2)))
        self.theta = torch.einsum("bde,be->bd", self.covariance, self.target.to(torch.float32))

    def to(self, device: torch.device | str) -> RidgeRegression:
        """Move every tensor to ``device`` in place (a model loaded on the CPU, then used on a GPU)."""
        self.device = torch.device(device)
        for name in ("precision", "target", "covariance", "theta"):
            setattr(self, name, getattr(self, name).to(self.device))
        self._cholesky = None
        return self

    # -- persistence -----------------------------------------------------------------------------
    def state_dict(self) -> dict[str, Any]:
        return {
            "precision": self.precision.cpu().clone(),
            "target": self.target.cpu().clone(),
            "covariance": self.covariance.cpu().clone(),
            "theta": self.theta.cpu().clone(),
            "updates": self.updates,
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if tuple(state["precision"].shape) != tuple(self.precision.shape):
            raise ConfigError(
                f"Saved ridge model has precision of shape {tuple(state['precision'].shape)}; "
                f"this one has {tuple(self.precision.shape)} (different features, users or diagonal setting)."
            )
        for name in ("precision", "target", "covariance", "theta"):
            setattr(self, name, state[name].to(self.device).clone())
        self.updates = int(state["updates"])
        self._cholesky = None
