"""Anatomy: recording changes nothing, recomputed attention is the model's, the lens ends at
the model's output, losses are score mode's, head patterns are found where they exist."""

import json
import math
import subprocess
import sys
import threading

import pytest
import torch

from lmcore.anatomy import (
    AttentionCall,
    Recorder,
    Recording,
    anatomy,
    anatomy_of_text,
    attention_weights,
    focus_of_text,
    head_summary,
    record,
)
from lmcore.errors import LmcoreError
from lmcore.model import GPT, GPTConfig
from lmcore.score import score

TEXT = "the cat ate the cheese, and the mouse ate the cat 😀"


@pytest.fixture(scope="module")
def gqa_model(small_tokenizer):
    """Grouped-query attention (3 query heads per key head), tied weights."""
    config = GPTConfig(vocab_size=small_tokenizer.vocab_size, context=32, n_layer=2, n_head=6,
                       n_kv_head=2, d_model=48)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(1)
        return GPT(config).eval()


@pytest.fixture(scope="module")
def llama_like(small_tokenizer):
    """The architecture options of imported models: learned norm gains, no embedding or q/k
    norm, SwiGLU, the other rotation, a logit soft cap."""
    config = GPTConfig(vocab_size=small_tokenizer.vocab_size, context=32, n_layer=2, n_head=4,
                       n_kv_head=2, d_model=32, norm_gain=True, embed_norm=False, qk_norm=False,
                       mlp="swiglu", rope_sign=1, logit_softcap=15.0, tie_weights=False)  # fmt: skip
    with torch.random.fork_rng():
        torch.manual_seed(2)
        model = GPT(config).eval()
        with torch.no_grad():
            for p in model.parameters():
                if p.ndim == 1:
                    p.uniform_(0.5, 1.5)  # gains that matter
        return model


@pytest.fixture(params=["gen_model", "gqa_model", "llama_like"])
def model(request):
    return request.getfixturevalue(request.param)


def ids_of(tokenizer, text=TEXT):
    return tokenizer.encode(text)[:32]


def test_it_records_without_changing_the_output(model, small_tokenizer):
    ids = ids_of(small_tokenizer)
    with torch.inference_mode():
        plain, _ = model(torch.tensor([ids]))
    rec = record(model, ids)
    assert torch.equal(rec.logits, plain)
    assert len(rec.residuals) == model.config.n_layer + 1 and len(rec.attention) == 2
    assert not model.blocks[0]._forward_hooks and not model.blocks[0]._forward_pre_hooks


def test_recomputed_attention_is_the_models(model, small_tokenizer):
    rec = record(model, ids_of(small_tokenizer))
    for call in rec.attention:
        w = attention_weights(call)  # (H, T, T)
        T = w.size(1)
        assert torch.allclose(w.sum(dim=-1), torch.ones(w.shape[:2]), atol=1e-6)
        future = torch.ones(T, T, dtype=torch.bool).triu(1)
        assert (w[:, future] == 0).all()  # causal: nothing from later tokens
        v = call.value[0].repeat_interleave(w.size(0) // call.value.size(1), dim=0)
        assert torch.allclose(w @ v, call.output[0], atol=1e-5)  # what SDPA returned
        rows = attention_weights(call, [3, T - 1])
        assert torch.allclose(rows, w[:, [3, T - 1]], atol=1e-6)


def test_an_explicit_mask_is_applied_like_sdpa():
    torch.manual_seed(0)
    q, k, v = torch.randn(1, 2, 5, 8), torch.randn(1, 2, 7, 8), torch.randn(1, 2, 7, 8)
    mask = torch.rand(5, 7) > 0.3
    mask[:, 0] = True
    out = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=0.2)
    call = AttentionCall(q, k, v, out, mask, False, 0.2)
    assert torch.allclose(attention_weights(call) @ v[0], out[0], atol=1e-5)


