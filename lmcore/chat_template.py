"""Chat templates as data: a Hugging Face Jinja chat template, rendered exactly as
`transformers.apply_chat_template` renders it, traced so that special tokens come only from
the template's own text.

A version carries its template in its checkpoint's config.json (docs/architecture.md, "Chat"):

    "chat_template": {"template": "<Jinja source>", "bos_token": str | null,
                      "eos_token": str | null, "pad_token": str | null, "end_ids": [int, ...]}

`template_for(config, tokenizer)` (lmcore/chat_config.py) finds it; this module renders it.

Rendering: the sandbox `transformers` builds (`ImmutableSandboxedEnvironment` with trim_blocks
and lstrip_blocks, loop controls, its `tojson` that does not escape HTML, `raise_exception`,
`strftime_now`, `dict`, a `namespace` that refuses underscore names, a `{% generation %}` block
that just renders its body) and the same variables (messages, add_generation_prompt, tools
and documents as None, the special tokens), so `render` equals `apply_chat_template(...,
tokenize=False)` (tests/lmcore/test_chat_template.py checks it against `transformers`).

Tracing (`trace`): the render cut into template text and message contents. The messages are
rendered a second time with each content replaced by a marker (a private-use character, the
message's index, another one); the real render must then be the marked one with each marker
replaced by its content, as is or stripped of white space at either end (templates `trim`
contents). Templates that transform contents otherwise (cut out reasoning, upper-case) are
not traced: `trace` returns None and the caller decides (lmcore/chat.py encodes such a render
whole only when no content spells a special token). The price is a second render per prompt,
tens of microseconds.

Example: `ChatTemplate(LMCORE_TEMPLATE, bos_token="<|endoftext|>").render(
[{"role": "user", "content": "hi"}], add_generation_prompt=True)` ->
"<|endoftext|><|user|>hi<|end|><|assistant|>".
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from functools import lru_cache
from typing import Any

import jinja2
import jinja2.ext
from jinja2.sandbox import ImmutableSandboxedEnvironment

from lmcore.errors import LmcoreError

# lmcore's own layout: <|endoftext|>, then <|role|> text <|end|> per message; a reply's prompt
# ends with <|assistant|> (lmcore/chat.py). Exports carry it as their chat template.
LMCORE_TEMPLATE = (
    "{{ bos_token }}{% for m in messages %}{{ '<|' + m['role'] + '|>' + m['content'] + "
    "'<|end|>' }}{% endfor %}{% if add_generation_prompt %}{{ '<|assistant|>' }}{% endif %}"
)
SPECIAL_KEYS = ("bos_token", "eos_token", "pad_token")
_OPEN, _CLOSE = "\ue000", "\ue001"
_MARKER = re.compile(f"{_OPEN}(\\d+){_CLOSE}")


@dataclass(frozen=True)
class ChatTemplate:
    """A Jinja chat template with the special tokens it is rendered with and the ids a reply
    ends at; `to_config` / `from_config` are its config.json form."""

    template: str
    bos_token: str | None = None
    eos_token: str | None = None
    pad_token: str | None = None
    end_ids: tuple[int, ...] = field(default=())

    def to_config(self) -> dict[str, Any]:
        return {"template": self.template, "bos_token": self.bos_token,
                "eos_token": self.eos_token, "pad_token": self.pad_token,
                "end_ids": list(self.end_ids)}  # fmt: skip

    @classmethod
    def from_config(cls, raw: Any) -> ChatTemplate:
        """The template stored in a config.json; LmcoreError when it is malformed."""
        if not isinstance(raw, dict) or not isinstance(raw.get("template"), str):
            raise LmcoreError('config.json: "chat_template" must hold a "template" string')
        tokens = {k: raw.get(k) for k in SPECIAL_KEYS}
        ends = raw.get("end_ids", [])
        bad_token = any(v is not None and not isinstance(v, str) for v in tokens.values())
        bad_ends = not isinstance(ends, list) or not all(
            isinstance(i, int) and not isinstance(i, bool) and i >= 0 for i in ends
        )
        if bad_token or bad_ends:
            raise LmcoreError(
                'config.json: "chat_template" special tokens must be strings or null, '
                '"end_ids" a list of token ids'
            )
        return cls(raw["template"], **tokens, end_ids=tuple(ends))

    def render(
        self,
        messages: Sequence[dict[str, str]],
        add_generation_prompt: bool = False,
        now: datetime | None = None,
    ) -> str:
        """The conversation as text, as `apply_chat_template(..., tokenize=False)` gives it.

        `now` pins `strftime_now`, so that renders compared with each other agree on the date.
        """
        now = now or datetime.now()
        tokens = {k: getattr(self, k) for k in SPECIAL_KEYS if getattr(self, k) is not None}
        variables = {
            "messages": [dict(m) for m in messages], "tools": None, "documents": None,
            "add_generation_prompt": add_generation_prompt, **tokens,
            "strftime_now": now.strftime,
        }  # fmt: skip
        try:
            return _compiled(self.template).render(**variables)
        except jinja2.TemplateError as exc:
            raise LmcoreError(
                f"the model's chat template refused the conversation: {exc}"
            ) from None
        except (TypeError, ValueError, KeyError, AttributeError, IndexError) as exc:
            raise LmcoreError(
                f"the model's chat template failed on the conversation ({exc})"
            ) from None

    def trace(
        self,
        messages: Sequence[dict[str, str]],
        add_generation_prompt: bool = False,
        now: datetime | None = None,
    ) -> tuple[str, list[tuple[str, bool]] | None]:
        """The render, and its pieces in order as (text, is_message_content), or None in
        place of the pieces when the template's output cannot be traced (module docstring)."""
        now = now or datetime.now()
        text = self.render(messages, add_generation_prompt, now)
        contents = [m["content"] for m in messages]
        if any(_OPEN in c or _CLOSE in c for c in contents):
            return text, None
        marked = [{**m, "content": f"{_OPEN}{i}{_CLOSE}"} for i, m in enumerate(messages)]
        skeleton = self.render(marked, add_generation_prompt, now)
        return text, _align(text, _MARKER.split(skeleton), contents)


