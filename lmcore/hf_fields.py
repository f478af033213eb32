"""The one table between lmcore and `transformers`: config fields and weight names, both ways.

`FAMILIES` says what each supported architecture fixes (the GPTConfig options that make
lmcore's block compute what it computes), `FIELDS` which config.json key says the same as
each remaining GPTConfig field, and `MATRICES` what each weight matrix is called on either
side. Export (lmcore/hf_export.py: `hf_config`, `name_map`), import (lmcore/hf_import.py:
`gpt_config`, `name_map`) and the PEFT form of an adapter (lmcore/adapters.py: `hf_matrix`)
all read them, so a field added here goes both ways at once. The options themselves are in
docs/architecture.md, "Model architecture options".

Example: `gpt_config(hf_config(cfg)) == cfg` for a `cfg` that `family` accepts, with its MLP
width and norm epsilon set and a context of at most MAX_CONTEXT.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError

FP32_EPS = 2.0**-23  # torch.finfo(torch.float32).eps: what F.rms_norm uses when eps is None
MAX_CONTEXT = 4096  # the engine preallocates a KV cache of the context's length per request
REQUIRED = object()  # a FIELDS default: config.json must say it


@dataclass(frozen=True)
class Family:
    architecture: str  # config.json's "architectures"[0]; the family's name is its model_type
    hidden_act: str
    options: dict[str, Any]  # the GPTConfig fields this architecture fixes


FAMILIES = {
    "nanochat": Family("NanoChatForCausalLM", "relu2", {
        "mlp": "relu2", "qk_norm": True, "embed_norm": True, "norm_gain": False, "rope_sign": -1,
    }),
    "llama": Family("LlamaForCausalLM", "silu", {
        "mlp": "swiglu", "qk_norm": False, "embed_norm": False, "norm_gain": True, "rope_sign": 1,
        "logit_softcap": None,
    }),
}  # fmt: skip


@dataclass(frozen=True)
class Field:
    lm: str  # GPTConfig's field
    hf: str  # config.json's key
    default: Any = REQUIRED  # on import, when config.json lacks the key
    out: Callable[[GPTConfig], Any] | None = None  # on export, instead of getattr(cfg, lm)
    into: Callable[[Any], Any] | None = None  # on import, the value as GPTConfig takes it
    under: str | None = None  # on export, the config.json object holding the key


FIELDS = (
    Field("vocab_size", "vocab_size"),
    Field("d_model", "hidden_size"),
    Field("mlp_hidden", "intermediate_size", out=lambda cfg: cfg.d_hidden),
    Field("n_layer", "num_hidden_layers"),
    Field("n_head", "num_attention_heads"),
    Field("n_kv_head", "num_key_value_heads", None, into=lambda v: v or None),  # None: n_head
    Field("context", "max_position_embeddings", 2048, into=lambda v: min(v, MAX_CONTEXT)),
    Field("norm_eps", "rms_norm_eps", 1e-6, into=float,
          out=lambda cfg: FP32_EPS if cfg.norm_eps is None else cfg.norm_eps),
    Field("rope_base", "rope_theta", 10000.0, into=float, under="rope_parameters"),
    Field("tie_weights", "tie_word_embeddings", False, into=bool),
    Field("logit_softcap", "final_logit_softcapping", 15.0),
)  # fmt: skip

# Each weight matrix of a block: lmcore's name, and per family `transformers`' (and PEFT's,
# whose target module is the last part). k and v are the two halves of lmcore's c_kv.
MATRICES = {
    "q": ("attn.c_q", "self_attn.q_proj", "self_attn.q_proj"),
    "k": ("attn.c_kv", "self_attn.k_proj", "self_attn.k_proj"),
    "v": ("attn.c_kv", "self_attn.v_proj", "self_attn.v_proj"),
    "o": ("attn.c_proj", "self_attn.o_proj", "self_attn.o_proj"),
    "gate": ("mlp.c_gate", "mlp.gate_proj", None),
    "up": ("mlp.c_fc", "mlp.up_proj", "mlp.fc1"),
    "down": ("mlp.c_proj", "mlp.down_proj", "mlp.fc2"),
}  # (lmcore, llama, nanochat); None: the family has no such matrix
NORMS = {"ln_1": "input_layernorm", "ln_2": "post_attention_layernorm"}  # gains: llama only


def hf_matrix(target: str, family_name: str) -> str | None:
    """`transformers`' name of a block's matrix in a family ("up", "llama" -> "mlp.up_proj")."""
    return MATRICES[target][1 if family_name == "llama" else 2]


def family(cfg: GPTConfig) -> str:
    """ "nanochat" or "llama": the `transformers` architecture that computes what `cfg` does."""
    for name, fam in FAMILIES.items():
        if all(getattr(cfg, option) == value for option, value in fam.options.items()):
            return name
    raise LmcoreError("this combination of architecture options has no transformers equivalent")


def hf_config(cfg: GPTConfig) -> dict[str, Any]:
    """config.json's model fields (without dtype and token ids) for `cfg`."""
    name = family(cfg)
    fam = FAMILIES[name]
    out: dict[str, Any] = {"architectures": [fam.architecture], "model_type": name}
    for f in FIELDS:
        if f.lm in fam.options:
            continue
        value = f.out(cfg) if f.out else getattr(cfg, f.lm)
        if f.under:
            out.setdefault(f.under, {"rope_type": "default"})[f.hf] = value
        else:
            out[f.hf] = value
    out |= {"attention_bias": False, "attention_dropout": 0.0, "hidden_act": fam.hidden_act}
    if name == "llama":
        out |= {"mlp_bias": False, "head_dim": cfg.head_dim}
    return out


