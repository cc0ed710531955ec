import pytest
import torch

from recgym.core import random
from recgym.core.choice import Cascade, MultinomialLogit, MultinomialProportional, sample_choice
from recgym.errors import ConfigError

SCORES = torch.tensor([[0.5, -0.2, 0.9], [-1.0, 0.0, 1.0]])


def _empirical(probabilities: torch.Tensor, draws: int = 200_000) -> torch.Tensor:
    """Frequencies of each outcome (K positions, then no click) over many sampled choices."""
    repeated = probabilities.repeat_interleave(draws, dim=0)
    choice = sample_choice(repeated, random.uniform(random.keys_from_seeds(torch.arange(repeated.shape[0]))))
    slate_size = probabilities.shape[1] - 1
    outcome = torch.where(choice < 0, torch.full_like(choice, slate_size), choice)
    counts = torch.zeros(probabilities.shape[0], slate_size + 1)
    counts.index_put_(
        (torch.arange(repeated.shape[0]) // draws, outcome), torch.ones(repeated.shape[0]), accumulate=True
    )
    return counts / draws


@pytest.mark.parametrize("model", [MultinomialLogit(0.3), MultinomialProportional(1.0, -1.0), Cascade(0.7)])
def test_empirical_frequencies_match_model_probabilities(model) -> None:
    probabilities = model.probabilities(SCORES)
    assert torch.allclose(probabilities.sum(dim=1), torch.ones(2))
    # 200k draws: the standard error of each frequency is below 0.0012.
    assert torch.allclose(_empirical(probabilities), probabilities, atol=0.005)


def test_logit_is_a_softmax_with_no_click_logit() -> None:
    probabilities = MultinomialLogit(no_click_score=0.3, temperature=2.0).probabilities(SCORES)
    expected = torch.softmax(torch.cat([SCORES, torch.full((2, 1), 0.3)], dim=1) / 2.0, dim=1)
    assert torch.allclose(probabilities, expected)


def test_proportional_matches_recsim_formula() -> None:
    # RecSim: v_i = s_i - min_normalizer, v_0 = no_click_mass - min_normalizer.
    probabilities = MultinomialProportional(no_click_mass=1.0, min_normalizer=-1.0).probabilities(SCORES[:1])
    weights = torch.tensor([1.5, 0.8, 1.9, 2.0])
    assert torch.allclose(probabilities[0], weights / weights.sum())


def test_cascade_prefers_earlier_positions_for_equal_scores() -> None:
    probabilities = Cascade().probabilities(torch.zeros(1, 3))
    assert torch.allclose(probabilities[0], torch.tensor([0.5, 0.25, 0.125, 0.125]))


def test_per_user_parameters_broadcast() -> None:
    model = MultinomialLogit(no_click_score=torch.tensor([-10.0, 10.0]))
    probabilities = model.probabilities(torch.zeros(2, 2))
    assert probabilities[0, -1] < 1e-3 and probabilities[1, -1] > 0.99


def test_invalid_temperature_is_rejected() -> None:
    with pytest.raises(ConfigError, match="temperature"):
        MultinomialLogit(temperature=0.0)


def test_retention_rewards_and_weighted_mappings() -> None:
    from recgym.core.response import Response
    from recgym.core.reward import make_reward

    choice = torch.tensor([0, -1, 1])
    response = Response.from_choice(
        choice,
        2,
        torch.tensor([3.0, 0.0, 2.0]),
        left=torch.tensor([True, True, False]),
        return_gap=torch.tensor([1.5, 40.0, 0.0]),
        returned=torch.tensor([True, False, False]),
    )
    assert make_reward("return_gap")(response).tolist() == [-1.5, -40.0, -0.0]
    assert make_reward("return_visits")(response).tolist() == [1.0, 0.0, 0.0]
    assert make_reward({"watch_time": 1.0, "clicked": 2.0})(response).tolist() == [5.0, 0.0, 4.0]
    with pytest.raises(ConfigError, match="mapping of behaviour weights"):
        make_reward("retention")
