"""Tiny GGUF files for the import tests, written the way llama.cpp's converter writes them.

`write_llama_gguf` takes a `transformers` LlamaForCausalLM (tests/hf_models.py) and an lmcore
Tokenizer and writes them with `gguf`'s GGUFWriter: llama.* metadata, the tokenizer as
tokenizer.ggml.* (byte-level tokens, types, merges), the query/key rows reordered as
convert_hf_to_gguf.py does, norms in F32 and every matrix in the quant type asked for.
Independent of lmcore's own GGUF code, so an import test checks that code against this
writer and against `transformers`' own GGUF loader.

`gguf` quantizes F16, BF16, Q8_0, Q4_0 and Q4_1 itself but only dequantizes the K types, so
Q4_K and Q6_K have simple quantizers here (one scale per sub-block from its range: valid
blocks, not llama.cpp's error-minimizing search); rows must then be multiples of 256.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

QK_K = 256


def write_llama_gguf(path: Path, model, tokenizer, qtype: str = "F32", *, pre: str = "gpt-2",
                     chat_template: str | None = None, specials: dict[str, int] | None = None,
                     add_bos: bool = False, tied: bool | None = None, arch: str = "llama",
                     tokenizer_model: str = "gpt2", extra: dict | None = None) -> Path:  # fmt: skip
    """Write `model` (+ `tokenizer`) as a llama GGUF with matrices in `qtype` (`arch` and
    `tokenizer_model` other than llama's make files an import must refuse)."""
    from gguf import GGUFWriter

    c = model.config
    w = GGUFWriter(path, arch)
    w.add_name("tiny test llama")
    for key, value in {"block_count": c.num_hidden_layers, "context_length": c.max_position_embeddings,
                       "embedding_length": c.hidden_size, "feed_forward_length": c.intermediate_size,
                       "attention.head_count": c.num_attention_heads,
                       "attention.head_count_kv": c.num_key_value_heads,
                       "rope.dimension_count": c.hidden_size // c.num_attention_heads,
                       "vocab_size": c.vocab_size}.items():  # fmt: skip
        w.add_uint32(f"{arch}.{key}", value)
    w.add_float32(f"{arch}.rope.freq_base", c.rope_parameters["rope_theta"])
    w.add_float32(f"{arch}.attention.layer_norm_rms_epsilon", c.rms_norm_eps)
    _write_tokenizer(w, tokenizer, pre, specials or {}, add_bos, tokenizer_model)
    if chat_template is not None:
        w.add_string("tokenizer.chat_template", chat_template)
    for name, tensor in _gguf_tensors(model, tied):
        _add(w, name, tensor, qtype if tensor.ndim == 2 else "F32")
    for name, tensor in (extra or {}).items():
        _add(w, name, tensor, "F32")
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    return path


def _write_tokenizer(w, tokenizer, pre: str, specials: dict[str, int], add_bos: bool,
                     model: str) -> None:  # fmt: skip
    spec = json.loads(tokenizer.to_str())
    vocab = spec["model"]["vocab"]
    tokens = [""] * tokenizer.vocab_size
    for text, i in vocab.items():
        tokens[i] = text
    types = [1] * len(tokens)
    for t in spec["added_tokens"]:
        tokens[t["id"]], types[t["id"]] = t["content"], 3  # CONTROL
    merges = [" ".join(m) if isinstance(m, list) else m for m in spec["model"]["merges"]]
    w.add_string("tokenizer.ggml.model", model)
    w.add_string("tokenizer.ggml.pre", pre)
    w.add_array("tokenizer.ggml.tokens", tokens)
    w.add_array("tokenizer.ggml.token_type", types)
    w.add_array("tokenizer.ggml.merges", merges)
    for name, token_id in specials.items():
        w.add_uint32(f"tokenizer.ggml.{name}_token_id", token_id)
    w.add_bool("tokenizer.ggml.add_bos_token", add_bos)


def _permute(weights: np.ndarray, n_head: int) -> np.ndarray:
    """convert_hf_to_gguf.py's LlamaModel.permute: (i, i + hs/2) pairs -> (2i, 2i+1)."""
    return (weights.reshape(n_head, 2, weights.shape[0] // n_head // 2, *weights.shape[1:])
            .swapaxes(1, 2).reshape(weights.shape))  # fmt: skip


def _gguf_tensors(model, tied: bool | None):
    c = model.config
    state = {k: v.detach().float().numpy() for k, v in model.state_dict().items()}
    tied = c.tie_word_embeddings if tied is None else tied
    yield "token_embd.weight", state["model.embed_tokens.weight"]
    for i in range(c.num_hidden_layers):
        p, g = f"model.layers.{i}.", f"blk.{i}."
        yield g + "attn_norm.weight", state[p + "input_layernorm.weight"]
        yield g + "attn_q.weight", _permute(state[p + "self_attn.q_proj.weight"],
                                            c.num_attention_heads)  # fmt: skip
        yield g + "attn_k.weight", _permute(state[p + "self_attn.k_proj.weight"],
                                            c.num_key_value_heads)  # fmt: skip
        yield g + "attn_v.weight", state[p + "self_attn.v_proj.weight"]
        yield g + "attn_output.weight", state[p + "self_attn.o_proj.weight"]
        yield g + "ffn_norm.weight", state[p + "post_attention_layernorm.weight"]
        yield g + "ffn_gate.weight", state[p + "mlp.gate_proj.weight"]
        yield g + "ffn_up.weight", state[p + "mlp.up_proj.weight"]
        yield g + "ffn_down.weight", state[p + "mlp.down_proj.weight"]
    yield "output_norm.weight", state["model.norm.weight"]
    if not tied:
        yield "output.weight", state["lm_head.weight"]


def _add(w, name: str, tensor: np.ndarray, qtype: str) -> None:
    from gguf import GGMLQuantizationType
    from gguf.quants import quantize

    kind = GGMLQuantizationType[qtype]
    if qtype in ("F32", "F16"):
        w.add_tensor(name, tensor.astype(np.float32 if qtype == "F32" else np.float16))
        return
    data = {"Q4_K": quantize_q4_k, "Q6_K": quantize_q6_k}.get(qtype, lambda x: quantize(x, kind))
    w.add_tensor(name, data(tensor.astype(np.float32)), raw_dtype=kind)


def _f16(x: np.ndarray) -> np.ndarray:
    return x.astype(np.float16)


def quantize_q4_k(x: np.ndarray) -> np.ndarray:
    """Q4_K blocks: per 256 values d, dmin (f16), 8 six-bit scales and mins, 256 nibbles;
    value = d * scale_j * q - dmin * min_j for sub-block j of 32."""
    rows = x.shape[0]
    sub = x.reshape(-1, 8, 32)  # (blocks, sub-blocks, values)
    low = np.minimum(sub.min(axis=2), 0)  # (B, 8)
    step = (sub.max(axis=2) - low) / 15
    d = _f16(step.max(axis=1) / 63)  # (B,)
    dmin = _f16(-low.min(axis=1) / 63)
    df, dminf = d.astype(np.float32)[:, None], dmin.astype(np.float32)[:, None]
    scale = np.clip(np.round(np.divide(step, df, out=np.zeros_like(step), where=df > 0)), 0, 63)
    mins = np.clip(np.round(np.divide(-low, dminf, out=np.zeros_like(low), where=dminf > 0)), 0, 63)
    unit = (df * scale)[:, :, None]
    q = np.divide(sub + (dminf * mins)[:, :, None], unit, out=np.zeros_like(sub), where=unit > 0)
    q = np.clip(np.round(q), 0, 15).astype(np.uint8)
    sc, mn = scale.astype(np.uint8), mins.astype(np.uint8)
    packed = np.concatenate([sc[:, :4] | ((sc[:, 4:] >> 4) << 6), mn[:, :4] | ((mn[:, 4:] >> 4) << 6),
                             (sc[:, 4:] & 0xF) | ((mn[:, 4:] & 0xF) << 4)], axis=1)  # fmt: skip
    qs = (q[:, 0::2] | (q[:, 1::2] << 4)).reshape(-1, 128)  # sub-blocks 2g, 2g+1 share 32 bytes
    blocks = np.concatenate([d[:, None].view(np.uint8), dmin[:, None].view(np.uint8),
                             packed, qs], axis=1)  # fmt: skip
    return blocks.reshape(rows, -1)


def quantize_q6_k(x: np.ndarray) -> np.ndarray:
    """Q6_K blocks: per 256 values 128 bytes of low nibbles, 64 of high bit pairs, 16 int8
    scales and d (f16); value = d * scale_j * (q - 32) for sub-block j of 16."""
    rows = x.shape[0]
    sub = x.reshape(-1, 16, 16)
    step = np.abs(sub).max(axis=2) / 31
    d = _f16(step.max(axis=1) / 127)
    df = d.astype(np.float32)[:, None]
    scale = np.clip(np.round(np.divide(step, df, out=np.zeros_like(step), where=df > 0)), 0, 127)
    unit = (df * scale)[:, :, None]
    q = np.divide(sub, unit, out=np.zeros_like(sub), where=unit > 0)
    u = (
        (np.clip(np.round(q), -32, 31) + 32).astype(np.uint8).reshape(-1, 2, 4, 32)
    )  # (B, half, quarter, 32)
    low, high = u & 0xF, u >> 4
    ql = (low[:, :, 0:2] | (low[:, :, 2:4] << 4)).reshape(-1, 128)
    qh = high[:, :, 0] | (high[:, :, 1] << 2) | (high[:, :, 2] << 4) | (high[:, :, 3] << 6)
    blocks = np.concatenate([ql, qh.reshape(-1, 64), scale.astype(np.int8).view(np.uint8),
                             d[:, None].view(np.uint8)], axis=1)  # fmt: skip
    return blocks.reshape(rows, -1)
