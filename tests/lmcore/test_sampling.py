"""Sampling controls on hand-made logits: ranges, greedy, temperature, top-k, top-p, penalty."""

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from lmcore.errors import LmcoreError
from lmcore.sampling import BatchSampler, SamplingParams, inverse_cdf, sample_step

CPU = torch.device("cpu")


def sampler(**kw) -> BatchSampler:
    return BatchSampler.for_params([SamplingParams(**kw)], CPU)


def logits_of(probs) -> torch.Tensor:
    return torch.tensor([probs], dtype=torch.float32).log()  # (1, V)


@pytest.mark.parametrize(
    "kw, words",
    [
        ({"temperature": -0.1}, "temperature"),
        ({"temperature": math.nan}, "temperature"),
        ({"temperature": 1e-9}, "temperature"),
        ({"top_p": 0.0}, "top_p"),
        ({"top_p": 1.5}, "top_p"),
        ({"top_k": -1}, "top_k"),
        ({"max_new_tokens": 0}, "max_new_tokens"),
        ({"max_new_tokens": 5000}, "max_new_tokens"),
        ({"top_logprobs": 21}, "top_logprobs"),
        ({"repetition_penalty": 0.0}, "repetition_penalty"),
        ({"repetition_penalty": 1e-300}, "repetition_penalty"),
        ({"repetition_penalty": 1e300}, "repetition_penalty"),
        ({"top_k": 2**63}, "top_k"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**53}, "seed must be between 0 and 9007199254740991"),  # not exact in JSON
        ({"stop": [""]}, "stop"),
        ({"stop": ["x"] * 9}, "stop"),
    ],
)
def test_it_refuses_settings_out_of_range(kw, words):
    with pytest.raises(LmcoreError, match=words):
        SamplingParams(**kw).validate()


def test_problems_name_every_setting_out_of_range_and_validate_raises_the_first():
    bad = SamplingParams(max_new_tokens=0, temperature=-1, top_p=0, stop=["x"] * 9)
    assert bad.problems() == {
        "max_new_tokens": "must be between 1 and 4096, not 0",
        "temperature": "must be 0 (greedy) or at least 0.01, not -1",
        "top_p": "must be in (0, 1], not 0",
        "stop": "must hold at most 8 strings, not 9",
    }
    with pytest.raises(LmcoreError, match=r"^max_new_tokens must be between 1 and 4096, not 0$"):
        bad.validate()
    assert SamplingParams().problems() == {}


@pytest.mark.parametrize(
    "kw",
    [{"repetition_penalty": 0.01}, {"repetition_penalty": 100.0}, {"top_k": 2**63 - 1},
     {"temperature": 1e300, "top_p": 1e-300}, {"temperature": 0.01, "repetition_penalty": 0.01}],
)  # fmt: skip
def test_settings_at_the_limits_still_sample_a_distribution(kw):
    """What validate() accepts, the float32 sampler computes: no NaN, a real choice. (A
    penalty of 1e-300 is 0 in float32: the seen logits became infinities and NaN.)"""
    SamplingParams(**kw).validate()
    logits = torch.randn(1, 50, generator=torch.Generator().manual_seed(3)) * 30
    seen = torch.zeros(1, 50, dtype=torch.bool)
    seen[0, ::3] = True
    step = sample_step(logits, sampler(**kw), torch.tensor([0.5]), seen, top_n=3)
    assert math.isfinite(step.sample_logprob.item()) and math.isfinite(step.logprob.item())
    assert 0 <= step.ids.item() < 50


def test_a_caller_can_lower_the_token_cap():
    SamplingParams(max_new_tokens=300).validate()
    with pytest.raises(LmcoreError, match="between 1 and 100"):
        SamplingParams(max_new_tokens=300).validate(max_new_tokens_cap=100)


def test_greedy_is_a_point_mass_on_the_argmax():
    logits = logits_of([0.2, 0.5, 0.3])
    step = sample_step(logits, sampler(temperature=0), torch.tensor([0.99]), top_n=3)
    assert step.ids.item() == 1 and step.sample_logprob.item() == 0.0
    assert step.logprob.item() == pytest.approx(math.log(0.5), abs=1e-6)
    assert step.top_ids.tolist() == [[1, 2, 0]]
    assert step.top_sample_logprob[0, 1:].isinf().all()


def test_an_all_greedy_batch_chooses_what_a_greedy_row_of_a_mixed_batch_does():
    torch.manual_seed(0)
    logits = torch.randn(2, 50) * 3  # (B, V)
    seen = torch.zeros(2, 50, dtype=torch.bool)
    seen[:, :10] = True
    greedy = SamplingParams(temperature=0, repetition_penalty=1.3)
    params = [greedy, SamplingParams(temperature=0.8, top_k=5, seed=1)]
    mixed = BatchSampler.for_params(params, CPU)
    alone = BatchSampler.for_params([greedy, greedy], CPU)
    assert alone.all_greedy and not mixed.all_greedy
    uniforms = torch.tensor([0.3, 0.6], dtype=torch.float64)
    a = sample_step(logits, mixed, uniforms, seen, top_n=4)
    b = sample_step(logits, alone, uniforms, seen, top_n=4)
    for field in ("ids", "logprob", "sample_logprob", "top_ids", "top_logprob",
                  "top_sample_logprob"):  # fmt: skip
        assert torch.equal(getattr(a, field)[0], getattr(b, field)[0]), field
    assert b.ids[0] == torch.where(seen[0], logits[0] / 1.3, logits[0]).argmax()  # penalised


