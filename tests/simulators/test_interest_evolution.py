"""The model's behaviour, checked against RecSim's equations."""

import dataclasses

import pytest
import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.errors import ConfigError
from simulators.interest_evolution import InterestEvolutionParams, InterestEvolutionUser, make_simulator


def _keys(count: int, tag: int = 0) -> torch.Tensor:
    return random.fold_in(random.keys_from_seeds(torch.arange(count)), tag)


def _items_of(catalog: Catalog, topic: int, count: int) -> torch.Tensor:
    return (catalog.topic == topic).nonzero().squeeze(1)[:count]


def test_reset_draws_uniform_interests_and_full_budget(user_model: InterestEvolutionUser) -> None:
    state = user_model.reset(_keys(3000))
    assert state.interests.shape == (3000, 20)
    assert state.interests.min() >= -1 and state.interests.max() <= 1
    assert abs(state.interests.mean().item()) < 0.01
    assert torch.all(state.budget == 200.0)


def test_budget_follows_recsim_update_for_one_click(catalog: Catalog) -> None:
    # Make the user certain to click: interest 1 in the item's topic, no-click weight tiny.
    user = InterestEvolutionUser(catalog, InterestEvolutionParams(no_click_mass=-0.999))
    item = torch.tensor([[0, 1]])
    topic = int(catalog.topic[0])
    interests = torch.full((1, 20), -1.0)
    interests[0, topic] = 1.0
    state = dataclasses.replace(user.reset(_keys(1)), interests=interests)
    next_state, response = user.step(state, item, _keys(1, 9))
    assert response.choice.item() == 0 and response.clicked[0].tolist() == [True, False]
    quality = catalog.quality[0].item()
    expected_budget = 200.0 - 4.0 + (0.9 / 3.4) * 4.0 * quality
    assert next_state.budget.item() == pytest.approx(expected_budget, rel=1e-5)
    assert response.watch_time[0, 0].item() == pytest.approx(4.0)


def test_no_click_costs_the_step_penalty_and_sessions_end_when_budget_is_spent(catalog: Catalog) -> None:
    # Interest -1 everywhere gives zero attractiveness: the user never clicks.
    user = InterestEvolutionUser(catalog)
    state = dataclasses.replace(user.reset(_keys(4)), interests=torch.full((4, 20), -1.0))
    slate = torch.arange(8).view(4, 2)
    steps = 0
    while not user.terminated(state).all():
        state, response = user.step(state, slate, _keys(4, steps))
        assert not response.clicked.any()
        steps += 1
    assert steps == 400  # 200 minutes / 0.5 per empty step, as in RecSim
    assert torch.all(state.budget <= 0)


def test_choice_frequencies_match_proportional_probabilities(catalog: Catalog) -> None:
    user = InterestEvolutionUser(catalog)
    users = 40_000
    state = user.reset(_keys(users))
    slate = torch.stack([_items_of(catalog, 0, 1), _items_of(catalog, 1, 1)], dim=1).expand(users, 2).contiguous()
    state = dataclasses.replace(state, interests=torch.zeros(users, 20).index_fill_(1, torch.tensor([0]), 0.6))
    _, response = user.step(state, slate, _keys(users, 5))
    clicked_first = response.clicked[:, 0].float().mean().item()
    clicked_second = response.clicked[:, 1].float().mean().item()
    # weights: topic 0 -> 1.6, topic 1 -> 1.0, no click -> 2.0
    assert clicked_first == pytest.approx(1.6 / 4.6, abs=0.01)
    assert clicked_second == pytest.approx(1.0 / 4.6, abs=0.01)


def test_interest_drifts_towards_how_the_user_already_leans(catalog: Catalog) -> None:
    user = InterestEvolutionUser(catalog, InterestEvolutionParams(no_click_mass=-0.999))
    users, topic = 5000, 3
    item = _items_of(catalog, topic, 1).expand(users).unsqueeze(1)
    for start in (0.5, -0.5):
        interests = torch.full((users, 20), -1.0)
        interests[:, topic] = start
        state = dataclasses.replace(user.reset(_keys(users)), interests=interests)
        for step in range(5):
            state, _ = user.step(state, item, _keys(users, step))
        moved = state.interests[:, topic].mean().item() - start
        # E[step] = alpha * (1 - u) * u: positive interests grow, negative ones shrink.
        assert moved > 0.05 if start > 0 else moved < -0.05
    other_topics = [t for t in range(20) if t != topic]
    assert torch.all(state.interests[:, other_topics] == -1.0)


