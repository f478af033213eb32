"""`python -m lmcore sample`: plain text, JSON lines, and one-line errors."""

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from lmcore.cli import main
from lmcore.tokenizer import TokenizerConfig, train_tokenizer

REPO = Path(__file__).resolve().parents[2]
TOKEN_FIELDS = {"id", "bytes", "text", "logprob", "sample_logprob", "top"}
DONE_FIELDS = {"event", "reason", "tokens", "tokens_per_s", "ttft_ms"}


def sample(capsys, checkpoint, *argv: str) -> tuple[int, str, str]:
    code = main(["sample", "--checkpoint", str(checkpoint), "--device", "cpu", *argv])
    out, err = capsys.readouterr()
    return code, out, err


def test_it_streams_json_lines_with_the_contract_fields(capsys, gen_checkpoint):
    code, out, _ = sample(capsys, gen_checkpoint, "--prompt", "the cat", "--max-new-tokens", "6",
                          "--seed", "3", "--top-logprobs", "4", "--top-k", "2", "--json")  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert code == 0 and len(lines) == 7
    for line in lines[:-1]:
        assert set(line) == TOKEN_FIELDS and len(line["top"]) == 4
        assert set(line["top"][0]) == {"id", "bytes", "text", "logprob", "sample_logprob"}
        assert line["top"][3]["sample_logprob"] is None  # removed by --top-k 2
        assert isinstance(line["bytes"], str) and bytes.fromhex(line["bytes"])
    assert set(lines[-1]) == DONE_FIELDS
    assert lines[-1]["event"] == "done" and lines[-1]["reason"] == "max_new_tokens"
    assert lines[-1]["tokens"] == 6 and lines[-1]["ttft_ms"] > 0


def test_plain_text_is_the_joined_token_texts(capsys, gen_checkpoint):
    args = ("--prompt", "the mouse", "--max-new-tokens", "12", "--seed", "7")
    code, plain, _ = sample(capsys, gen_checkpoint, *args)
    _, out, _ = sample(capsys, gen_checkpoint, *args, "--json")
    texts = [json.loads(line).get("text", "") for line in out.splitlines()[:-1]]
    assert code == 0 and plain == "".join(texts) + "\n"


def test_greedy_output_is_the_same_whatever_the_seed(capsys, gen_checkpoint):
    runs = [sample(capsys, gen_checkpoint, "--prompt", "the", "--temperature", "0",
                   "--max-new-tokens", "8", "--seed", seed)[1] for seed in ("1", "2")]  # fmt: skip
    assert runs[0] == runs[1]


def test_a_stop_string_ends_the_output(capsys, gen_checkpoint):
    _, full, _ = sample(capsys, gen_checkpoint, "--prompt", "the", "--temperature", "0",
                        "--max-new-tokens", "20")  # fmt: skip
    stop = full[3:5]
    _, out, _ = sample(capsys, gen_checkpoint, "--prompt", "the", "--temperature", "0",
                       "--max-new-tokens", "20", "--stop", stop, "--json")  # fmt: skip
    lines = [json.loads(line) for line in out.splitlines()]
    assert "".join(x["text"] for x in lines[:-1]) == full[: full.index(stop)]
    assert lines[-1]["reason"] == "stop"


@pytest.mark.parametrize(
    "flags, words",
    [
        (["--temperature", "-1"], "temperature"),
        (["--top-p", "0"], "top_p"),
        (["--top-p", "1.01"], "top_p"),
        (["--top-k", "-3"], "top_k"),
        (["--max-new-tokens", "100000"], "max_new_tokens"),
        (["--top-logprobs", "21"], "top_logprobs"),
        (["--repetition-penalty", "0"], "repetition_penalty"),
        (["--prompt", ""], "empty prompt"),
    ],
)
def test_it_refuses_bad_settings_in_one_line(capsys, gen_checkpoint, flags, words):
    code, out, err = sample(capsys, gen_checkpoint, "--prompt", "the", *flags)
    assert code == 1 and out == "" and err.startswith("error: ") and words in err
    assert err.count("\n") == 1


def test_it_refuses_a_tokenizer_that_does_not_fit_the_model(
    capsys, gen_checkpoint, corpus_file, tmp_path
):
    broken = tmp_path / "checkpoint"
    shutil.copytree(gen_checkpoint, broken)
    train_tokenizer([corpus_file], TokenizerConfig(vocab_size=300)).save(broken)
    code, out, err = sample(capsys, broken, "--prompt", "the")
    assert code == 1 and out == "" and "tokenizer has 300 tokens" in err


def test_the_command_line_streams_from_a_fresh_process(gen_checkpoint):
    result = subprocess.run(
        [sys.executable, "-m", "lmcore", "sample", "--checkpoint", str(gen_checkpoint),
         "--prompt", "città 😀", "--max-new-tokens", "5", "--seed", "1", "--json",
         "--device", "cpu"],
        cwd=REPO, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    lines = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(lines) == 6 and lines[-1]["event"] == "done"
