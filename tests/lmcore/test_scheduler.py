"""Continuous batching: a request's answer does not depend on what else runs; the queue,
cancel, chunked prefill and the KV budget."""

import pytest
import torch

from lmcore.config import GPTConfig
from lmcore.errors import LmcoreError
from lmcore.model import GPT
from lmcore.sampling import SamplingParams
from lmcore.scheduler import Scheduler, SchedulerConfig
from lmcore.slotcache import SlotCache, slot_bytes


def prompt_of(n: int, offset: int = 0) -> list[int]:
    return [(7 * i + offset) % 256 + 5 for i in range(n)]


def mixed_requests(n: int = 32) -> list[tuple[list[int], SamplingParams]]:
    """Greedy and seeded requests with every setting varied; some prompts pass the context."""
    requests = []
    for i in range(n):
        prompt = prompt_of([3, 9, 20, 45][i % 4], offset=i)  # 45 > the 32-token context
        if i % 3 == 0:
            params = SamplingParams(max_new_tokens=10 + i, temperature=0, top_logprobs=i % 6)
        else:
            params = SamplingParams(
                max_new_tokens=5 + 2 * i, temperature=[0.7, 1.0, 1.3][i % 3], seed=100 + i,
                top_k=[0, 20][i % 2], top_p=[1.0, 0.9][(i // 2) % 2],
                repetition_penalty=[1.0, 1.3][(i // 4) % 2], top_logprobs=3,
                stop=["ka"] if i % 5 == 0 else [],
            )  # fmt: skip
        requests.append((prompt, params))
    return requests


def run(scheduler: Scheduler, submit_at: dict[int, list] | None = None) -> dict[int, list]:
    """Step until idle, submitting submit_at[step] before that step; events by request id."""
    events: dict[int, list] = {}
    step = 0
    while step in (submit_at or {}) or not scheduler.idle:
        for prompt, params in (submit_at or {}).get(step, []):
            events[scheduler.submit(prompt, params, stream=7)] = []
        for request_id, event in scheduler.step():
            events[request_id].append(event)
        step += 1
    return events


def alone(gen_model, table, prompt, params, **config) -> list[dict]:
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=1, **config))
    return next(iter(run(scheduler, {0: [(prompt, params)]}).values()))


def answer(events: list[dict]) -> tuple:
    tokens = [e for e in events if e["event"] == "token"]
    done = events[-1]
    return ([t["id"] for t in tokens], "".join(t["text"] for t in tokens) + done["text"],
            done["reason"], [[a["id"] for a in t["top"]] for t in tokens])  # fmt: skip


@pytest.fixture
def table(small_tokenizer):
    return small_tokenizer.bytes_table()


def test_32_mixed_requests_answer_as_each_does_alone(gen_model, table):
    requests = mixed_requests(32)
    # Half arrive at the start, the rest while the first half decodes; prompts in chunks of 8.
    arrivals = {0: requests[::2], 3: requests[1::2]}
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=32, prefill_chunk=8))
    batched = run(scheduler, arrivals)
    order = requests[::2] + requests[1::2]
    for (prompt, params), events in zip(order, batched.values(), strict=True):
        single = alone(gen_model, table, prompt, params, prefill_chunk=8)
        assert answer(events) == answer(single)
        ours = [e["logprob"] for e in events if e["event"] == "token"]
        theirs = [e["logprob"] for e in single if e["event"] == "token"]
        assert ours == pytest.approx(theirs, abs=1e-4)
        assert all(e["stream"] == 7 for e in events)
    reasons = {events[-1]["reason"] for events in batched.values()}
    assert reasons == {"max_new_tokens", "stop"}  # the mix really varies


