"""Engine decoding: equal to the naive reference, one-pass prefill, sliding, batches, cancel."""

import pytest
import torch

from lmcore.engine import Engine, Request, reference_generate, window_start
from lmcore.sampling import SamplingParams

GREEDY = SamplingParams(max_new_tokens=24, temperature=0, top_logprobs=20)


@pytest.fixture
def engine(gen_model, small_tokenizer):
    return Engine(gen_model, small_tokenizer.bytes_table(), keep=16)


def prompt_of(n: int, offset: int = 0) -> list[int]:
    return [(7 * i + offset) % 256 + 5 for i in range(n)]


def tokens(events, stream=0):
    return [e for e in events if e["event"] == "token" and e["stream"] == stream]


def done(events, stream=0):
    return next(e for e in events if e["event"] == "done" and e["stream"] == stream)


@pytest.fixture
def forwards(gen_model, monkeypatch):
    """Records the (batch, length) of every model forward."""
    calls = []
    original = gen_model.forward

    def counting(idx, *args, **kw):
        calls.append(tuple(idx.shape))
        return original(idx, *args, **kw)

    monkeypatch.setattr(gen_model, "forward", counting)
    return calls


@pytest.mark.parametrize("prompt_len, new", [(5, 20), (10, 60), (45, 10)])
def test_greedy_decoding_equals_the_naive_reference(engine, gen_model, prompt_len, new):
    # (10, 60) slides past the 32-token context twice; (45, 10) starts beyond it.
    params = SamplingParams(max_new_tokens=new, temperature=0, top_logprobs=20)
    events = list(engine.generate(prompt_of(prompt_len), params))
    reference = reference_generate(gen_model, prompt_of(prompt_len), params, keep=16)
    assert [e["id"] for e in tokens(events)] == [r.id for r in reference]
    for event, ref in zip(tokens(events), reference, strict=True):
        top_ids = [t["id"] for t in event["top"]]
        ours = torch.tensor([t["logprob"] for t in event["top"]])
        assert torch.allclose(ours, ref.logprobs[top_ids], atol=1e-4)
        assert event["logprob"] == pytest.approx(ref.logprobs[event["id"]].item(), abs=1e-4)


def test_seeded_sampling_equals_the_naive_reference(engine, gen_model):
    params = SamplingParams(max_new_tokens=30, temperature=0.9, top_k=50, top_p=0.95,
                            repetition_penalty=1.2, seed=11)  # fmt: skip
    ours = [e["id"] for e in tokens(engine.generate(prompt_of(8), params))]
    assert ours == [r.id for r in reference_generate(gen_model, prompt_of(8), params, keep=16)]


def test_the_prompt_is_prefilled_in_one_pass_then_one_token_per_step(engine, forwards):
    list(engine.generate(prompt_of(12), SamplingParams(max_new_tokens=8, temperature=0)))
    # All but the last prompt token fill the cache; each token then costs one forward.
    assert forwards == [(1, 11)] + [(1, 1)] * 8


def test_a_long_prompt_keeps_its_end_with_room_for_the_answer(engine, forwards):
    list(engine.generate(prompt_of(30), SamplingParams(max_new_tokens=12, temperature=0)))
    # 21 prompt tokens + 11 answer tokens fed back = the 32-token context: no slide.
    assert forwards == [(1, 20)] + [(1, 1)] * 12


def test_a_long_sequence_slides_by_recomputing_the_last_window(engine, forwards):
    list(engine.generate(prompt_of(30), SamplingParams(max_new_tokens=30, temperature=0)))
    # Room for at most context - keep = 16 answer tokens: the prompt keeps its last 16;
    # n - start reaches 33 after 17 tokens: refill the last 16, then decode again.
    assert forwards == [(1, 15)] + [(1, 1)] * 17 + [(1, 15)] + [(1, 1)] * 13


