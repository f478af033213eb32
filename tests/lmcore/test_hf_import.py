"""Import from `transformers` (lmcore/hf_import.py): random NanoChat and Llama models built
with `transformers` itself compute the same logits in lmcore; every bad input is refused
with a clear message and nothing is written."""

import json
import os
import shutil
import subprocess
import sys
import zipfile

import pytest
import torch

from lmcore.checkpoint import load_checkpoint
from lmcore.errors import LmcoreError
from lmcore.hf_export import export_hf
from lmcore.hf_import import extract_zip, import_hf
from tests.hf_models import FAMILIES, hf_model, save_hf_model

transformers = pytest.importorskip("transformers", reason="transformers is a dev dependency")


@pytest.fixture(scope="module")
def sources(small_tokenizer, tmp_path_factory):
    """family -> (the transformers model, its saved directory)."""
    root = tmp_path_factory.mktemp("hf")
    return {f: (save_hf_model(f, small_tokenizer, root / f), root / f) for f in FAMILIES}


def _ids(tokenizer):
    return torch.tensor([tokenizer.encode("the cat ate città 日本語 😀 perché così " * 3)])


@pytest.mark.parametrize("family", FAMILIES)
def test_an_imported_model_computes_what_transformers_computes(tmp_path, sources, family):
    hf, source = sources[family]
    summary = import_hf(source, tmp_path / "ck")
    assert summary["params"] == hf.num_parameters()
    ck = load_checkpoint(tmp_path / "ck")
    ids = _ids(ck.tokenizer)
    with torch.no_grad():
        ours, theirs = ck.model(ids)[0], hf(ids).logits
    assert theirs.std() > 0.5  # spread-out logits: a wrong layout could not pass by luck
    assert (ours - theirs).abs().max().item() < 1e-4
    greedy = ck.model.generate(ids, 40, temperature=0)
    assert torch.equal(greedy, hf.generate(ids, max_new_tokens=40, do_sample=False,
                                           eos_token_id=None))  # fmt: skip

    export_hf(tmp_path / "ck", tmp_path / "again")  # and out again, the same architecture
    back = transformers.AutoModelForCausalLM.from_pretrained(tmp_path / "again").eval()
    assert type(back) is type(hf)
    with torch.no_grad():
        assert torch.equal(back(ids).logits, theirs)


def test_it_reads_sharded_weights(tmp_path, small_tokenizer):
    hf = save_hf_model("llama-gqa", small_tokenizer, tmp_path / "src", max_shard_size="40KB")
    assert (tmp_path / "src" / "model.safetensors.index.json").is_file()
    import_hf(tmp_path / "src", tmp_path / "ck")
    ids = _ids(small_tokenizer)
    with torch.no_grad():
        diff = load_checkpoint(tmp_path / "ck").model(ids)[0] - hf(ids).logits
    assert diff.abs().max().item() < 1e-4


def _edit_json(path, **changes):
    data = json.loads(path.read_text())
    data.update(changes)
    path.write_text(json.dumps(data))


