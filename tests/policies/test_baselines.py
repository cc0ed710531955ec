import torch

from policies import MostPopularPolicy, MyopicGreedyPolicy, Policy, RandomPolicy
from recgym.core.candidates import duplicate_mask
from recgym.core.response import Response
from recgym.core.rollout import evaluate_policy
from tests.conftest import make_vector_env


def _observation(num_users: int = 2) -> dict[str, torch.Tensor]:
    features = torch.nn.functional.one_hot(torch.arange(5), 5).float()
    return {
        "candidate_features": features.expand(num_users, 5, 5).clone(),
        "candidate_ids": torch.arange(5).expand(num_users, 5).clone(),
        "history_features": torch.zeros(num_users, 3, 5),
        "history_clicked": torch.zeros(num_users, 3),
        "history_watch_time": torch.zeros(num_users, 3),
    }


def test_policies_follow_the_protocol() -> None:
    for policy in (RandomPolicy(2), MostPopularPolicy(5, 2), MyopicGreedyPolicy(2)):
        assert isinstance(policy, Policy)


def test_random_policy_is_distinct_uniform_and_seeded() -> None:
    observation = _observation(20_000)
    slate = RandomPolicy(2, seed=1).act(observation)
    assert not duplicate_mask(slate).any()
    frequency = torch.bincount(slate.flatten(), minlength=5).float() / slate.numel()
    assert torch.allclose(frequency, torch.full((5,), 0.2), atol=0.01)
    assert torch.equal(slate, RandomPolicy(2, seed=1).act(observation))


def test_most_popular_ranks_items_by_clicks_it_has_seen() -> None:
    policy = MostPopularPolicy(num_items=5, slate_size=2)
    observation = _observation(2)
    shown = torch.tensor([[3, 1], [3, 4]])
    clicked = torch.tensor([[True, False], [True, False]])
    response = Response.from_choice(torch.tensor([0, 0]), 2, torch.ones(2), torch.zeros(2, dtype=torch.bool))
    assert torch.equal(response.clicked, clicked)
    policy.update(observation, shown, response)
    one_click = Response.from_choice(torch.tensor([0, -1]), 2, torch.ones(2), torch.zeros(2, dtype=torch.bool))
    policy.update(observation, torch.tensor([[1, 0], [1, 0]]), one_click)
    assert policy.act(observation).tolist() == [[3, 1], [3, 1]]
    restored = MostPopularPolicy(5, 2)
    restored.load_state_dict(policy.state_dict())
    assert torch.equal(restored.click_counts, policy.click_counts)


def test_greedy_recommends_what_the_user_watched_most() -> None:
    observation = _observation(1)
    observation["history_features"][0, 0, 2] = 1.0
    observation["history_features"][0, 1, 4] = 1.0
    observation["history_clicked"][0, :2] = 1.0
    observation["history_watch_time"][0, :2] = torch.tensor([4.0, 1.0])
    assert MyopicGreedyPolicy(2).act(observation).tolist() == [[2, 4]]


def test_greedy_clicks_more_than_random_on_the_simulator() -> None:
    def clicks(policy) -> float:
        env = make_vector_env(num_envs=512, max_episode_steps=60, choice_model="logit")
        totals = evaluate_policy(env, policy, seed=4)
        return (totals.clicks / totals.length).mean().item()

    assert clicks(MyopicGreedyPolicy(2)) > clicks(RandomPolicy(2)) + 0.02