def test_window_start_slides_by_context_minus_keep():
    starts, start = [], 0
    for n in range(1, 60):
        start = window_start(start, n, context=32, keep=16)
        starts.append(start)
    assert max(n - s for n, s in zip(range(1, 60), starts, strict=True)) == 32
    assert sorted(set(starts)) == [0, 17, 34]


def test_a_batch_equals_the_individual_runs(engine):
    prompts = [prompt_of(5), prompt_of(9, 3), prompt_of(14, 1)]
    batch = list(engine.generate_batch([Request(p, GREEDY) for p in prompts]))
    for i, prompt in enumerate(prompts):
        alone = tokens(engine.generate(prompt, GREEDY))
        assert [e["id"] for e in tokens(batch, i)] == [e["id"] for e in alone]
        assert [e["logprob"] for e in tokens(batch, i)] == pytest.approx(
            [e["logprob"] for e in alone], abs=1e-4
        )
        assert done(batch, i)["tokens"] == GREEDY.max_new_tokens


def test_a_batch_of_seeds_equals_the_seeded_runs(engine):
    params = [SamplingParams(max_new_tokens=20, seed=s) for s in (1, 2, 3)]
    batch = list(engine.generate_batch([Request(prompt_of(6), p) for p in params]))
    for i, p in enumerate(params):
        alone = [e["id"] for e in tokens(engine.generate(prompt_of(6), p))]
        assert [e["id"] for e in tokens(batch, i)] == alone
    assert len({tuple(e["id"] for e in tokens(batch, i)) for i in range(3)}) == 3


def test_batched_streams_can_end_at_different_times(engine):
    requests = [Request(prompt_of(4), SamplingParams(max_new_tokens=3, temperature=0)),
                Request(prompt_of(4), SamplingParams(max_new_tokens=9, temperature=0))]  # fmt: skip
    events = list(engine.generate_batch(requests))
    assert len(tokens(events, 0)) == 3 and len(tokens(events, 1)) == 9
    assert events.index(done(events, 0)) < events.index(done(events, 1)) == len(events) - 1


def test_cancel_stops_within_one_token(engine, forwards):
    flag = {"cancel": False}
    events = []
    for event in engine.generate(prompt_of(6), SamplingParams(max_new_tokens=50),
                                 cancel=lambda: flag["cancel"]):  # fmt: skip
        events.append(event)
        if len(events) == 3:
            flag["cancel"] = True
    assert [e["event"] for e in events] == ["token"] * 3 + ["done"]
    assert events[-1]["reason"] == "cancelled" and events[-1]["tokens"] == 3
    assert len(forwards) == 4  # prefill + three decodes: no forward after the cancel


def test_cancel_before_the_start_computes_nothing(engine, forwards):
    events = list(engine.generate(prompt_of(6), SamplingParams(), cancel=lambda: True))
    assert events == [done(events)] and events[0]["tokens"] == 0 and forwards == []


def test_a_random_seed_is_exact_in_json_and_gives_the_same_text_again(engine):
    """Seeds below 2^53 survive a browser's JSON.parse (doubles), so the one shown can be
    typed back; with 63-bit seeds 999 in 1,000 were rounded."""
    params = SamplingParams(max_new_tokens=8, temperature=1.0)
    for _ in range(20):
        events = list(engine.generate(prompt_of(6), params))
        seed = events[-1]["seed"]
        assert 0 <= seed < 2**53 and float(seed) == seed
    again = list(engine.generate(prompt_of(6), SamplingParams(max_new_tokens=8, seed=seed)))
    assert [e["id"] for e in again[:-1]] == [e["id"] for e in events[:-1]]


def test_the_done_event_reports_timing_and_seed(engine):
    last = list(engine.generate(prompt_of(6), SamplingParams(max_new_tokens=10, seed=5)))[-1]
    assert last["reason"] == "max_new_tokens" and last["seed"] == 5 and last["tokens"] == 10
    assert last["ttft_ms"] > 0 and last["tokens_per_s"] > 0
