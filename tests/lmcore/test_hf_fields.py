"""The field table between lmcore and `transformers` (lmcore/hf_fields.py) goes both ways."""

import pytest

from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.hf_fields import FAMILIES, FP32_EPS, MAX_CONTEXT, family, gpt_config, hf_config

SHAPE = dict(vocab_size=300, context=512, n_layer=3, n_head=4, n_kv_head=2, d_model=64,
             mlp_hidden=96, rope_base=50000.0, norm_eps=1e-5)  # fmt: skip


@pytest.mark.parametrize("name", sorted(FAMILIES))
@pytest.mark.parametrize("tie", [True, False])
def test_a_config_comes_back_as_it_went_out(name, tie):
    cfg = GPTConfig(**SHAPE, tie_weights=tie, **FAMILIES[name].options)
    hf = hf_config(cfg)
    assert (hf["architectures"], hf["model_type"]) == ([FAMILIES[name].architecture], name)
    assert family(cfg) == name
    assert gpt_config(hf) == cfg


def test_the_export_writes_lmcores_defaults_as_numbers():
    cfg = GPTConfig(vocab_size=300, context=8192, n_head=4, d_model=64)  # lmcore's own block
    hf = hf_config(cfg)
    assert hf["rms_norm_eps"] == FP32_EPS and hf["intermediate_size"] == 256
    assert hf["rope_parameters"] == {"rope_type": "default", "rope_theta": 10000.0}
    back = gpt_config(hf)
    assert back.norm_eps == FP32_EPS and back.context == MAX_CONTEXT and back.d_hidden == 256


def test_the_import_says_which_field_is_missing():
    hf = hf_config(GPTConfig(vocab_size=300, n_head=4, d_model=64))
    del hf["num_attention_heads"]
    with pytest.raises(LmcoreError, match="config.json lacks num_attention_heads"):
        gpt_config(hf)
