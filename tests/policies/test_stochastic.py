"""Slate distributions: stated propensities and marginals must match what sampling actually does."""

from __future__ import annotations

import itertools

import pytest
import torch

from policies import MostPopularPolicy, Policy
from policies.base import ScoringPolicy
from policies.stochastic import Deterministic, EpsilonMixture, PlackettLuce, SlateDistribution
from recgym.core.candidates import duplicate_mask
from recgym.core.response import Response
from recgym.errors import ConfigError

NUM_CANDIDATES = 4
NUM_SAMPLES = 40_000


class LinearScorer(ScoringPolicy):
    """Scores candidates by a fixed weight vector: a greedy policy whose slate depends on the candidates only."""

    def __init__(self, weights: torch.Tensor, slate_size: int) -> None:
        super().__init__(slate_size)
        self.weights = weights

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return observation["candidate_features"] @ self.weights


def _observation(num_users: int) -> dict[str, torch.Tensor]:
    """One user's candidates repeated ``num_users`` times: features 0, 1, 2, 3 on one axis, [B, 4, 1]."""
    features = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
    return {
        "candidate_features": features.expand(num_users, NUM_CANDIDATES, 1).clone(),
        "candidate_ids": torch.arange(NUM_CANDIDATES).expand(num_users, NUM_CANDIDATES).clone(),
    }


def _scorer(slate_size: int) -> LinearScorer:
    return LinearScorer(torch.tensor([0.7]), slate_size)


def _distributions(slate_size: int) -> list[SlateDistribution]:
    distributions: list[SlateDistribution] = [
        Deterministic(_scorer(slate_size)),
        EpsilonMixture(_scorer(slate_size), epsilon=0.3, seed=1),
    ]
    if slate_size == 1:
        distributions.append(PlackettLuce(_scorer(slate_size), temperature=0.8, seed=2))
    return distributions


def _empirical_slate_frequencies(slate: torch.Tensor) -> dict[tuple[int, ...], float]:
    codes, counts = torch.unique(slate, dim=0, return_counts=True)
    return {tuple(code.tolist()): count.item() / slate.shape[0] for code, count in zip(codes, counts, strict=True)}


@pytest.mark.parametrize("slate_size", [1, 2, 3])
@pytest.mark.parametrize("kind", ["deterministic", "epsilon", "plackett_luce"])
def test_propensities_match_sampled_frequencies_and_sum_to_one(kind: str, slate_size: int) -> None:
    scorer = _scorer(slate_size)
    distribution = {
        "deterministic": lambda: Deterministic(scorer),
        "epsilon": lambda: EpsilonMixture(scorer, epsilon=0.3, seed=1),
        "plackett_luce": lambda: PlackettLuce(scorer, temperature=0.8, seed=2),
    }[kind]()
    observation = _observation(NUM_SAMPLES)
    slate = distribution.sample(observation)
    assert slate.shape == (NUM_SAMPLES, slate_size) and slate.dtype == torch.int64
    assert not duplicate_mask(slate).any()
    frequencies = _empirical_slate_frequencies(slate)

    every_slate = torch.tensor(list(itertools.permutations(range(NUM_CANDIDATES), slate_size)))
    stated = distribution.propensity(_observation(every_slate.shape[0]), every_slate)
    assert stated.dtype == torch.float64
    assert stated.sum().item() == pytest.approx(1.0, abs=1e-12)
    for ordered_slate, probability in zip(every_slate.tolist(), stated.tolist(), strict=True):
        # Three standard errors of a frequency of NUM_SAMPLES draws is at most 0.0075.
        assert frequencies.get(tuple(ordered_slate), 0.0) == pytest.approx(probability, abs=0.0075)


@pytest.mark.parametrize("slate_size", [1, 2, 3])
def test_marginals_sum_to_one_per_position_and_match_samples(slate_size: int) -> None:
    observation = _observation(NUM_SAMPLES)
    for distribution in _distributions(slate_size):
        marginals = distribution.position_marginals(observation)
        assert marginals.shape == (NUM_SAMPLES, slate_size, NUM_CANDIDATES) and marginals.dtype == torch.float64
        assert torch.allclose(marginals.sum(dim=2), torch.ones(NUM_SAMPLES, slate_size, dtype=torch.float64))
        slate = distribution.sample(observation)
        empirical = torch.nn.functional.one_hot(slate, NUM_CANDIDATES).to(torch.float64).mean(dim=0)
        assert torch.allclose(empirical, marginals.mean(dim=0), atol=0.0075), type(distribution).__name__


