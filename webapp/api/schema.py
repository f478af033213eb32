"""Checks of `/v1/completions` and `/v1/chat/completions` request bodies, as OpenAI documents
them, into the settings the playground's tasks take. Every invalid field is named (one 400
lists them all); fields we cannot honour are refused rather than ignored, except those that
only describe the caller (`user`, `metadata`, `store`).

This module reads JSON types; the sampling settings' ranges are lmcore's rule
(`SamplingParams.problems`, which the playground and the worker apply too), each problem named
by the request's field (docs/architecture.md, "OpenAI-compatible API": why lmcore's ranges and
not OpenAI's narrower ones). Mapping to `SamplingParams` (`Generation.sampling`): `max_tokens`
-> `max_new_tokens`, `logprobs`/`top_logprobs` -> `top_logprobs`; two values OpenAI takes and
lmcore does not are read as OpenAI means them: a temperature in (0, 0.01) is greedy (lmcore's
floor, where scaled logits overflow), `top_p` 0 keeps the one most likely token. Choice i of
`n` uses `seed + i`, so choices differ and a seeded request repeats exactly. A sampling
setting the request leaves out (temperature, top_p, top_k, repetition_penalty) takes the
model's own default where it has one (an import's generation_config.json,
lmcore/chat_config.py; `with_model_defaults`), else OpenAI's.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from django.conf import settings

from lmcore.chat import check_order
from lmcore.config import MAX_SEED, MIN_TEMPERATURE, SamplingParams
from webapp.api.errors import ApiError, InvalidFields

MAX_BODY_BYTES = 1 << 20
MAX_CHOICES = 8  # n, and prompts x n
TOP_P_ZERO = 1e-9  # top_p 0 for lmcore, which wants p > 0: the most likely token always stays
MAX_MESSAGES = 64
CHAT_ROLES = {"system": "system", "developer": "system", "user": "user", "assistant": "assistant"}
DESCRIBES_CALLER = {"user", "metadata", "store"}
MODEL_DEFAULTS = ("temperature", "top_p", "top_k", "repetition_penalty")
SAMPLING = {"model", "max_tokens", "temperature", "top_p", "top_k", "seed", "stop", "n", "stream",
            "stream_options", "presence_penalty", "frequency_penalty", "logit_bias",
            "repetition_penalty"}  # fmt: skip
COMPLETION_FIELDS = SAMPLING | {"prompt", "logprobs", "echo", "suffix", "best_of"}
CHAT_FIELDS = SAMPLING | {"messages", "max_completion_tokens", "logprobs", "top_logprobs",
                          "response_format", "tools", "tool_choice", "functions",
                          "function_call", "parallel_tool_calls"}  # fmt: skip


@dataclass
class Generation:
    """What both endpoints share once checked."""

    model: str
    max_tokens: int
    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = 0
    repetition_penalty: float = 1.0
    seed: int | None = None
    stop: list[str] = field(default_factory=list)
    n: int = 1
    stream: bool = False
    include_usage: bool = False
    top_logprobs: int = 0  # alternatives per token
    logprobs: bool = False  # whether token logprobs are reported at all
    given: frozenset[str] = frozenset()  # the MODEL_DEFAULTS fields the request set

    def with_model_defaults(self, defaults: dict[str, Any]) -> Generation:
        """This request with the model's defaults for the settings it left out."""
        return replace(self, **{k: v for k, v in defaults.items()
                                if k in MODEL_DEFAULTS and k not in self.given})  # fmt: skip

    def sampling(self, choice: int = 0) -> SamplingParams:
        """lmcore's settings for choice `choice` (0-based) of `n` (the module docstring)."""
        t, p, seed = self.temperature, self.top_p, self.seed
        if seed is not None and choice:
            seed = (seed + choice) % (MAX_SEED + 1)  # past the largest seed: from 0 again
        return SamplingParams(
            max_new_tokens=self.max_tokens, temperature=0.0 if 0 < t < MIN_TEMPERATURE else t,
            top_p=TOP_P_ZERO if p == 0 else p, top_k=self.top_k,
            repetition_penalty=self.repetition_penalty, stop=self.stop, seed=seed,
            top_logprobs=self.top_logprobs,
        )  # fmt: skip

    def params(self, choice: int) -> dict[str, Any]:
        """The generation task's `params` for choice `choice`."""
        return asdict(self.sampling(choice))


@dataclass
class CompletionRequest(Generation):
    prompts: list[str] = field(default_factory=list)
    echo: bool = False


@dataclass
class ChatRequest(Generation):
    messages: list[dict[str, str]] = field(default_factory=list)


