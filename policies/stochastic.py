"""Slate distributions: policies that also say how likely each slate is, so their logs can be reweighted.

Off-policy evaluation needs, for every logged slate, the exact probability that the
behaviour showed it (``propensity``) and, for position-wise estimators, the probability
that each candidate sat at each position (``position_marginals``). Each distribution here
is also a ``Policy`` (``act`` samples), so it can be rolled out, logged and evaluated on
the same env. Everything is batched over users; only the K slate positions are looped.

Example::

    behaviour = EpsilonMixture(MyopicGreedyPolicy(slate_size=2), epsilon=0.2, seed=0)
    slate = behaviour.sample(observation)                   # [B, K]
    probability = behaviour.propensity(observation, slate)  # [B], float64
"""

from __future__ import annotations

import math
from typing import Any, Protocol, runtime_checkable

import torch

from policies.base import Policy, ScoringPolicy
from policies.rl.slate_distribution import sample_slate
from recgym.core.random import DeviceGenerators
from recgym.core.response import Response
from recgym.errors import ConfigError


@runtime_checkable
class SlateDistribution(Policy, Protocol):
    """A policy whose slate probabilities are known exactly, for any observation.

    Probabilities are float64, so products over positions and ratios of them keep their precision.
    """

    slate_size: int

    def sample(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """One ordered slate per user, int64 [B, K]."""
        ...

    def propensity(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> torch.Tensor:
        """Exact probability of drawing each user's ordered ``slate [B, K]``, float64 [B]."""
        ...

    def position_marginals(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Probability that candidate c is shown at position k, float64 [B, K, C]; sums to 1 over C."""
        ...


def _num_candidates(observation: dict[str, torch.Tensor]) -> int:
    return observation["candidate_features"].shape[1]


def _device(observation: dict[str, torch.Tensor]) -> torch.device:
    return observation["candidate_features"].device


def _slate_one_hot(slate: torch.Tensor, num_candidates: int) -> torch.Tensor:
    """Each position's candidate as a one-hot row, float64 [B, K, C]."""
    return torch.nn.functional.one_hot(slate, num_candidates).to(torch.float64)


class _WrappedPolicy:
    """What every distribution here shares: an inner policy, a seeded generator per device, Policy plumbing.

    ``act`` samples whatever ``explore`` says: the randomness is part of the policy being
    logged or evaluated, not exploration to switch off. ``update`` and the state dict go to
    the inner policy, so a learning behaviour keeps learning while it logs.
    """

    def __init__(self, policy: Policy, seed: int = 0) -> None:
        if policy.slate_size <= 0:
            raise ConfigError(f"The inner policy's slate_size must be positive; got {policy.slate_size}.")
        self.policy = policy
        self.slate_size = policy.slate_size
        self.seed = seed
        self.generators = DeviceGenerators(seed)

    def _check_slate_size(self, observation: dict[str, torch.Tensor]) -> None:
        num_candidates = _num_candidates(observation)
        if self.slate_size > num_candidates:
            raise ConfigError(f"slate_size={self.slate_size} exceeds the {num_candidates} candidates per user.")

    def sample(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        raise NotImplementedError

    def act(self, observation: dict[str, torch.Tensor], explore: bool = True) -> torch.Tensor:
        """A sampled slate [B, K]."""
        return self.sample(observation)

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        """Forward to the inner policy (a no-op for stateless ones)."""
        self.policy.update(observation, slate, response)

    def state_dict(self) -> dict[str, Any]:
        """The inner policy's state (empty for stateless ones); the distribution itself holds none."""
        return self.policy.state_dict()

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.policy.load_state_dict(state)


class _GreedySlateCache(_WrappedPolicy):
    """Remembers the inner policy's greedy slate for the last observation dict it saw.

    A policy's ``act(explore=False)`` may still draw noise (seeded tie-breaks; RandomPolicy
    draws its whole slate), so calling it again inside ``propensity`` could return another
    slate than the one ``sample`` used. Caching per observation object keeps sample,
    propensity and marginals about the same greedy slate; ``update`` clears the cache
    because a learning policy's greedy slate changes with what it learns.
    """

    def __init__(self, policy: Policy, seed: int = 0) -> None:
        super().__init__(policy, seed)
        self._cached_observation: dict[str, torch.Tensor] | None = None
        self._cached_greedy: torch.Tensor | None = None

    def greedy_slate(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The inner policy's slate with ``explore=False``, int64 [B, K]."""
        if self._cached_observation is not observation or self._cached_greedy is None:
            self._check_slate_size(observation)
            greedy = self.policy.act(observation, explore=False)
            if tuple(greedy.shape) != (observation["candidate_features"].shape[0], self.slate_size):
                raise ConfigError(
                    f"The inner policy returned a slate of shape {tuple(greedy.shape)}; expected "
                    f"({observation['candidate_features'].shape[0]}, {self.slate_size}) [users, slate_size]."
                )
            self._cached_observation, self._cached_greedy = observation, greedy
        return self._cached_greedy

    def update(self, observation: dict[str, torch.Tensor], slate: torch.Tensor, response: Response) -> None:
        self._cached_observation, self._cached_greedy = None, None
        super().update(observation, slate, response)

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self._cached_observation, self._cached_greedy = None, None
        super().load_state_dict(state)


class Deterministic(_GreedySlateCache):
    """Always the inner policy's greedy slate: propensity 1 on it, 0 elsewhere.

    Exact only when that slate is a function of the observation (scoring policies with
    continuous scores; not RandomPolicy, whose "greedy" slate is itself a draw).
    """

    def __init__(self, policy: Policy) -> None:
        super().__init__(policy, seed=0)

    def sample(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """The greedy slate, int64 [B, K]."""
        return self.greedy_slate(observation)

    def propensity(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> torch.Tensor:
        """1.0 where ``slate [B, K]`` is the greedy slate (same order), else 0.0, float64 [B]."""
        return (slate == self.greedy_slate(observation)).all(dim=1).to(torch.float64)

    def position_marginals(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """One-hot on the greedy slate's candidate at each position, float64 [B, K, C]."""
        return _slate_one_hot(self.greedy_slate(observation), _num_candidates(observation))


class EpsilonMixture(_GreedySlateCache):
    """The inner policy's greedy slate with probability 1 - epsilon, else a uniformly random ordered slate.

    Works for any Policy, learning bandits included, so any behaviour can log with exact
    propensities: each row's propensity is exact for the policy as it was at that step.
    Every ordered slate of K distinct candidates gets at least epsilon / (C (C-1) ... (C-K+1)),
    so with epsilon > 0 full-slate IPS can reweight towards any target.
    """

    def __init__(self, policy: Policy, epsilon: float, seed: int = 0) -> None:
        if not 0.0 <= epsilon <= 1.0 or math.isnan(epsilon):
            raise ConfigError(
                f"epsilon must lie in [0, 1] (the probability of a uniformly random slate); got {epsilon}."
            )
        super().__init__(policy, seed)
        self.epsilon = float(epsilon)

    def _uniform_slate_probability(self, num_candidates: int) -> float:
        """Probability of one ordered slate of K distinct candidates under uniform sampling."""
        return 1.0 / math.perm(num_candidates, self.slate_size)

    def sample(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Greedy or uniformly random ordered slate per user, int64 [B, K]."""
        greedy = self.greedy_slate(observation)
        num_users, num_candidates = greedy.shape[0], _num_candidates(observation)
        generator = self.generators.on(greedy.device)
        explore = torch.rand(num_users, generator=generator, device=greedy.device) < self.epsilon
        # The top K of i.i.d. uniforms, in order of value, is a uniformly random ordered K-subset.
        noise = torch.rand(num_users, num_candidates, generator=generator, device=greedy.device)
        uniform = torch.topk(noise, self.slate_size, dim=1).indices
        return torch.where(explore.unsqueeze(1), uniform, greedy)

    def propensity(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> torch.Tensor:
        """(1 - eps) 1[slate == greedy] + eps / C!/(C-K)!, float64 [B]."""
        is_greedy = (slate == self.greedy_slate(observation)).all(dim=1).to(torch.float64)
        uniform = self._uniform_slate_probability(_num_candidates(observation))
        return (1.0 - self.epsilon) * is_greedy + self.epsilon * uniform

    def position_marginals(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """(1 - eps) one-hot(greedy) + eps / C, float64 [B, K, C]."""
        num_candidates = _num_candidates(observation)
        one_hot = _slate_one_hot(self.greedy_slate(observation), num_candidates)
        return (1.0 - self.epsilon) * one_hot + self.epsilon / num_candidates


class PlackettLuce(_WrappedPolicy):
    """K candidates drawn in order without replacement from softmax(scores / temperature).

    The classic stochastic ranker: position k takes candidate c with probability
    exp(s_c / T) / sum over not-yet-shown c' of exp(s_c' / T). Sampling uses Gumbel-top-k,
    which draws exactly this sequence in one ``topk``. Slate propensities are exact; position
    marginals are exact only for K = 1 (for K > 1 they sum over (C-1)!/(C-K)! orderings).
    """

    def __init__(self, scoring_policy: ScoringPolicy, temperature: float = 1.0, seed: int = 0) -> None:
        if not temperature > 0 or math.isinf(temperature):
            raise ConfigError(
                f"temperature must be a positive finite number (smaller is closer to greedy); got {temperature}."
            )
        super().__init__(scoring_policy, seed)
        self.policy: ScoringPolicy = scoring_policy
        self.temperature = float(temperature)

    def logits(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Scores divided by the temperature, float64 [B, C]."""
        self._check_slate_size(observation)
        return self.policy.scores(observation).to(torch.float64) / self.temperature

    def sample(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Gumbel-top-k draw, int64 [B, K]."""
        logits = self.logits(observation)
        return sample_slate(logits, self.slate_size, self.generators.on(logits.device))

    def propensity(self, observation: dict[str, torch.Tensor], slate: torch.Tensor) -> torch.Tensor:
        """Product over positions of the chosen candidate's softmax among those not yet shown, float64 [B].

        A slate that repeats a candidate gets probability 0.
        """
        logits = self.logits(observation)
        log_probability = torch.zeros(logits.shape[0], dtype=torch.float64, device=logits.device)
        remaining = torch.ones_like(logits, dtype=torch.bool)
        for position in range(self.slate_size):
            chosen = slate[:, position : position + 1]
            log_softmax = torch.log_softmax(logits.masked_fill(~remaining, -math.inf), dim=1)
            log_probability = log_probability + log_softmax.gather(1, chosen).squeeze(1)
            remaining = remaining.scatter(1, chosen, False)
        return torch.exp(log_probability)

    def position_marginals(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """softmax(scores / T) as [B, 1, C]; only for slate_size 1."""
        if self.slate_size != 1:
            raise ConfigError(
                f"PlackettLuce position marginals are intractable for slate_size={self.slate_size} > 1 "
                "(they sum over every ordering of the other positions). Use EpsilonMixture for a slate "
                "behaviour or target with exact marginals, or slate_size=1."
            )
        return torch.softmax(self.logits(observation), dim=1).unsqueeze(1)
