"""Sim2Rec families: per-user hidden parameters, new ones each episode, a disjoint held-out family."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from policies.base import ScoringPolicy, history_profile
from policies.baselines import FixedLinearPolicy, MyopicGreedyPolicy, RandomPolicy
from recgym.core.param_distribution import Choice, parse_distribution
from recgym.core.rollout import evaluate_policy
from recgym.errors import ConfigError
from simulators.family import FAMILIES, KALE_WATCHER_THRESHOLD, FamilyUser, make_family_simulator

FAMILY_ID = "recgym/Sim2RecFamily-v0"


def _vector(env_id: str = FAMILY_ID, num_envs: int = 512, **kwargs):
    return gym.make_vec(env_id, num_envs=num_envs, vectorization_mode="vector_entry_point", num_items=300, **kwargs)


def test_parameters_vary_per_user_within_the_family_ranges() -> None:
    env = _vector().unwrapped
    env.reset(seed=0)
    drawn = env.simulator.drawn_params(env.state.user)
    for name, spec in FAMILIES["long_term_satisfaction"]["train"].items():
        low, high = parse_distribution(name, spec).bounds()
        values = drawn[name]
        assert low <= values.min() and values.max() <= high, name
        assert values.std() > 0.2 * (high - low) / np.sqrt(12), name  # really spread, not one value


def test_each_new_episode_draws_new_parameters() -> None:
    env = _vector(num_envs=64, max_episode_steps=3).unwrapped
    env.reset(seed=0)
    first = env.simulator.drawn_params(env.state.user)["memory_discount"].clone()
    for _ in range(3):
        env.step(torch.tensor([[0, 1]] * 64))  # every user is truncated and reset on the third step
    assert not torch.isclose(env.simulator.drawn_params(env.state.user)["memory_discount"], first).any()


def test_parameters_are_hidden_from_the_observation_but_change_behaviour() -> None:
    family = _vector()
    base = _vector("recgym/LongTermSatisfaction-v0")
    assert family.single_observation_space == base.single_observation_space
    # Same users, very different hidden parameters (train vs held-out family): identical observations.
    heldout = _vector(family="heldout").unwrapped
    heldout_observation, _ = heldout.reset(seed=1)
    env = family.unwrapped
    observation, _ = env.reset(seed=1)
    sensitivity = env.simulator.drawn_params(env.state.user)["sensitivity"]
    assert (heldout.simulator.drawn_params(heldout.state.user)["sensitivity"] > sensitivity).all()
    for name, value in observation.items():
        assert torch.equal(value, heldout_observation[name]), name
    # The same kale diet: kale watchers (a hidden kale_mean) watch far longer; the draws matter.
    kale_mean = env.simulator.drawn_params(env.state.user)["kale_mean"]
    watched = torch.zeros(kale_mean.shape)
    for _ in range(15):
        least_clickbait = (-observation["candidate_features"][..., -1]).topk(2, dim=1).indices
        observation, reward, *_ = env.step(least_clickbait)
        watched += reward
    kale_watcher = kale_mean > kale_mean.mean()
    assert watched[kale_watcher].mean() > 3.0 * watched[~kale_watcher].mean()


def test_heldout_family_is_disjoint_from_train() -> None:
    for families in FAMILIES.values():
        for name, spec in families["train"].items():
            train = parse_distribution(name, spec)
            heldout = parse_distribution(name, families["heldout"][name])
            if isinstance(train, Choice) and isinstance(heldout, Choice):
                assert not set(train.values) & set(heldout.values), name  # no held-out value met in training
                continue
            (train_low, train_high), (heldout_low, heldout_high) = train.bounds(), heldout.bounds()
            assert train_high <= heldout_low or heldout_high <= train_low, name
    for base in FAMILIES:
        heldout = make_family_simulator(base=base, family="heldout", num_items=100)
        assert isinstance(heldout, FamilyUser)


@pytest.mark.parametrize("family", ["train", "heldout"])
def test_long_term_families_mix_users_who_want_opposite_slates(family: str) -> None:
    """Clickbait watchers watch more on a clickbait diet, kale watchers on kale; they click alike."""
    env = _vector(num_envs=256, family=family, horizon_days=3.0).unwrapped
    names = env.simulator.distribution.names
    totals = {}
    for diet, sign in (("clickbait", 1.0), ("kale", -1.0)):
        weights = torch.zeros(env.single_observation_space["candidate_features"].shape[-1])
        weights[-1] = sign
        totals[diet] = evaluate_policy(env, FixedLinearPolicy(weights, env.slate_size), seed=3)
    env.reset(seed=3)
    kale_watcher = env.state.user.params[:, names.index("kale_mean")] > KALE_WATCHER_THRESHOLD
    assert 0.15 < kale_watcher.float().mean() < 0.35  # one kale watcher for three clickbait watchers
    watch = {diet: total.watch_time for diet, total in totals.items()}
    assert watch["clickbait"][~kale_watcher].mean() > 2.0 * watch["kale"][~kale_watcher].mean()
    assert watch["kale"][kale_watcher].mean() > 2.0 * watch["clickbait"][kale_watcher].mean()
    matched = torch.where(kale_watcher, watch["kale"], watch["clickbait"]).mean()
    assert matched > 1.1 * max(watch["kale"].mean(), watch["clickbait"].mean())
    # What a user clicks does not tell the kinds apart; only how long they watch does.
    clicks = totals["clickbait"].clicks.float()
    assert float(clicks[kale_watcher].mean()) == pytest.approx(float(clicks[~kale_watcher].mean()), rel=0.1)


NOVELTY_USERS = {"base": "fatigue_novelty", "horizon_days": 3.0}
"""The users of ``benchmarks/rl_long_term.py`` experiment ``sim2rec_novelty`` (FAMILY_USERS fills in the rest)."""


class _UnfamiliarFirst(ScoringPolicy):
    """Candidates least like what the user watched recently first: the opposite of myopic greedy."""

    def scores(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        return -torch.einsum("bcf,bf->bc", observation["candidate_features"], history_profile(observation))


@pytest.mark.parametrize("family", ["train", "heldout"])
def test_novelty_families_mix_users_who_want_opposite_slates(family: str) -> None:
    """Routine-lovers watch more of familiar topics, novelty seekers of unfamiliar ones; matching pays."""
    env = _vector(num_envs=256, family=family, **NOVELTY_USERS).unwrapped
    totals = {
        name: evaluate_policy(env, policy, seed=3).watch_time
        for name, policy in (
            ("familiar", MyopicGreedyPolicy(env.slate_size)),
            ("unfamiliar", _UnfamiliarFirst(env.slate_size)),
            ("random", RandomPolicy(env.slate_size)),
        )
    }
    env.reset(seed=3)
    seeker = env.state.user.params[:, env.simulator.distribution.names.index("novelty_level_median")] > 0.5
    assert 0.3 < seeker.float().mean() < 0.7
    assert totals["unfamiliar"][seeker].mean() > 1.15 * totals["familiar"][seeker].mean()
    assert totals["familiar"][~seeker].mean() > 2.0 * totals["unfamiliar"][~seeker].mean()
    matched = torch.where(seeker, totals["unfamiliar"], totals["familiar"]).mean()
    assert matched > 1.1 * max(total.mean() for total in totals.values())


def test_any_env_takes_a_param_distribution_and_bad_ones_fail() -> None:
    env = _vector("recgym/MultiBehaviorRetention-v0", num_envs=32, param_distribution={"mood_std": {"uniform": [0, 1]}})
    env.reset(seed=0)
    assert env.unwrapped.simulator.drawn_params(env.unwrapped.state.user)["mood_std"].std() > 0.1
    with pytest.raises(ConfigError, match="does not have"):
        _vector("recgym/InterestEvolution-v0", param_distribution={"sensitivity": {"uniform": [0, 1]}})
    with pytest.raises(ConfigError, match="Unknown family"):
        make_family_simulator(family="extreme", num_items=100)
    with pytest.raises(ConfigError, match="Unknown base simulator"):
        make_family_simulator(base="nope", num_items=100)
