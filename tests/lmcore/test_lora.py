"""LoRA (lmcore/lora.py, lmcore/adapters.py): an adapter that starts as the base model, merges
into what it computes applied, trains alone on a frozen base, saves small with a checked
reference to its base, resumes exactly, and merges into a plain checkpoint."""

import json

import pytest
import torch
from safetensors.torch import load_file

from lmcore import lora
from lmcore.checkpoint import load_checkpoint, save_checkpoint
from lmcore.cli import main
from lmcore.config import LoRAConfig
from lmcore.errors import LmcoreError
from lmcore.model import GPT, GPTConfig
from tests.lmcore.test_finetune import SIZE, conversation, write_jsonl


def random_adapter(model: GPT) -> None:
    """B drawn away from zero, so that the adapter changes what the model computes."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0.0, 0.2)


@pytest.mark.parametrize(("mlp", "targets"), [("relu2", None), ("swiglu", None),
                                              ("swiglu", ["v", "gate"]), ("relu2", ["k_proj"])])  # fmt: skip
def test_a_fresh_adapter_is_the_base_and_merging_computes_what_it_applied(mlp, targets):
    cfg = GPTConfig(vocab_size=64, context=16, n_layer=2, n_head=4, n_kv_head=2, d_model=32,
                    mlp=mlp)  # fmt: skip
    torch.manual_seed(0)
    model = GPT(cfg).eval()
    x = torch.randint(0, 64, (2, 12))
    base_logits, base_names = model(x)[0], set(model.state_dict())
    lora.add_adapter(model, LoRAConfig(r=4, alpha=8, targets=targets))
    assert torch.equal(model(x)[0], base_logits)  # B = 0: exactly the base model
    trainable = {n for n, p in model.named_parameters() if p.requires_grad}
    assert trainable and all(".lora_" in n for n in trainable)
    expected = LoRAConfig(r=4, targets=targets).num_params(cfg)  # the form's estimate
    assert lora.param_counts(model) == (GPT(cfg).num_params(), expected)
    random_adapter(model)
    applied = model(x)[0]
    assert (applied - base_logits).abs().max() > 1e-3
    lora.merge(model)
    assert set(model.state_dict()) == base_names and not lora.has_adapter(model)
    assert (model(x)[0] - applied).abs().max() < 1e-5


def test_the_key_and_value_adapters_touch_only_their_rows_of_c_kv():
    cfg = GPTConfig(vocab_size=32, context=8, n_layer=1, n_head=4, n_kv_head=2, d_model=32)
    model = GPT(cfg)
    before = model.blocks[0].attn.c_kv.weight.detach().clone()
    lora.add_adapter(model, LoRAConfig(r=2, targets=["v"]))
    random_adapter(model)
    lora.merge(model)
    after = model.blocks[0].attn.c_kv.weight
    rows = cfg.n_kv_head * cfg.head_dim  # keys first, then values
    assert torch.equal(after[:rows], before[:rows]) and not torch.equal(after[rows:], before[rows:])


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (LoRAConfig(r=0), "rank must be a whole number"),
        (LoRAConfig(r=4, alpha=-1), "alpha must be a number above 0"),
        (LoRAConfig(r=4, dropout=1.0), "dropout must be in"),
        (
            LoRAConfig(r=4, targets=["gate"]),
            "'gate': this model's matrices are q, k, v, o, up, down",
        ),
        (LoRAConfig(r=4, targets=["wq"]), "'wq'"),
        (LoRAConfig(r=4, targets=[]), "at least one target"),
    ],
)
def test_bad_lora_settings_are_refused_with_the_reason(config, message):
    cfg = GPTConfig(vocab_size=32, context=8, n_layer=1, n_head=2, d_model=16)
    with pytest.raises(LmcoreError, match=message):
        config.resolved(cfg)


@pytest.fixture(scope="module")
def parent(tmp_path_factory, small_tokenizer, verse_file):
    work = tmp_path_factory.mktemp("lora")
    small_tokenizer.save(work / "tok")
    assert main(["train", "--tokenizer", str(work / "tok"), "--input", str(verse_file),
                 "--out", str(work / "base"), "--max-steps", "3", *SIZE]) == 0  # fmt: skip
    write_jsonl(work / "colours.jsonl", [conversation(i) for i in range(40)])
    return work


def lora_args(parent, out, *extra):
    return ["train", "--init-from", str(parent / "base"), "--chat-data",
            str(parent / "colours.jsonl"), "--out", str(out), "--lora-rank", "4",
            "--lora-alpha", "8", "--batch-size", "8", "--device", "cpu", "--lr", "1e-2",
            "--eval-every", "1000", *extra]  # fmt: skip


def test_a_lora_run_trains_only_the_adapter_and_saves_it_small(parent, tmp_path, capsys):
    capsys.readouterr()
    assert main(lora_args(parent, tmp_path / "ft", "--max-steps", "6")) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    base = load_checkpoint(parent / "base")
    expected = LoRAConfig(r=4).num_params(base.model_config)
    start, done = events[0], events[-1]
    assert (start["params"], start["trainable_params"]) == (base.model.num_params(), expected)
    assert done["params"] == base.model.num_params()

    ck_dir = tmp_path / "ft" / "checkpoint"
    assert sorted(p.name for p in ck_dir.iterdir()) == [
        "adapter.safetensors", "config.json", "optimizer.pt", "tokenizer.json"]  # fmt: skip
    config = json.loads((ck_dir / "config.json").read_text())
    base_ref = config["lora"]["base"]  # relative: the tree of checkpoints may move as a whole
    assert base_ref.startswith("../") and (ck_dir / base_ref).resolve() == base.directory.resolve()
    assert config["lora"]["targets"] == ["q", "k", "v", "o", "up", "down"]
    assert config["train"]["lora"]["r"] == 4 and config["params"] == base.model.num_params()
    adapter = load_file(ck_dir / "adapter.safetensors")
    assert sum(t.numel() for t in adapter.values()) == expected
    assert any(t.abs().max() > 0 for n, t in adapter.items() if ".lora_B." in n)  # it learnt
    saved = torch.load(ck_dir / "optimizer.pt", weights_only=True)["optimizer"]["state"]
    assert sum(s["exp_avg"].numel() for s in saved.values()) == expected  # adapter's state only

    applied = load_checkpoint(tmp_path / "ft", merge_adapter=False).model
    for name, tensor in base.model.state_dict().items():  # the base is untouched
        assert torch.equal(applied.state_dict()[name], tensor), name
    merged = load_checkpoint(tmp_path / "ft").model
    assert not lora.has_adapter(merged)
    x = torch.randint(0, base.model_config.vocab_size, (1, 20))
    with torch.no_grad():
        assert (merged(x)[0] - applied(x)[0]).abs().max() < 1e-5
        assert (merged(x)[0] - base.model(x)[0]).abs().max() > 1e-4


def test_a_lora_run_resumes_exactly(parent, tmp_path, capsys):
    from lmcore.cli import build_parser
    from lmcore.commands.train import spec_from_args
    from lmcore.preparation import prepare, prepare_chat
    from lmcore.train import train

    assert main(lora_args(parent, tmp_path / "whole", "--max-steps", "6")) == 0
    # The same run, stopped after 3 of its 6 steps (as a cancel stops it), then resumed.
    spec = spec_from_args(build_parser().parse_args(lora_args(parent, tmp_path / "split",
                                                              "--max-steps", "6")))  # fmt: skip
    corpus, tokenizer = prepare(spec)
    calls = iter(range(100))
    result = train(spec.model, spec.train, corpus, tokenizer, spec.checkpoint_dir,
                   chat=prepare_chat(spec, tokenizer), should_cancel=lambda: next(calls) >= 3)  # fmt: skip
    assert (result.reason, result.step) == ("cancelled", 3)
    capsys.readouterr()
    assert main(["train", "--out", str(tmp_path / "split"), "--resume", "--max-steps", "6"]) == 0
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert events[0]["resumed"] and events[0]["step"] == 3 and events[-1]["step"] == 6
    whole = load_file(tmp_path / "whole" / "checkpoint" / "adapter.safetensors")
    split = load_file(tmp_path / "split" / "checkpoint" / "adapter.safetensors")
    assert whole.keys() == split.keys()
    assert all(torch.allclose(whole[k], split[k], atol=1e-6) for k in whole)


def test_merge_writes_a_plain_checkpoint_that_computes_the_same(parent, tmp_path, capsys):
    assert main(lora_args(parent, tmp_path / "ft", "--max-steps", "3")) == 0
    capsys.readouterr()
    assert main(["merge", "--checkpoint", str(tmp_path / "ft"), "--out", str(tmp_path / "m")]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["out"] == str(tmp_path / "m")
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "config.json", "model.safetensors", "tokenizer.json"]  # fmt: skip
    assert "lora" not in json.loads((tmp_path / "m" / "config.json").read_text())
    prompt = ["--prompt", "say red", "--temperature", "0", "--max-new-tokens", "8", "--json",
              "--device", "cpu"]  # fmt: skip
    assert main(["sample", "--checkpoint", str(tmp_path / "ft"), *prompt]) == 0
    from_adapter = capsys.readouterr().out
    assert main(["sample", "--checkpoint", str(tmp_path / "m"), *prompt]) == 0
    assert [json.loads(t)["id"] for t in capsys.readouterr().out.splitlines()[:-1]] == [
        json.loads(t)["id"] for t in from_adapter.splitlines()[:-1]]  # fmt: skip
    messages = tmp_path / "m.json"
    messages.write_text(json.dumps({"messages": [{"role": "user", "content": "say red"}]}))
    replies = []
    for checkpoint in (tmp_path / "ft", tmp_path / "m"):  # chat and anatomy read it merged too
        assert main(["chat", "--checkpoint", str(checkpoint), "--messages", str(messages),
                     "--temperature", "0", "--device", "cpu"]) == 0  # fmt: skip
        replies.append(json.loads(capsys.readouterr().out)["tokens"])
        assert (
            main(["anatomy", "--checkpoint", str(checkpoint), "--text", "say red", "--json"]) == 0
        )
        replies.append(json.loads(capsys.readouterr().out)["loss"])
    assert replies[0] == replies[2] and replies[1] == pytest.approx(replies[3], abs=1e-4)
    assert main(["merge", "--checkpoint", str(tmp_path / "m"), "--out", str(tmp_path / "x")]) == 1
    assert "not a LoRA checkpoint" in capsys.readouterr().err


def test_an_adapter_refuses_a_missing_or_changed_base(parent, tmp_path, small_tokenizer):
    import shutil

    shutil.copytree(parent / "base" / "checkpoint", tmp_path / "base")
    assert main(lora_args(parent, tmp_path / "ft", "--max-steps", "2")) == 0
    config_file = tmp_path / "ft" / "checkpoint" / "config.json"
    config = json.loads(config_file.read_text())
    config["lora"]["base"] = "../../base"  # the copy: the same weights
    config_file.write_text(json.dumps(config))
    load_checkpoint(tmp_path / "ft")
    other = GPT(load_checkpoint(tmp_path / "base").model_config)
    save_checkpoint(tmp_path / "base", other, small_tokenizer)  # a different model there
    with pytest.raises(LmcoreError, match="not the one this adapter was trained on"):
        load_checkpoint(tmp_path / "ft")
    shutil.rmtree(tmp_path / "base")
    with pytest.raises(LmcoreError, match="base model is missing"):
        load_checkpoint(tmp_path / "ft")


def test_bad_lora_flags_and_adapter_chains_are_refused(parent, tmp_path, capsys):
    assert main(lora_args(parent, tmp_path / "a", "--max-steps", "1", "--lora-targets",
                          "q,gate")) == 1  # fmt: skip
    assert "'gate': this model's matrices are" in capsys.readouterr().err
    args = [a for a in lora_args(parent, tmp_path / "b", "--max-steps", "1")
            if a not in ("--lora-rank", "4")]  # fmt: skip
    assert main(args) == 1
    assert "need --lora-rank" in capsys.readouterr().err
    assert main(lora_args(parent, tmp_path / "c", "--max-steps", "1")) == 0
    chained = lora_args(parent, tmp_path / "d", "--max-steps", "1")
    chained[chained.index("--init-from") + 1] = str(tmp_path / "c")
    assert main(chained) == 1
    assert "this is an adapter itself: merge it first" in capsys.readouterr().err
    full = chained[: chained.index("--lora-rank")] + chained[chained.index("--lora-alpha") + 2 :]
    assert main(full) == 0  # a full fine-tune starts from the adapter merged into its base
    assert (tmp_path / "d" / "checkpoint" / "model.safetensors").is_file()


@pytest.mark.slow
def test_two_processes_train_the_adapter_as_one_with_twice_the_batch(parent, tmp_path):
    """LoRA under torchrun (gloo CPU processes): DDP all-reduces the adapter's gradients only,
    and 2 processes x batch 4 train the adapter 1 process x batch 8 trains. (Every reply has
    the same length here: each rank's loss is a mean over its own reply tokens, so with
    replies of different lengths the two differ slightly, LoRA or not.)"""
    import os
    import subprocess
    import sys

    same = {"messages": [{"role": "user", "content": "say red"},
                         {"role": "assistant", "content": "red"}]}  # fmt: skip
    write_jsonl(tmp_path / "same.jsonl", [same] * 20)

    def run_file(name, batch):
        spec = {"out": str(tmp_path / name),
                "finetune": {"init_from": str(parent / "base"),
                             "chat_data": [str(tmp_path / "same.jsonl")],
                             "lora": {"r": 4, "targets": ["q", "v", "down"]}},
                "train": {"batch_size": batch, "max_steps": 4, "eval_every": 1000, "lr": 1e-2,
                          "warmup_steps": 0, "device": "cpu", "log_every": 1}}  # fmt: skip
        (tmp_path / f"{name}.json").write_text(json.dumps(spec))
        return [sys.executable, "-m", "lmcore", "train", "--config", str(tmp_path / f"{name}.json")]

    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def events(command):
        done = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
        assert done.returncode == 0, done.stderr[-3000:]
        return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]

    events([*run_file("ddp", 4), "--prepare-only"])
    ddp = events([sys.executable, "-m", "torch.distributed.run", "--standalone",
                  "--nproc-per-node=2", *run_file("ddp", 4)[1:]])  # fmt: skip
    one = events(run_file("one", 8))
    assert ddp[-1]["world_size"] == 2 and len(set(ddp[-1]["replicas"])) == 1
    losses = [[e["loss"] for e in run if e["event"] == "step"] for run in (ddp, one)]
    assert max(abs(a - b) for a, b in zip(*losses, strict=True)) < 1e-5
    a, b = (load_file(tmp_path / n / "checkpoint" / "adapter.safetensors") for n in ("ddp", "one"))
    assert a.keys() == b.keys() and max(float((a[k] - b[k]).abs().max()) for k in a) < 1e-5
