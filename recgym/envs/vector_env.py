"""RecVectorEnv: a whole population of simulated users stepped in lockstep on one device."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any, ClassVar

import numpy as np
import torch
from gymnasium import spaces
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from recgym.core import random
from recgym.core.allocator import tune_cpu_allocator
from recgym.core.candidates import (
    CandidateSampler,
    PopularityCandidates,
    TopicAffinityCandidates,
    UniformCandidates,
)
from recgym.core.device import resolve_device
from recgym.core.response import Response
from recgym.core.reward import Reward, make_reward
from recgym.core.simulator import UserSimulator
from recgym.core.slate import as_slate_tensor, validate_slate
from recgym.core.state import TensorState
from recgym.envs.render import render_users
from recgym.envs.spaces import SlateSpace
from recgym.errors import ConfigError

# Tags that derive independent per-user random streams from a user's key at each step.
_SIMULATOR_STREAM, _NEXT_KEY_STREAM, _CANDIDATE_STREAM, _RESET_STREAM = 31, 32, 33, 34
_FRESH_USER_STREAM, _FRESH_CANDIDATE_STREAM, _FRESH_KEY_STREAM = 21, 22, 23


@dataclasses.dataclass(frozen=True)
class EnvState(TensorState):
    """Everything the env tracks per user, so autoreset is one ``index_put``."""

    user: TensorState
    """The simulator's hidden user state."""
    candidates: torch.Tensor
    """Item ids the user may be shown next, int64 [B, C]."""
    history_items: torch.Tensor
    """Item clicked at each of the last h steps, int64 [B, h], -1 for no click or before the episode."""
    history_watch_time: torch.Tensor
    """Minutes watched at each of the last h steps, float [B, h]."""
    episode_step: torch.Tensor
    """Steps taken in the current episode, int64 [B]."""
    keys: torch.Tensor
    """Each user's random key, int64 [B]."""


@dataclasses.dataclass(frozen=True)
class LastStep:
    """What the last ``step`` showed and got back, kept (as references, no copies) for ``render``."""

    slate: torch.Tensor
    """Positions shown, after any repair, int64 [B, K]."""
    items: torch.Tensor
    """Item ids shown, int64 [B, K]."""
    response: Response
    """The users' response."""
    reward: torch.Tensor
    """float [B]."""
    terminated: torch.Tensor
    """bool [B]."""
    truncated: torch.Tensor
    """bool [B]."""


RENDER_MODES = ("ansi",)
"""``render_mode="ansi"``: ``render()`` returns a text view per user (history, last slate, response)."""


def check_render_mode(render_mode: Any) -> None:
    """ConfigError unless ``render_mode`` is None or one of ``RENDER_MODES``."""
    if render_mode is not None and render_mode not in RENDER_MODES:
        raise ConfigError(
            f"Unsupported render_mode {render_mode!r}: recgym envs render only {list(RENDER_MODES)} "
            "(text: each user's recent history and the last slate and response), or None. "
            "Make the env with render_mode='ansi'."
        )


def make_candidate_sampler(sampler: str | CandidateSampler, simulator: UserSimulator) -> CandidateSampler:
    """A candidate sampler from its name ('uniform', 'popularity', 'affinity') or an instance."""
    if not isinstance(sampler, str):
        return sampler
    catalog = simulator.catalog
    if sampler == "uniform":
        return UniformCandidates(catalog.num_items)
    if sampler == "popularity":
        return PopularityCandidates(catalog.popularity)
    if sampler == "affinity":
        return TopicAffinityCandidates(catalog.topic, catalog.num_topics)
    raise ConfigError(
        f"Unknown candidate_sampler {sampler!r}; use 'uniform', 'popularity', 'affinity' or a CandidateSampler."
    )