def test_quality_raises_engagement(catalog: Catalog) -> None:
    """Good items give budget back, so sessions on them last longer and watch more."""
    user = InterestEvolutionUser(catalog)

    def session_watch_time(topic: int) -> float:
        users = 500
        state = dataclasses.replace(user.reset(_keys(users)), interests=torch.full((users, 20), 0.5))
        slate = _items_of(catalog, topic, 2).expand(users, 2).contiguous()
        total = torch.zeros(users)
        finished = torch.zeros(users, dtype=torch.bool)
        for step in range(3000):
            state, response = user.step(state, slate, _keys(users, step))
            total += response.watch_time.sum(dim=1) * ~finished
            finished |= user.terminated(state)
            if finished.all():
                break
        assert finished.all()
        return total.mean().item()

    assert session_watch_time(19) > 1.5 * session_watch_time(0)  # quality means +3 vs -3


def test_watch_fraction_depends_on_quality_when_enabled(catalog: Catalog) -> None:
    user = InterestEvolutionUser(
        catalog, InterestEvolutionParams(no_click_mass=-0.999, watch_base=0.5, watch_quality_weight=0.1)
    )
    users = 100
    state = dataclasses.replace(user.reset(_keys(users)), interests=torch.ones(users, 20))
    good, bad = _items_of(catalog, 19, 1), _items_of(catalog, 0, 1)
    _, on_good = user.step(state, good.expand(users, 1).contiguous(), _keys(users))
    _, on_bad = user.step(state, bad.expand(users, 1).contiguous(), _keys(users))
    assert on_good.watch_time.mean() > on_bad.watch_time.mean() + 1.0


def test_expected_reward_is_click_probability_times_watch_time(user_model: InterestEvolutionUser) -> None:
    state = user_model.reset(_keys(2))
    items = torch.arange(10).view(2, 5)
    affinity = state.interests.gather(1, user_model.catalog.topic[items])
    expected = (affinity + 1) / (affinity + 1 + 2) * 4.0
    assert torch.allclose(user_model.expected_reward(state, items), expected)


def test_per_user_parameters_take_effect(catalog: Catalog) -> None:
    user = InterestEvolutionUser(catalog, InterestEvolutionParams(initial_budget=torch.tensor([10.0, 50.0, 90.0])))
    state = user.reset(_keys(2), users=torch.tensor([2, 0]))
    assert state.budget.tolist() == [90.0, 10.0]


def test_bad_parameters_raise_clear_errors(catalog: Catalog) -> None:
    with pytest.raises(ConfigError, match="initial_budget"):
        InterestEvolutionUser(catalog, InterestEvolutionParams(initial_budget=-1.0))
    with pytest.raises(ConfigError, match="no_click_mass"):
        InterestEvolutionUser(catalog, InterestEvolutionParams(no_click_mass=-2.0))
    with pytest.raises(ConfigError, match="choice_model"):
        InterestEvolutionUser(catalog, choice_model="softmax")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="Unknown argument"):
        make_simulator(num_items=50, budget=3.0)


def test_slate_oracle_matches_the_mean_watch_time_of_a_whole_slate(catalog: Catalog) -> None:
    """Items compete for one click, so the slate value is not the sum of shown-alone values."""
    simulator = InterestEvolutionUser(catalog, InterestEvolutionParams(), choice_model="logit")
    num_users = 20_000
    keys = random.keys_from_seeds(torch.arange(num_users))
    state = simulator.reset(keys)
    slate = torch.tensor([4, 90, 301]).expand(num_users, 3)
    _, response = simulator.step(state, slate, random.fold_in(keys, 5))
    watched = response.watch_time.sum(dim=1)
    exact = simulator.expected_slate_reward(state, slate)
    assert abs(float(watched.mean() - exact.mean())) < 4 * float(watched.std()) / num_users**0.5
    assert bool((exact < simulator.expected_reward(state, slate).sum(dim=1)).all())
