"""The SlateQ network: Qbar for every candidate and for no click, and a conditional-logit choice model."""

from __future__ import annotations

from typing import NamedTuple

import torch
from gymnasium import spaces
from torch import nn

from policies.rl.networks import CandidateScorer, ObservationEncoder, mlp
from policies.rl.slateq.slates import SlateProblem
from recgym.core.saved import RemembersArguments


class SlateQOutputs(NamedTuple):
    """One forward pass: Qbar and the choice model's logits for every candidate and for no click."""

    item_value: torch.Tensor
    """Qbar(s, i), [B, C]."""
    item_logit: torch.Tensor
    """Choice-model logit of each candidate, [B, C]."""
    null_value: torch.Tensor
    """Qbar(s, null), the value of a step without a click, [B]."""
    null_logit: torch.Tensor
    """Choice-model logit of not clicking, [B]."""

    def problem(self, learn_null_value: bool = True) -> SlateProblem:
        """The slate problem these scores pose; the no-click value is 0 unless learnt."""
        null_value = self.null_value if learn_null_value else torch.zeros_like(self.null_value)
        return SlateProblem.from_logits(self.item_logit, self.null_logit, self.item_value, null_value)


class SlateQNetwork(RemembersArguments, nn.Module):
    """Item values Qbar and the conditional-logit choice model on one shared observation encoder.

    Both heads need the same things (how clickbaity an item is, how satisfied the user
    seems), so the choice loss also shapes the features the TD loss learns on, and one
    forward pass serves slate selection. The no-click head reads the user vector and the
    mean candidate vector, since both who is looking and what is on offer set it.
    """

    def __init__(self, observation_space: spaces.Dict, hidden_size: int) -> None:
        super().__init__()
        self.encoder = ObservationEncoder(observation_space, hidden_size)
        self.item_head = CandidateScorer(hidden_size, out_size=2)
        self.null_head = mlp(2 * hidden_size, hidden_size, 2)

    def forward(self, observation: dict[str, torch.Tensor]) -> SlateQOutputs:
        user, items = self.encoder(observation)
        item_value, item_logit = self.item_head(user, items).unbind(-1)
        null_value, null_logit = self.null_head(torch.cat([user, items.mean(dim=1)], dim=1)).unbind(-1)
        return SlateQOutputs(item_value, item_logit, null_value, null_logit)