def test_the_lens_at_the_last_layer_is_the_models_own_distribution(model, small_tokenizer):
    ids = ids_of(small_tokenizer)
    result = anatomy(model, small_tokenizer.bytes_table(), ids)
    with torch.inference_mode():
        probs = torch.softmax(model(torch.tensor([ids]))[0][0], dim=-1)  # (T, V)
    top_p, top_ids = probs.topk(5, dim=-1)
    for pos, at in enumerate(result["lens"]):
        assert at["top"][-1] == top_ids[pos].tolist()
        assert at["p"][-1] == pytest.approx(top_p[pos].tolist(), abs=1e-4)
        if pos + 1 < len(ids):
            nxt = ids[pos + 1]
            assert at["next_rank"][-1] == int((probs[pos] > probs[pos, nxt]).sum()) + 1
            assert at["next_p"][-1] == pytest.approx(probs[pos, nxt].item(), abs=1e-4)
    assert len(result["lens"][0]["top"]) == len(result["layers"]) == model.config.n_layer + 1
    assert result["lens"][-1]["next_rank"] is None


def test_losses_are_score_modes(gen_model, small_tokenizer):
    ids = ids_of(small_tokenizer)
    table = small_tokenizer.bytes_table()
    result = anatomy(gen_model, table, ids)
    scored = score(gen_model, table, ids)
    assert result["tokens"][0]["loss"] is None
    for mine, theirs in zip(result["tokens"][1:], scored["tokens"][1:], strict=True):
        assert mine["loss"] == pytest.approx(-theirs["logprob"], abs=1e-4)
    assert result["loss"]["mean"] == pytest.approx(
        -scored["total_logprob"] / len(ids[1:]), abs=1e-4
    )


def test_a_bos_token_comes_first_and_every_text_token_is_scored(gen_model, small_tokenizer):
    eot = small_tokenizer.eot_id
    ids = ids_of(small_tokenizer)[:10]
    table = small_tokenizer.bytes_table()
    result = anatomy(gen_model, table, ids, bos_id=eot)
    scored = score(gen_model, table, ids, bos_id=eot)
    assert result["tokens"][0] == {"id": eot, "text": "<|endoftext|>", "bytes": table[eot].hex(),
                                   "special": True, "loss": None}  # fmt: skip
    assert [t["loss"] for t in result["tokens"][1:]] == pytest.approx(
        [-t["logprob"] for t in scored["tokens"]], abs=1e-4
    )


def test_the_focus_is_one_positions_rows(gen_model, small_tokenizer):
    ids = ids_of(small_tokenizer)
    result = anatomy(gen_model, small_tokenizer.bytes_table(), ids, position=4)
    f = result["focus"]
    assert f["position"] == 4 and f["next_id"] == ids[5]
    assert [len(f["attention"]), len(f["attention"][0]), len(f["attention"][0][0])] == [2, 2, 5]
    assert all(math.isclose(sum(row), 1, abs_tol=1e-3) for layer in f["attention"] for row in layer)
    assert len(f["logits"]) == gen_model.config.vocab_size and len(f["embedding"]) == 32
    top = sorted(range(len(f["logits"])), key=lambda i: -f["logits"][i])[:20]
    assert sorted(map(int, f["vocab"])) == sorted(top)
    again = focus_of_text(gen_model, small_tokenizer, small_tokenizer.decode(ids), 4)
    assert_same_numbers(again, f)  # its forward pass stops at position 4: the same rows
    with pytest.raises(LmcoreError, match=f"position 99 is outside the prompt's 0..{len(ids) - 1}"):
        focus_of_text(gen_model, small_tokenizer, TEXT, 99)


def handmade(ids: list[int], attend_to) -> Recording:
    """One layer, one head whose query i matches only the key attend_to(i) (or none)."""
    T = len(ids)
    q, k = torch.zeros(1, 1, T, T), torch.eye(T)[None, None] * 30  # key j = 30 e_j
    for i in range(T):
        j = attend_to(i)
        if j is not None:
            q[0, 0, i, j] = 30.0
    out = torch.zeros(1, 1, T, T)
    return Recording(ids, torch.zeros(1, T, 4), [], [AttentionCall(q, k, k, out, None, True, 1.0)])


