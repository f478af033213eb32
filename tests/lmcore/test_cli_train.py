"""`python -m lmcore train` and `eval`: the JSON-lines contract and error exits.

The contract: docs/architecture.md, "The lmcore CLI".
"""

import json
import math

import pytest

from lmcore.cli import main

SIZE = ["--n-layer", "2", "--n-head", "2", "--d-model", "32", "--context", "32",
        "--batch-size", "4", "--device", "cpu"]  # fmt: skip


@pytest.fixture(scope="module")
def tokenizer_dir(small_tokenizer, tmp_path_factory):
    directory = tmp_path_factory.mktemp("tok")
    small_tokenizer.save(directory)
    return directory


def _train(tokenizer_dir, verse_file, run, *extra):
    return main(["train", "--tokenizer", str(tokenizer_dir), "--input", str(verse_file),
                 "--out", str(run), *SIZE, *extra])  # fmt: skip


def _lines(capsys):
    return [json.loads(line) for line in capsys.readouterr().out.splitlines()]


def test_it_prints_step_eval_and_done_lines(tmp_path, capsys, tokenizer_dir, verse_file):
    assert _train(tokenizer_dir, verse_file, tmp_path / "run", "--max-steps", "20",
                  "--eval-every", "10") == 0  # fmt: skip
    events = _lines(capsys)
    steps = [e for e in events if e["event"] == "step"]
    assert [e["step"] for e in steps] == [10, 20]
    assert {"step", "loss", "lr", "tokens_per_s"} <= set(steps[0])
    evals = [e for e in events if e["event"] == "eval"]
    assert [e["step"] for e in evals] == [10, 20] and {"val_loss", "val_bpb"} <= set(evals[0])
    done = events[-1]
    assert done["event"] == "done" and done["step"] == 20 and done["params"] > 0
    assert {"val_loss", "val_bpb", "tokens_per_s", "seconds"} <= set(done)
    assert (tmp_path / "run" / "data" / "train.bin").is_file()
    assert (tmp_path / "run" / "checkpoint" / "model.safetensors").is_file()


def test_resume_continues_a_run_and_eval_scores_it(tmp_path, capsys, tokenizer_dir, verse_file):
    run = tmp_path / "run"
    assert _train(tokenizer_dir, verse_file, run, "--max-steps", "5") == 0
    capsys.readouterr()
    assert _train(tokenizer_dir, verse_file, run, "--max-steps", "8", "--resume") == 0
    events = _lines(capsys)
    assert events[0]["resumed"] and events[0]["step"] == 5 and events[-1]["step"] == 8

    assert main(["eval", "--checkpoint", str(run), "--input", str(verse_file),
                 "--val-fraction", "0.1"]) == 0  # fmt: skip
    (scores,) = _lines(capsys)
    assert set(scores) == {"loss", "bpb", "tokens", "bytes", "corpora"}
    assert scores["bpb"] == pytest.approx(events[-1]["val_bpb"], rel=1e-4)  # same split
    assert scores["corpora"][verse_file.name]["bpb"] == scores["bpb"]
    assert main(["eval", "--checkpoint", str(run), "--input", str(verse_file)]) == 0
    (whole,) = _lines(capsys)
    assert whole["tokens"] > scores["tokens"] and math.isfinite(whole["loss"])


@pytest.mark.parametrize("optimizer", ["adamw", "muon"])
def test_the_optimizer_flags_reach_the_run(tmp_path, capsys, tokenizer_dir, verse_file, optimizer):
    run = tmp_path / "run"
    flags = ["--optimizer", optimizer, "--muon-lr", "0.01", "--warmdown", "0.3"]
    assert _train(tokenizer_dir, verse_file, run, "--max-steps", "2", *flags) == 0
    saved = json.loads((run / "run.json").read_text())["train"]
    assert (saved["optimizer"], saved["muon_lr"], saved["warmdown"]) == (optimizer, 0.01, 0.3)
    assert _lines(capsys)[-1]["step"] == 2


def test_an_existing_run_is_not_overwritten(tmp_path, capsys, tokenizer_dir, verse_file):
    assert _train(tokenizer_dir, verse_file, tmp_path / "run", "--max-steps", "1") == 0
    capsys.readouterr()
    assert _train(tokenizer_dir, verse_file, tmp_path / "run", "--max-steps", "1") == 1
    err = capsys.readouterr().err
    assert err.startswith("error:") and "--resume" in err and err.count("\n") == 1


@pytest.mark.parametrize(
    "flags",
    [["--max-steps", "0"], ["--lr", "-1"], ["--dropout", "1.5"], ["--preset", "huge"],
     ["--device", "tpu"], ["--val-fraction", "1"], ["--context", "many"],
     ["--optimizer", "sgd"], ["--muon-lr", "0"], ["--warmdown", "0"]],
)  # fmt: skip
def test_bad_flags_exit_with_one_line(tmp_path, capsys, tokenizer_dir, verse_file, flags):
    with pytest.raises(SystemExit) as exit_info:
        _train(tokenizer_dir, verse_file, tmp_path / "run", *flags)
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("error:") and err.count("\n") == 1


@pytest.mark.parametrize(
    "args, message",
    [
        (["--n-head", "3"], "bad model size"),
        (["--resume"], "no checkpoint"),
        (["--max-steps", "1", "--context", "100000"], "smaller --context"),
    ],
)
def test_impossible_requests_fail_with_a_reason(
    tmp_path, capsys, tokenizer_dir, verse_file, args, message
):
    assert _train(tokenizer_dir, verse_file, tmp_path / "run", *args) == 1
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1


def test_eval_of_a_missing_checkpoint_fails_cleanly(tmp_path, capsys, verse_file):
    assert main(["eval", "--checkpoint", str(tmp_path), "--input", str(verse_file)]) == 1
    assert "no checkpoint" in capsys.readouterr().err


def test_eval_keeps_two_inputs_of_the_same_name_apart(tmp_path, capsys, tokenizer_dir, verse_file):
    assert _train(tokenizer_dir, verse_file, tmp_path / "run", "--max-steps", "1") == 0
    twins = []
    for where in ("a", "b"):
        (tmp_path / where).mkdir()
        twins.append(tmp_path / where / verse_file.name)
        twins[-1].write_bytes(verse_file.read_bytes())
    capsys.readouterr()
    assert main(["eval", "--checkpoint", str(tmp_path / "run"), "--input", *map(str, twins)]) == 0
    (scores,) = _lines(capsys)
    assert sorted(scores["corpora"]) == sorted(map(str, twins))
    assert scores["tokens"] == sum(c["tokens"] for c in scores["corpora"].values())