def test_epsilon_mixture_propensity_and_marginals_follow_the_formula() -> None:
    observation = _observation(2)
    mixture = EpsilonMixture(_scorer(2), epsilon=0.3)
    greedy = torch.tensor([[3, 2], [3, 2]])
    assert torch.equal(mixture.greedy_slate(observation), greedy)
    uniform = 0.3 / (4 * 3)
    slates = torch.tensor([[3, 2], [2, 3]])
    assert mixture.propensity(observation, slates).tolist() == pytest.approx([0.7 + uniform, uniform])
    marginals = mixture.position_marginals(observation)
    assert marginals[0, 0].tolist() == pytest.approx([0.075, 0.075, 0.075, 0.775])
    assert marginals[0, 1].tolist() == pytest.approx([0.075, 0.075, 0.775, 0.075])


def test_deterministic_is_an_indicator_on_the_greedy_slate() -> None:
    observation = _observation(3)
    deterministic = Deterministic(_scorer(2))
    assert deterministic.sample(observation).tolist() == [[3, 2]] * 3
    slates = torch.tensor([[3, 2], [2, 3], [3, 1]])
    assert deterministic.propensity(observation, slates).tolist() == [1.0, 0.0, 0.0]
    marginals = deterministic.position_marginals(observation)
    assert marginals[0].tolist() == [[0.0, 0.0, 0.0, 1.0], [0.0, 0.0, 1.0, 0.0]]


def test_plackett_luce_propensity_is_the_sequential_softmax() -> None:
    observation = _observation(1)
    distribution = PlackettLuce(_scorer(2), temperature=0.5)
    weights = torch.exp(torch.tensor([0.0, 0.7, 1.4, 2.1], dtype=torch.float64) / 0.5)
    by_hand = weights[1] / weights.sum() * weights[3] / (weights.sum() - weights[1])
    assert distribution.propensity(observation, torch.tensor([[1, 3]])).item() == pytest.approx(by_hand.item())
    assert distribution.propensity(observation, torch.tensor([[1, 1]])).item() == 0.0


def test_plackett_luce_marginals_are_the_softmax_for_one_slot_and_refused_for_more() -> None:
    observation = _observation(2)
    single = PlackettLuce(_scorer(1), temperature=2.0).position_marginals(observation)
    expected = torch.softmax(torch.tensor([0.0, 0.7, 1.4, 2.1], dtype=torch.float64) / 2.0, dim=0)
    assert torch.allclose(single[0, 0], expected)
    with pytest.raises(ConfigError, match=r"EpsilonMixture.*slate_size=1"):
        PlackettLuce(_scorer(2)).position_marginals(observation)


@pytest.mark.parametrize("epsilon", [-0.1, 1.5, float("nan")])
def test_epsilon_outside_the_unit_interval_is_refused(epsilon: float) -> None:
    with pytest.raises(ConfigError, match=r"epsilon must lie in \[0, 1\]"):
        EpsilonMixture(_scorer(1), epsilon=epsilon)


@pytest.mark.parametrize("temperature", [0.0, -1.0, float("inf"), float("nan")])
def test_non_positive_temperature_is_refused(temperature: float) -> None:
    with pytest.raises(ConfigError, match="temperature must be a positive"):
        PlackettLuce(_scorer(1), temperature=temperature)


def test_slate_larger_than_the_candidates_is_refused() -> None:
    with pytest.raises(ConfigError, match="exceeds the 4 candidates"):
        EpsilonMixture(_scorer(5), epsilon=0.1).sample(_observation(2))


def test_distributions_are_seeded_policies() -> None:
    observation = _observation(500)
    for distribution in _distributions(1):
        assert isinstance(distribution, SlateDistribution)
        assert isinstance(distribution, Policy)
        assert distribution.state_dict() == distribution.policy.state_dict()  # the inner policy's: none of its own
    first = EpsilonMixture(_scorer(2), epsilon=0.5, seed=7).act(observation, explore=False)
    again = EpsilonMixture(_scorer(2), epsilon=0.5, seed=7).act(observation)
    other = EpsilonMixture(_scorer(2), epsilon=0.5, seed=8).act(observation)
    assert torch.equal(first, again)
    assert not torch.equal(first, other)


def test_update_reaches_a_learning_inner_policy_and_refreshes_its_greedy_slate() -> None:
    observation = _observation(1)
    most_popular = MostPopularPolicy(num_items=NUM_CANDIDATES, slate_size=1)
    mixture = EpsilonMixture(most_popular, epsilon=0.0)
    mixture.greedy_slate(observation)
    shown = torch.tensor([[2]])
    clicked = Response.from_choice(torch.tensor([0]), 1, torch.ones(1), torch.zeros(1, dtype=torch.bool))
    mixture.update(observation, shown, clicked)
    assert mixture.state_dict()["click_counts"].tolist() == [0.0, 0.0, 1.0, 0.0]
    assert mixture.sample(observation).tolist() == [[2]]
    assert mixture.propensity(observation, shown).item() == 1.0
