"""Where persona decisions come from: a local transformers model, an OpenAI-compatible server, or embeddings."""

from recgym.llm.backends.base import BackendError, LLMBackend

__all__ = ["BackendError", "LLMBackend"]