def gpt_config(hf: dict[str, Any]) -> GPTConfig:
    """The GPTConfig computing what a `transformers` config.json describes, or LmcoreError."""
    arch = (hf.get("architectures") or [None])[0]
    names = {fam.architecture: name for name, fam in FAMILIES.items()}
    name = names.get(arch) if isinstance(arch, str) else None
    if name is None or hf.get("model_type") != name:
        raise LmcoreError(
            f"unsupported model: architectures {hf.get('architectures')!r}, model_type "
            f"{hf.get('model_type')!r}. Supported: {', '.join(names)} "
            f"(model_type {', '.join(repr(n) for n in names.values())})"
        )
    fam = FAMILIES[name]
    rope = hf.get("rope_parameters") or hf.get("rope_scaling") or {}
    rope_type = rope.get("rope_type", rope.get("type", "default"))
    d, heads = hf.get("hidden_size"), hf.get("num_attention_heads")
    refusals = [
        (rope_type != "default", f"rope type {rope_type!r} (only the default rotary)"),
        (hf.get("attention_bias") or hf.get("mlp_bias"), "biases in attention or the MLP"),
        (hf.get("hidden_act", fam.hidden_act) != fam.hidden_act,
         f"activation {hf.get('hidden_act')!r}"),
        (isinstance(d, int) and isinstance(heads, int) and heads > 0
         and hf.get("head_dim") not in (None, d // heads), "a head_dim other than hidden/heads"),
    ]  # fmt: skip
    for refused, what in refusals:
        if refused:
            raise LmcoreError(f"{arch} with {what} is not supported")
    values = {**hf, **rope}  # the rope object's keys first (rope_theta), then the top level
    try:
        fields = {}
        for f in FIELDS:
            if f.lm in fam.options:
                continue
            if f.default is REQUIRED and f.hf not in values:
                raise KeyError(f.hf)
            value = values.get(f.hf, f.default)
            fields[f.lm] = f.into(value) if f.into else value
        return GPTConfig(**fields, **fam.options)
    except KeyError as exc:
        raise LmcoreError(f"config.json lacks {exc.args[0]}") from None
    except (TypeError, ValueError) as exc:
        raise LmcoreError(f"config.json describes an impossible model ({exc})") from None


def name_map(cfg: GPTConfig) -> dict[str, list[str]]:
    """lmcore tensor name -> its `transformers` tensor(s); c_kv is [k_proj, v_proj] stacked."""
    name = family(cfg)
    llama = name == "llama"
    names = {"wte.weight": ["model.embed_tokens.weight"]}
    for i in range(cfg.n_layer):
        hf, lm = f"model.layers.{i}.", f"blocks.{i}."
        for target, (lm_matrix, *_) in MATRICES.items():
            hf_name = hf_matrix(target, name)
            if hf_name is not None:
                names.setdefault(f"{lm}{lm_matrix}.weight", []).append(f"{hf}{hf_name}.weight")
        if llama:
            names |= {f"{lm}{n}.weight": [f"{hf}{h}.weight"] for n, h in NORMS.items()}
    if llama:
        names["ln_f.weight"] = ["model.norm.weight"]
    if not cfg.tie_weights:
        names["lm_head.weight"] = ["lm_head.weight"]
    return names