def test_requests_beyond_the_batch_wait_in_order_and_hear_their_position(gen_model, table):
    params = SamplingParams(max_new_tokens=4, temperature=0)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=2))
    ids = [scheduler.submit(prompt_of(5, i), params) for i in range(5)]
    log = []  # (request id, event) in the order they came
    while not scheduler.idle:
        log += scheduler.step()
    positions = {i: [e["position"] for j, e in log if j == i and e["event"] == "queued"]
                 for i in ids}  # fmt: skip
    assert positions == {ids[0]: [], ids[1]: [], ids[2]: [1], ids[3]: [2], ids[4]: [3, 1]}
    firsts = [next(n for n, (j, e) in enumerate(log) if j == i and e["event"] == "token")
              for i in ids]  # fmt: skip
    dones = [next(n for n, (j, e) in enumerate(log) if j == i and e["event"] == "done")
             for i in ids]  # fmt: skip
    assert max(dones[:2]) < min(firsts[2:4]) and max(dones[2:4]) < firsts[4]  # in order
    for i, request_id in enumerate(ids):
        events = [e for j, e in log if j == request_id and e["event"] != "queued"]
        assert answer(events) == answer(alone(gen_model, table, prompt_of(5, i), params))


def test_cancel_ends_one_request_at_the_next_step_and_leaves_the_others(gen_model, table):
    params = SamplingParams(max_new_tokens=12, seed=3)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=4))
    ids = [scheduler.submit(prompt_of(6, i), params) for i in range(3)]
    events: dict[int, list] = {i: [] for i in ids}
    for step in range(20):
        if step == 3:
            scheduler.cancel(ids[1])
        for request_id, event in scheduler.step():
            events[request_id].append(event)
    cancelled = events[ids[1]]
    assert [e["event"] for e in cancelled] == ["token"] * 3 + ["done"]
    assert cancelled[-1]["reason"] == "cancelled" and cancelled[-1]["tokens"] == 3
    for i in (0, 2):
        assert answer(events[ids[i]]) == answer(alone(gen_model, table, prompt_of(6, i), params))


def test_a_cancelled_request_costs_no_more_compute(gen_model, table, monkeypatch):
    widths = []
    original = gen_model.forward

    def counting(idx, **kw):
        widths.append(tuple(idx.shape))
        return original(idx, **kw)

    monkeypatch.setattr(gen_model, "forward", counting)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=2))
    request = scheduler.submit(prompt_of(6), SamplingParams(max_new_tokens=50))
    scheduler.step()
    scheduler.cancel(request)
    before = len(widths)
    assert [e["reason"] for _, e in scheduler.step()] == ["cancelled"]
    assert len(widths) == before and scheduler.idle


def test_cancel_while_waiting_moves_the_others_up(gen_model, table):
    params = SamplingParams(max_new_tokens=3, temperature=0)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=1))
    ids = [scheduler.submit(prompt_of(4, i), params) for i in range(3)]
    scheduler.step()
    scheduler.cancel(ids[1])
    events = scheduler.step()
    assert (ids[1], "cancelled") in [(i, e.get("reason")) for i, e in events]
    assert (ids[2], 1) in [(i, e.get("position")) for i, e in events if e["event"] == "queued"]


def test_a_long_prompt_is_prefilled_a_chunk_per_step_while_others_decode(gen_model, table):
    greedy = SamplingParams(max_new_tokens=20, temperature=0)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=2, prefill_chunk=4))
    short = scheduler.submit(prompt_of(2), greedy)
    scheduler.step()  # the short one is decoding
    # 3 new tokens: the prompt keeps 30 of the 32 positions; 29 to prefill, 4 per step, so
    # 7 steps of prefill, and the 8th feeds the last one and decodes it with the short one.
    scheduler.submit(prompt_of(30, 1), SamplingParams(max_new_tokens=3, temperature=0))
    for _ in range(7):
        produced = [i for i, e in scheduler.step() if e["event"] == "token"]
        assert produced == [short]  # one token per step for the short one, none for the long
    assert {i for i, e in scheduler.step() if e["event"] == "token"} == {short, short + 1}


