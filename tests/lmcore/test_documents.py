"""Document boundaries: one <|endoftext|> convention across training, evaluation, scoring,
generation; validation per corpus; tokenizers that never see validation text."""

import json
import math

import pytest

from lmcore.checkpoint import load_checkpoint
from lmcore.cli import main
from lmcore.config import SamplingParams
from lmcore.engine import Engine
from lmcore.errors import LmcoreError
from lmcore.tokenizer import TokenizerConfig, train_tokenizer

SIZE = ["--n-layer", "2", "--n-head", "2", "--d-model", "32", "--context", "32",
        "--batch-size", "4", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def two_corpora_run(tmp_path_factory, small_tokenizer, verse_file, corpus_file):
    """A run on two corpora, its events, and the files."""
    work = tmp_path_factory.mktemp("docs")
    small_tokenizer.save(work / "tok")
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(["train", "--tokenizer", str(work / "tok"), "--input", str(verse_file),
                     str(corpus_file), "--out", str(work / "run"), "--max-steps", "6",
                     "--eval-every", "3", *SIZE])  # fmt: skip
    assert code == 0
    return work / "run", [json.loads(line) for line in out.getvalue().splitlines()]


def test_eval_events_report_each_corpus_and_the_overall_figure(two_corpora_run, verse_file,
                                                               corpus_file):  # fmt: skip
    _, events = two_corpora_run
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [3, 6]
    last = evals[-1]
    assert set(last["corpora"]) == {verse_file.name, corpus_file.name}
    parts = last["corpora"].values()
    assert sum(p["tokens"] for p in parts) == last["tokens"]
    nats = sum(p["val_loss"] * p["tokens"] for p in parts)
    assert last["val_bpb"] == pytest.approx(nats / math.log(2) / sum(p["bytes"] for p in parts),
                                            rel=1e-3)  # fmt: skip


def test_the_checkpoint_records_bos_and_scoring_covers_the_first_token(two_corpora_run, capsys):
    run, _ = two_corpora_run
    ck = load_checkpoint(run)
    assert ck.train_config["bos_token"] == "<|endoftext|>"
    assert main(["score", "--checkpoint", str(run), "--text", "ciao", "--device", "cpu"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert all(t["logprob"] is not None for t in out["tokens"])  # p(x1 | BOS) included
    assert out["total_logprob"] == pytest.approx(sum(t["logprob"] for t in out["tokens"]))
    assert "".join(t["text"] for t in out["tokens"]) == "ciao"


def test_score_and_eval_agree_on_a_text_under_the_bos_convention(two_corpora_run, tmp_path,
                                                                 capsys):  # fmt: skip
    run, _ = two_corpora_run
    text = "the cat ate the cheese\nand the mouse\n"
    (tmp_path / "t.txt").write_text(text)
    assert main(["score", "--checkpoint", str(run), "--text", text, "--device", "cpu"]) == 0
    scored = json.loads(capsys.readouterr().out)
    assert main(["eval", "--checkpoint", str(run), "--input", str(tmp_path / "t.txt"),
                 "--device", "cpu"]) == 0  # fmt: skip
    ev = json.loads(capsys.readouterr().out)
    assert ev["bytes"] == len(text.encode())  # every byte, the first token's too
    assert scored["bpb"] == pytest.approx(ev["bpb"], rel=1e-5)


def test_generation_can_stop_at_end_of_text_or_go_on(gen_model, small_tokenizer):
    eot = small_tokenizer.eot_id
    prompt = small_tokenizer.encode("the cat")
    engine = Engine(gen_model, small_tokenizer.bytes_table(), end_ids=[eot])
    # Whatever the model, force the end token by making it the only end and scanning seeds.
    greedy = SamplingParams(max_new_tokens=30, temperature=0, stop_at_end_of_text=True)
    logits_bias = gen_model.lm_head.weight.data[eot].clone()
    try:
        gen_model.lm_head.weight.data[eot] = gen_model.lm_head.weight.data.abs().max(0).values * 50
        stopped = list(engine.generate(prompt, greedy))
        assert stopped[-1]["reason"] == "end_of_text" and stopped[-1]["tokens"] == 1
        going = SamplingParams(max_new_tokens=3, temperature=0, stop_at_end_of_text=False)
        events = list(engine.generate(prompt, going))
        assert events[-1]["reason"] == "max_new_tokens"
        assert "".join(e.get("text", "") for e in events) == "<|endoftext|>" * 3
    finally:
        gen_model.lm_head.weight.data[eot] = logits_bias
    with pytest.raises(LmcoreError, match="stop_at_end_of_text must be bool"):
        SamplingParams.from_dict({"stop_at_end_of_text": 1})


def test_the_tokenizer_can_leave_out_each_corpus_validation_tail(tmp_path):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    a.write_text("ciao mondo " * 200)
    b.write_text("zebra " * 90 + "xylophonequartz " * 10)  # the rare word only in b's tail
    config = TokenizerConfig(vocab_size=300, min_frequency=2)
    with_val = train_tokenizer([a, b], config)
    without_val = train_tokenizer([a, b], config, val_fraction=0.1)
    assert len(with_val.encode("xylophonequartz")) < len(without_val.encode("xylophonequartz"))
