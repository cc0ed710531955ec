"""How a persona decides: read a language model's next-token log-probabilities, never parse its prose.

A ``Decider`` turns a batch of situations (who, what they remember, which slate) into three
numbers per user: the utility of each slate item relative to not clicking, a distribution over
a 1-5 rating of the watched item, and the log-odds of leaving. ``LLMPersonaUser`` samples from
those with its own seeded keys, so the model is only ever asked for probabilities and a cached
answer replays the same trajectory.

``PromptDecider`` asks a language model. Two ways to ask for the click:

- ``"per_item"`` (default): one Yes/No question per slate item ("Do you watch it?"), the
  item's utility being its Yes-vs-No log-odds. Small models judge one item far better than
  they compare a numbered list: SmolLM2-135M picks the loved item of a 4-item slate 66% of the
  time this way, but puts about half its mass on "1" whatever the list holds when asked for a
  number (see docs/llm_personas.md).
- ``"slate"``: one question over the numbered slate, options "0" (none) to "K"; the answer
  distribution is corrected by a content-free baseline (the same question about a slate of
  "N/A" items, as in Zhao et al. 2021), which removes a model's preference for a position.

Raw log-odds differ in offset and spread between models, so they are standardised by a
``Calibration`` measured once per model on fixed persona-item pairs (cached like every call).
"""

from __future__ import annotations

import dataclasses
from typing import Protocol

import torch

from recgym.errors import ConfigError
from recgym.llm.backends.base import LLMBackend
from simulators.llm.cache import ResponseCache
from simulators.llm.item_text import ItemTexts
from simulators.llm.memory import describe_memory
from simulators.llm.persona import PersonaPopulation

RATING_OPTIONS = ["1", "2", "3", "4", "5"]
YES_NO = ["Yes", "No"]
CHOICE_MODES = ("per_item", "slate")


@dataclasses.dataclass(frozen=True)
class Situation:
    """What a batch of users face this step, all [B, ...] on one device."""

    persona: torch.Tensor
    """Persona index of each user [B]."""
    slate_items: torch.Tensor
    """Item ids shown [B, K]."""
    memory_items: torch.Tensor
    """Remembered items [B, M] (memory.SKIPPED, memory.EMPTY)."""
    memory_ratings: torch.Tensor
    """Ratings given to them [B, M] (0: none)."""
    topic_counts: torch.Tensor
    """Items watched per topic this episode [B, T]."""


class Decider(Protocol):
    """Turns situations into choice utilities, rating distributions and leave log-odds."""

    def click_utilities(self, situation: Situation) -> torch.Tensor:
        """Utility of clicking each slate item relative to clicking none, float32 [B, K]."""
        ...

    def rating_logits(self, situation: Situation, watched: torch.Tensor) -> torch.Tensor:
        """Unnormalised log-probabilities of rating the watched item [B] 1..5, float32 [B, 5]."""
        ...

    def leave_logits(self, situation: Situation) -> torch.Tensor:
        """Log-odds that each user closes the app after this feed, float32 [B]."""
        ...


@dataclasses.dataclass(frozen=True)
class Calibration:
    """Centre and spread of a model's Yes-vs-No log-odds, so utilities are in comparable units."""

    center: float
    scale: float

    def standardise(self, log_odds: torch.Tensor) -> torch.Tensor:
        return (log_odds - self.center) / self.scale


