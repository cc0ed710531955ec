"""LLM persona users behind the ``UserSimulator`` protocol, so every env, policy and report works unchanged.

Each user is a persona (drawn from the population at reset) with a memory. A step asks the
decider for the utility of each shown item, samples a click from a multinomial logit with a
"none" option at temperature ``temperature``, then for those who clicked a 1-5 rating, and for
everyone whether they close the app. All sampling uses the env's per-user keys, so a cached
model replays the same trajectory. A user who leaves ends the episode; with ``reflect`` the
leaving users also write a sentence to the recommender, found in ``step_info()["reflections"]``.

Responses: ``clicked`` at the chosen position, ``watch_time`` the item's duration when
clicked, ``liked`` a rating of 4 or 5, ``skipped`` every shown item not clicked, ``left``.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Self

import torch

from recgym.core import random
from recgym.core.catalog import Catalog
from recgym.core.response import Response
from recgym.core.simulator import FeatureSpec, SimParams
from recgym.core.state import TensorState
from recgym.errors import ConfigError
from simulators.llm.cache import ResponseCache
from simulators.llm.decisions import Decider, Situation
from simulators.llm.item_text import ItemTexts
from simulators.llm.memory import SKIPPED, empty_memory, remember
from simulators.llm.persona import PersonaPopulation

_PERSONA_STREAM, _CLICK_STREAM, _RATING_STREAM, _LEAVE_STREAM, _REFLECT_STREAM = 1, 2, 3, 4, 5


@dataclasses.dataclass(frozen=True)
class LLMPersonaParams(SimParams):
    """How decisions are sampled from the decider's numbers."""

    temperature: float = 1.0
    """Softmax temperature of the click and rating choices (lower: closer to the model's favourite)."""
    leave_bias: float = -3.0
    """Log-odds of leaving for a user whose decider is indifferent (-3: about 5% a step)."""
    leave_scale: float = 1.0
    """Weight of the decider's leave log-odds."""

    def check(self) -> None:
        if self.temperature <= 0:
            raise ConfigError(f"temperature must be positive; got {self.temperature}.")
        if self.leave_scale < 0:
            raise ConfigError(f"leave_scale must be >= 0; got {self.leave_scale}.")


@dataclasses.dataclass(frozen=True)
class LLMPersonaState(TensorState):
    """Per-user persona, memory window and watched-topic counts."""

    persona: torch.Tensor
    memory_items: torch.Tensor
    memory_ratings: torch.Tensor
    topic_counts: torch.Tensor
    left: torch.Tensor


