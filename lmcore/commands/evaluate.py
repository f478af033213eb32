"""`python -m lmcore evaluate`: a checkpoint on benchmark tasks, through lm-evaluation-harness.

Tasks: harness names (`--tasks hellaswag arc_easy`, their datasets from the Hugging Face Hub
or its cache), task files (`--task-file F.yaml`: a harness YAML whose items are in F.jsonl
beside it, checked by `lmcore.taskfiles`), a held-out cloze task from a corpus's validation
tail (`--cloze-corpus F`, `lmcore.cloze`) and bits per byte on a corpus's validation tail
(`--bpb-corpus F`); `--val-fraction X` is the tail held out, as `lmcore train --val-fraction X`
held it out (0.1 by default, as there), so a model is never scored on its training text.
Prints one JSON object:
{"checkpoint", "chat", "tasks": [{"task", "output_type", "n", "metrics": {name: {"value",
"stderr"}}, "seconds", "items_per_s"[, "samples"]}], "seconds"}; a bpb task's metrics are
{"bpb", "loss", "tokens", "bytes"} (bpb's stderr is null). A chat model (fine-tuned for
chat, or imported with its chat template) gets its prompts rendered with its own template,
unless `--no-chat`.
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path
from typing import Any

from lmcore.chat_config import carries_template
from lmcore.checkpoint import load_checkpoint
from lmcore.cli import emit
from lmcore.cloze import ClozeConfig, cloze_task
from lmcore.commands.train import POSITIVE_INT, number_arg
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.documents import VAL_FRACTION, bos_id_for
from lmcore.errors import LmcoreError
from lmcore.evaluate import evaluate_tail
from lmcore.taskfiles import task_from_files


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("evaluate", help="benchmark tasks through lm-evaluation-harness")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--tasks", nargs="+", default=[], metavar="NAME", help="harness task names")
    p.add_argument("--task-file", type=Path, action="append", default=[], metavar="F.yaml",
                   help="a harness task YAML; its items in F.jsonl beside it")  # fmt: skip
    p.add_argument("--cloze-corpus", type=Path, action="append", default=[], metavar="F")
    p.add_argument("--cloze-items", type=POSITIVE_INT, default=1000, metavar="N")
    p.add_argument("--cloze-seed", type=int, default=0, metavar="S")
    p.add_argument("--bpb-corpus", type=Path, action="append", default=[], metavar="F")
    p.add_argument("--val-fraction", type=number_arg(float, 0, False, 1.0), default=VAL_FRACTION,
                   metavar="X", help="the tail of each corpus held out for validation, as "
                   "`train --val-fraction` held it out (cloze and bpb read only that tail)")  # fmt: skip
    p.add_argument("--limit", type=POSITIVE_INT, metavar="N", help="at most N items per task")
    p.add_argument("--no-chat", action="store_true", help="plain prompts for a chat checkpoint")
    p.add_argument("--samples", action="store_true", help="include every item's details")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_evaluate)


def cmd_evaluate(args: argparse.Namespace) -> int:
    if not (args.tasks or args.task_file or args.cloze_corpus or args.bpb_corpus):
        raise LmcoreError("nothing to evaluate: give --tasks, --task-file, --cloze-corpus or "
                          "--bpb-corpus")  # fmt: skip
    from lmcore.harness import LmcoreLM, load_task, run_task  # the harness loads in seconds

    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    chats = checkpoint.train_config.get("chat") or carries_template(checkpoint.config)
    chat = bool(chats) and not args.no_chat
    started, results = time.perf_counter(), []
    with tempfile.TemporaryDirectory(prefix="lmcore-evaluate-") as tmp:
        specs: list[str | dict[str, Any]] = list(args.tasks)
        specs += [task_from_files(f, f.with_suffix(".jsonl"), Path(tmp)) for f in args.task_file]
        config = ClozeConfig(items=args.cloze_items, seed=args.cloze_seed,
                             val_fraction=args.val_fraction)  # fmt: skip
        specs += [cloze_task(c, config, Path(tmp)) for c in args.cloze_corpus]
        tasks = [load_task(spec) for spec in specs]  # every dataset before any compute
        lm = LmcoreLM(checkpoint, chat=chat)
        for task in tasks:
            t0 = time.perf_counter()
            result = run_task(lm, task, limit=args.limit)
            results.append(_timed(result, t0, args.samples))
    for path in args.bpb_corpus:
        t0 = time.perf_counter()
        bos = bos_id_for(checkpoint.train_config, checkpoint.tokenizer.special_tokens)
        figures = evaluate_tail(checkpoint.model, checkpoint.tokenizer, path, bos_id=bos,
                                val_fraction=args.val_fraction)  # fmt: skip
        metrics = {k: {"value": v, "stderr": None} for k, v in figures.to_dict().items()}
        results.append(_timed({"task": f"bpb:{path.name}", "output_type": "bpb", "n": 1,
                               "metrics": metrics}, t0, False))  # fmt: skip
    emit({"checkpoint": str(args.checkpoint), "chat": chat, "tasks": results,
          "seconds": round(time.perf_counter() - started, 3)})  # fmt: skip
    return 0


def _timed(result: dict[str, Any], t0: float, samples: bool) -> dict[str, Any]:
    seconds = time.perf_counter() - t0
    out = {k: v for k, v in result.items() if k != "samples" or samples}
    return {**out, "seconds": round(seconds, 3), "items_per_s": round(result["n"] / seconds, 2)}