def _break(kind, src, small_tokenizer, tmp_path):
    """Damage a copy of a good source directory in one way."""
    if kind == "architecture":
        _edit_json(src / "config.json", architectures=["GPT2LMHeadModel"], model_type="gpt2")
    elif kind == "no config":
        (src / "config.json").unlink()
    elif kind == "no weights":
        (src / "model.safetensors").unlink()
    elif kind == "missing shard":
        shutil.rmtree(src)
        save_hf_model("llama-gqa", small_tokenizer, src, max_shard_size="40KB")
        os.remove(sorted(src.glob("model-*.safetensors"))[-1])
    elif kind == "shapes":
        _edit_json(src / "config.json", intermediate_size=128)
    elif kind == "pickled":
        (src / "model.safetensors").unlink()
        (src / "pytorch_model.bin").write_bytes(b"\x80\x04K\x01.")  # a pickle; never opened
    elif kind == "vocabulary":  # embeddings with 8 rows more than the tokenizer's tokens
        hf_model("llama-gqa", small_tokenizer.vocab_size + 8).save_pretrained(src)
    elif kind == "truncated":
        data = (src / "model.safetensors").read_bytes()
        (src / "model.safetensors").write_bytes(data[: len(data) // 2])
    elif kind == "tokenizer":
        (src / "tokenizer.json").unlink()


BAD = {
    "architecture": "unsupported model: architectures ['GPT2LMHeadModel'], model_type 'gpt2'. "
    "Supported: NanoChatForCausalLM, LlamaForCausalLM",
    "no config": "no config.json in the model directory",
    "no weights": "no weights: expected model.safetensors",
    "missing shard": "model.safetensors.index.json names shards that are missing: model-00012-of-00012.safetensors",
    "shapes": "is F32 [96, 64], but config.json implies [128, 64]",
    "pickled": "pytorch_model.bin: pickled weights are refused",
    "vocabulary": "the tokenizer has 400 tokens but the embeddings 408 rows",
    "truncated": "lies outside the file (truncated?)",
    "tokenizer": "no tokenizer.json",
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_it_refuses_bad_input_with_a_clear_message_and_writes_nothing(
    tmp_path, sources, small_tokenizer, kind
):
    src = tmp_path / "src"
    shutil.copytree(sources["llama-gqa"][1], src)
    _break(kind, src, small_tokenizer, tmp_path)
    out = tmp_path / "models" / "ck"
    with pytest.raises(LmcoreError) as error:
        import_hf(src, out)
    assert BAD[kind] in str(error.value)
    assert not out.exists() and list((tmp_path / "models").glob("*")) == []


def test_it_refuses_a_tokenizer_that_is_not_byte_level(tmp_path, sources):
    src = tmp_path / "src"
    shutil.copytree(sources["nanochat"][1], src)
    spec = json.loads((src / "tokenizer.json").read_text())
    spec["pre_tokenizer"] = {"type": "Metaspace", "replacement": "▁", "prepend_scheme": "first"}
    (src / "tokenizer.json").write_text(json.dumps(spec))
    with pytest.raises(LmcoreError, match="only byte-level BPE is supported"):
        import_hf(src, tmp_path / "ck")


def _zip(path, entries):
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in entries.items():
            zf.writestr(name, data)
    return path


def test_a_zip_unpacks_to_its_model_folder(tmp_path, sources):
    source = sources["nanochat"][1]
    archive = _zip(
        tmp_path / "m.zip", {f"model/{p.name}": p.read_bytes() for p in source.iterdir()}
    )
    root = extract_zip(archive, tmp_path / "x", max_bytes=10**8)
    assert root == tmp_path / "x" / "model"
    import_hf(root, tmp_path / "ck")


@pytest.mark.parametrize(
    "entries, message",
    [({"../evil.txt": "x"}, "a path outside its root: '../evil.txt'"),
     ({"/etc/evil": "x"}, "a path outside its root: '/etc/evil'"),
     ({"a/config.json": "{}", "b/config.json": "{}"}, "no config.json at the zip's root"),
     ({"big.bin": "x" * 2000}, "unpacks to more than 1,000 bytes")],
)  # fmt: skip
def test_it_refuses_bad_zips(tmp_path, entries, message):
    with pytest.raises(LmcoreError, match=message.replace("(", r"\(").replace(".", r"\.")):
        extract_zip(_zip(tmp_path / "m.zip", entries), tmp_path / "x", max_bytes=1000)
    assert not (tmp_path / "evil.txt").exists()


def test_it_refuses_links_in_a_zip(tmp_path):
    info = zipfile.ZipInfo("link")
    info.external_attr = 0o120777 << 16  # a symbolic link
    with zipfile.ZipFile(tmp_path / "m.zip", "w") as zf:
        zf.writestr(info, "/etc/passwd")
    with pytest.raises(LmcoreError, match="a link: 'link'"):
        extract_zip(tmp_path / "m.zip", tmp_path / "x", max_bytes=1000)


def test_it_refuses_a_file_that_is_not_a_zip(tmp_path):
    (tmp_path / "m.zip").write_bytes(b"PK not really")
    with pytest.raises(LmcoreError, match="not a readable zip"):
        extract_zip(tmp_path / "m.zip", tmp_path / "x", max_bytes=1000)


def test_interop_needs_neither_torch_nor_transformers():
    """The web process streams exports and the cpu worker imports: neither loads torch."""
    probe = (
        "import sys, lmcore.hf_import, lmcore.hf_export; "
        "print(sorted(m for m in ('torch', 'transformers') if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