def test_slot_rows_at_different_positions_equal_full_forwards(tiny_gpt_config):
    torch.manual_seed(0)
    model = GPT(tiny_gpt_config(64)).eval()
    seqs = [torch.randint(0, 64, (n,)) for n in (9, 3, 14)]
    cache = SlotCache(model.config.n_layer, 3, model.config.context)
    for row, seq in enumerate(seqs):  # prefill each row alone, all but the last token
        cache.select(slice(row, row + 1), [0], len(seq) - 1, seq.device)
        model(seq[None, :-1], kv_cache=cache)
    cache.select(slice(0, 3), [len(s) - 1 for s in seqs], 1, seqs[0].device)
    last = torch.stack([s[-1:] for s in seqs])  # (3, 1)
    logits, _ = model(last, kv_cache=cache, logits_to_keep=1)  # (3, 1, V)
    for row, seq in enumerate(seqs):
        full, _ = model(seq[None])
        torch.testing.assert_close(logits[row, 0], full[0, -1], atol=1e-5, rtol=0)


def test_slot_storage_grows_as_rows_lengthen_and_keeps_what_it_held(tiny_gpt_config):
    torch.manual_seed(0)
    model = GPT(tiny_gpt_config(64, context=256)).eval()
    seq = torch.randint(0, 64, (150,))
    cache = SlotCache(model.config.n_layer, 2, model.config.context)
    capacities = []
    for start in range(0, 149, 40):  # chunks of 40 in slot 1: 40, 80, 120, 149 positions
        chunk = seq[start : min(start + 40, 149)]
        cache.select([1], [start], len(chunk), seq.device)
        model(chunk[None], kv_cache=cache, logits_to_keep=0)
        capacities.append(cache.capacity)
    assert capacities == [64, 128, 128, 256]  # doubled when needed, at most the context
    cache.select(slice(1, 2), [149], 1, seq.device)
    logits, _ = model(seq[None, -1:], kv_cache=cache, logits_to_keep=1)
    full, _ = model(seq[None])
    torch.testing.assert_close(logits[0, 0], full[0, -1], atol=1e-5, rtol=0)
    assert cache.k[0].shape == (2, model.config.n_kv_head, 256, model.config.head_dim)


def test_both_caches_follow_the_model_s_cache_protocol(gen_model):
    from lmcore.kvcache import Cache, KVCache

    assert isinstance(SlotCache(2, 3, 16), Cache)
    assert isinstance(KVCache.for_model(gen_model), Cache)


def test_a_slot_holds_keys_and_values_of_every_layer_over_the_context():
    cfg = GPTConfig(vocab_size=2048, context=256, n_layer=6, n_head=6, d_model=384)
    assert slot_bytes(cfg, 4) == 2 * 6 * 6 * 64 * 256 * 4  # 4.5 MiB


def test_bad_requests_fail_at_submit(gen_model, table):
    scheduler = Scheduler(gen_model, table)
    with pytest.raises(LmcoreError, match="outside the vocabulary"):
        scheduler.submit([10**6], SamplingParams())
    with pytest.raises(LmcoreError, match="max_new_tokens"):
        scheduler.submit([5], SamplingParams(max_new_tokens=0))
    assert scheduler.idle


def test_prompts_that_arrive_together_share_one_prefill_forward(gen_model, table, monkeypatch):
    shapes = []
    original = gen_model.forward

    def counting(idx, **kw):
        shapes.append(tuple(idx.shape))
        return original(idx, **kw)

    monkeypatch.setattr(gen_model, "forward", counting)
    scheduler = Scheduler(gen_model, table, SchedulerConfig(max_batch=8))
    for n in (3, 7, 5, 4, 6):
        scheduler.submit(prompt_of(n, n), SamplingParams(max_new_tokens=2, temperature=0))
    scheduler.step()
    assert shapes == [(5, 6), (5, 1)]  # all but the last tokens, padded to 6; then decode
