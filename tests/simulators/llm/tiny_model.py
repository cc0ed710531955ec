"""A tiny causal LM and word-level tokenizer built in the test from a config: real transformers code, no download."""

from __future__ import annotations

import torch

WORDS = (
    "you", "are", "a", "user", "who", "loves", "cooking", "travel", "science", "football", "music", "choose",
    "one", "item", "or", "0", "for", "none", "the", "slate", "is", "1", "2", "3", "4", "5", "6", "7", "8",
    "9", "answer", "yes", "no", "Yes", "No", "video", "watch", "do", "feed", "app", "close", "rate", "it",
    "from", "to", ".", ",", ":", "(", ")", "min",
)  # fmt: skip


def tiny_tokenizer():
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast

    vocab = {"<pad>": 0, "<unk>": 1, "<eos>": 2}
    for word in WORDS:
        vocab.setdefault(word, len(vocab))
    tokenizer = Tokenizer(models.WordLevel(vocab=vocab, unk_token="<unk>"))
    tokenizer.pre_tokenizer = pre_tokenizers.Sequence([pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Punctuation()])
    return PreTrainedTokenizerFast(tokenizer_object=tokenizer, unk_token="<unk>", pad_token="<pad>", eos_token="<eos>")


def tiny_model(vocab_size: int, seed: int = 0):
    from transformers import LlamaConfig, LlamaForCausalLM

    config = LlamaConfig(
        vocab_size=vocab_size,
        hidden_size=32,
        intermediate_size=64,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        max_position_embeddings=512,
        pad_token_id=0,
        eos_token_id=2,
        bos_token_id=2,
    )
    torch.manual_seed(seed)
    return LlamaForCausalLM(config)
