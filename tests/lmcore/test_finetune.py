"""Chat fine-tuning: conversations rendered with their loss mask, a run that starts from a
parent checkpoint and learns replies, and `lmcore chat` answering with the template."""

import json
import subprocess
import sys

import pytest

from lmcore.chat import render
from lmcore.chatdata import chat_rows, encode_chat_data, load_chat_data
from lmcore.checkpoint import load_checkpoint
from lmcore.cli import main
from lmcore.errors import LmcoreError
from lmcore.tokenizer import TokenizerConfig, train_tokenizer

SIZE = ["--n-layer", "2", "--n-head", "2", "--d-model", "32", "--context", "32",
        "--batch-size", "8", "--device", "cpu"]  # fmt: skip
COLOURS = ["red", "blue", "green", "white", "black", "pink"]


def conversation(i: int) -> dict:
    colour = COLOURS[i % len(COLOURS)]
    return {"messages": [{"role": "user", "content": f"say {colour}"},
                         {"role": "assistant", "content": colour}]}  # fmt: skip


def write_jsonl(path, conversations):
    path.write_text("".join(json.dumps(c) + "\n" for c in conversations), encoding="utf-8")
    return path


def test_conversations_are_stored_with_their_mask_and_each_file_holds_out_its_tail(
    small_tokenizer, tmp_path
):
    a = write_jsonl(tmp_path / "a.jsonl", [conversation(i) for i in range(10)])
    b = write_jsonl(tmp_path / "b.jsonl", [conversation(i) for i in range(3)])
    data = encode_chat_data(small_tokenizer, [a, b], tmp_path / "enc", context=32)
    assert data.conversations == {"train": 9 + 2, "val": 1 + 1}
    assert [f["name"] for f in data.files] == ["a.jsonl", "b.jsonl"]
    ids, mask = data.conversation("val", 0)
    expected = render(small_tokenizer, conversation(9)["messages"])
    assert ids.tolist() == expected.ids and mask.tolist() == expected.mask
    x, y = chat_rows(data, "val", [0, 1])
    assert (y[0] >= 0).sum() == sum(expected.mask[1:])  # targets: the reply and its <|end|>
    assert load_chat_data(tmp_path / "enc") == data


def test_long_conversations_are_left_out_with_a_warning(small_tokenizer, tmp_path):
    long = {"messages": [{"role": "user", "content": "word " * 40},
                         {"role": "assistant", "content": "ok"}]}  # fmt: skip
    path = write_jsonl(tmp_path / "c.jsonl", [long] + [conversation(i) for i in range(4)])
    events = []
    data = encode_chat_data(small_tokenizer, [path], tmp_path / "enc", context=32,
                            on_event=events.append)  # fmt: skip
    assert data.skipped == 1
    assert events == [{"event": "warning", "message": "1 conversation longer than the model's "
                       "context (32 tokens) left out"}]  # fmt: skip
    with pytest.raises(LmcoreError, match="every conversation is longer than the model's context"):
        encode_chat_data(small_tokenizer, [write_jsonl(tmp_path / "l.jsonl", [long, long])],
                         tmp_path / "x", context=32)  # fmt: skip


def test_bad_chat_data_is_refused_clearly(small_tokenizer, corpus_file, tmp_path):
    one = write_jsonl(tmp_path / "one.jsonl", [conversation(0)])
    with pytest.raises(LmcoreError, match="give at least two conversations"):
        encode_chat_data(small_tokenizer, [one], tmp_path / "x", context=32)
    bad = tmp_path / "bad.jsonl"
    bad.write_text(json.dumps(conversation(0)) + "\n{oops\n")
    with pytest.raises(LmcoreError, match="line 2: invalid JSON"):
        encode_chat_data(small_tokenizer, [bad], tmp_path / "x", context=32)
    plain = train_tokenizer([corpus_file], TokenizerConfig(300, special_tokens=["<|endoftext|>"]))
    with pytest.raises(LmcoreError, match="lacks the chat tokens"):
        encode_chat_data(plain, [one], tmp_path / "x", context=32)


def train_base(work, small_tokenizer, verse_file):
    """WORK/tok and WORK/base: a 3-step base model to fine-tune (the CLI's own path)."""
    small_tokenizer.save(work / "tok")
    code = main(["train", "--tokenizer", str(work / "tok"), "--input", str(verse_file),
                 "--out", str(work / "base"), "--max-steps", "3", *SIZE])  # fmt: skip
    assert code == 0
    return work


@pytest.fixture(scope="module")
def parent_run(tmp_path_factory, small_tokenizer, verse_file):
    return train_base(tmp_path_factory.mktemp("ft"), small_tokenizer, verse_file)


def lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_a_fine_tuning_run_learns_replies_and_chat_answers_with_them(parent_run, capsys,
                                                                     tmp_path):  # fmt: skip
    data = write_jsonl(tmp_path / "colours.jsonl", [conversation(i) for i in range(60)])
    capsys.readouterr()
    code = main(["train", "--init-from", str(parent_run / "base"), "--chat-data", str(data),
                 "--out", str(tmp_path / "ft"), "--max-steps", "120", "--eval-every", "60",
                 "--lr", "1e-2", "--batch-size", "8", "--device", "cpu"])  # fmt: skip
    assert code == 0
    events = lines(capsys)
    evals = [e for e in events if e["event"] == "eval"]
    assert set(evals[-1]["corpora"]) == {"colours.jsonl"}
    # nats per reply token, on held-out conversations: falling as the replies are learnt
    assert evals[0]["val_loss"] > evals[-1]["val_loss"] and evals[-1]["val_loss"] < 0.5
    samples = [e for e in events if e["event"] == "sample"]
    assert samples[-1]["prompt"].startswith("say ")
    assert samples[-1]["text"] == samples[-1]["prompt"][4:]  # the greedy reply, cut at <|end|>
    config = json.loads((tmp_path / "ft" / "checkpoint" / "config.json").read_text())
    assert config["train"]["chat"] is True
    assert config["train"]["init_from"] == str((parent_run / "base" / "checkpoint").resolve())

    (tmp_path / "m.json").write_text(json.dumps({"messages": [
        {"role": "user", "content": "say green"}]}))  # fmt: skip
    code = main(["chat", "--checkpoint", str(tmp_path / "ft"), "--messages",
                 str(tmp_path / "m.json"), "--temperature", "0", "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0 and out.err == ""
    answer = json.loads(out.out)
    assert answer["reply"] == "green" and answer["reason"] == "end_of_text"
    assert "".join(t["text"] for t in answer["tokens"]) == "green"
    assert all(t["logprob"] <= 0 for t in answer["tokens"])

    # Interactive, in a real child process: each line is a user turn, each reply streams out.
    chat = subprocess.run(
        [sys.executable, "-m", "lmcore", "chat", "--checkpoint", str(tmp_path / "ft"),
         "--temperature", "0", "--device", "cpu"],
        input="say red\nsay blue\n", capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    first, second = chat.stdout.splitlines()  # the second reply sees the first turn too,
    assert first == "red" and second in COLOURS  # which single-turn training never showed
    assert chat.stderr.count("you> ") == 3  # two turns, then end of input


def test_a_fine_tuning_run_resumes_from_its_run_directory(parent_run, capsys, tmp_path):
    data = write_jsonl(tmp_path / "c.jsonl", [conversation(i) for i in range(12)])
    args = ["train", "--init-from", str(parent_run / "base"), "--chat-data", str(data),
            "--out", str(tmp_path / "ft"), "--device", "cpu"]  # fmt: skip
    assert main([*args, "--max-steps", "2"]) == 0
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "ft"), "--resume", "--max-steps", "4"]) == 0
    events = lines(capsys)
    assert events[0]["resumed"] and events[-1]["step"] == 4


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--n-layer", "3"], "keeps the parent's model"),
        (["--text-ratio", "0.5"], "needs text corpora"),
    ],
)
def test_fine_tuning_refuses_what_cannot_work(parent_run, capsys, tmp_path, extra, message):
    data = write_jsonl(tmp_path / "c.jsonl", [conversation(i) for i in range(4)])
    code = main(["train", "--init-from", str(parent_run / "base"), "--chat-data", str(data),
                 "--out", str(tmp_path / "ft"), "--max-steps", "2", *extra])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and message in err and err.count("\n") == 1


def test_chat_refuses_bad_conversations_in_one_line(parent_run, capsys, tmp_path):
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "a"},
                                             {"role": "assistant", "content": "b"}]}))  # fmt: skip
    code = main(["chat", "--checkpoint", str(parent_run / "base"), "--messages", str(path)])
    err = capsys.readouterr().err
    assert code == 1 and "must end with a user message" in err and err.count("\n") == 1
    path.write_text(json.dumps({"messages": [{"role": "assistant", "content": "hi"}]}))
    assert main(["chat", "--checkpoint", str(parent_run / "base"), "--messages", str(path)]) == 1
    assert "roles out of order" in capsys.readouterr().err
    path.write_text(json.dumps({"messages": [{"role": "user", "content": "x " * 200}]}))
    code = main(["chat", "--checkpoint", str(parent_run / "base"), "--messages", str(path),
                 "--device", "cpu"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 1 and "the last message alone makes a prompt of" in err
    assert "not been fine-tuned for chat" in err


def test_chat_leaves_out_the_oldest_turns_and_says_when_the_context_is_full(
    parent_run, capsys, tmp_path
):
    system = {"role": "system", "content": "hi"}
    turns = [m for i in range(6) for m in conversation(i)["messages"]]
    messages = [system, *turns, {"role": "user", "content": "say red"}]
    path = tmp_path / "m.json"
    path.write_text(json.dumps({"messages": messages}))
    # Past the end of turn (a base model), so the reply runs until the context (32) is full.
    code = main(["chat", "--checkpoint", str(parent_run / "base"), "--messages", str(path),
                 "--max-new-tokens", "100", "--no-stop-at-end", "--temperature", "0",
                 "--device", "cpu"])  # fmt: skip
    out = capsys.readouterr()
    assert code == 0, out.err
    answer = json.loads(out.out.splitlines()[-1])
    dropped = answer["dropped"]
    assert dropped > 0 and dropped % 2 == 0  # whole turns, the oldest
    kept = [system, *messages[1 + dropped :]]
    tokenizer = load_checkpoint(parent_run / "base").tokenizer
    assert answer["prompt_tokens"] == len(render(tokenizer, kept, generation_prompt=True).ids)
    assert answer["prompt_tokens"] <= 32 - 16  # room for a reply: up to half the context
    assert answer["reason"] == "context_full"
    assert len(answer["tokens"]) == 32 - answer["prompt_tokens"]


def test_interactive_chat_goes_on_past_the_context(parent_run):
    chat = subprocess.run(
        [sys.executable, "-m", "lmcore", "chat", "--checkpoint", str(parent_run / "base"),
         "--max-new-tokens", "8", "--no-stop-at-end", "--temperature", "0", "--device", "cpu"],
        input="say red\nsay blue\n" + "x " * 100 + "\nsay green\n",
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert chat.returncode == 0, chat.stderr
    assert "messages no longer fit the model's context of 32 tokens" in chat.stderr
    assert "the last message alone makes a prompt of" in chat.stderr  # said, then forgotten
    assert len(chat.stdout.splitlines()) == 3 and chat.stderr.count("you> ") == 5
