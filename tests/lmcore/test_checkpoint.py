"""Checkpoint directories: round trip, strict loading, atomic replacement, no pickles."""

import json

import pytest
import torch
from safetensors.torch import load_file, save_file

from lmcore.adapters import is_lora
from lmcore.checkpoint import (
    find_checkpoint,
    load_checkpoint,
    load_optimizer,
    read_config,
    save_checkpoint,
)
from lmcore.errors import LmcoreError
from lmcore.gguf_export import plan_gguf
from lmcore.hf_export import export_files
from lmcore.model import GPT
from lmcore.tokenizer import TokenizerConfig, train_tokenizer


@pytest.fixture
def model(small_tokenizer, tiny_gpt_config):
    torch.manual_seed(0)
    return GPT(tiny_gpt_config(small_tokenizer.vocab_size)).eval()


@pytest.mark.parametrize("tie", [True, False])
def test_round_trip_gives_identical_logits(tmp_path, small_tokenizer, tiny_gpt_config, tie):
    model = GPT(tiny_gpt_config(small_tokenizer.vocab_size, tie_weights=tie)).eval()
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, step=7, metrics={"val_bpb": 2.5},
                    train_config={"lr": 0.01})  # fmt: skip
    loaded = load_checkpoint(tmp_path / "ck")
    idx = torch.randint(0, small_tokenizer.vocab_size, (2, 16))
    assert torch.equal(model(idx)[0], loaded.model(idx)[0])
    assert loaded.model_config == model.config and not loaded.model.training
    assert (loaded.step, loaded.metrics, loaded.train_config) == (7, {"val_bpb": 2.5}, {"lr": 0.01})
    assert loaded.tokenizer == small_tokenizer
    assert (loaded.model.lm_head.weight is loaded.model.wte.weight) == tie


def test_the_directory_holds_the_documented_files(tmp_path, model, small_tokenizer):
    optimizer = torch.optim.AdamW(model.parameters())
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, optimizer=optimizer)
    names = {p.name for p in (tmp_path / "ck").iterdir()}
    assert names == {"model.safetensors", "config.json", "tokenizer.json", "optimizer.pt"}
    config = json.loads((tmp_path / "ck" / "config.json").read_text())
    assert config["format_version"] == 1 and config["model"]["vocab_size"] == 400
    assert config["params"] == model.num_params()
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]  # no temp dir left behind


def test_a_run_directory_resolves_to_its_checkpoint(tmp_path, model, small_tokenizer):
    save_checkpoint(tmp_path / "run" / "checkpoint", model, small_tokenizer)
    assert find_checkpoint(tmp_path / "run") == tmp_path / "run" / "checkpoint"
    assert load_checkpoint(tmp_path / "run").model_config == model.config
    with pytest.raises(LmcoreError, match="no checkpoint"):
        find_checkpoint(tmp_path)


def test_saving_again_replaces_the_checkpoint(tmp_path, model, small_tokenizer):
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, step=1)
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, step=2)
    assert read_config(tmp_path / "ck")["step"] == 2
    assert [p.name for p in tmp_path.iterdir()] == ["ck"]


def test_a_crash_between_the_two_renames_leaves_a_loadable_copy(tmp_path, model, small_tokenizer):
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, step=3)
    (tmp_path / "ck").rename(tmp_path / ".ck.old-123")  # the old copy set aside, new not in
    assert load_checkpoint(tmp_path / "ck").step == 3


def test_loading_is_strict_about_weights(tmp_path, model, small_tokenizer):
    save_checkpoint(tmp_path / "ck", model, small_tokenizer)
    weights = load_file(tmp_path / "ck" / "model.safetensors")
    weights["extra.weight"] = torch.zeros(1)
    save_file(weights, tmp_path / "ck" / "model.safetensors")
    with pytest.raises(LmcoreError, match="extra"):
        load_checkpoint(tmp_path / "ck")
    del weights["extra.weight"]
    weights["wte.weight"] = torch.zeros(3, 3)
    save_file(weights, tmp_path / "ck" / "model.safetensors")
    with pytest.raises(LmcoreError, match="do not fit"):
        load_checkpoint(tmp_path / "ck")


def test_the_tokenizer_must_match_the_model_vocabulary(
    tmp_path, model, small_tokenizer, corpus_file
):
    other = train_tokenizer([corpus_file], TokenizerConfig(vocab_size=300))
    with pytest.raises(LmcoreError, match="tokens"):
        save_checkpoint(tmp_path / "ck", model, other)
    save_checkpoint(tmp_path / "ck", model, small_tokenizer)
    other.save(tmp_path / "ck")  # swap tokenizer.json behind the checkpoint's back
    with pytest.raises(LmcoreError, match="300 tokens"):
        load_checkpoint(tmp_path / "ck")


READERS = {
    "load": load_checkpoint, "hf export": export_files, "gguf export": plan_gguf,
    "peft export": is_lora,
}  # fmt: skip


@pytest.mark.parametrize("reader", sorted(READERS))
def test_unknown_format_versions_are_refused(tmp_path, model, small_tokenizer, reader):
    """Every reader of a checkpoint goes through read_config's format check."""
    save_checkpoint(tmp_path / "ck", model, small_tokenizer)
    config_file = tmp_path / "ck" / "config.json"
    config = json.loads(config_file.read_text())
    config_file.write_text(json.dumps({**config, "format_version": 99}))
    with pytest.raises(LmcoreError, match="unsupported checkpoint format 'lmcore-checkpoint'"):
        READERS[reader](tmp_path / "ck")


def test_optimizer_state_round_trips(tmp_path, model, small_tokenizer):
    optimizer = torch.optim.AdamW(model.parameters(), lr=0.1)
    model(torch.zeros(1, 4, dtype=torch.long), torch.ones(1, 4, dtype=torch.long))[1].backward()
    optimizer.step()
    save_checkpoint(tmp_path / "ck", model, small_tokenizer, optimizer=optimizer)
    fresh = torch.optim.AdamW(load_checkpoint(tmp_path / "ck").model.parameters(), lr=0.1)
    load_optimizer(tmp_path / "ck", fresh)
    before, after = optimizer.state_dict()["state"][0], fresh.state_dict()["state"][0]
    assert torch.equal(before["exp_avg"], after["exp_avg"])


def test_a_pickle_in_optimizer_pt_is_not_executed(tmp_path, model, small_tokenizer):
    save_checkpoint(tmp_path / "ck", model, small_tokenizer)
    torch.save({"optimizer": _Exploit()}, tmp_path / "ck" / "optimizer.pt")
    with pytest.raises(LmcoreError, match="cannot restore"):
        load_optimizer(tmp_path / "ck", torch.optim.AdamW(model.parameters()))


class _Exploit:
    def __reduce__(self):
        return (pytest.fail, ("unpickled an arbitrary object",))