def _align(text: str, parts: list[str], contents: list[str]) -> list[tuple[str, bool]] | None:
    """Walk `text` along the marked render's pieces (template text, marker index, template
    text, ...): each marker must stand for its content, as is or stripped."""
    pieces: list[tuple[str, bool]] = []
    at = 0
    for n in range(0, len(parts), 2):
        literal = parts[n]
        if not text.startswith(literal, at):
            return None
        pieces.append((literal, False))
        at += len(literal)
        if n + 1 == len(parts):
            break
        content, after = contents[int(parts[n + 1])], parts[n + 2]
        for form in dict.fromkeys((content, content.strip(), content.lstrip(), content.rstrip())):
            if text.startswith(form + after, at) and (
                n + 3 < len(parts) or at + len(form + after) == len(text)
            ):
                pieces.append((form, True))
                at += len(form)
                break
        else:
            return None
    if at != len(text):
        return None
    return [(t, is_content) for t, is_content in pieces if t]


def _tojson(x: Any, ensure_ascii=False, indent=None, separators=None, sort_keys=False) -> str:
    # transformers' own: Jinja's escapes HTML characters, which a prompt must not.
    return json.dumps(x, ensure_ascii=ensure_ascii, indent=indent, separators=separators,
                      sort_keys=sort_keys)  # fmt: skip


def _raise_exception(message: str) -> None:
    raise jinja2.exceptions.TemplateError(message)


class _TemplateDict:
    """`dict` for templates, without attribute access to the real type (as transformers)."""

    def __call__(self, *args: Any, **kwargs: Any) -> dict:
        return dict(*args, **kwargs)

    def fromkeys(self, *args: Any, **kwargs: Any) -> dict:
        return dict.fromkeys(*args, **kwargs)


class _Namespace(jinja2.utils.Namespace):
    """Jinja's namespace refusing underscore names, which could reach Python internals."""

    def __init__(*args: Any, **kwargs: Any) -> None:  # noqa: N805 - Jinja's signature trick
        self, args = args[0], args[1:]
        attrs = dict(*args, **kwargs)
        for name in attrs:
            _Namespace._check(name)
        jinja2.utils.Namespace.__init__(self, attrs)

    def __setitem__(self, name: str, value: Any) -> None:
        _Namespace._check(name)
        jinja2.utils.Namespace.__setitem__(self, name, value)

    @staticmethod
    def _check(name: Any) -> None:
        if isinstance(name, str) and name.startswith("_"):
            raise jinja2.exceptions.SecurityError(
                f"chat templates cannot store underscore names on a namespace ({name!r})"
            )


class _Generation(jinja2.ext.Extension):
    """`{% generation %}...{% endgeneration %}` (transformers' assistant-mask marker): renders
    its body. Bottega finds the replies by incremental rendering instead (lmcore/chat.py)."""

    tags = {"generation"}

    def parse(self, parser: Any) -> jinja2.nodes.Node:
        lineno = next(parser.stream).lineno
        body = parser.parse_statements(("name:endgeneration",), drop_needle=True)
        return jinja2.nodes.CallBlock(self.call_method("_body"), [], [], body).set_lineno(lineno)

    def _body(self, caller: Any) -> str:
        return caller()


@lru_cache(maxsize=32)
def _compiled(source: str) -> jinja2.Template:
    env = ImmutableSandboxedEnvironment(
        trim_blocks=True, lstrip_blocks=True, extensions=[_Generation, jinja2.ext.loopcontrols]
    )
    env.filters["tojson"] = _tojson
    env.globals.update(raise_exception=_raise_exception, dict=_TemplateDict(),
                       namespace=_Namespace, strftime_now=lambda f: datetime.now().strftime(f))  # fmt: skip
    try:
        return env.from_string(source)
    except jinja2.TemplateSyntaxError as exc:
        raise LmcoreError(
            f"the chat template is not valid Jinja (line {exc.lineno}: {exc})"
        ) from None
