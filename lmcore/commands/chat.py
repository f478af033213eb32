"""`python -m lmcore chat`: talk to a checkpoint through its chat template (lmcore/chat.py):
the template it carries (an imported model's own, lmcore/chat_config.py), else lmcore's.

Interactive (a terminal): type a message, the reply streams back; the conversation goes on
until end of input (Ctrl-D). `--system S` starts it with a system message.

`--messages F.json` (`-` for stdin): reads one conversation, `{"messages": [{"role",
"content"}, ...]}` ending with a user message, and prints one JSON object:

    {"reply": "...", "tokens": [{"id", "bytes", "text", "logprob", "sample_logprob", "top"}],
     "reason": "end_of_text" | "max_new_tokens" | "context_full" | "stop",
     "prompt_tokens": N, "dropped": N}

where the tokens are `sample --json`'s token objects (logprob: natural log under the model).

`--messages F.jsonl` (a name ending in .jsonl, or a file or stdin of two or more lines that
is not one JSON document but one JSON value a line): many conversations, one a line (`{"messages": [...]}` or the bare list of
messages), answered in this one process (the model loaded once), one JSON object a line,
in order: `{"line": N, ...the object above}`, or `{"line": N, "error": "..."}` for a
conversation that cannot be answered (its last message alone overfills the context); the
exit status is then 1. Every line is checked before anything is generated: a bad one is
refused with its number, and nothing is answered.
The reply ends at the template's end ids (lmcore's: the end-of-turn token), or when it fills
the context (`context_full`). A model that was not fine-tuned for chat but has lmcore's chat
tokens still answers, with a warning on stderr; one with no template at all is refused. A
conversation longer than the context leaves out its oldest turns, keeping the system message
(`dropped` counts the messages left out; interactively, a line on stderr says so), as
`lmcore.chatwindow` explains; a last message too long by itself is refused. Sampling
settings not given take the model's defaults (lmcore sample's flags).
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass
from pathlib import Path

from lmcore.chat import Message, render, reply_params, reply_prompt
from lmcore.chat_config import carries_template, generation_defaults, template_for
from lmcore.chat_template import ChatTemplate
from lmcore.chatwindow import CONTEXT_FULL, done_reason, fit_conversation, reply_room
from lmcore.checkpoint import Checkpoint, load_checkpoint
from lmcore.cli import emit
from lmcore.commands.sample import add_sampling_args, params_from_args
from lmcore.conversations import parse_messages
from lmcore.device import DEVICES, configure, resolve_device
from lmcore.engine import Engine, wire_token
from lmcore.errors import LmcoreError
from lmcore.sampling import SamplingParams


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("chat", help="chat with a fine-tuned checkpoint")
    p.add_argument("--checkpoint", type=Path, required=True, metavar="RUN")
    p.add_argument("--messages", metavar="F.json",
                   help="answer this conversation as JSON, or one conversation a line (JSONL)")  # fmt: skip
    p.add_argument("--system", metavar="S", help="interactive: a system message to start with")
    add_sampling_args(p)
    p.add_argument("--device", choices=DEVICES, default="auto")
    p.set_defaults(func=cmd_chat)


def cmd_chat(args: argparse.Namespace) -> int:
    params_from_args(args)  # before loading: a bad flag fails fast
    batch = _read_conversations(args.messages) if args.messages else None
    device = resolve_device(args.device)
    configure(device)
    checkpoint = load_checkpoint(args.checkpoint, device)
    params = params_from_args(args, generation_defaults(checkpoint.config))
    chat_template(checkpoint)  # refuses a model without one before anything is read
    if not checkpoint.train_config.get("chat") and not carries_template(checkpoint.config):
        sys.stderr.write("warning: this model has not been fine-tuned for chat\n")
    if isinstance(batch, list):
        return _answer_each(checkpoint, batch, params)
    if batch is not None:
        emit(reply(checkpoint, batch.messages, params))
        return 0
    return _interactive(checkpoint, params, args.system)


def _answer_each(checkpoint: Checkpoint, batch: list[Conversation], params) -> int:
    failed = 0
    for conversation in batch:
        try:
            emit({"line": conversation.line, **reply(checkpoint, conversation.messages, params)})
        except LmcoreError as exc:  # this one cannot be answered; the others still are
            failed += 1
            emit({"line": conversation.line, "error": str(exc)})
    return 1 if failed else 0


def chat_template(checkpoint: Checkpoint) -> ChatTemplate:
    template = template_for(checkpoint.config, checkpoint.tokenizer)
    if template is None:
        raise LmcoreError(
            "this model has no chat template: it came without one and its tokenizer lacks "
            "lmcore's chat tokens. Use `python -m lmcore sample` with a plain prompt"
        )
    return template


def reply(checkpoint: Checkpoint, messages: list[Message], params: SamplingParams) -> dict:
    """The assistant's reply to a conversation, with its tokens (the --messages output)."""
    tokenizer = checkpoint.tokenizer
    template = chat_template(checkpoint)
    engine = Engine(checkpoint.model, tokenizer.bytes_table(), end_ids=template.end_ids)
    prompt, allowed, dropped = _prompt(checkpoint, messages, params, template)
    tokens, text, reason = [], [], None
    for event in engine.generate(prompt, allowed):
        if event["event"] == "token":
            tokens.append(wire_token(event))
            text.append(event["text"])
        else:
            text.append(event["text"])
            reason = done_reason(event["reason"], params.max_new_tokens, allowed.max_new_tokens)
    return {"reply": "".join(text), "tokens": tokens, "reason": reason,
            "prompt_tokens": len(prompt), "dropped": dropped}  # fmt: skip


