"""LLM persona users: natural-language personas with memory whose reactions come from a language model."""
