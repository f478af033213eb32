"""Export a checkpoint as a directory that `transformers` loads with no remote code.

    python -m lmcore export --checkpoint RUN --out DIR

writes config.json, model.safetensors, tokenizer.json, tokenizer_config.json and
generation_config.json, ready for `AutoModelForCausalLM.from_pretrained(DIR)` and
`AutoTokenizer.from_pretrained(DIR)`. lmcore's own block is `transformers`' built-in NanoChat
(`model_type: "nanochat"`); a model imported from the Llama family goes back out as Llama.
The match is exact, option by option (docs/architecture.md, "Model architecture options"):
the fields and weight names are lmcore/hf_fields.py's table, which the import reads too.

Weights are renamed and keys/values split by copying byte ranges (lmcore/safetensors_stream.py),
so `export_files` streams: the web app zips a multi-GB model with flat memory and no torch.

Example: `export_hf("runs/shakespeare", "out/shakespeare-hf")`
"""

from __future__ import annotations

import io
import json
import os
import shutil
import tempfile
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from lmcore.chat_config import END_OF_TURN, template_for
from lmcore.chat_template import ChatTemplate
from lmcore.checkpoint_files import find_checkpoint, read_config
from lmcore.config import GPTConfig
from lmcore.documents import BOS_TOKEN
from lmcore.errors import LmcoreError
from lmcore.hf_fields import hf_config, name_map
from lmcore.safetensors_stream import OutTensor, TensorInfo, iter_file, read_header
from lmcore.tokenizer import Tokenizer

TORCH_DTYPES = {"F32": "float32", "F16": "float16", "BF16": "bfloat16"}


@dataclass
class ExportFile:
    name: str
    chunks: Callable[[], Iterator[bytes]]  # called once per write; yields the file's bytes


def export_files(checkpoint: str | Path) -> list[ExportFile]:
    """The files of the `transformers` directory for a checkpoint, as byte streams."""
    directory = find_checkpoint(checkpoint)
    config = read_config(directory)
    if config.get("lora"):  # adapter.safetensors on a base: lmcore/adapters.py
        raise LmcoreError(
            "this is a LoRA adapter, not a whole model: export its base model and the adapter "
            "for peft (python -m lmcore export on the adapter), or merge it first"
        )
    cfg = GPTConfig(**config["model"])
    tensors = read_header(directory / "model.safetensors")
    tokenizer = Tokenizer.load(directory / "tokenizer.json")
    out = _out_tensors(cfg, tensors)
    dtype = TORCH_DTYPES.get(tensors["wte.weight"].dtype, "float32")
    hf = config.get("hf") or {}  # what an imported model came with, given back as it was
    template = template_for(config, tokenizer)  # the one it was trained with (chat_config.py)
    ids = _token_ids(tokenizer, hf, template)
    model_config = {**hf_config(cfg), **ids, "dtype": dtype}
    # An import's generation_config.json comes back as it came (its end ids, its defaults).
    generation = {"_from_model_config": False, **ids, **(hf.get("generation_config") or {})}
    texts = {
        "config.json": model_config,
        "generation_config.json": generation,
        "tokenizer_config.json": _tokenizer_config(tokenizer, cfg, hf, template),
    }
    files = [ExportFile(name, _once(json.dumps(v, indent=2, ensure_ascii=False).encode()))
             for name, v in texts.items()]  # fmt: skip
    files.append(ExportFile("tokenizer.json", _once(tokenizer.to_str().encode())))
    files.append(ExportFile("model.safetensors", lambda: iter_file(out, {"format": "pt"})))
    return files


def export_hf(checkpoint: str | Path, out: str | Path) -> dict[str, Any]:
    """Write the `transformers` directory to `out` (atomically: a temp dir renamed in)."""
    return write_dir(export_files(checkpoint), out)


def write_dir(files: list[ExportFile], out: str | Path) -> dict[str, Any]:
    """Write `files` into the new directory `out` (atomically: a temp dir renamed in)."""
    out = Path(out)
    if out.exists() and any(out.iterdir()):
        raise LmcoreError(f"{out}: exists and is not empty")
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        total = 0
        for file in files:
            with (tmp / file.name).open("wb") as f:
                for chunk in file.chunks():
                    f.write(chunk)
                    total += len(chunk)
        tmp.chmod(0o755)
        if out.exists():
            out.rmdir()
        os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return {"out": str(out), "files": [f.name for f in files], "bytes": total}