class PromptDecider:
    """Decisions from a language model's option log-probabilities, every call through the cache."""

    def __init__(
        self,
        backend: LLMBackend,
        population: PersonaPopulation,
        texts: ItemTexts,
        cache: ResponseCache,
        choice_mode: str = "per_item",
        no_click_utility: float = 1.0,
        calibration_size: int = 32,
        calibration_seed: int = 0,
    ) -> None:
        if choice_mode not in CHOICE_MODES:
            raise ConfigError(f"choice_mode must be one of {CHOICE_MODES}; got {choice_mode!r}.")
        if population.topic_names != texts.topic_names:
            raise ConfigError("Personas and item texts must use the same topic names; build both from one list.")
        if calibration_size < 2:
            raise ConfigError(f"calibration_size must be at least 2; got {calibration_size}.")
        self.backend = backend
        self.population = population
        self.texts = texts
        self.cache = cache
        self.choice_mode = choice_mode
        self.no_click_utility = no_click_utility
        self._descriptions = population.descriptions()
        self.watch_calibration, self.leave_calibration = self._calibrate(calibration_size, calibration_seed)

    def to(self, device: torch.device | str) -> PromptDecider:
        """Run the backend's model on ``device`` where it has one (a server keeps its own)."""
        move = getattr(self.backend, "to", None)
        if move is not None:
            move(device)
        return self

    # Prompts -----------------------------------------------------------------------------
    def _memory_texts(self, situation: Situation) -> list[str]:
        items = situation.memory_items.tolist()
        ratings = situation.memory_ratings.tolist()
        counts = situation.topic_counts.tolist()
        return [
            describe_memory(row_items, row_ratings, self.texts.titles, row_counts, self.texts.topic_names)
            for row_items, row_ratings, row_counts in zip(items, ratings, counts, strict=True)
        ]

    def _prompt(self, persona: int, memory: str, question: str) -> str:
        user = f"{memory}\n\n{question}" if memory else question
        return self.backend.chat_prompt(self._descriptions[persona], user)

    @staticmethod
    def _watch_question(title: str) -> str:
        return f'A video shows up in your feed: "{title}".\nDo you watch it? Answer Yes or No.'

    def _slate_block(self, items: list[int]) -> str:
        return "Your feed shows:\n" + self.texts.slate_text(items)

    # Scoring -----------------------------------------------------------------------------
    def _option_logprobs(self, prompts: list[str], options: list[str], group_size: int = 1) -> torch.Tensor:
        """[N, O] log-probabilities, served from the cache where possible.

        Consecutive runs of ``group_size`` prompts share a beginning (one user's persona and
        memory); a backend with ``option_logprobs_grouped`` then computes that beginning once.
        """
        if not prompts:
            return torch.zeros(0, len(options))

        def compute(missing: list[int]) -> list[list[float]]:
            grouped = getattr(self.backend, "option_logprobs_grouped", None)
            if grouped is None or group_size == 1:
                return self.backend.option_logprobs([prompts[index] for index in missing], options).tolist()
            groups: dict[int, list[str]] = {}
            for index in missing:
                groups.setdefault(index // group_size, []).append(prompts[index])
            return grouped(list(groups.values()), options).tolist()

        parameters = {"call": "option_logprobs", "options": options}
        values = self.cache.get_or_compute(self.backend.model_id, prompts, parameters, compute)
        return torch.tensor(values, dtype=torch.float32)

    def _yes_no_log_odds(self, prompts: list[str], group_size: int = 1) -> torch.Tensor:
        scores = self._option_logprobs(prompts, YES_NO, group_size)
        return scores[:, 0] - scores[:, 1]

    def _calibrate(self, size: int, seed: int) -> tuple[Calibration, Calibration]:
        """Log-odds statistics over fixed (persona, item) pairs with no memory: one for watching, one for leaving."""
        generator = torch.Generator().manual_seed(seed)
        personas = torch.randint(len(self.population), (size,), generator=generator).tolist()
        items = torch.randint(len(self.texts.titles), (size, 4), generator=generator).tolist()
        watch = self._yes_no_log_odds(
            [
                self._prompt(p, "", self._watch_question(self.texts.titles[row[0]]))
                for p, row in zip(personas, items, strict=True)
            ]
        )
        leave = self._yes_no_log_odds(
            [self._prompt(p, "", self._leave_question(row)) for p, row in zip(personas, items, strict=True)]
        )
        return _calibration_of(watch), _calibration_of(leave)

    def click_utilities(self, situation: Situation) -> torch.Tensor:
        memory = self._memory_texts(situation)
        personas = situation.persona.tolist()
        slates = situation.slate_items.tolist()
        num_users, slate_size = situation.slate_items.shape
        if self.choice_mode == "per_item":
            prompts = [
                self._prompt(personas[user], memory[user], self._watch_question(self.texts.titles[item]))
                for user in range(num_users)
                for item in slates[user]
            ]
            log_odds = self._yes_no_log_odds(prompts, group_size=slate_size).view(num_users, slate_size)
            utilities = self.watch_calibration.standardise(log_odds) - self.no_click_utility
        else:
            options = [str(number) for number in range(slate_size + 1)]
            question = "Which video do you watch? Answer with its number, or 0 if you watch none."
            prompts = [
                self._prompt(personas[user], memory[user], f"{self._slate_block(slates[user])}\n\n{question}")
                for user in range(num_users)
            ]
            content_free = self._option_logprobs(
                [
                    self.backend.chat_prompt(
                        "",
                        "Your feed shows:\n"
                        + "\n".join(f"{position}. N/A" for position in range(1, slate_size + 1))
                        + f"\n\n{question}",
                    )
                ],
                options,
            )
            calibrated = self._option_logprobs(prompts, options) - content_free
            utilities = calibrated[:, 1:] - calibrated[:, :1]
        return utilities.to(situation.slate_items.device)

    def rating_logits(self, situation: Situation, watched: torch.Tensor) -> torch.Tensor:
        memory = self._memory_texts(situation)
        personas = situation.persona.tolist()
        prompts = [
            self._prompt(
                personas[user],
                memory[user],
                f'You just watched "{self.texts.titles[item]}". How much did you enjoy it, from 1 (not at all) '
                "to 5 (loved it)? Answer with one number.",
            )
            for user, item in enumerate(watched.tolist())
        ]
        return self._option_logprobs(prompts, RATING_OPTIONS).to(watched.device)

    def _leave_question(self, items: list[int]) -> str:
        return f"{self._slate_block(items)}\n\nDo you close the app now? Answer Yes or No."

    def leave_logits(self, situation: Situation) -> torch.Tensor:
        memory = self._memory_texts(situation)
        personas = situation.persona.tolist()
        prompts = [
            self._prompt(personas[user], memory[user], self._leave_question(items))
            for user, items in enumerate(situation.slate_items.tolist())
        ]
        log_odds = self._yes_no_log_odds(prompts)
        return self.leave_calibration.standardise(log_odds).to(situation.slate_items.device)

    def reflections(self, situation: Situation, seed: int, max_new_tokens: int = 40) -> list[str]:
        """Free text from each user to the recommender (why they are leaving, what they want), cached by seed."""
        memory = self._memory_texts(situation)
        prompts = [
            self._prompt(
                persona,
                memory[user],
                "You are about to close the app. In one sentence, tell the recommender what you wanted to see.",
            )
            for user, persona in enumerate(situation.persona.tolist())
        ]
        parameters = {"call": "generate", "max_new_tokens": max_new_tokens, "temperature": 0.7, "seed": seed}

        def compute(missing: list[int]) -> list[str]:
            return self.backend.generate([prompts[index] for index in missing], max_new_tokens, 0.7, seed)

        return [
            str(text).strip() for text in self.cache.get_or_compute(self.backend.model_id, prompts, parameters, compute)
        ]


def _calibration_of(log_odds: torch.Tensor) -> Calibration:
    """Mean and standard deviation (floored, so a model that says the same thing to everyone stays finite)."""
    return Calibration(center=float(log_odds.mean()), scale=max(float(log_odds.std()), 1e-3))