def test_the_head_summary_finds_each_pattern():
    ids = [5, 6, 7, 8, 5, 6, 7, 8]
    earlier = {i: ids.index(ids[i]) for i in range(8) if ids.index(ids[i]) < i}
    cases = {
        "previous": lambda i: i - 1 if i else None,
        "first": lambda i: 0,
        "duplicate": lambda i: earlier.get(i, i - 1 if i else None),
        "induction": lambda i: earlier[i] + 1 if i in earlier else (i - 1 if i else None),
    }
    for role, attend_to in cases.items():
        summary = head_summary(handmade(ids, attend_to))
        assert summary[role][0][0] == pytest.approx(1.0, abs=1e-3), role
        assert summary["roles"] == [[role]]
    none = head_summary(handmade([1, 2, 3], lambda i: i))  # itself: no pattern, no repeats
    assert none["duplicate"] is None and none["induction"] is None
    assert none["roles"] == [[None]]


def test_hooks_ignore_other_threads(gen_model):
    ids = torch.tensor([[1, 2, 3]])
    with torch.inference_mode(), Recorder(gen_model) as rec:
        other = threading.Thread(target=gen_model, args=(ids,))
        other.start()
        other.join()
        assert rec.residuals == [] and rec.calls == {}
        gen_model(ids)
    assert len(rec.residuals) == 3 and sorted(rec.calls) == [0, 1]


def test_the_embedding_map_and_neighbours(gen_model, small_tokenizer):
    from lmcore.embedding_map import embedding_map, nearest_neighbours

    first = embedding_map(gen_model)
    assert embedding_map(gen_model) is first  # cached
    assert 0 < first.explained[1] <= first.explained[0] < 1
    unit = torch.nn.functional.normalize(gen_model.wte.weight, dim=-1)
    near = nearest_neighbours(gen_model, [7, 7, 9], k=3)
    assert sorted(near) == [7, 9]
    sims = unit @ unit[7]
    sims[7] = -2
    assert [j for j, _ in near[7]] == sims.topk(3).indices.tolist()
    copy = GPT(gen_model.config)
    copy.load_state_dict(gen_model.state_dict())
    assert torch.allclose(embedding_map(copy).xy, first.xy, atol=1e-5)  # same sign convention
    with torch.no_grad():
        copy.wte.weight.mul_(2).add_(1)
    assert not torch.allclose(embedding_map(copy).xy, first.xy)  # the change is seen


def test_it_refuses_bad_input(gen_model, small_tokenizer):
    with pytest.raises(LmcoreError, match="the text is empty"):
        anatomy_of_text(gen_model, small_tokenizer, "")
    with pytest.raises(LmcoreError, match="tokens; this model reads 1 to 32"):
        anatomy_of_text(gen_model, small_tokenizer, TEXT * 5)
    with pytest.raises(LmcoreError, match="over the 20,000 limit"):
        anatomy_of_text(gen_model, small_tokenizer, "a" * 20_001)


def test_the_cli_prints_what_the_library_computes(gen_checkpoint, gen_model, small_tokenizer):
    cmd = [sys.executable, "-m", "lmcore", "anatomy", "--checkpoint", str(gen_checkpoint),
           "--text", TEXT[:20], "--position", "2", "--json", "--device", "cpu"]  # fmt: skip
    out = subprocess.run(cmd, capture_output=True, text=True, timeout=120, check=True).stdout
    assert out.count("\n") == 1
    expected = anatomy_of_text(gen_model, small_tokenizer, TEXT[:20], position=2)
    assert_same_numbers(json.loads(out), json.loads(json.dumps(expected)))
    bad = subprocess.run([*cmd[:6], "--text", ""], capture_output=True, text=True, timeout=120)
    assert bad.returncode == 1 and bad.stderr == "error: nothing to look at: the text is empty\n"


def assert_same_numbers(a, b, path="$"):
    """Equal JSON, floats within one unit of the 4th decimal (a child process may sum in
    another order with another thread count)."""
    if isinstance(a, float) or isinstance(b, float):
        assert a == pytest.approx(b, abs=2e-4), path
    elif isinstance(a, dict):
        assert a.keys() == b.keys(), path
        for key in a:
            assert_same_numbers(a[key], b[key], f"{path}.{key}")
    elif isinstance(a, list):
        assert len(a) == len(b), path
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same_numbers(x, y, f"{path}[{i}]")
    else:
        assert a == b, path