def parse_body(body: bytes) -> dict[str, Any]:
    if len(body) > MAX_BODY_BYTES:
        raise ApiError(400, f"the request body is {len(body):,} bytes; the limit is "
                       f"{MAX_BODY_BYTES:,}", code="body_too_large")  # fmt: skip
    try:
        data = json.loads(body)
    except (ValueError, UnicodeDecodeError):
        raise ApiError(400, "the request body is not valid JSON", code="invalid_json") from None
    if not isinstance(data, dict):
        raise ApiError(400, "the request body must be a JSON object", code="invalid_json")
    return data


class _Checker:
    """Reads fields of a body, collecting a sentence per invalid one."""

    def __init__(self, data: dict[str, Any], known: set[str]) -> None:
        self.data, self.problems = data, {}
        for name in data:
            if name not in known and name not in DESCRIBES_CALLER:
                self.problems[name] = "unrecognized field"

    def bad(self, name: str, why: str) -> None:
        self.problems.setdefault(name, why)

    def integer(self, name: str, default: Any, lo: int | None = None, hi: int | None = None) -> Any:
        """An integer; within [lo, hi] when given (else its range is lmcore's to check)."""
        value = self.data.get(name)
        if value is None:
            return default
        bounded = lo is None or hi is None or lo <= value <= hi
        if not isinstance(value, int) or isinstance(value, bool) or not bounded:
            limits = "" if lo is None or hi is None else f" from {lo} to {hi}"
            self.bad(name, f"must be an integer{limits}, not {value!r}")
            return default
        return value

    def number(self, name: str, default: float) -> float:
        """A number (its range is lmcore's to check)."""
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, int | float) or isinstance(value, bool):
            self.bad(name, f"must be a number, not {value!r}")
            return default
        return float(value)

    def boolean(self, name: str, default: bool = False) -> bool:
        value = self.data.get(name)
        if value is None:
            return default
        if not isinstance(value, bool):
            self.bad(name, f"must be true or false, not {value!r}")
            return default
        return value

    def unsupported(self, name: str, neutral: Any) -> None:
        value = self.data.get(name)
        if value is not None and value != neutral:
            self.bad(
                name, f"is not supported by Bottega (send {json.dumps(neutral)} or leave it out)"
            )

    def raise_if_any(self) -> None:
        if self.problems:
            raise InvalidFields(self.problems)


def _generation(c: _Checker, max_tokens_field: str, default_tokens: int) -> dict:
    data = c.data
    model = data.get("model")
    if not isinstance(model, str) or not model:
        c.bad("model", "is required: a model id from GET /v1/models")
    stop = data.get("stop")
    stop = [stop] if isinstance(stop, str) else [] if stop is None else stop
    if not (isinstance(stop, list) and all(isinstance(s, str) for s in stop)):
        c.bad("stop", "must be a string or a list of strings")
        stop = []
    stream = c.boolean("stream")
    options = data.get("stream_options")
    include_usage = False
    if options is not None:
        if not stream:
            c.bad("stream_options", "is only allowed when stream is true")
        elif (
            not isinstance(options, dict)
            or set(options) - {"include_usage"}
            or not isinstance(options.get("include_usage", False), bool)
        ):
            c.bad("stream_options", 'must be {"include_usage": true | false}')
        else:
            include_usage = options.get("include_usage", False)
    for name in ("presence_penalty", "frequency_penalty"):
        c.number(name, 0.0)
        c.unsupported(name, 0)  # any other value, in OpenAI's -2 to 2 or not
    c.unsupported("logit_bias", {})
    return {
        "model": model if isinstance(model, str) else "",
        "max_tokens": c.integer(max_tokens_field, default_tokens),
        "temperature": c.number("temperature", 1.0), "top_p": c.number("top_p", 1.0),
        "top_k": c.integer("top_k", 0), "repetition_penalty": c.number("repetition_penalty", 1.0),
        "seed": c.integer("seed", None),
        "stop": stop, "n": c.integer("n", 1, 1, MAX_CHOICES), "stream": stream,
        "include_usage": include_usage,
        "given": frozenset(k for k in MODEL_DEFAULTS if data.get(k) is not None),
    }  # fmt: skip


