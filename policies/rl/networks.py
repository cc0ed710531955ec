"""The networks every RL algorithm shares: an observation encoder and a candidate scorer.

The recommender sees, per user, a window of recent history and a list of candidates.
``ObservationEncoder`` turns the history (and any simulator extras, such as the session
context) into a user vector and each candidate's features into an item vector; a
``CandidateScorer`` scores every (user, candidate) pair, so one network serves any number
of candidates and the slate head is a Plackett-Luce over its scores.
"""

from __future__ import annotations

import itertools

import torch
from gymnasium import spaces
from torch import nn

from policies.rl.normalization import RunningNorm
from recgym.core.saved import RemembersArguments

_ENV_KEYS = frozenset(
    ("candidate_features", "candidate_ids", "history_features", "history_clicked", "history_watch_time", "elapsed")
)


def extra_observation_keys(observation_space: spaces.Dict) -> list[str]:
    """Simulator-specific entries (e.g. 'session'), flattened into the user input, sorted."""
    return sorted(key for key in observation_space.spaces if key not in _ENV_KEYS)


def mlp(in_size: int, hidden: int, out_size: int, layers: int = 2) -> nn.Sequential:
    """``layers`` linear layers with Tanh between them (Tanh keeps PPO's updates smooth)."""
    sizes = [in_size] + [hidden] * (layers - 1) + [out_size]
    modules: list[nn.Module] = []
    for index, (size_in, size_out) in enumerate(itertools.pairwise(sizes)):
        modules.append(nn.Linear(size_in, size_out))
        if index < len(sizes) - 2:
            modules.append(nn.Tanh())
    return nn.Sequential(*modules)


