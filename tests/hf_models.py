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


CHATML = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content']"
    " + '<|im_end|>' + '\n'}}{% endfor %}{% if add_generation_prompt %}"
    "{{ '<|im_start|>assistant\n' }}{% endif %}"
)


def save_chatml_model(corpus: Path, directory: Path, messages: list[dict[str, str]]):
    """A random Llama (`hf_model("llama-gqa")`) with a ChatML tokenizer trained on `corpus`,
    saved as a chat model: chat_template.jinja, tokenizer_config.json and a
    generation_config.json (sampling defaults: temperature 0.7, top_p 0.9) whose end ids are
    <|im_end|> and a token the model's greedy reply
    to `messages` writes a few tokens in (its 4th distinct token, or its last), so that a test
    sees the reply stop there.
    Returns (the model, the transformers tokenizer, the end ids)."""
    import json

    import torch
    from transformers import AutoTokenizer

    from lmcore.tokenizer import TokenizerConfig, train_tokenizer

    specials = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]
    tokenizer = train_tokenizer([corpus], TokenizerConfig(vocab_size=420, special_tokens=specials))
    model = save_hf_model("llama-gqa", tokenizer, directory)
    config = {"tokenizer_class": "PreTrainedTokenizerFast", "bos_token": "<|im_start|>",
              "eos_token": "<|im_end|>", "pad_token": "<|im_end|>"}  # fmt: skip
    (directory / "tokenizer_config.json").write_text(json.dumps(config))
    (directory / "chat_template.jinja").write_text(CHATML)
    hf_tok = AutoTokenizer.from_pretrained(directory)
    prompt = hf_tok.apply_chat_template(messages, add_generation_prompt=True, tokenize=True,
                                        return_dict=False)  # fmt: skip
    with torch.no_grad():
        out = model.generate(torch.tensor([list(prompt)]), max_new_tokens=20, do_sample=False,
                             eos_token_id=None, pad_token_id=0)  # fmt: skip
    free = out[0, len(prompt) :].tolist()
    first_seen = [t for k, t in enumerate(free) if t not in free[:k]]
    stop = first_seen[min(3, len(first_seen) - 1)]  # stops there, not at an earlier copy
    end_ids = [tokenizer.special_id("<|im_end|>"), stop]
    generation = {"eos_token_id": end_ids, "do_sample": True, "temperature": 0.7, "top_p": 0.9}
    (directory / "generation_config.json").write_text(json.dumps(generation))
    return model, hf_tok, end_ids


def greedy_reply(model, hf_tok, messages, end_ids, max_new_tokens: int = 30) -> list[int]:
    """transformers' greedy reply to `messages` after `apply_chat_template`, end id included."""
    import torch

    prompt = list(hf_tok.apply_chat_template(messages, add_generation_prompt=True,
                                             tokenize=True, return_dict=False))  # fmt: skip
    with torch.no_grad():
        out = model.generate(torch.tensor([prompt]), max_new_tokens=max_new_tokens,
                             do_sample=False, eos_token_id=end_ids, pad_token_id=0)  # fmt: skip
    return out[0, len(prompt) :].tolist()
