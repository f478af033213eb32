"""Tiny random `transformers` models saved as directories, for the interop tests (issue 14).

Built with `transformers` itself, nothing downloaded. Weights are drawn wider than
`transformers`' own init (std 0.1, norm gains around 1) so that logits spread out and greedy
choices are far from ties: a wrong rotation, norm or layout shows as a large difference.
"""

from __future__ import annotations

from pathlib import Path

FAMILIES = ("llama-gqa", "llama-tied", "nanochat")


def hf_model(family: str, vocab_size: int, seed: int = 0, **sizes):
    """A random LlamaForCausalLM (grouped-query attention; or tied embeddings) or
    NanoChatForCausalLM with 2 layers, 64 wide, 4 heads (2 key/value heads), in eval mode;
    `sizes` override the config's sizes (hidden_size=256, ...)."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM, NanoChatConfig, NanoChatForCausalLM

    common = dict(vocab_size=vocab_size, hidden_size=64, intermediate_size=96,
                  num_hidden_layers=2, num_attention_heads=4, num_key_value_heads=2,
                  max_position_embeddings=256) | sizes  # fmt: skip
    torch.manual_seed(seed)
    if family == "nanochat":
        model = NanoChatForCausalLM(NanoChatConfig(**common))
    else:
        rope = {"rope_type": "default", "rope_theta": 5000.0}
        config = LlamaConfig(**common, rms_norm_eps=1e-5, rope_parameters=rope,
                             tie_word_embeddings=family == "llama-tied")  # fmt: skip
        model = LlamaForCausalLM(config)
    with torch.no_grad():
        for p in model.parameters():
            p.normal_(1.0, 0.1) if p.ndim == 1 else p.normal_(0.0, 0.1)
    return model.eval()


def save_hf_model(family: str, tokenizer, directory: Path, **save_kwargs):
    """hf_model(family) with `tokenizer` (an lmcore Tokenizer) saved into `directory`."""
    model = hf_model(family, tokenizer.vocab_size)
    model.save_pretrained(directory, **save_kwargs)
    tokenizer.save(directory)
    return model
