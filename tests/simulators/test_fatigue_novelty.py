"""The fatigue-and-novelty user: boredom, novelty seeking and retention, checked by behaviour."""

import dataclasses

import pytest
import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.errors import ConfigError
from simulators.fatigue_novelty import FatigueNoveltyParams, FatigueNoveltyState, FatigueNoveltyUser, make_simulator

NEVER_LEAVE = {"leave_base": 0.0, "leave_dissatisfaction": 0.0}


def _keys(count: int, tag: int = 0) -> torch.Tensor:
    return random.fold_in(random.keys_from_seeds(torch.arange(count)), tag)


def _items_of(catalog: Catalog, topic: int, count: int) -> torch.Tensor:
    return (catalog.topic == topic).nonzero().squeeze(1)[:count]


def _slate(catalog: Catalog, topics: list[int], users: int) -> torch.Tensor:
    """The same slate for every user: the first item of each topic in ``topics`` (distinct topics),
    or the first items of one topic when it repeats."""
    if len(set(topics)) == 1:
        row = _items_of(catalog, topics[0], len(topics))
    else:
        row = torch.cat([_items_of(catalog, topic, 1) for topic in topics])
    return row.expand(users, len(topics)).contiguous()


def _run(
    user: FatigueNoveltyUser, state: FatigueNoveltyState, slates: list[torch.Tensor], tag: int = 0
) -> tuple[FatigueNoveltyState, list]:
    responses = []
    for step, slate in enumerate(slates):
        state, response = user.step(state, slate, _keys(state.batch_size, 1000 * tag + step))
        responses.append(response)
    return state, responses


def test_reset_hides_state_and_draws_a_spread_of_novelty_levels(catalog: Catalog) -> None:
    user = FatigueNoveltyUser(catalog)
    state = user.reset(_keys(4000))
    assert state.interests.min() >= -1 and state.interests.max() <= 1
    assert torch.all(state.boredom == 0)
    assert state.familiarity.min() >= 0 and state.familiarity.max() <= 0.5
    assert 0.45 < state.novelty_level.median().item() < 0.55
    assert (state.novelty_level > 0.8).float().mean() > 0.1 and (state.novelty_level < 0.2).float().mean() > 0.1
    observation = user.observe(state)
    assert set(observation) == {"session"} == set(user.observation_spec())
    assert observation["session"].shape == (4000, 4)


def test_boredom_builds_with_exposure_and_decays_exactly_when_the_topic_is_not_shown(catalog: Catalog) -> None:
    # No clicks (no-click score far above any item) isolates exposure boredom.
    params = FatigueNoveltyParams(no_click_score=100.0, **NEVER_LEAVE)
    user = FatigueNoveltyUser(catalog, params)
    state = user.reset(_keys(5))
    same_topic = _slate(catalog, [4, 4], 5)
    levels = []
    for step in range(6):
        state, response = user.step(state, same_topic, _keys(5, step))
        assert not response.clicked.any() and not response.left.any()
        levels.append(state.boredom[:, 4])
    expected = torch.tensor([2 * 0.1 * sum(0.85**i for i in range(n + 1)) for n in range(6)])
    assert torch.allclose(torch.stack(levels)[:, 0], expected, atol=1e-5)
    assert torch.all(state.boredom[:, 5] == 0)

    peak = state.boredom[:, 4].clone()
    state, _ = _run(user, state, [_slate(catalog, [5, 6], 5)] * 10, tag=1)
    assert torch.allclose(state.boredom[:, 4], peak * 0.85**10, atol=1e-6)
    assert torch.all(state.boredom[:, 5] > 0)


def test_consuming_adds_boredom_and_days_away_wash_it_out(catalog: Catalog) -> None:
    # Every step ends the session (leave_base=1), and a sure click (no-click score far below).
    params = FatigueNoveltyParams(no_click_score=-100.0, leave_base=1.0, leave_dissatisfaction=0.0)
    user = FatigueNoveltyUser(catalog, params)
    state = user.reset(_keys(2000))
    state = dataclasses.replace(state, boredom=torch.full_like(state.boredom, 1.0))
    slate = _slate(catalog, [2, 2], 2000)
    next_state, response = user.step(state, slate, _keys(2000, 7))
    assert response.clicked.any(dim=1).all() and response.left.all()
    gap = response.return_gap
    expected = (0.85 * 1.0 + 2 * 0.1 + 0.4) * torch.pow(torch.tensor(0.3), gap)
    assert torch.allclose(next_state.boredom[:, 2], expected, atol=1e-5)
    expected_unshown = 0.85 * torch.pow(torch.tensor(0.3), gap)
    assert torch.allclose(next_state.boredom[:, 3], expected_unshown, atol=1e-5)
    assert next_state.boredom.mean() < 0.6  # a day or so away forgives much of the boredom


