"""What a policy did to users and to the catalog over one episode per user, as named scalar metrics.

``episode_metrics(env, policy, seed)`` runs every user through one episode (as
``evaluate_policy``) while ``SlateStatistics`` watches each step's slates, and returns one
float per metric: engagement and retention for users, CTR and session length for the
interaction, diversity, novelty, coverage, popularity concentration and exposure fairness
for the catalog, and regret against the simulator's one-step oracle. ``bootstrap_ci``
turns one metric's values over seeds into a mean with a percentile-bootstrap interval.

Definitions (per run; users weigh equally):
- engagement: watch time per user over the episode (sessions until the horizon).
- retention: share of users who came back at least once; return_rate: share of session ends
  followed by a return within the episode.
- diversity: intra-list diversity, the mean pairwise cosine distance of a slate's item
  embeddings; novelty: mean self-information -log2(prior popularity) of shown items.
- coverage: share of the catalog shown at least once; gini: Gini coefficient of item exposure
  counts (0 = every item shown equally, 1 = one item takes all).
- exposure_fairness: exposure per item of the least-exposed item group over that of the most
  exposed one (1 = parity); groups are the top 20% items by prior popularity and the rest.
- regret: per user, the summed gap between the oracle's top-K expected reward and the policy's
  slate's, step by step (one-step regret; long-term policies may accept it on purpose).
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import torch

from recgym.core.rollout import EpisodeTotals, StepRecord, evaluate_policy
from recgym.envs.vector_env import RecVectorEnv
from recgym.errors import ConfigError
from recgym.eval.regret import oracle_slate

POPULAR_SHARE = 0.2
"""Share of the catalog, by prior popularity, in the 'popular' item group of exposure_fairness."""


@dataclasses.dataclass(frozen=True)
class Metric:
    """A reported quantity: its meaning and which way is better (for rankings and bold)."""

    name: str
    description: str
    higher_is_better: bool = True


METRICS: dict[str, Metric] = {
    metric.name: metric
    for metric in (
        Metric("engagement", "watch time per user over the episode"),
        Metric("return", "the scenario's reward summed over the episode"),
        Metric("clicks", "clicks per user over the episode"),
        Metric("return_visits", "sessions per user that ended with a return within the episode"),
        Metric("retention", "share of users who came back at least once"),
        Metric("return_rate", "share of session ends followed by a return"),
        Metric("ctr", "clicks per shown item"),
        Metric("session_length", "steps per session"),
        Metric("diversity", "intra-list diversity: mean pairwise cosine distance within a slate"),
        Metric("novelty", "mean self-information -log2(prior popularity) of shown items"),
        Metric("coverage", "share of the catalog shown at least once"),
        Metric("gini", "Gini coefficient of item exposure (popularity concentration)", higher_is_better=False),
        Metric("exposure_fairness", "niche vs popular items' exposure per item, min/max (1 = parity)"),
        Metric("regret", "summed one-step regret against the oracle's top-K", higher_is_better=False),
        Metric("liked", "likes per user over the episode"),
        Metric("shared", "shares per user over the episode"),
        Metric("followed", "follows per user over the episode"),
    )
}
DEFAULT_METRICS = (
    "engagement",
    "return_visits",
    "retention",
    "ctr",
    "session_length",
    "diversity",
    "novelty",
    "coverage",
    "gini",
    "exposure_fairness",
    "regret",
)


class SlateStatistics:
    """Accumulates, for users still in their first episode, what their slates did to the catalog."""

    def __init__(self, env: RecVectorEnv, with_regret: bool) -> None:
        catalog = env.simulator.catalog
        device = env.device
        self.with_regret = with_regret
        self.embedding = torch.nn.functional.normalize(catalog.embedding.to(device, torch.float32), dim=1)
        self.self_information = -torch.log2(catalog.popularity.to(device, torch.float64).clamp_min(1e-12))
        self.exposure = torch.zeros(catalog.num_items, dtype=torch.float64, device=device)
        users = env.num_envs
        self.diversity = torch.zeros(users, dtype=torch.float64, device=device)
        self.novelty = torch.zeros(users, dtype=torch.float64, device=device)
        self.regret = torch.zeros(users, dtype=torch.float64, device=device)
        self.session_ends = torch.zeros(users, dtype=torch.float64, device=device)

    def before_step(
        self, env: RecVectorEnv, observation: dict[str, torch.Tensor], slate: torch.Tensor, active: torch.Tensor
    ) -> None:
        items = observation["candidate_ids"].gather(1, slate)
        weight = active.to(torch.float64)
        self.exposure.index_add_(0, items.reshape(-1), weight.repeat_interleave(items.shape[1]))
        self.diversity += weight * intra_list_diversity(
            self.embedding.index_select(0, items.reshape(-1)).view(*items.shape, -1)
        )
        self.novelty += weight * self.self_information.index_select(0, items.reshape(-1)).view(items.shape).mean(dim=1)
        if self.with_regret:
            best = env.expected_slate_reward(oracle_slate(env)).to(torch.float64)
            chosen = env.expected_slate_reward(slate).to(torch.float64)
            self.regret += weight * (best - chosen)

    def after_step(self, step: StepRecord) -> None:
        self.session_ends += (step.active & step.response.left).to(torch.float64)


def intra_list_diversity(embeddings: torch.Tensor) -> torch.Tensor:
    """Mean pairwise cosine distance within each slate, [B], from unit item embeddings [B, K, D]; 0 for K = 1."""
    slate_size = embeddings.shape[1]
    if slate_size < 2:
        return embeddings.new_zeros(embeddings.shape[0], dtype=torch.float64)
    similarity = embeddings @ embeddings.transpose(1, 2)
    off_diagonal = similarity.sum(dim=(1, 2)) - similarity.diagonal(dim1=1, dim2=2).sum(dim=1)
    return (1.0 - off_diagonal / (slate_size * (slate_size - 1))).to(torch.float64)


def gini(values: torch.Tensor) -> float:
    """Gini coefficient of non-negative ``values`` [N]: 0 for equal shares, (N-1)/N when one takes all."""
    ordered = values.to(torch.float64).sort().values
    total = float(ordered.sum())
    if total <= 0:
        return 0.0
    count = ordered.numel()
    ranks = torch.arange(1, count + 1, dtype=torch.float64, device=ordered.device)
    return float(2.0 * (ranks * ordered).sum() / (count * total) - (count + 1) / count)


def exposure_fairness(exposure: torch.Tensor, popularity: torch.Tensor) -> float:
    """Min over max of the popular and niche item groups' mean exposure per item (1 = parity, 0 = one group unseen)."""
    num_popular = max(1, round(POPULAR_SHARE * popularity.numel()))
    popular = torch.zeros_like(popularity, dtype=torch.bool)
    popular[popularity.argsort(descending=True)[:num_popular]] = True
    if bool(popular.all()):
        return 1.0
    per_item = torch.stack([exposure[popular].mean(), exposure[~popular].mean()])
    if float(per_item.max()) <= 0:
        return 1.0
    return float(per_item.min() / per_item.max())


