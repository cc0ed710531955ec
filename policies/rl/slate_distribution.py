"""Plackett-Luce slates: K candidates drawn in order without replacement from softmax(logits).

The actor-critic slate head. Sampling is Gumbel-top-k (one ``topk``, exactly this
distribution); the log-probability of a slate is exact: the sum over positions of the
chosen candidate's log-softmax among candidates not yet placed.
"""

from __future__ import annotations

import torch

_BELOW_ONE = {torch.float32: 1.0 - 1e-7, torch.float64: 1.0 - 1e-16}
"""The largest uniform draw kept per dtype, so -log(-log(u)) stays finite."""


def sample_slate(logits: torch.Tensor, slate_size: int, generator: torch.Generator) -> torch.Tensor:
    """One ordered slate per user from Plackett-Luce(logits [B, C]), int64 [B, K], by Gumbel-top-k.

    The actor-critic heads (float32) and ``policies.stochastic.PlackettLuce`` (float64) both draw here.
    """
    uniform = torch.rand(logits.shape, generator=generator, device=logits.device, dtype=logits.dtype)
    tiny = torch.finfo(logits.dtype).tiny
    gumbel = -torch.log(-torch.log(uniform.clamp(tiny, _BELOW_ONE.get(logits.dtype, 1.0 - 1e-7))))
    return torch.topk(logits + gumbel, slate_size, dim=1).indices


def greedy_slate(logits: torch.Tensor, slate_size: int) -> torch.Tensor:
    """The most likely slate: the top K logits in order, int64 [B, K]."""
    return torch.topk(logits, slate_size, dim=1).indices


def slate_log_prob_and_entropy(logits: torch.Tensor, slate: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Exact log-probability of ``slate [B, K]`` and a chain-rule entropy estimate, both [B].

    The entropy is the sum over positions of the entropy of each position's distribution
    given the slate's earlier positions: by the chain rule its expectation over sampled
    slates is the slate distribution's exact entropy, and it is differentiable.
    """
    log_prob = torch.zeros(logits.shape[0], dtype=logits.dtype, device=logits.device)
    entropy = torch.zeros_like(log_prob)
    placed = torch.zeros_like(logits, dtype=torch.bool)
    for position in range(slate.shape[1]):
        chosen = slate[:, position : position + 1]
        log_softmax = torch.log_softmax(logits.masked_fill(placed, float("-inf")), dim=1)
        log_prob = log_prob + log_softmax.gather(1, chosen).squeeze(1)
        probabilities = log_softmax.exp()
        entropy = entropy - (probabilities * log_softmax.masked_fill(placed, 0.0)).sum(dim=1)
        placed = placed.scatter(1, chosen, True)
    return log_prob, entropy