def test_bored_topics_are_clicked_less_and_match_the_logit(catalog: Catalog) -> None:
    users = 40_000
    user = FatigueNoveltyUser(catalog, FatigueNoveltyParams(**NEVER_LEAVE))
    state = user.reset(_keys(users))
    state = dataclasses.replace(state, interests=torch.zeros_like(state.interests))
    slate = _slate(catalog, [7], users)
    bored = dataclasses.replace(state, boredom=state.boredom.index_fill(1, torch.tensor([7]), 1.5))
    _, fresh_response = user.step(state, slate, _keys(users, 3))
    _, bored_response = user.step(bored, slate, _keys(users, 3))
    fresh_rate = fresh_response.clicked.float().mean().item()
    bored_rate = bored_response.clicked.float().mean().item()
    assert bored_rate < fresh_rate - 0.15
    # Shown alone, P(click) = sigmoid(score - no_click_score), averaged over users' propensities.
    for candidate_state, rate in ((state, fresh_rate), (bored, bored_rate)):
        predicted = user.expected_reward(candidate_state, slate) / (
            catalog.duration[slate] * torch.sigmoid(_score(user, candidate_state, slate))
        )
        assert rate == pytest.approx(predicted.mean().item(), abs=0.01)


def _score(user: FatigueNoveltyUser, state: FatigueNoveltyState, items: torch.Tensor) -> torch.Tensor:
    """The model's score written out from the documented equation."""
    params = user.params
    topics = user.catalog.topic[items]
    novelty = 1.0 - state.familiarity.gather(1, topics)
    return (
        params.interest_weight * state.interests.gather(1, topics)
        + params.quality_weight * user.catalog.quality[items]
        + params.novelty_weight * (state.propensity.unsqueeze(1) - params.novelty_neutral) * novelty
        - params.boredom_penalty * state.boredom.gather(1, topics)
    )


def test_expected_reward_is_the_mean_watch_time_of_a_single_item_slate(catalog: Catalog) -> None:
    users = 40_000
    user = FatigueNoveltyUser(catalog, FatigueNoveltyParams(**NEVER_LEAVE))
    state = user.reset(_keys(1)).index(torch.zeros(users, dtype=torch.int64))  # one user, many draws
    boredom = torch.rand(1, 20, generator=torch.Generator().manual_seed(0)).expand(users, 20).contiguous()
    state = dataclasses.replace(state, boredom=boredom)
    for topic in (0, 13):
        slate = _slate(catalog, [topic], users)
        _, response = user.step(state, slate, _keys(users, topic))
        expected = user.expected_reward(state, slate)[0, 0].item()
        assert response.watch_time.mean().item() == pytest.approx(expected, abs=0.03)


def test_same_topic_slates_lose_engagement_against_rotating_topics(catalog: Catalog) -> None:
    users, steps = 2000, 60
    user = FatigueNoveltyUser(catalog, FatigueNoveltyParams(**NEVER_LEAVE))
    state = user.reset(_keys(users))
    # Each user's five favourite topics (by interest and quality, as a greedy recommender would see them).
    topic_items = torch.stack([_items_of(catalog, topic, 2) for topic in range(20)])  # [T, 2]
    topic_value = (
        user.params.interest_weight * state.interests + user.params.quality_weight * catalog.quality[topic_items[:, 0]]
    )
    favourites = topic_value.argsort(dim=1, descending=True)[:, :5]
    same = [topic_items[favourites[:, 0]]] * steps
    rotating = [topic_items[favourites[:, step % 5]] for step in range(steps)]
    _, same_responses = _run(user, state, same)
    _, rotating_responses = _run(user, state, rotating)

    def click_rate(responses: list, window: slice) -> float:
        return torch.stack([r.clicked.any(dim=1) for r in responses[window]]).float().mean().item()

    assert click_rate(same_responses, slice(-20, None)) < click_rate(same_responses, slice(0, 3)) - 0.2
    assert click_rate(same_responses, slice(-20, None)) < click_rate(rotating_responses, slice(-20, None)) - 0.1