def test_temperature_rescales_the_sampled_distribution_only():
    logits = logits_of([0.2, 0.5, 0.3])
    step = sample_step(logits, sampler(temperature=0.5), torch.tensor([0.0]), top_n=3)
    expected = torch.log_softmax(logits / 0.5, dim=-1)
    assert torch.allclose(step.top_sample_logprob, expected.gather(1, step.top_ids), atol=1e-6)
    assert torch.allclose(step.top_logprob, torch.log_softmax(logits, -1).gather(1, step.top_ids))


def test_unfiltered_sampling_logprob_equals_the_model_logprob():
    logits = torch.randn(4, 50, generator=torch.Generator().manual_seed(0))
    step = sample_step(logits, BatchSampler.for_params([SamplingParams()] * 4, CPU),
                       torch.rand(4, dtype=torch.float64))  # fmt: skip
    assert torch.allclose(step.logprob, step.sample_logprob, atol=1e-6)


def kept(probs, **kw) -> set[int]:
    x = sampler(**kw).sampling_logits(logits_of(probs), None)
    return set(torch.isfinite(x[0]).nonzero().flatten().tolist())


def test_top_k_keeps_the_k_most_likely():
    assert kept([0.1, 0.4, 0.2, 0.3], top_k=2) == {1, 3}
    assert kept([0.1, 0.4, 0.2, 0.3], top_k=1) == {1}
    assert kept([0.1, 0.4, 0.2, 0.3], top_k=10) == {0, 1, 2, 3}


def test_top_p_keeps_the_smallest_set_with_enough_mass():
    probs = [0.05, 0.5, 0.15, 0.3]
    assert kept(probs, top_p=0.49) == {1}
    assert kept(probs, top_p=0.79) == {1, 3}
    assert kept(probs, top_p=0.81) == {1, 3, 2}
    assert kept(probs, top_p=1.0) == {0, 1, 2, 3}
    assert kept(probs, top_p=0.81, top_k=2) == {1, 3}  # top-k first, then top-p on the rest


@settings(max_examples=60, deadline=None)
@given(st.lists(st.floats(-5, 5), min_size=2, max_size=30), st.floats(0.01, 0.99))
def test_top_p_set_is_minimal(values, p):
    logits = torch.tensor([values])
    probs = torch.softmax(logits, -1)[0]
    keep = sorted(kept(probs.tolist(), top_p=p), key=lambda i: -probs[i])
    mass = probs[keep].sum().item()
    assert mass >= p - 1e-5
    assert len(keep) == 1 or mass - probs[keep[-1]].item() < p + 1e-5


def test_repetition_penalty_makes_seen_tokens_less_likely_whatever_their_sign():
    logits = torch.tensor([[2.0, 1.9, -1.0, -1.1]])
    seen = torch.tensor([[True, False, True, False]])
    x = sampler(repetition_penalty=2.0).sampling_logits(logits, seen)
    assert torch.allclose(x, torch.tensor([[1.0, 1.9, -2.0, -1.1]]))
    step = sample_step(logits, sampler(temperature=0, repetition_penalty=2.0), torch.zeros(1), seen)
    assert step.ids.item() == 1  # greedy now avoids the repeated token 0


@settings(max_examples=60, deadline=None)
@given(st.lists(st.sampled_from([0.0, 0.1, 0.3, 1.0]), min_size=1, max_size=12),
       st.floats(0.0, 0.999999))  # fmt: skip
def test_inverse_cdf_never_picks_an_impossible_token(weights, u):
    probs = torch.tensor([weights])
    if probs.sum() == 0:
        probs[0, -1] = 1.0
    token = inverse_cdf(probs / probs.sum(), torch.tensor([u], dtype=torch.float64)).item()
    assert probs[0, token] > 0


def test_inverse_cdf_follows_the_distribution():
    probs = torch.tensor([[0.25, 0.0, 0.75]])
    picks = [inverse_cdf(probs, torch.tensor([u])).item() for u in (0.0, 0.24, 0.26, 0.99)]
    assert picks == [0, 0, 2, 2]


def test_settings_from_json_are_type_checked():
    params = SamplingParams.from_dict(
        {"temperature": 1, "top_p": 0.5, "seed": None, "stop": ["\n"]}
    )
    assert params.temperature == 1 and params.stop == ["\n"]
    for bad, words in [({"temperature": "hot"}, "temperature must be float"),
                       ({"top_k": 1.5}, "top_k must be int"), ({"seed": True}, "seed"),
                       ({"stop": [1]}, "stop"), ({"beam": 4}, "unknown sampling settings: beam")]:  # fmt: skip
        with pytest.raises(LmcoreError, match=words):
            SamplingParams.from_dict(bad)