class RecVectorEnv(VectorEnv):
    """``num_envs`` users of one simulator, torch tensors in and out, on ``device``.

    Each user is one sub-environment: actions are slates [B, K] of positions into the
    user's candidates; observations are a dict of [B, ...] tensors (see ``single_observation_space``;
    ``elapsed`` is the episode's step count divided by ``step_scale``).
    Finished users are reset within the same step (``AutoresetMode.SAME_STEP``): the
    returned observation starts their next episode and ``info["final_obs"]`` holds the
    last one, for users flagged in ``info["_final_obs"]``. ``info["response"]`` is the
    step's full ``Response``. Episodes are truncated at ``max_episode_steps``.

    ``render_mode="ansi"``: ``render()`` returns one text view per user (tuple of str). Repeated
    slate positions raise InvalidSlateError unless ``repair_duplicates=True``, which replaces each
    repeat by the lowest unused candidate.

    Gymnasium's own vector wrappers (``gymnasium.wrappers.vector.RecordEpisodeStatistics``,
    ``NormalizeReward``, ...) compute in numpy: put ``recgym.wrappers.NumpyVector`` under them,
    e.g. ``RecordEpisodeStatistics(NumpyVector(envs))``, or stay in torch with
    ``recgym.wrappers.EpisodeEngagementVector``.

    User i's trajectory depends only on its own seed, so a batch equals single-user runs
    seeded alike (``reset(seed=s)`` gives user i the seed ``s + i``, as gymnasium does).
    """

    metadata: ClassVar[dict[str, Any]] = {
        "autoreset_mode": AutoresetMode.SAME_STEP,
        "render_modes": list(RENDER_MODES),
        "render_fps": 4,
    }

    def __init__(
        self,
        simulator: UserSimulator,
        num_envs: int,
        num_candidates: int = 10,
        slate_size: int = 2,
        history_length: int = 10,
        candidate_sampler: str | CandidateSampler = "uniform",
        reward: str | Mapping[str, float] | Reward = "watch_time",
        max_episode_steps: int | None = None,
        device: torch.device | str | None = "cpu",
        seed: int | None = None,
        step_scale: float = 100.0,
        repair_duplicates: bool = False,
        render_mode: str | None = None,
    ) -> None:
        if num_envs <= 0:
            raise ConfigError(f"num_envs must be positive; got {num_envs}.")
        if not 0 < slate_size <= num_candidates:
            raise ConfigError(
                f"Need 0 < slate_size <= num_candidates; got slate_size={slate_size}, num_candidates={num_candidates}."
            )
        if history_length <= 0:
            raise ConfigError(f"history_length must be positive; got {history_length}.")
        if step_scale <= 0:
            raise ConfigError(f"step_scale must be positive; got {step_scale}.")
        check_render_mode(render_mode)
        if max_episode_steps is not None and max_episode_steps <= 0:
            raise ConfigError(f"max_episode_steps must be positive or None; got {max_episode_steps}.")
        if num_candidates > simulator.catalog.num_items:
            raise ConfigError(
                f"num_candidates={num_candidates} exceeds the catalog's {simulator.catalog.num_items} items."
            )
        self.device = resolve_device(device)
        if self.device.type == "cpu":
            tune_cpu_allocator()
        simulator.params.check_num_users(num_envs)
        self.simulator = simulator.to(self.device)
        self.num_envs = num_envs
        self.num_candidates = num_candidates
        self.slate_size = slate_size
        self.history_length = history_length
        self.max_episode_steps = max_episode_steps
        self.step_scale = step_scale
        self.candidate_sampler = make_candidate_sampler(candidate_sampler, self.simulator)
        self.reward_fn = make_reward(reward)
        self._initial_seed = seed
        self.repair_duplicates = repair_duplicates
        self.render_mode = render_mode
        self.state: EnvState | None = None
        self.last_step: LastStep | None = None

        self.single_observation_space = self._build_observation_space()
        self.observation_space = batch_space(self.single_observation_space, num_envs)
        self.single_action_space = SlateSpace(num_candidates, slate_size)
        self.action_space = batch_space(self.single_action_space, num_envs)

    # -- spaces -----------------------------------------------------------------------------
    def _build_observation_space(self) -> spaces.Dict:
        item_spec = self.simulator.item_feature_spec()
        features = dict(low=min(item_spec.low, 0.0), high=max(item_spec.high, 0.0), dtype=np.float32)
        most_watched_per_step = float(self.simulator.catalog.duration.max()) * self.slate_size
        entries: dict[str, spaces.Space] = {
            "candidate_features": spaces.Box(shape=(self.num_candidates, *item_spec.shape), **features),
            "candidate_ids": spaces.Box(
                low=0, high=self.simulator.catalog.num_items - 1, shape=(self.num_candidates,), dtype=np.int64
            ),
            "history_features": spaces.Box(shape=(self.history_length, *item_spec.shape), **features),
            "history_clicked": spaces.Box(low=0.0, high=1.0, shape=(self.history_length,), dtype=np.float32),
            "history_watch_time": spaces.Box(
                low=0.0, high=most_watched_per_step, shape=(self.history_length,), dtype=np.float32
            ),
            "elapsed": spaces.Box(
                low=0.0,
                high=self.max_episode_steps / self.step_scale if self.max_episode_steps else np.inf,
                shape=(1,),
                dtype=np.float32,
            ),
        }
        for name, spec in self.simulator.observation_spec().items():
            if name in entries:
                raise ConfigError(f"Simulator observation {name!r} clashes with an env observation key.")
            entries[name] = spaces.Box(low=spec.low, high=spec.high, shape=spec.shape, dtype=np.float32)
        return spaces.Dict(entries)

    # -- state construction -------------------------------------------------------------------
    def _fresh_state(self, keys: torch.Tensor, users: torch.Tensor | None) -> EnvState:
        """New episodes for the users with ``keys [n]`` at batch rows ``users`` (all when None)."""
        count = keys.shape[0]
        history_items = torch.full((count, self.history_length), -1, dtype=torch.int64, device=self.device)
        return EnvState(
            user=self.simulator.reset(random.fold_in(keys, _FRESH_USER_STREAM), users),
            candidates=self.candidate_sampler.sample(
                random.fold_in(keys, _FRESH_CANDIDATE_STREAM), self.num_candidates, history_items
            ),
            history_items=history_items,
            history_watch_time=torch.zeros(count, self.history_length, device=self.device),
            episode_step=torch.zeros(count, dtype=torch.int64, device=self.device),
            keys=random.fold_in(keys, _FRESH_KEY_STREAM),
        )

    def _seeds(self, seed: int | list[int] | None) -> torch.Tensor:
        if seed is None:
            seed = self._initial_seed
            self._initial_seed = None
        if seed is None:
            seed = int(np.random.SeedSequence().entropy % (1 << 62))
        if isinstance(seed, int | np.integer):
            return int(seed) + torch.arange(self.num_envs, dtype=torch.int64, device=self.device)
        seeds = torch.as_tensor(list(seed), dtype=torch.int64, device=self.device)
        if tuple(seeds.shape) != (self.num_envs,):
            raise ConfigError(f"reset(seed=...) got {seeds.numel()} seeds for {self.num_envs} users.")
        return seeds

    def observe(self, state: EnvState) -> dict[str, torch.Tensor]:
        """The recommender's view of every user: candidates, recent history, elapsed time."""
        history_items = state.history_items
        has_click = history_items >= 0
        history_features = self.simulator.item_features(history_items.clamp_min(0)) * has_click.unsqueeze(-1)
        # Scaled by a fixed constant, not the horizon: a TimeLimit applied outside the env
        # (gym.make) must not change what the policy sees.
        elapsed = state.episode_step.to(torch.float32).unsqueeze(1) / self.step_scale
        observation = {
            "candidate_features": self.simulator.item_features(state.candidates),
            "candidate_ids": state.candidates,
            "history_features": history_features,
            "history_clicked": has_click.to(torch.float32),
            "history_watch_time": state.history_watch_time,
            "elapsed": elapsed,
        }
        observation.update(self.simulator.observe(state.user))
        return observation

    @property
    def item_topics(self) -> tuple[torch.Tensor, int] | None:
        """Each catalog item's topic [N] and the number of topics: public metadata a recommender has.

        The one item attribute besides ``candidate_features`` a policy may read (hidden ones such
        as quality stay in the simulator); None when the catalog has no topics.
        """
        catalog = getattr(self.simulator, "catalog", None)
        if catalog is None or getattr(catalog, "topic", None) is None:
            return None
        return catalog.topic, int(catalog.num_topics)

    # -- gymnasium API --------------------------------------------------------------------------
    def reset(
        self, *, seed: int | list[int] | None = None, options: dict[str, Any] | None = None
    ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
        """Start new episodes for all users, or only those in ``options["reset_mask"]`` [B]."""
        reset_mask = (options or {}).get("reset_mask")
        if reset_mask is not None and self.state is not None and seed is None:
            mask = torch.as_tensor(reset_mask, dtype=torch.bool, device=self.device)
            self.reset_users(mask)
        else:
            self.state = self._fresh_state(random.keys_from_seeds(self._seeds(seed)), None)
            self.last_step = None
        return self.observe(self.state), {}

    def reset_users(self, mask: torch.Tensor) -> None:
        """Start new episodes for the users where ``mask [B]`` is true, from their own key streams."""
        rows = mask.nonzero().squeeze(1)
        if rows.numel() > 0:
            self._reset_rows(rows)

    def _reset_rows(self, rows: torch.Tensor) -> EnvState:
        """Replace the users at ``rows`` by fresh episodes; return just those fresh rows."""
        state = self._require_state()
        fresh = self._fresh_state(random.fold_in(state.keys.index_select(0, rows), _RESET_STREAM), rows)
        self.state = state.index_put(rows, fresh)
        return fresh

    def step(
        self, actions: Any
    ) -> tuple[dict[str, torch.Tensor], torch.Tensor, torch.Tensor, torch.Tensor, dict[str, Any]]:
        state = self._require_state()
        slate = validate_slate(
            as_slate_tensor(actions, self.device),
            self.num_envs,
            self.num_candidates,
            self.slate_size,
            repair=self.repair_duplicates,
        )
        shown_items = state.candidates.gather(1, slate)
        keys = state.keys
        user, response = self.simulator.step(state.user, shown_items, random.fold_in(keys, _SIMULATOR_STREAM))
        reward = self.reward_fn(response)

        clicked_item = torch.where(
            response.choice >= 0,
            shown_items.gather(1, response.choice.clamp_min(0).unsqueeze(1)).squeeze(1),
            torch.full_like(response.choice, -1),
        )
        episode_step = state.episode_step + 1
        history_items = torch.cat([state.history_items[:, 1:], clicked_item.unsqueeze(1)], dim=1)
        self.state = EnvState(
            user=user,
            candidates=self.candidate_sampler.sample(
                random.fold_in(keys, _CANDIDATE_STREAM), self.num_candidates, history_items
            ),
            history_items=history_items,
            history_watch_time=torch.cat(
                [state.history_watch_time[:, 1:], response.watch_time.sum(dim=1, keepdim=True)], dim=1
            ),
            episode_step=episode_step,
            keys=random.fold_in(keys, _NEXT_KEY_STREAM),
        )
        terminated = self.simulator.terminated(user)
        if self.max_episode_steps is not None:
            # As gymnasium's TimeLimit: an episode that ends on its last allowed step is both.
            truncated = episode_step >= self.max_episode_steps
        else:
            truncated = torch.zeros_like(terminated)
        done = terminated | truncated
        self.last_step = LastStep(slate, shown_items, response, reward, terminated, truncated)

        info: dict[str, Any] = {"response": response}
        step_info = getattr(self.simulator, "step_info", None)
        if step_info is not None:  # simulators with extras that are not tensors of behaviour (LLM text, ratings)
            info.update(step_info())
        observation = self.observe(self.state)
        reset_rows = done.nonzero().squeeze(1)
        if reset_rows.numel() > 0:
            info["final_obs"] = observation
            info["_final_obs"] = done
            fresh = self._reset_rows(reset_rows)
            observation = {
                name: value.index_copy(0, reset_rows, fresh_value)
                for (name, value), fresh_value in zip(observation.items(), self.observe(fresh).values(), strict=True)
            }
        return observation, reward, terminated, truncated, info

    def expected_reward(self) -> torch.Tensor:
        """Oracle: true expected reward of each current candidate for each user, [B, C]."""
        state = self._require_state()
        return self.simulator.expected_reward(state.user, state.candidates)

    def expected_slate_reward(self, slate: torch.Tensor) -> torch.Tensor:
        """Oracle: true expected reward of showing each user ``slate [B, K]`` now, [B].

        Exact where the simulator models whole slates (``expected_slate_reward``); otherwise
        the sum of each item's shown-alone value, exact for additive position-free models and
        an approximation under a choice model (items compete for one click).
        """
        state = self._require_state()
        items = state.candidates.gather(1, slate)
        exact = getattr(self.simulator, "expected_slate_reward", None)
        if exact is not None:
            return exact(state.user, items)
        return self.simulator.expected_reward(state.user, items).sum(dim=1)

    def render(self) -> tuple[str, ...]:
        """One text view per user (``render_mode="ansi"``): recent history, last slate and response.

        Print them with ``print("\\n\\n".join(envs.render()))``; ``render_text(users)`` renders only some.
        """
        if self.render_mode is None:
            raise ConfigError(
                "render() needs a render mode: make the env with render_mode='ansi', e.g. gym.make_vec(env_id, "
                "num_envs=4, vectorization_mode='vector_entry_point', render_mode='ansi')."
            )
        return tuple(self.render_text())

    def render_text(self, users: list[int] | None = None, title: str | None = None) -> list[str]:
        """The text view of ``users`` (batch rows; all when None), in any render mode; ``title`` heads each."""
        rows = list(range(self.num_envs)) if users is None else [int(user) for user in users]
        outside = [user for user in rows if not 0 <= user < self.num_envs]
        if outside:
            raise ConfigError(f"render_text(users=...) got rows {outside}; this env has users 0..{self.num_envs - 1}.")
        return render_users(self, self._require_state(), self.last_step, rows, title)

    def _require_state(self) -> EnvState:
        if self.state is None:
            raise ConfigError("Call reset() before step(): the env has no users yet.")
        return self.state

    def __repr__(self) -> str:
        name = self.spec.id if self.spec is not None else type(self.simulator).__name__
        return f"RecVectorEnv({name}, num_envs={self.num_envs}, device={self.device})"
