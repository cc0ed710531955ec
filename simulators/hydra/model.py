"""The latent model: mixtures of log-normals (``LogNormalMixture``, fitted by EM) and ``HydraModel``, users in
communities and items with a home community and a popularity weight, with the per-community
adoption probabilities that generation, fitting and the live simulator all draw from."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch

from recgym.errors import ConfigError

_MIN_STD = 0.05
"""Floor on a mixture component's std (log units), so EM cannot collapse onto one repeated degree."""


# -- mixtures of log-normals ---------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class LogNormalMixture:
    """A mixture of log-normals: log X ~ sum_m weights[m] N(means[m], stds[m]^2)."""

    weights: tuple[float, ...]
    means: tuple[float, ...]
    """Component means of log X."""
    stds: tuple[float, ...]
    """Component standard deviations of log X."""

    def __post_init__(self) -> None:
        sizes = {len(self.weights), len(self.means), len(self.stds)}
        if len(sizes) != 1 or not self.weights:
            raise ConfigError(f"LogNormalMixture needs equal, non-empty weights/means/stds; got sizes {sizes}.")
        if min(self.weights) < 0 or not math.isclose(sum(self.weights), 1.0, rel_tol=1e-6):
            raise ConfigError(f"LogNormalMixture.weights must be >= 0 and sum to 1; got {self.weights}.")
        if min(self.stds) <= 0:
            raise ConfigError(f"LogNormalMixture.stds must be positive; got {self.stds}.")

    def sample(self, rng: np.random.Generator, size: int) -> np.ndarray:
        """``size`` draws of X (not log X), float64."""
        component = rng.choice(len(self.weights), size=size, p=np.asarray(self.weights))
        log_values = np.asarray(self.means)[component] + np.asarray(self.stds)[component] * rng.standard_normal(size)
        return np.exp(log_values)

    def quantiles(self, probabilities: np.ndarray) -> np.ndarray:
        """X at the given CDF levels, by bisection on the mixture CDF (vectorised over levels)."""
        weights, means, stds = (torch.tensor(v, dtype=torch.float64) for v in (self.weights, self.means, self.stds))
        target = torch.as_tensor(probabilities, dtype=torch.float64)
        low = torch.full_like(target, float(min(m - 10 * s for m, s in zip(self.means, self.stds, strict=True))))
        high = torch.full_like(target, float(max(m + 10 * s for m, s in zip(self.means, self.stds, strict=True))))
        for _ in range(60):
            middle = 0.5 * (low + high)
            cdf = (weights * 0.5 * (1 + torch.erf((middle.unsqueeze(1) - means) / (stds * math.sqrt(2))))).sum(1)
            below = cdf < target
            low = torch.where(below, middle, low)
            high = torch.where(below, high, middle)
        return torch.exp(0.5 * (low + high)).numpy()

    @classmethod
    def fit(cls, values: np.ndarray, num_components: int = 3, iterations: int = 300) -> LogNormalMixture:
        """EM for a 1-D Gaussian mixture on log ``values`` (positive); quantile init, so deterministic."""
        log_values = np.log(np.asarray(values, dtype=np.float64))
        count = log_values.shape[0]
        num_components = max(1, min(num_components, count // 5))
        spread = max(float(log_values.std()), _MIN_STD)
        means = np.quantile(log_values, (np.arange(num_components) + 0.5) / num_components)
        stds = np.full(num_components, spread / num_components + _MIN_STD)
        weights = np.full(num_components, 1.0 / num_components)
        previous = -np.inf
        for _ in range(iterations):
            log_joint = (
                np.log(weights + 1e-300)
                - 0.5 * ((log_values[:, None] - means) / stds) ** 2
                - np.log(stds * math.sqrt(2 * math.pi))
            )
            top = log_joint.max(axis=1, keepdims=True)
            log_evidence = top[:, 0] + np.log(np.exp(log_joint - top).sum(axis=1))
            responsibility = np.exp(log_joint - log_evidence[:, None])
            mass = responsibility.sum(axis=0) + 1e-12
            weights = mass / count
            means = (responsibility * log_values[:, None]).sum(axis=0) / mass
            variance = (responsibility * (log_values[:, None] - means) ** 2).sum(axis=0) / mass
            stds = np.sqrt(np.maximum(variance, _MIN_STD**2))
            likelihood = float(log_evidence.sum())
            if likelihood - previous < 1e-9 * abs(likelihood):
                break
            previous = likelihood
        order = np.argsort(means)
        weights = weights[order] / weights.sum()
        return cls(tuple(weights.tolist()), tuple(means[order].tolist()), tuple(stds[order].tolist()))


# -- the latent model ----------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class HydraModel:
    """Users in communities, items with a home community and a popularity weight, activity levels.

    Arrays are numpy (the model is data to generate from and to inspect); ``HydraUser`` copies what
    it needs to torch on its device.
    """

    num_users: int
    """Users in a generated log."""
    community_weights: np.ndarray
    """Share of users in each community, float [G], sums to 1."""
    item_community: np.ndarray
    """Home community of each item, int64 [N]."""
    item_weight: np.ndarray
    """Popularity weight of each item, float [N], positive, sums to 1."""
    popularity: LogNormalMixture
    """Distribution of item popularity (expected adoptions), the source of ``item_weight``."""
    activity: LogNormalMixture
    """Distribution of a user's number of adopted items."""
    affinity: float
    """Log-odds boost of an item in the user's own community over global popularity; 0 = no communities."""

    def __post_init__(self) -> None:
        num_items = self.item_weight.shape[0]
        if self.num_users <= 0 or num_items <= 0:
            raise ConfigError(f"HydraModel needs users and items; got num_users={self.num_users}, items={num_items}.")
        if self.item_community.shape != (num_items,):
            raise ConfigError(f"HydraModel.item_community must have shape ({num_items},).")
        num_communities = self.community_weights.shape[0]
        if self.item_community.min() < 0 or self.item_community.max() >= num_communities:
            raise ConfigError(f"HydraModel.item_community must lie in [0, {num_communities}).")
        for name in ("community_weights", "item_weight"):
            values = getattr(self, name)
            if (values < 0).any() or not math.isclose(float(values.sum()), 1.0, rel_tol=1e-6):
                raise ConfigError(f"HydraModel.{name} must be non-negative and sum to 1.")
        if self.affinity < 0:
            raise ConfigError(f"HydraModel.affinity must be >= 0; got {self.affinity}.")

    @property
    def num_items(self) -> int:
        return int(self.item_weight.shape[0])

    @property
    def num_communities(self) -> int:
        return int(self.community_weights.shape[0])

    @classmethod
    def default(
        cls, num_users: int = 10_000, num_items: int = 1000, num_communities: int = 8, seed: int = 0
    ) -> HydraModel:
        """A model with MovieLens-like shapes: a heavy popularity tail, most users light, a few very active."""
        if num_communities <= 0:
            raise ConfigError(f"num_communities must be positive; got {num_communities}.")
        rng = np.random.default_rng(seed)
        community_weights = 1.0 / np.sqrt(np.arange(1, num_communities + 1))
        popularity = LogNormalMixture((0.7, 0.3), (0.0, 1.8), (1.0, 0.9))
        activity = LogNormalMixture((0.6, 0.4), (math.log(20.0), math.log(80.0)), (0.6, 0.8))
        return cls._with_items(
            num_users, num_items, community_weights / community_weights.sum(), popularity, activity, 2.0, rng
        )

    @classmethod
    def _with_items(
        cls,
        num_users: int,
        num_items: int,
        community_weights: np.ndarray,
        popularity: LogNormalMixture,
        activity: LogNormalMixture,
        affinity: float,
        rng: np.random.Generator,
        item_community_weights: np.ndarray | None = None,
    ) -> HydraModel:
        """Fresh items: weights from ``popularity``, home communities by ``item_community_weights``."""
        if num_items <= 0 or num_users <= 0:
            raise ConfigError(f"num_items and num_users must be positive; got {num_items} and {num_users}.")
        shares = community_weights if item_community_weights is None else item_community_weights
        item_community = rng.choice(shares.shape[0], size=num_items, p=shares).astype(np.int64)
        weight = popularity.sample(rng, num_items)
        return cls(num_users, community_weights, item_community, weight / weight.sum(), popularity, activity, affinity)

    def resized(self, num_users: int | None = None, num_items: int | None = None, seed: int = 0) -> HydraModel:
        """The same distributions at another scale; items are redrawn when ``num_items`` changes."""
        num_users = self.num_users if num_users is None else num_users
        if num_items is None or num_items == self.num_items:
            return dataclasses.replace(self, num_users=num_users)
        item_shares = np.bincount(self.item_community, minlength=self.num_communities) / self.num_items
        return self._with_items(
            num_users,
            num_items,
            self.community_weights,
            self.popularity,
            self.activity,
            self.affinity,
            np.random.default_rng(seed),
            item_shares,
        )

    def adoption_log_probabilities(self, community: np.ndarray) -> np.ndarray:
        """log P(item | user community) for one adoption, [len(community), N] (normalised per row)."""
        scores = np.log(self.item_weight)[None, :] + self.affinity * (
            self.item_community[None, :] == community[:, None]
        )
        return scores - np.logaddexp.reduce(scores, axis=1, keepdims=True)
