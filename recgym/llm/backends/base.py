"""The LLMBackend protocol: score a fixed set of option tokens after each prompt, in one batch.

Persona decisions are read from next-token log-probabilities over option tokens ("1".."K"
and "0" for a click, "1".."5" for a rating, "yes"/"no" for leaving), never parsed from free
text: one forward pass decides for a whole batch of users, and a model cannot answer
something unparseable. ``generate`` gives the optional free text (a reflection, an
instruction to the recommender).
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

import torch

from recgym.errors import RecGymError


class BackendError(RecGymError, RuntimeError):
    """A backend cannot load its model, reach its server, or score the options it was asked for."""


@runtime_checkable
class LLMBackend(Protocol):
    """A language model that scores option tokens and, optionally, writes text."""

    model_id: str
    """Identifies the model in cache keys and reports."""

    stats: dict[str, int]
    """Counters of what the backend had to do besides answering: retries, timeouts, fallbacks, ..."""

    def chat_prompt(self, system: str, user: str) -> str:
        """The text the model reads for a system and a user message, ending where the assistant's answer starts."""
        ...

    def option_logprobs(self, prompts: list[str], options: list[str]) -> torch.Tensor:
        """Log-probability that the next token after each prompt is each option, float32 [N, O]."""
        ...

    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        """A continuation of each prompt (sampled with ``temperature``, 0 for greedy)."""
        ...


CHATML = "<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
"""The ChatML template (SmolLM2, Qwen and many others), for servers that take raw completion prompts."""