def episode_metrics(
    env: RecVectorEnv, policy: Any, seed: int, metrics: tuple[str, ...] | list[str] = DEFAULT_METRICS, **rollout: Any
) -> dict[str, float]:
    """Every metric of ``metrics`` (names in METRICS) for one greedy episode per user of ``env``."""
    unknown = [name for name in metrics if name not in METRICS]
    if unknown:
        raise ConfigError(f"Unknown metrics {unknown}; choose from {sorted(METRICS)}.")
    statistics = SlateStatistics(env, with_regret="regret" in metrics)
    totals = evaluate_policy(env, policy, seed=seed, observers=[statistics], **rollout)
    values = summarise(env, totals, statistics)
    return {name: values[name] for name in metrics}


def summarise(env: RecVectorEnv, totals: EpisodeTotals, statistics: SlateStatistics) -> dict[str, float]:
    """All metrics from one episode's totals and slate statistics."""
    length = totals.length.to(torch.float64)
    steps = float(length.sum())
    shown = steps * env.slate_size
    session_ends = float(statistics.session_ends.sum())
    return {
        "engagement": float(totals.watch_time.mean()),
        "return": float(totals.episode_return.mean()),
        "clicks": float(totals.clicks.mean()),
        "return_visits": float(totals.return_visits.mean()),
        "retention": float((totals.return_visits > 0).to(torch.float64).mean()),
        "return_rate": float(totals.return_visits.sum()) / session_ends if session_ends else 0.0,
        "ctr": float(totals.clicks.sum()) / shown if shown else 0.0,
        "session_length": float((length / (totals.return_visits.to(torch.float64) + 1.0)).mean()),
        "diversity": float(statistics.diversity.sum()) / steps if steps else 0.0,
        "novelty": float(statistics.novelty.sum()) / steps if steps else 0.0,
        "coverage": float((statistics.exposure > 0).to(torch.float64).mean()),
        "gini": gini(statistics.exposure),
        "exposure_fairness": exposure_fairness(statistics.exposure, env.simulator.catalog.popularity.to(env.device)),
        "regret": float(statistics.regret.mean()) if statistics.with_regret else math.nan,
        "liked": float(totals.liked.mean()),
        "shared": float(totals.shared.mean()),
        "followed": float(totals.followed.mean()),
    }


def bootstrap_ci(
    values: list[float] | torch.Tensor, confidence: float = 0.95, resamples: int = 10_000, seed: int = 0
) -> tuple[float, float, float]:
    """Mean of ``values`` (one per seed) and its percentile-bootstrap interval; (mean, nan, nan) for one value."""
    data = torch.as_tensor(values, dtype=torch.float64).flatten()
    data = data[~torch.isnan(data)]
    if data.numel() == 0:
        return math.nan, math.nan, math.nan
    mean = float(data.mean())
    if data.numel() < 2:
        return mean, math.nan, math.nan
    generator = torch.Generator().manual_seed(seed)
    picks = torch.randint(0, data.numel(), (resamples, data.numel()), generator=generator)
    means = data[picks].mean(dim=1)
    tail = (1.0 - confidence) / 2.0
    low, high = torch.quantile(means, torch.tensor([tail, 1.0 - tail], dtype=torch.float64))
    return mean, float(low), float(high)
