"""`python -m lmcore sample`: continue a prompt with a checkpoint.

Plain mode prints the continuation (not the prompt) as it is generated, then one newline.
`--json` prints one JSON line per token:

    {"id", "bytes", "text", "logprob", "sample_logprob", "top": [{"id", "text", "logprob",
     "sample_logprob"}]}

then {"event": "done", "reason", "tokens", "tokens_per_s", "ttft_ms"}. "bytes" is the token's
raw bytes in lowercase hex; "text" is what the token adds to the text (UTF-8 safe: "" for a
token that ends inside a character, whose bytes then show with the next token; a stop string
is never shown). logprob / sample_logprob are natural logs under the model (temperature 1,
unfiltered) / under the distribution actually sampled from; sample_logprob is null for an
alternative the filters removed. reason is max_new_tokens, stop, end_of_text or cancelled;
tokens_per_s counts the tokens after the first over the time after the first (null with one
token), ttft_ms is the time from the start of generation to the first token.

Settings out of range are reported by `SamplingParams.validate` (exit 1, one line), the same
check the web app runs. Stop strings are taken literally (pass a newline as $'\\n'). A setting
not given takes the model's own default (an import's generation_config.json), else lmcore's.

The prompt is plain text: typed special-token text stays bytes. Generation ends at the
model's own end ids (lmcore/chat_config.py, `text_end_ids`). `--chat` sends the prompt as one
user message through the model's chat template instead (`lmcore chat --messages` takes a
whole conversation) and ends at the end of the reply's turn.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from lmcore.chat import reply_params, reply_prompt
from lmcore.chat_config import generation_defaults, template_for, text_end_ids
from lmcore.checkpoint import Checkpoint, load_checkpoint
from lmcore.cli import emit
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.documents import bos_id_for
from lmcore.engine import Engine, wire_token
from lmcore.errors import LmcoreError
from lmcore.sampling import SamplingParams

DONE_FIELDS = ("event", "reason", "tokens", "tokens_per_s", "ttft_ms")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sample", help="generate a continuation of a prompt")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--prompt", required=True, metavar="S")
    p.add_argument("--chat", action="store_true",
                   help="send the prompt as a user message through the model's chat template")  # fmt: skip
    add_sampling_args(p)
    p.add_argument("--json", action="store_true", help="JSON lines, one per token")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_sample)


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """The sampling flags `sample` and `chat` share (unset: the model's default, else lmcore's)."""
    d = SamplingParams()
    p.add_argument("--max-new-tokens", type=int, metavar="N", help=f"default {d.max_new_tokens}")
    p.add_argument("--temperature", type=float, metavar="T",
                   help=f"0 = greedy; default {d.temperature:g}")  # fmt: skip
    p.add_argument("--top-k", type=int, metavar="K", help="0 = off (the default)")
    p.add_argument("--top-p", type=float, metavar="P", help="1 = off (the default)")
    p.add_argument("--repetition-penalty", type=float, metavar="R", help="1 = off (the default)")
    p.add_argument("--seed", type=int, metavar="S", help="default: a random seed")
    p.add_argument("--stop", nargs="+", action="extend", default=[], metavar="S")
    p.add_argument("--top-logprobs", type=int, default=0, metavar="K",
                   help="alternatives per token in --json output (at most 20)")  # fmt: skip
    p.add_argument("--no-stop-at-end", action="store_true",
                   help="go on past the end-of-text token instead of stopping there")  # fmt: skip


def params_from_args(
    args: argparse.Namespace, defaults: dict[str, Any] | None = None
) -> SamplingParams:
    """The flags given, over the model's `defaults` (lmcore/chat_config.py), over lmcore's."""
    given = {"max_new_tokens": args.max_new_tokens, "temperature": args.temperature,
             "top_k": args.top_k, "top_p": args.top_p,
             "repetition_penalty": args.repetition_penalty}  # fmt: skip
    settings = {**(defaults or {}), **{k: v for k, v in given.items() if v is not None}}
    params = SamplingParams(
        **settings, seed=args.seed, stop=list(args.stop), top_logprobs=args.top_logprobs,
        stop_at_end_of_text=not args.no_stop_at_end,
    )  # fmt: skip
    params.validate()
    return params


def cmd_sample(args: argparse.Namespace) -> int:
    params_from_args(args)  # before loading: a bad flag fails fast
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    params = params_from_args(args, generation_defaults(checkpoint.config))
    engine, prompt = _engine_and_prompt(checkpoint, args.prompt, args.chat)
    if args.chat:
        params = reply_params(params, len(prompt), checkpoint.model_config.context)
    for event in engine.generate(prompt, params):
        if event["event"] == "token":
            if args.json:
                emit(wire_token(event))
            else:
                sys.stdout.write(event["text"])
                sys.stdout.flush()
        elif args.json:
            emit({k: event[k] for k in DONE_FIELDS})
        else:
            sys.stdout.write(event["text"] + "\n")
            sys.stdout.flush()
    return 0


def _engine_and_prompt(checkpoint: Checkpoint, text: str, chat: bool) -> tuple[Engine, list[int]]:
    """A plain prompt (the model's BOS, then the text's bytes) ending at the model's end ids,
    or with `chat` the text as a user message through the template, ending with the turn."""
    tokenizer, config = checkpoint.tokenizer, checkpoint.config
    table = tokenizer.bytes_table()
    if chat:
        template = template_for(config, tokenizer)
        if template is None:
            raise LmcoreError("this model has no chat template: sample without --chat")
        messages = [{"role": "user", "content": text}]
        prompt = reply_prompt(tokenizer, messages, checkpoint.model_config.context, template)
        return Engine(checkpoint.model, table, end_ids=template.end_ids), prompt
    bos_id = bos_id_for(checkpoint.train_config, tokenizer.special_tokens)
    engine = Engine(checkpoint.model, table, end_ids=text_end_ids(config, tokenizer), bos_id=bos_id)
    prompt = tokenizer.encode(text)
    return engine, [bos_id, *prompt] if bos_id is not None else prompt
