"""User-dependent candidates: retrieval follows each user's visible clicks, at any catalog size."""

import gymnasium as gym
import pytest
import torch

from recgym.core import random
from recgym.core.candidates import TopicAffinityCandidates, duplicate_mask
from recgym.core.catalog import Catalog
from recgym.errors import ConfigError


@pytest.fixture
def catalog() -> Catalog:
    return Catalog.generate(num_items=5000, num_topics=10, seed=0)


def test_candidates_follow_the_users_clicked_topics(catalog) -> None:
    sampler = TopicAffinityCandidates(catalog.topic, catalog.num_topics, temperature=0.5, explore=0.2)
    topic_3_items = (catalog.topic == 3).nonzero().squeeze(1)[:10]
    history = torch.full((2000, 10), -1)
    history[:1000] = topic_3_items  # half the users clicked only topic-3 items
    candidates = sampler.sample(random.keys_from_seeds(torch.arange(2000)), 20, history)
    assert not duplicate_mask(candidates).any()
    on_topic = (catalog.topic[candidates] == 3).float()
    expected = sampler.topic_probabilities(history[:1], 1)[0, 3].item()
    assert on_topic[:1000].mean().item() == pytest.approx(expected, abs=0.03) and expected > 0.7
    assert on_topic[1000:].mean().item() == pytest.approx(0.1, abs=0.02)  # no clicks: uniform over topics
    assert sampler.topic_probabilities(None, 3).sum(dim=1).allclose(torch.ones(3))


def test_exploration_keeps_every_topic_reachable(catalog) -> None:
    sampler = TopicAffinityCandidates(catalog.topic, catalog.num_topics, explore=0.5)
    history = (catalog.topic == 0).nonzero().squeeze(1)[:10].expand(4000, 10)
    candidates = sampler.sample(random.keys_from_seeds(torch.arange(4000)), 10, history)
    share = torch.bincount(catalog.topic[candidates].flatten(), minlength=10).float() / candidates.numel()
    assert torch.all(share[1:] > 0.03) and share[0] > 0.3


def test_affinity_sampler_in_an_env_and_on_a_million_items() -> None:
    env = gym.make_vec(
        "recgym/InterestEvolution-v0",
        num_envs=64,
        vectorization_mode="vector_entry_point",
        num_items=1_000_000,
        candidate_sampler="affinity",
    ).unwrapped
    observation, _ = env.reset(seed=0)
    for _ in range(20):
        observation, *_ = env.step(torch.tensor([[0, 1]] * 64))
    assert observation["candidate_ids"].max() < 1_000_000 and not duplicate_mask(observation["candidate_ids"]).any()
    # Candidates concentrate on the topics each user clicked.
    clicked = env.state.history_items
    topics = env.simulator.catalog.topic
    has_clicks = (clicked >= 0).any(dim=1)
    shown_topics = topics[observation["candidate_ids"]]
    clicked_topics = torch.where(clicked >= 0, topics[clicked.clamp_min(0)], -1)
    match = (shown_topics.unsqueeze(2) == clicked_topics.unsqueeze(1)).any(dim=2).float().mean(dim=1)
    distinct_clicked = torch.stack([(clicked_topics == topic).any(dim=1) for topic in range(20)], dim=1).sum(dim=1)
    uniform_match = distinct_clicked.float() / 20  # what topic-blind candidates would give
    assert match[has_clicks].mean() > 1.8 * uniform_match[has_clicks].mean()


def test_bad_arguments() -> None:
    topic = torch.tensor([0, 1, 1])
    with pytest.raises(ConfigError, match="temperature"):
        TopicAffinityCandidates(topic, 2, temperature=0)
    with pytest.raises(ConfigError, match="explore"):
        TopicAffinityCandidates(topic, 2, explore=1.5)
    with pytest.raises(ConfigError, match="non-empty"):
        TopicAffinityCandidates(torch.tensor([], dtype=torch.int64), 2)
    with pytest.raises(ConfigError, match="num_candidates"):
        TopicAffinityCandidates(topic, 2).sample(random.keys_from_seeds(torch.arange(2)), 4)
