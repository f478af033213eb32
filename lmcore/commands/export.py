"""`python -m lmcore export`: a checkpoint as a directory `transformers` loads
(lmcore/hf_export.py), or with `--gguf F16|Q8_0` as one GGUF file (lmcore/gguf_export.py).

Prints one JSON object {"out", "files", "bytes"}. The directory loads with
`AutoModelForCausalLM.from_pretrained(DIR)` and `AutoTokenizer.from_pretrained(DIR)`, without
`trust_remote_code`. A LoRA checkpoint is exported as a PEFT adapter (lmcore/adapters.py):
`adapter_config.json` + `adapter_model.safetensors`, for `peft.PeftModel.from_pretrained` on
its base's export; the object then also says `"format": "peft"` and names the base. With
`--gguf`: {"out", "architecture", "type", "tensors", "bytes"} (architecture "llama" runs in
llama.cpp; "lmcore" only reads back into lmcore).
"""

from __future__ import annotations

import argparse
from pathlib import Path

from lmcore.adapters import export_peft, is_lora
from lmcore.checkpoint_files import find_checkpoint, read_config
from lmcore.cli import emit
from lmcore.hf_export import export_hf


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("export", help="write a checkpoint in transformers' format or GGUF")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--out", type=Path, required=True, metavar="DIR|FILE")
    p.add_argument("--gguf", choices=("F16", "Q8_0"), help="write one GGUF file of this type")
    p.set_defaults(func=cmd_export)


def cmd_export(args: argparse.Namespace) -> int:
    if args.gguf:
        from lmcore.gguf_export import export_gguf

        emit(export_gguf(args.checkpoint, args.out, args.gguf))
        return 0
    if not is_lora(args.checkpoint):
        emit(export_hf(args.checkpoint, args.out))
        return 0
    directory = find_checkpoint(args.checkpoint)
    base = (directory / read_config(directory)["lora"]["base"]).resolve()
    emit({**export_peft(args.checkpoint, args.out), "format": "peft", "base": str(base)})
    return 0
