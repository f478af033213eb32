"""Architecture options keep older checkpoints exact.

tests/lmcore/legacy.py writes two checkpoints in the layout lmcore saved before GPTConfig had
architecture options (tied; untied with grouped-query attention), and tests/lmcore/data/legacy/
holds what that earlier code computed on them (expected.json).
"""

import json

import pytest
import torch

from lmcore.checkpoint import load_checkpoint
from lmcore.estimate import estimate_params
from lmcore.model import GPT, GPTConfig
from tests.lmcore.legacy import DATA, NAMES, summary, write_checkpoint


@pytest.mark.parametrize("name", NAMES)
def test_it_loads_a_checkpoint_saved_before_the_options_and_computes_the_same(name, tmp_path):
    assert "mlp" not in json.loads((DATA / name / "config.json").read_text())["model"]
    expected = write_checkpoint(name, tmp_path)
    got = summary(load_checkpoint(tmp_path).model)
    # Within float rounding, not bit for bit: other CPUs' kernels may sum in another order;
    # any change to the block (a norm's eps, a rotation's sign) moves the logits by orders of
    # magnitude more.
    for key in ("last_logits", "logsumexp"):
        torch.testing.assert_close(torch.tensor(got[key]), torch.tensor(expected[key]),
                                   rtol=0, atol=1e-6)  # fmt: skip
    assert got["argmax"] == expected["argmax"] and got["greedy"] == expected["greedy"]


def test_default_options_draw_the_same_initial_weights():
    cfg = dict(vocab_size=64, context=16, n_layer=2, n_head=2, d_model=32)
    torch.manual_seed(0)
    plain = GPT(GPTConfig(**cfg)).state_dict()
    torch.manual_seed(0)
    spelt = GPT(GPTConfig(**cfg, norm_eps=None, embed_norm=True, qk_norm=True)).state_dict()
    assert plain.keys() == spelt.keys()
    assert all(torch.equal(plain[k], spelt[k]) for k in plain)


LLAMA_LIKE = dict(norm_gain=True, embed_norm=False, qk_norm=False, mlp="swiglu",
                  mlp_hidden=40, rope_sign=1, norm_eps=1e-5)  # fmt: skip


@pytest.mark.parametrize("options", [LLAMA_LIKE, {"logit_softcap": 15.0, "norm_eps": 1e-6}])
def test_options_count_their_parameters_and_train(options):
    cfg = GPTConfig(vocab_size=64, context=16, n_layer=2, n_head=4, n_kv_head=2, d_model=32,
                    **options)  # fmt: skip
    model = GPT(cfg)
    assert estimate_params(cfg) == model.num_params()
    ids = torch.randint(0, 64, (2, 16))
    _, loss = model(ids, targets=ids)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())


@pytest.mark.parametrize(
    "bad", [{"mlp": "gelu"}, {"rope_sign": 0}, {"norm_eps": 0.0}, {"logit_softcap": -1.0}]
)
def test_it_refuses_bad_options(bad):
    with pytest.raises(ValueError):
        GPTConfig(vocab_size=64, d_model=32, n_head=2, **bad)