class LLMPersonaUser:
    """Personas whose decisions come from a ``Decider`` (a language model or sentence embeddings)."""

    def __init__(
        self,
        catalog: Catalog,
        population: PersonaPopulation,
        texts: ItemTexts,
        decider: Decider,
        cache: ResponseCache,
        params: LLMPersonaParams | None = None,
        memory_window: int = 5,
        rate: bool = True,
        decide_leave: bool = True,
        reflect: bool = False,
    ) -> None:
        if memory_window < 0:
            raise ConfigError(f"memory_window must be >= 0; got {memory_window}.")
        if len(texts.titles) != catalog.num_items:
            raise ConfigError(f"Got {len(texts.titles)} item titles for a catalog of {catalog.num_items} items.")
        self.catalog = catalog
        self.population = population
        self.texts = texts
        self.decider = decider
        self.cache = cache
        self.params = params or LLMPersonaParams()
        self.params.check()
        self.memory_window = memory_window
        self.rate = rate
        self.decide_leave = decide_leave
        self.reflect = reflect
        self._last_info: dict[str, Any] = {}

    def to(self, device: torch.device | str) -> Self:
        moved = getattr(self.decider, "to", None)
        decider = moved(device) if moved is not None else self.decider
        return type(self)(
            self.catalog.to(device),
            self.population,
            self.texts,
            decider,
            self.cache,
            self.params,
            self.memory_window,
            self.rate,
            self.decide_leave,
            self.reflect,
        )

    def reset(self, keys: torch.Tensor, users: torch.Tensor | None = None) -> LLMPersonaState:
        persona = random.randint(random.fold_in(keys, _PERSONA_STREAM), len(self.population), ()).view(-1)
        items, ratings = empty_memory(keys.shape[0], self.memory_window, keys.device)
        return LLMPersonaState(
            persona=persona,
            memory_items=items,
            memory_ratings=ratings,
            topic_counts=torch.zeros(keys.shape[0], self.catalog.num_topics, device=keys.device),
            left=torch.zeros(keys.shape[0], dtype=torch.bool, device=keys.device),
        )

    def _situation(self, state: LLMPersonaState, slate_items: torch.Tensor) -> Situation:
        return Situation(state.persona, slate_items, state.memory_items, state.memory_ratings, state.topic_counts)

    def step(
        self, state: LLMPersonaState, slate_items: torch.Tensor, keys: torch.Tensor
    ) -> tuple[LLMPersonaState, Response]:
        num_users, slate_size = slate_items.shape
        device = slate_items.device
        situation = self._situation(state, slate_items)
        no_click = torch.zeros(num_users, 1, device=device)
        logits = torch.cat([no_click, self.decider.click_utilities(situation)], dim=1) / self.params.temperature
        pick = _gumbel_argmax(logits, random.fold_in(keys, _CLICK_STREAM))
        choice = pick - 1
        any_click = choice >= 0
        watched = torch.where(any_click, slate_items.gather(1, choice.clamp_min(0).unsqueeze(1)).squeeze(1), SKIPPED)

        rating = torch.zeros(num_users, dtype=torch.int64, device=device)
        rows = any_click.nonzero().squeeze(1)
        if self.rate and rows.numel() > 0:
            rating_logits = self.decider.rating_logits(_take(situation, rows), watched.index_select(0, rows))
            row_keys = random.fold_in(keys, _RATING_STREAM).index_select(0, rows)
            sampled = _gumbel_argmax(rating_logits / self.params.temperature, row_keys) + 1
            rating = rating.index_copy(0, rows, sampled)

        left = torch.zeros(num_users, dtype=torch.bool, device=device)
        if self.decide_leave:
            log_odds = self.params.leave_bias + self.params.leave_scale * self.decider.leave_logits(situation)
            left = random.uniform(random.fold_in(keys, _LEAVE_STREAM), ()).view(-1) < torch.sigmoid(log_odds)

        memory_items, memory_ratings = remember(state.memory_items, state.memory_ratings, watched, rating)
        watched_topic = self.catalog.lookup("topic", watched.clamp_min(0))
        topic_counts = state.topic_counts + any_click.unsqueeze(1) * torch.nn.functional.one_hot(
            watched_topic, self.catalog.num_topics
        )
        new_state = LLMPersonaState(state.persona, memory_items, memory_ratings, topic_counts, state.left | left)
        self._last_info = {"rating": rating}
        if self.reflect and bool(left.any()):
            self._last_info["reflections"] = self._reflections(situation, left, keys)
        response = Response.from_choice(
            choice, slate_size, watch_time=self.catalog.lookup("duration", watched.clamp_min(0)), left=left
        )
        response = dataclasses.replace(
            response, liked=response.clicked & (rating >= 4).unsqueeze(1), skipped=~response.clicked
        )
        return new_state, response

    def _reflections(self, situation: Situation, left: torch.Tensor, keys: torch.Tensor) -> dict[int, str]:
        """Free text from each leaving user, by batch row; needs a decider that can write (a language model)."""
        write = getattr(self.decider, "reflections", None)
        if write is None:
            return {}
        rows = left.nonzero().squeeze(1)
        seed = int(random.randint(random.fold_in(keys, _REFLECT_STREAM), 2**31 - 1, ()).view(-1)[rows[0]])
        texts = write(_take(situation, rows), seed)
        return dict(zip(rows.tolist(), texts, strict=True))

    def usage(self) -> dict[str, Any]:
        """What the model calls cost so far: cache hits, misses and hit rate, and the backend's counters."""
        backend = getattr(self.decider, "backend", None)
        return {
            "cache_hits": self.cache.hits,
            "cache_misses": self.cache.misses,
            "cache_hit_rate": self.cache.hit_rate,
            "backend": dict(getattr(backend, "stats", {})),
        }

    def step_info(self) -> dict[str, Any]:
        """Extras of the last step for the env's ``info``: each user's rating (0: none) and reflections."""
        return dict(self._last_info)

    def terminated(self, state: LLMPersonaState) -> torch.Tensor:
        return state.left

    def observe(self, state: LLMPersonaState) -> dict[str, torch.Tensor]:
        return {}

    def observation_spec(self) -> dict[str, FeatureSpec]:
        return {}

    def item_features(self, items: torch.Tensor) -> torch.Tensor:
        return self.catalog.lookup("embedding", items)

    def item_feature_spec(self) -> FeatureSpec:
        return FeatureSpec((self.catalog.feature_dim,), 0.0, 1.0)

    def expected_reward(self, state: LLMPersonaState, items: torch.Tensor) -> torch.Tensor:
        """Expected watch time of each candidate [B, C] shown alone: P(click it rather than nothing) x duration.

        Asks the decider about every (user, candidate) pair as a one-item slate, so it costs
        B x C model calls the first time (then the cache answers).
        """
        num_users, num_candidates = items.shape
        repeat = torch.arange(num_users, device=items.device).repeat_interleave(num_candidates)
        alone = _take(self._situation(state, items), repeat)
        alone = dataclasses.replace(alone, slate_items=items.reshape(-1, 1))
        utility = self.decider.click_utilities(alone).view(num_users, num_candidates)
        click_probability = torch.sigmoid(utility / self.params.temperature)
        return click_probability * self.catalog.lookup("duration", items)


def _gumbel_argmax(logits: torch.Tensor, keys: torch.Tensor) -> torch.Tensor:
    """A sample from softmax(logits) per row [B], from the rows' keys."""
    uniform = random.uniform(keys, (logits.shape[1],)).clamp(1e-12, 1 - 1e-7)
    return (logits - torch.log(-torch.log(uniform))).argmax(dim=1)


def _take(situation: Situation, rows: torch.Tensor) -> Situation:
    """The situations of batch rows ``rows``."""
    return Situation(*(getattr(situation, field.name).index_select(0, rows) for field in dataclasses.fields(situation)))