class _Sink(io.RawIOBase):
    """A write-only, unseekable stream whose bytes `iter_zip` hands out as they come."""

    def __init__(self) -> None:
        self.pending: list[bytes] = []

    def writable(self) -> bool:
        return True

    def write(self, data) -> int:  # type: ignore[override]
        self.pending.append(bytes(data))
        return len(data)

    def drain(self) -> bytes:
        data, self.pending = b"".join(self.pending), []
        return data


def iter_zip(checkpoint: str | Path, folder: str) -> Iterator[bytes]:
    """The export as a zip (stored, not deflated: weights barely compress), produced as it
    is read, with every file under `folder/`: memory stays flat for any model size.
    Checks run now, so that errors come before the first byte is sent."""
    return zip_stream(export_files(checkpoint), folder)


def file_on_disk(path: Path) -> ExportFile:
    """A file to zip as it is, read a MiB at a time."""

    def chunks() -> Iterator[bytes]:
        with path.open("rb") as f:
            while block := f.read(1 << 20):
                yield block

    return ExportFile(path.name, chunks)


def zip_stream(files: list[ExportFile], folder: str) -> Iterator[bytes]:
    """The bytes of a stored zip of `files` under `folder/`, produced as they are read."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_STORED, allowZip64=True) as zf:
        for file in files:
            info = zipfile.ZipInfo(f"{folder}/{file.name}", date_time=(2020, 1, 1, 0, 0, 0))
            with zf.open(info, "w", force_zip64=True) as member:
                for chunk in file.chunks():
                    member.write(chunk)
                    if sink.pending:
                        yield sink.drain()
            yield sink.drain()
    yield sink.drain()


def _out_tensors(cfg: GPTConfig, tensors: dict[str, TensorInfo]) -> list[OutTensor]:
    out = []
    for lm_name, hf_names in name_map(cfg).items():
        info = tensors.get(lm_name)
        if info is None:
            raise LmcoreError(f"model.safetensors lacks {lm_name}")
        if len(hf_names) == 1:
            out.append(OutTensor(hf_names[0], info.dtype, info.shape, [info.data]))
            continue
        rows = info.shape[0] // 2  # c_kv: keys then values, n_kv_head x head_dim rows each
        for n, hf_name in enumerate(hf_names):
            part = info.rows(n * rows, (n + 1) * rows)
            out.append(OutTensor(hf_name, info.dtype, (rows, *info.shape[1:]), [part]))
    return out


def _token_ids(
    tokenizer: Tokenizer, hf: dict[str, Any], template: ChatTemplate | None
) -> dict[str, Any]:
    """End of text starts and ends a document (lmcore.documents); with the chat tokens,
    generation also ends at the end of a turn, so base and chat versions both stop right.
    An imported model gives back the ids it came with."""
    if "token_ids" in hf:
        return hf["token_ids"]
    specials = tokenizer.special_tokens
    eot = specials.get(BOS_TOKEN)
    chat = template is not None and END_OF_TURN in specials
    eos = [eot, specials[END_OF_TURN]] if chat else eot
    return {"bos_token_id": eot, "eos_token_id": eos, "pad_token_id": eot}


def _tokenizer_config(
    tokenizer: Tokenizer, cfg: GPTConfig, hf: dict[str, Any], template: ChatTemplate | None
) -> dict[str, Any]:
    """An import's tokenizer_config.json as it came; lmcore's own otherwise. Either carries
    the template the version chats with."""
    if hf.get("tokenizer_config"):
        config = dict(hf["tokenizer_config"])
    else:
        eot = BOS_TOKEN if BOS_TOKEN in tokenizer.special_tokens else None
        config = {
            "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": cfg.context,
            "bos_token": eot, "eos_token": eot, "pad_token": eot, "add_bos_token": False,
            "add_eos_token": False, "clean_up_tokenization_spaces": False,
        }  # fmt: skip
    if template is not None:
        config["chat_template"] = template.template
    return config


def _once(data: bytes) -> Callable[[], Iterator[bytes]]:
    return lambda: iter([data])