def test_novelty_seekers_prefer_unfamiliar_diverse_slates_and_routine_lovers_the_reverse(catalog: Catalog) -> None:
    users = 20_000
    # Half the users seek novelty (n = 0.9), half avoid it (n = 0.1); no spread or session noise: p = n.
    level = torch.where(torch.arange(users) < users // 2, 0.9, 0.1)
    params = FatigueNoveltyParams(
        novelty_level_median=level, novelty_level_spread=0.0, propensity_noise=0.0, quality_weight=0.0, **NEVER_LEAVE
    )
    user = FatigueNoveltyUser(catalog, params)
    state = user.reset(_keys(users))
    assert torch.allclose(state.propensity, level, atol=1e-5)
    familiarity = torch.zeros(users, 20)
    familiarity[:, 0] = 0.9  # a topic the user knows well; all others new
    state = dataclasses.replace(state, interests=torch.zeros(users, 20), familiarity=familiarity)
    _, familiar = user.step(state, _slate(catalog, [0, 0], users), _keys(users, 1))
    _, diverse = user.step(state, _slate(catalog, [8, 15], users), _keys(users, 1))
    seekers, avoiders = slice(0, users // 2), slice(users // 2, None)

    def rate(response, rows: slice) -> float:
        return response.clicked[rows].any(dim=1).float().mean().item()

    assert rate(diverse, seekers) > rate(familiar, seekers) + 0.2
    assert rate(diverse, avoiders) < rate(familiar, avoiders) - 0.2


def test_session_propensity_is_redrawn_each_session_around_the_static_level(catalog: Catalog) -> None:
    users = 4000
    params = FatigueNoveltyParams(
        novelty_level_median=0.5, novelty_level_spread=0.0, leave_base=1.0, leave_dissatisfaction=0.0, horizon_days=1e6
    )
    user = FatigueNoveltyUser(catalog, params)
    state = user.reset(_keys(users))
    propensities = [state.propensity]
    for step in range(20):
        state, response = user.step(state, _slate(catalog, [step % 20, (step + 1) % 20], users), _keys(users, step))
        assert response.left.all()
        propensities.append(state.propensity)
    history = torch.stack(propensities)  # [sessions, users]
    assert (history[1:] != history[:-1]).float().mean() > 0.99
    assert history.mean().item() == pytest.approx(0.5, abs=0.01)
    assert 0.1 < history.std().item() < 0.25

    steady = FatigueNoveltyUser(catalog, dataclasses.replace(params, **NEVER_LEAVE))
    state = steady.reset(_keys(users))
    before = state.propensity
    state, _ = _run(steady, state, [_slate(catalog, [1, 2], users)] * 5)
    assert torch.equal(state.propensity, before)


def test_bored_users_leave_sooner_and_come_back_later(catalog: Catalog) -> None:
    users, steps = 4000, 60
    user = FatigueNoveltyUser(catalog, FatigueNoveltyParams(horizon_days=1e6))
    state = user.reset(_keys(users))
    topic_items = torch.stack([_items_of(catalog, topic, 2) for topic in range(20)])
    favourites = state.interests.argsort(dim=1, descending=True)[:, :5]
    _, same = _run(user, state, [topic_items[favourites[:, 0]]] * steps)
    _, rotating = _run(user, state, [topic_items[favourites[:, step % 5]] for step in range(steps)])

    def leave_rate_and_gap(responses: list) -> tuple[float, float]:
        left = torch.stack([r.left for r in responses[10:]])
        gaps = torch.stack([r.return_gap for r in responses[10:]])
        return left.float().mean().item(), (gaps.sum() / left.sum()).item()

    bored_leave, bored_gap = leave_rate_and_gap(same)
    fresh_leave, fresh_gap = leave_rate_and_gap(rotating)
    assert bored_leave > fresh_leave * 1.2
    assert bored_gap > fresh_gap * 1.2


def test_episodes_end_at_the_horizon(catalog: Catalog) -> None:
    user = FatigueNoveltyUser(catalog, FatigueNoveltyParams(horizon_days=3.0, leave_base=0.5))
    state = user.reset(_keys(64))
    for step in range(200):
        state, _ = user.step(state, _slate(catalog, [step % 20, (step + 3) % 20], 64), _keys(64, step))
    assert user.terminated(state).all()
    assert torch.all(state.session.clock_days >= 3.0) and torch.all(state.session.session_index >= 1)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("boredom_exposure", -0.1),
        ("boredom_consume", -1.0),
        ("boredom_penalty", -1.0),
        ("boredom_decay", 0.0),
        ("boredom_decay", 1.5),
        ("boredom_daily_decay", -0.2),
        ("familiarity_rate", 0.0),
        ("satisfaction_rate", 2.0),
        ("novelty_level_median", 1.0),
        ("novelty_level_spread", -0.5),
        ("propensity_noise", -1.0),
        ("novelty_neutral", 1.5),
        ("initial_familiarity", -0.1),
        ("temperature", 0.0),
        ("horizon_days", 0.0),
        ("leave_base", -0.1),
        ("boredom_decay", torch.tensor([0.5, 1.2])),
    ],
)
def test_bad_params_raise_config_error_naming_the_field(field: str, value: float | torch.Tensor) -> None:
    with pytest.raises(ConfigError, match=field):
        FatigueNoveltyParams(**{field: value}).check()


def test_make_simulator_rejects_unknown_arguments_and_accepts_params() -> None:
    with pytest.raises(ConfigError, match="boredom_rate"):
        make_simulator(num_items=100, boredom_rate=0.1)
    user = make_simulator(num_items=100, num_topics=5, boredom_penalty=0.5)
    assert user.catalog.num_items == 100 and user.params.boredom_penalty == 0.5
