"""Optimizers and schedule (lmcore/optim.py): Muon's orthogonalised steps, which weights each
rule updates, exact save/restore of the state, and the learning-rate factor."""

import io
import math

import pytest
import torch

from lmcore.config import TrainConfig
from lmcore.errors import LmcoreError
from lmcore.model import GPT, GPTConfig
from lmcore.optim import MuonAdamW, lr_factor, make_optimizer, orthogonalize

CPU = torch.device("cpu")


def _model(**overrides) -> GPT:
    torch.manual_seed(0)
    return GPT(GPTConfig(**{**dict(vocab_size=64, context=16, n_layer=2, n_head=2, d_model=16),
                            **overrides}))  # fmt: skip


def _step(model: GPT, optimizer, seed: int) -> float:
    generator = torch.Generator().manual_seed(seed)
    x = torch.randint(0, model.config.vocab_size, (4, 16), generator=generator)
    _, loss = model(x, x.roll(-1, dims=1))
    loss.backward()
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return loss.item()


@pytest.mark.parametrize("shape", [(32, 96), (96, 32), (48, 48)])
def test_newton_schulz_sets_every_singular_value_near_one(shape):
    """Singular values spread over two decades (one direction dominates a gradient, as is
    usual) all come out near 1, with the singular vectors kept: O ~ U V^T."""
    generator = torch.Generator().manual_seed(0)
    k = min(shape)
    U, _ = torch.linalg.qr(torch.randn(shape[0], k, generator=generator))
    V, _ = torch.linalg.qr(torch.randn(shape[1], k, generator=generator))
    G = U @ torch.diag(torch.logspace(0, 2, k)) @ V.T
    polar = orthogonalize(G)
    singular = torch.linalg.svdvals(polar)
    assert polar.shape == G.shape and singular.min() > 0.6 and singular.max() < 1.25
    assert torch.nn.functional.cosine_similarity((U @ V.T).flatten(), polar.flatten(), dim=0) > 0.95


def test_muon_takes_the_blocks_matrices_and_adamw_the_rest():
    for tie in (True, False):
        model = _model(tie_weights=tie, norm_gain=True)
        optimizer = make_optimizer(model, TrainConfig(optimizer="muon", max_steps=1), CPU)
        names = {id(p): n for n, p in model.named_parameters()}
        kinds = {names[id(p)]: g["kind"] for g in optimizer.param_groups for p in g["params"]}
        assert set(kinds) == set(names.values())  # every weight once, the tied one too
        muon = sorted(n for n, k in kinds.items() if k == "muon")
        assert muon == sorted(n for n, p in model.named_parameters()
                              if n.startswith("blocks.") and p.dim() == 2)  # fmt: skip
        assert kinds["wte.weight"] == "adamw" and kinds["ln_f.weight"] == "adamw"
        assert tie or kinds["lm_head.weight"] == "adamw"
    assert isinstance(make_optimizer(model, TrainConfig(max_steps=1), CPU), torch.optim.AdamW)


def test_muon_refuses_vectors_and_groups_without_a_kind():
    with pytest.raises(ValueError, match="2-D"):
        MuonAdamW([{"params": [torch.nn.Parameter(torch.ones(3))], "kind": "muon"}])
    with pytest.raises(ValueError, match="kind"):
        MuonAdamW([{"params": [torch.nn.Parameter(torch.ones(3))]}])


def test_muon_lowers_the_loss_of_a_small_model():
    model = _model()
    optimizer = make_optimizer(model, TrainConfig(optimizer="muon", lr=1e-2, max_steps=1), CPU)
    losses = [_step(model, optimizer, seed=0) for _ in range(30)]  # one batch, learnt by heart
    assert losses[-1] < 0.5 * losses[0]


@pytest.mark.parametrize("name", ["muon", "adamw"])
def test_a_restored_state_continues_bit_for_bit(name):
    """Save after 3 steps (as checkpoints do: torch.save, read back weights_only), restore
    into a fresh model + optimizer, take 3 more: the same losses and weights as not stopping."""
    cfg = TrainConfig(optimizer=name, max_steps=1)
    model = _model()
    optimizer = make_optimizer(model, cfg, CPU)
    for seed in range(3):
        _step(model, optimizer, seed)
    buffer = io.BytesIO()
    torch.save({"model": model.state_dict(), "optimizer": optimizer.state_dict()}, buffer)
    buffer.seek(0)
    saved = torch.load(buffer, weights_only=True)
    restored = _model()
    restored.load_state_dict(saved["model"])
    restored_optimizer = make_optimizer(restored, cfg, CPU)
    restored_optimizer.load_state_dict(saved["optimizer"])
    assert [_step(model, optimizer, s) for s in range(3, 6)] == [
        _step(restored, restored_optimizer, s) for s in range(3, 6)
    ]
    after, expected = restored.state_dict(), model.state_dict()
    assert all(torch.equal(after[k], expected[k]) for k in expected)


def test_a_muon_state_does_not_load_into_adamw():
    model = _model()
    muon = make_optimizer(model, TrainConfig(optimizer="muon", max_steps=1), CPU)
    _step(model, muon, 0)
    adamw = make_optimizer(model, TrainConfig(max_steps=1), CPU)
    with pytest.raises(ValueError):
        adamw.load_state_dict(muon.state_dict())


def test_cosine_schedule_warms_up_then_decays_to_the_floor():
    cfg = TrainConfig(lr=1.0, warmup_steps=10, min_lr_ratio=0.1, max_steps=100)
    assert lr_factor(cfg, 0, 0.0) == pytest.approx(0.1)
    assert lr_factor(cfg, 9, 0.09) == pytest.approx(
        0.5 * (1 + math.cos(math.pi * 0.09)) * 0.9 + 0.1
    )
    assert lr_factor(cfg, 50, 0.5) == pytest.approx(0.55)
    assert lr_factor(cfg, 100, 1.0) == pytest.approx(0.1)


def test_warmdown_holds_the_peak_then_decays_linearly():
    cfg = TrainConfig(warmup_steps=0, warmdown=0.4, max_steps=100)
    assert [lr_factor(cfg, 0, p) for p in (0.0, 0.6, 0.8, 1.0, 1.2)] == pytest.approx(
        [1.0, 1.0, 0.5, 0.0, 0.0]
    )
    assert lr_factor(TrainConfig(warmup_steps=4, warmdown=0.5, max_steps=9), 1, 0.1) == 0.5


@pytest.mark.parametrize(
    "bad", [dict(optimizer="sgd"), dict(muon_lr=0.0), dict(warmdown=0.0), dict(warmdown=1.5)]
)
def test_bad_optimizer_settings_are_refused(bad):
    with pytest.raises(LmcoreError):
        TrainConfig(**{"max_steps": 10, **bad}).validate()


def test_presets_train_with_muon_and_fine_tune_with_adamw():
    from lmcore.presets import PRESETS, configs_from_preset

    for name in PRESETS:
        _, cfg = configs_from_preset(name, 512)
        assert (cfg.optimizer, cfg.warmdown) == ("muon", 0.4)
        _, ft = configs_from_preset(name, 512, init_from="parent")
        assert (ft.optimizer, ft.warmdown) == ("adamw", None)
    _, ft = configs_from_preset("tiny", 512, init_from="parent", optimizer="muon", lr=1e-3)
    assert (ft.optimizer, ft.lr) == ("muon", 1e-3)  # the caller's choice wins