def parse_completion(data: dict[str, Any]) -> CompletionRequest:
    c = _Checker(data, COMPLETION_FIELDS)
    echo = c.boolean("echo")
    common = _generation(c, "max_tokens", 16)  # OpenAI's default length: 16 tokens
    if common["max_tokens"] == 0 and not echo:
        c.bad("max_tokens", "may be 0 only with echo: true (to score the prompt)")
    prompt = data.get("prompt")
    prompts = [prompt] if isinstance(prompt, str) else prompt
    limit = settings.PLAYGROUND_MAX_PROMPT_CHARS
    if not isinstance(prompts, list) or not prompts or not all(isinstance(p, str) for p in prompts):
        c.bad("prompt", "must be a string or a list of strings (token id prompts are not "
              "supported)")  # fmt: skip
        prompts = []
    elif any(len(p) > limit for p in prompts):
        c.bad("prompt", f"each prompt may hold at most {limit:,} characters")
    elif len(prompts) * common["n"] > MAX_CHOICES:
        c.bad("prompt", f"prompts x n is {len(prompts) * common['n']}; the limit is {MAX_CHOICES}")
    logprobs = data.get("logprobs")
    top = c.integer("logprobs", 0)
    c.unsupported("suffix", "")
    best_of = data.get("best_of")
    if best_of is not None and best_of != common["n"]:
        c.bad("best_of", "is not supported by Bottega (leave it out, or send the same value as n)")
    req = CompletionRequest(**common, prompts=prompts, echo=echo, top_logprobs=top,
                            logprobs=logprobs is not None)  # fmt: skip
    # max_tokens 0 (score the prompt, generate nothing) is the API's own case, checked above.
    _check_sampling(c, req, {"max_new_tokens": "max_tokens", "top_logprobs": "logprobs"},
                    skip="max_new_tokens" if req.max_tokens == 0 else "")  # fmt: skip
    c.raise_if_any()
    return req


def parse_chat(data: dict[str, Any]) -> ChatRequest:
    c = _Checker(data, CHAT_FIELDS)
    field_name = (
        "max_completion_tokens" if data.get("max_completion_tokens") is not None else "max_tokens"
    )
    common = _generation(c, field_name, settings.PLAYGROUND_MAX_NEW_TOKENS)
    messages = _messages(c, data.get("messages"))
    logprobs = c.boolean("logprobs")
    top = c.integer("top_logprobs", 0)
    if top and not logprobs:
        c.bad("top_logprobs", "needs logprobs: true")
    for name, neutral in (("tools", []), ("functions", []), ("tool_choice", "none"),
                          ("function_call", "none"), ("response_format", {"type": "text"})):  # fmt: skip
        c.unsupported(name, neutral)
    req = ChatRequest(**common, messages=messages, logprobs=logprobs, top_logprobs=top)
    _check_sampling(c, req, {"max_new_tokens": field_name})
    c.raise_if_any()
    return req


def _check_sampling(c: _Checker, req: Generation, names: dict[str, str], skip: str = "") -> None:
    """lmcore's rule for the sampling settings (`SamplingParams.problems`), each problem under
    the request's field name (`names`: lmcore's name -> the request's); `skip`: a setting the
    caller checks itself."""
    for name, why in req.sampling().problems(settings.PLAYGROUND_MAX_NEW_TOKENS).items():
        if name != skip:
            c.bad(names.get(name, name), why)


def _messages(c: _Checker, messages: Any) -> list[dict[str, str]]:
    shape = (f'must be a list of 1 to {MAX_MESSAGES} messages {{"role": "system" | "user" | '
             '"assistant", "content": "..."}')  # fmt: skip
    if not isinstance(messages, list) or not 0 < len(messages) <= MAX_MESSAGES:
        c.bad("messages", shape)
        return []
    out = []
    for i, message in enumerate(messages):
        role = message.get("role") if isinstance(message, dict) else None
        content = _content(message.get("content")) if isinstance(message, dict) else None
        if role not in CHAT_ROLES:
            c.bad(
                f"messages[{i}].role", f"must be system, developer, user or assistant, not {role!r}"
            )
        elif content is None:
            c.bad(f"messages[{i}].content", "must be a string or a list of text parts")
        else:
            out.append({"role": CHAT_ROLES[role], "content": content})
    total, limit = sum(len(m["content"]) for m in out), settings.PLAYGROUND_MAX_PROMPT_CHARS
    problem = check_order(out) if len(out) == len(messages) else None  # the chat template's rule
    if problem is None and out and out[-1]["role"] != "user":
        problem = "the last message must be the user's: the model writes the assistant's reply"
    if problem:
        c.bad("messages", problem)
    elif total > limit:
        c.bad("messages", f"the conversation is {total:,} characters; the limit is {limit:,}")
    return out


def _content(content: Any) -> str | None:
    """A message's text: a string, or the text parts of a list joined."""
    if isinstance(content, str):
        return content
    if isinstance(content, list) and all(
        isinstance(p, dict) and p.get("type") == "text" and isinstance(p.get("text"), str)
        for p in content
    ):
        return "".join(p["text"] for p in content)
    return None