class ObservationEncoder(nn.Module):
    """User vector [B, H] and candidate vectors [B, C, H] from an env observation dict.

    With ``history_summary`` (the default) the user input summarises the visible history:
    the watch-time-weighted profile of clicked items, the plain mean of clicked items'
    features, the click rate, the log watch time (mean and last), the elapsed time, and
    every simulator extra. Without it the input is the current step alone (the last
    step's item features, click and log watch time, the elapsed time and the extras): a
    policy that does not condition on who the user has shown themselves to be, Sim2Rec's
    "universal" baseline and the base its history encoder adds to. Inputs are normalised
    by running statistics updated from the observations the trainer collects.
    """

    def __init__(
        self, observation_space: spaces.Dict, hidden_size: int, context_size: int = 0, history_summary: bool = True
    ) -> None:
        super().__init__()
        self.extra_keys = extra_observation_keys(observation_space)
        self.history_summary = history_summary
        feature_size = int(observation_space["candidate_features"].shape[-1])
        extra_size = sum(int(torch.tensor(observation_space[key].shape).prod()) for key in self.extra_keys)
        history_size = 2 * feature_size + 4 if history_summary else feature_size + 3
        self.user_input_size = history_size + extra_size
        self.context_size = context_size
        self.user_norm = RunningNorm(self.user_input_size)
        self.item_norm = RunningNorm(feature_size)
        self.user_net = mlp(self.user_input_size + context_size, hidden_size, hidden_size)
        self.item_net = mlp(feature_size, hidden_size, hidden_size)

    def user_inputs(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Raw (unnormalised) history summary or current step, then the extras, [B, user_input_size]."""
        features = observation["history_features"]
        batch = features.shape[0]
        history = self._history_summary(observation) if self.history_summary else self._current_step(observation)
        extras = [observation[key].reshape(batch, -1).to(features.dtype) for key in self.extra_keys]
        return torch.cat([*history, observation["elapsed"], *extras], dim=1)

    @staticmethod
    def _current_step(observation: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """The last history step: its item features, click and log watch time."""
        last_watch = observation["history_watch_time"][:, -1:]
        return [observation["history_features"][:, -1], observation["history_clicked"][:, -1:], torch.log1p(last_watch)]

    @staticmethod
    def _history_summary(observation: dict[str, torch.Tensor]) -> list[torch.Tensor]:
        """Watch-weighted profile, mean clicked features, click rate, log watch time (mean and last)."""
        features = observation["history_features"]
        clicked = observation["history_clicked"]
        watch = observation["history_watch_time"]
        weights = watch * clicked
        profile = (features * weights.unsqueeze(-1)).sum(dim=1) / weights.sum(dim=1, keepdim=True).clamp_min(1e-6)
        mean_clicked = (features * clicked.unsqueeze(-1)).sum(dim=1) / clicked.sum(dim=1, keepdim=True).clamp_min(1.0)
        log_watch = torch.log1p(watch)
        return [
            profile,
            mean_clicked,
            clicked.mean(dim=1, keepdim=True),
            log_watch.mean(dim=1, keepdim=True),
            log_watch[:, -1:],
        ]

    @torch.no_grad()
    def update_statistics(self, observation: dict[str, torch.Tensor]) -> None:
        """Fold a batch of observations into the input normalisers (call while collecting)."""
        self.user_norm.update(self.user_inputs(observation))
        self.item_norm.update(observation["candidate_features"])

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        user_input = self.user_norm(self.user_inputs(observation))
        if self.context_size:
            if context is None:
                raise ValueError(f"This encoder expects a context [B, {self.context_size}] and got none.")
            user_input = torch.cat([user_input, context], dim=1)
        return self.user_net(user_input), self.item_vectors(observation)

    def item_vectors(self, observation: dict[str, torch.Tensor]) -> torch.Tensor:
        """Item vectors [B, C, H], computed once per distinct candidate id in the batch.

        A simulator's item features are a function of the item id (``UserSimulator.item_features``),
        and a batch of B x C candidates holds far fewer distinct items, so the item tower runs on
        those and is gathered back (several times less work in training minibatches).
        """
        features = observation["candidate_features"]
        ids = observation.get("candidate_ids")
        if ids is None:
            return self.item_net(self.item_norm(features))
        distinct, inverse = torch.unique(ids, return_inverse=True)
        if distinct.numel() * 2 > ids.numel():
            return self.item_net(self.item_norm(features))
        flat = features.reshape(-1, features.shape[-1])
        # Rows of one id are identical, so whichever copy lands is the same value.
        distinct_features = flat.new_empty(distinct.numel(), flat.shape[1]).index_copy_(0, inverse.reshape(-1), flat)
        return self.item_net(self.item_norm(distinct_features))[inverse]


class CandidateScorer(nn.Module):
    """Score of each candidate for each user, [B, C, out]: an MLP over [user, item, user * item].

    The first layer is applied by blocks: its user block once per user, not once per
    (user, candidate) pair, so only the item and interaction blocks run on all B x C pairs
    (the same function as concatenating, with a third less work in the widest layer).
    """

    def __init__(self, hidden_size: int, out_size: int = 1) -> None:
        super().__init__()
        self.hidden_size = hidden_size
        self.net = mlp(3 * hidden_size, hidden_size, out_size)

    def forward(self, user: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        first, rest = self.net[0], self.net[1:]
        user_block, item_block, pair_block = first.weight.split(self.hidden_size, dim=1)
        per_user = nn.functional.linear(user, user_block, first.bias).unsqueeze(1)
        hidden = (
            per_user
            + nn.functional.linear(items, item_block)
            + nn.functional.linear(user.unsqueeze(1) * items, pair_block)
        )
        return rest(hidden)


class SlateActorCritic(RemembersArguments, nn.Module):
    """Candidate logits [B, C] for the slate head and state values [B, R] for R reward channels.

    The critic reads the user vector and the mean candidate vector (what is on offer now).
    ``context_size`` > 0 appends a per-user context (a Sim2Rec user embedding, a
    hierarchical goal) to the user input; ``history_summary`` is the encoder's.
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        hidden_size: int,
        num_values: int = 1,
        context_size: int = 0,
        history_summary: bool = True,
    ) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(observation_space, hidden_size, context_size, history_summary)
        self.actor = CandidateScorer(hidden_size)
        self.critic = mlp(2 * hidden_size, hidden_size, num_values)

    def forward(
        self, observation: dict[str, torch.Tensor], context: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        user, items = self.encoder(observation, context)
        logits = self.actor(user, items).squeeze(-1)
        values = self.critic(torch.cat([user, items.mean(dim=1)], dim=1))
        return logits, values
