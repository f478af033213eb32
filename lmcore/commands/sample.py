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
check the web app runs. Stop strings are taken literally (pass a newline as $'\\n').
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lmcore.checkpoint import load_checkpoint
from lmcore.cli import emit
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.documents import bos_id_for
from lmcore.engine import Engine, wire_token
from lmcore.sampling import SamplingParams

DONE_FIELDS = ("event", "reason", "tokens", "tokens_per_s", "ttft_ms")


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("sample", help="generate a continuation of a prompt")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--prompt", required=True, metavar="S")
    add_sampling_args(p)
    p.add_argument("--json", action="store_true", help="JSON lines, one per token")
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_sample)


def add_sampling_args(p: argparse.ArgumentParser) -> None:
    """The sampling flags `sample` and `chat` share."""
    defaults = SamplingParams()
    p.add_argument("--max-new-tokens", type=int, default=defaults.max_new_tokens, metavar="N")
    p.add_argument("--temperature", type=float, default=defaults.temperature, metavar="T",
                   help="0 = greedy")  # fmt: skip
    p.add_argument("--top-k", type=int, default=defaults.top_k, metavar="K", help="0 = off")
    p.add_argument("--top-p", type=float, default=defaults.top_p, metavar="P", help="1 = off")
    p.add_argument("--repetition-penalty", type=float, default=1.0, metavar="R", help="1 = off")
    p.add_argument("--seed", type=int, metavar="S", help="default: a random seed")
    p.add_argument("--stop", nargs="+", action="extend", default=[], metavar="S")
    p.add_argument("--top-logprobs", type=int, default=0, metavar="K",
                   help="alternatives per token in --json output (at most 20)")  # fmt: skip
    p.add_argument("--no-stop-at-end", action="store_true",
                   help="go on past the end-of-text token instead of stopping there")  # fmt: skip


def params_from_args(args: argparse.Namespace) -> SamplingParams:
    params = SamplingParams(
        max_new_tokens=args.max_new_tokens, temperature=args.temperature, top_k=args.top_k,
        top_p=args.top_p, repetition_penalty=args.repetition_penalty, seed=args.seed,
        stop=list(args.stop), top_logprobs=args.top_logprobs,
        stop_at_end_of_text=not args.no_stop_at_end,
    )  # fmt: skip
    params.validate()
    return params


def cmd_sample(args: argparse.Namespace) -> int:
    params = params_from_args(args)  # before loading: a bad flag fails fast
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    tokenizer = checkpoint.tokenizer
    bos_id = bos_id_for(checkpoint.train_config, tokenizer.special_tokens)
    engine = Engine(
        checkpoint.model, tokenizer.bytes_table(), end_ids=[tokenizer.eot_id], bos_id=bos_id
    )
    prompt = tokenizer.encode(args.prompt)
    for event in engine.generate([bos_id, *prompt] if bos_id is not None else prompt, params):
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
