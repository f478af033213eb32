"""A LoRA checkpoint exported as a PEFT adapter (lmcore/adapters.py): the real `peft` loads it
onto the base's `transformers` export (lmcore/hf_export.py) and computes lmcore's logits, for a
Llama imported from `transformers` and for lmcore's own (NanoChat) block."""

import json

import peft
import pytest
import torch
import transformers

from lmcore.checkpoint import load_checkpoint
from lmcore.cli import main
from lmcore.hf_import import import_hf
from tests.hf_models import save_hf_model
from tests.lmcore.test_finetune import SIZE, conversation, write_jsonl


@pytest.fixture(scope="module")
def work(tmp_path_factory, small_tokenizer, verse_file):
    """A base checkpoint of each family: a tiny random Llama (grouped-query attention) built
    by `transformers` and imported, and a model lmcore trained; plus conversations."""
    root = tmp_path_factory.mktemp("peft")
    save_hf_model("llama-gqa", small_tokenizer, root / "llama-hf")
    import_hf(root / "llama-hf", root / "llama")
    small_tokenizer.save(root / "tok")
    assert main(["train", "--tokenizer", str(root / "tok"), "--input", str(verse_file),
                 "--out", str(root / "nanochat"), "--max-steps", "2", *SIZE]) == 0  # fmt: skip
    write_jsonl(root / "chats.jsonl", [conversation(i) for i in range(30)])
    return root


@pytest.mark.parametrize(("family", "targets", "arch"), [
    ("llama", "q,k,v,o,gate,up,down", "LlamaForCausalLM"),
    ("llama", "v_proj,down_proj", "LlamaForCausalLM"),
    ("nanochat", "q,k,v,o,up,down", "NanoChatForCausalLM"),
])  # fmt: skip
def test_peft_loads_the_adapter_on_the_exported_base_with_lmcores_logits(
    work, tmp_path, capsys, family, targets, arch
):
    assert main(["train", "--init-from", str(work / family), "--chat-data",
                 str(work / "chats.jsonl"), "--out", str(tmp_path / "ft"), "--lora-rank", "4",
                 "--lora-alpha", "12", "--lora-dropout", "0.1", "--lora-targets", targets,
                 "--max-steps", "8", "--warmup-steps", "0", "--lr", "3e-2", "--batch-size", "4", "--device", "cpu",
                 "--eval-every", "1000"]) == 0  # fmt: skip
    assert (
        main(["export", "--checkpoint", str(work / family), "--out", str(tmp_path / "base")]) == 0
    )
    assert (
        main(["export", "--checkpoint", str(tmp_path / "ft"), "--out", str(tmp_path / "ad")]) == 0
    )
    printed = capsys.readouterr().out.splitlines()[-1]
    assert json.loads(printed)["format"] == "peft"
    assert sorted(p.name for p in (tmp_path / "ad").iterdir()) == [
        "adapter_config.json", "adapter_model.safetensors"]  # fmt: skip

    hf = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "base")
    assert type(hf).__name__ == arch
    model = peft.PeftModel.from_pretrained(hf, tmp_path / "ad").eval()
    adapted = {n.split(".")[-1] for n, _ in model.named_modules() if hasattr(_, "lora_A")}
    lmcore_names = set(json.loads((tmp_path / "ad" / "adapter_config.json").read_text())[
        "target_modules"])  # fmt: skip
    assert adapted == lmcore_names

    ours = load_checkpoint(tmp_path / "ft")  # merged at load, as the web app plays it
    applied = load_checkpoint(tmp_path / "ft", merge_adapter=False).model
    base = load_checkpoint(work / family).model
    ids = torch.tensor([ours.tokenizer.encode("say green and then say blue, perché così")])
    with torch.no_grad():
        theirs, merged = model(ids).logits, ours.model(ids)[0]
        assert (merged - theirs).abs().max().item() < 1e-4
        assert (applied(ids)[0] - theirs).abs().max().item() < 1e-4
        assert (base(ids)[0] - theirs).abs().max().item() > 1e-2  # the adapter matters: 100x
        model.merge_and_unload()
        assert (model(ids).logits - merged).abs().max().item() < 1e-4  # peft's merge too