def _prompt(
    checkpoint: Checkpoint, messages: list[Message], params: SamplingParams,
    template: ChatTemplate,
) -> tuple[list[int], SamplingParams, int]:  # fmt: skip
    """The prompt ids of the newest turns that fit, the reply's settings (max_new_tokens cut
    to the room left), and how many messages were left out."""
    tokenizer, context = checkpoint.tokenizer, checkpoint.model_config.context

    def count(kept: list) -> int:
        return len(render(tokenizer, kept, generation_prompt=True, template=template).ids)

    room = reply_room(params.max_new_tokens, context)
    fitted = fit_conversation(messages, count, context, room)
    prompt = reply_prompt(tokenizer, fitted.messages, context, template)
    return prompt, reply_params(params, len(prompt), context), fitted.dropped


@dataclass(frozen=True)
class Conversation:
    line: int | None  # in a JSONL input; None for a single JSON conversation
    messages: list[Message]


def _read_conversations(source: str) -> Conversation | list[Conversation]:
    """One conversation (a JSON document), or a list of them (JSONL); see the docstring."""
    try:
        raw = sys.stdin.read() if source == "-" else Path(source).read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise LmcoreError(f"{source}: cannot read ({exc.strerror})") from exc
    except UnicodeDecodeError as exc:
        raise LmcoreError(f"{source}: not valid UTF-8 ({exc.reason} at byte {exc.start})") from None
    if not source.lower().endswith(".jsonl"):
        try:
            return Conversation(None, _checked(json.loads(raw), source))
        except ValueError as exc:
            lines = [line for line in raw.splitlines() if line.strip()]
            if len(lines) < 2 or not _is_json(lines[0]):
                raise LmcoreError(f"{source}: not valid JSON ({exc})") from None
    batch = []
    for number, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise LmcoreError(f"{source}: line {number}: not valid JSON ({exc})") from None
        batch.append(Conversation(number, _checked(value, f"{source}: line {number}")))
    if not batch:
        raise LmcoreError(f"{source}: no conversations: one JSON list of messages a line")
    return batch


def _is_json(text: str) -> bool:
    try:
        json.loads(text)
    except ValueError:
        return False
    return True


def _checked(value: object, where: str) -> list[Message]:
    """The messages of `{"messages": [...]}` or of a bare list, ending with a user message."""
    if isinstance(value, list):
        value = {"messages": value}
    try:
        messages = parse_messages(value, need_assistant=False)
    except ValueError as exc:
        raise LmcoreError(f"{where}: {exc}") from None
    if messages[-1]["role"] != "user":
        raise LmcoreError(f"{where}: the conversation must end with a user message to answer")
    return messages


def _interactive(checkpoint: Checkpoint, params: SamplingParams, system: str | None) -> int:
    tokenizer, template = checkpoint.tokenizer, chat_template(checkpoint)
    engine = Engine(checkpoint.model, tokenizer.bytes_table(), end_ids=template.end_ids)
    history: list[Message] = [{"role": "system", "content": system}] if system else []
    while True:
        sys.stderr.write("you> ")
        sys.stderr.flush()
        line = sys.stdin.readline()
        if not line:
            sys.stderr.write("\n")
            return 0
        if not line.strip():
            continue
        history.append({"role": "user", "content": line.rstrip("\n")})
        try:
            prompt, allowed, dropped = _prompt(checkpoint, history, params, template)
        except LmcoreError as exc:  # this message alone is too long: say so, forget it
            sys.stderr.write(f"error: {exc}\n")
            history.pop()
            continue
        if dropped:
            sys.stderr.write(
                f"(the first {dropped} messages no longer fit the model's context of "
                f"{checkpoint.model_config.context:,} tokens: the reply does not see them)\n"
            )
        answer = []
        for event in engine.generate(prompt, allowed):
            sys.stdout.write(event["text"])
            sys.stdout.flush()
            answer.append(event["text"])
        sys.stdout.write("\n")
        reason = done_reason(event["reason"], params.max_new_tokens, allowed.max_new_tokens)
        if reason == CONTEXT_FULL:
            sys.stderr.write("(context full: the reply was cut where the context ends)\n")
        history.append({"role": "assistant", "content": "".join(answer)})
