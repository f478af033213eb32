"""`python -m lmcore score`: the contract's fields, agreement with `eval`, one-line errors."""

import json
import math

from lmcore.cli import main

TEXT = "the cat ate the cheese 😀\nand the mouse ate the cat\n" * 4


def run(capsys, *argv: str) -> tuple[int, dict, str]:
    code = main([*argv, "--device", "cpu"])
    out, err = capsys.readouterr()
    return code, (json.loads(out) if out else {}), err


def test_it_prints_the_contract_fields(capsys, gen_checkpoint):
    code, out, _ = run(capsys, "score", "--checkpoint", str(gen_checkpoint), "--text", TEXT)
    assert code == 0 and set(out) == {"tokens", "total_logprob", "bits", "bpb"}
    assert all(set(t) == {"text", "logprob"} for t in out["tokens"])
    assert "".join(t["text"] for t in out["tokens"]) == TEXT
    assert out["tokens"][0]["logprob"] is None
    assert out["total_logprob"] == sum(t["logprob"] for t in out["tokens"][1:])
    assert math.isclose(out["bits"], -out["total_logprob"] / math.log(2))


def test_it_agrees_with_eval_on_the_same_file(capsys, gen_checkpoint, tmp_path):
    path = tmp_path / "text.txt"
    path.write_text(TEXT, encoding="utf-8", newline="")
    _, scored, _ = run(capsys, "score", "--checkpoint", str(gen_checkpoint), "--text", TEXT)
    code, ev, _ = run(capsys, "eval", "--checkpoint", str(gen_checkpoint), "--input", str(path))
    assert code == 0 and math.isclose(scored["bpb"], ev["bpb"], rel_tol=1e-5)
    assert math.isclose(-scored["total_logprob"] / ev["tokens"], ev["loss"], rel_tol=1e-5)


def test_it_refuses_an_empty_text(capsys, gen_checkpoint):
    code, out, err = run(capsys, "score", "--checkpoint", str(gen_checkpoint), "--text", "")
    assert code == 1 and out == {} and err.startswith("error: ") and "empty" in err
