"""The choices of one API request as a sequence of tasks, their stream entries turned into
deltas `(index, text, logprobs part, finish_reason)`, and the deltas into the answer's
choices (`choices()`) or its streamed chunks' (`chunks()`), each plan in its endpoint's shape
(shapes.py has the pieces); endpoints.py wraps them in the response.

Completions: for each prompt, a score task first when echo needs the prompt's logprobs (or
`max_tokens` is 0: scoring the prompt is then the whole answer), then `n` generations; choice
`i * n + j` is prompt i's j-th. Chat: `n` generations of the conversation, rendered by the
worker with the model's chat template; a choice's first chunk carries the assistant's role.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import aclosing
from typing import Any

from webapp.api import runs
from webapp.api.schema import ChatRequest, CompletionRequest
from webapp.api.shapes import FINISH, LegacyLogprobs, Usage, chat_logprob
from webapp.playground.inference import Inference

Delta = tuple[int, str, Any, str | None]  # index, text, logprobs part or None, finish reason
Step = tuple[Callable[[], runs.TaskRun], int, int | None]  # task, prompt, choice (None: score)


class Plan:
    """Tasks to run in order; subclasses turn their entries into deltas, and deltas into
    their endpoint's choices (`object`: the answer's type, `chunk_object`: a chunk's)."""

    object = ""
    chunk_object = ""

    def __init__(self, inference: Inference, version_id: int) -> None:
        self.inference, self.version_id = inference, version_id
        self.steps: list[Step] = []
        self.usage = Usage()
        self._counted: set[int] = set()
        self._first: runs.TaskRun | None = None

    async def start(self) -> None:
        """Charge the per-minute cap once per choice, start the first (errors: ApiError)."""
        await runs.charge(self.inference, self.cost)
        self._first = self.steps[0][0]()
        await self._first.start()

    async def deltas(self) -> AsyncIterator[Delta]:
        for n, (make, prompt, index) in enumerate(self.steps):
            run = self._first if n == 0 else make()
            if n:
                await run.start()
            # aclosing: a consumer closed at its yield (a client gone while Django writes a
            # chunk) closes the run too, whose `finally` raises the cancel flag.
            async with aclosing(run.entries()) as entries:
                async for kind, data in entries:
                    for delta in self.on_entry(prompt, index, kind, data):
                        yield delta

    async def choices(self) -> list[dict[str, Any]]:
        """The whole answer's choices, in index order."""
        texts: dict[int, list[str]] = {}
        logprobs: dict[int, Any] = {}
        finish: dict[int, str] = {}
        async with aclosing(self.deltas()) as deltas:  # a cancelled view closes the runs
            async for index, text, part, reason in deltas:
                texts.setdefault(index, []).append(text)
                if part is not None:
                    had = logprobs.get(index)
                    logprobs[index] = part if had is None else self.merge(had, part)
                if reason:
                    finish[index] = reason
        return [self.choice(i, "".join(texts[i]), logprobs.get(i), finish.get(i, "stop"))
                for i in sorted(texts)]  # fmt: skip

    async def chunks(self) -> AsyncIterator[dict[str, Any]]:
        """One streamed choice per delta."""
        async with aclosing(self.deltas()) as deltas:  # closing this closes the runs
            async for delta in deltas:
                yield self.chunk(*delta)

    def choice(self, index: int, text: str, logprobs: Any, finish: str) -> dict[str, Any]:
        raise NotImplementedError

    def chunk(self, index: int, text: str, part: Any, reason: str | None) -> dict[str, Any]:
        raise NotImplementedError

    def merge(self, into: Any, part: Any) -> Any:
        """A choice's logprobs so far with a delta's part."""
        raise NotImplementedError

    @property
    def cost(self) -> int:
        """Requests counted against the per-minute cap: one per choice. An echo that also
        generates is one request (its score of the prompt rides along, as it would at OpenAI);
        an echo with max_tokens 0 is its score alone."""
        return sum(1 for _, _, index in self.steps if index is not None) or len(self.steps)

    def on_entry(self, prompt: int, index: int | None, kind: str, data: dict) -> list[Delta]:
        raise NotImplementedError

    def count_prompt(self, prompt: int, tokens: int) -> None:
        """Usage counts each prompt's tokens once, however many choices it has."""
        if prompt not in self._counted:
            self._counted.add(prompt)
            self.usage.prompt_tokens += tokens


class CompletionPlan(Plan):
    object = chunk_object = "text_completion"

    def __init__(self, inference: Inference, version_id: int, req: CompletionRequest) -> None:
        super().__init__(inference, version_id)
        self.req = req
        self.scores: dict[int, list[dict[str, Any]]] = {}
        self.logprobs: dict[int, LegacyLogprobs] = {}
        self.started: set[int] = set()
        score = req.echo and (req.logprobs or req.max_tokens == 0)
        for i, prompt in enumerate(req.prompts):
            if score:
                self.steps.append(
                    (
                        lambda p=prompt: runs.scoring(inference, version_id, p, req.top_logprobs),
                        i,
                        None,
                    )
                )
            for j in range(req.n if req.max_tokens else 0):
                make = lambda p=prompt, j=j: runs.generation(  # noqa: E731
                    inference, version_id, p, req.params(j)
                )
                self.steps.append((make, i, i * req.n + j))

    def on_entry(self, prompt: int, index: int | None, kind: str, data: dict) -> list[Delta]:
        if kind == "score":
            self.scores[prompt] = data["tokens"]
            self.count_prompt(prompt, len(data["tokens"]))
            if self.req.max_tokens:
                return []
            # max_tokens 0: the echoed prompt is each choice's whole answer.
            return [
                self._echo(prompt, prompt * self.req.n + j, "length") for j in range(self.req.n)
            ]
        if index is None or kind not in ("tokens", "done"):
            return []  # e.g. a "queued" entry: nothing to show yet
        out = [] if index in self.started else [self._echo(prompt, index, None)]
        self.started.add(index)
        if kind == "tokens":
            legacy = self.logprobs.get(index)
            for token in data["tokens"]:
                if legacy is not None:
                    legacy.add_generated(token, self.req.top_logprobs > 0)
            text = "".join(t["text"] for t in data["tokens"])
            out.append((index, text, legacy.take() if legacy else None, None))
        else:
            self.count_prompt(prompt, data["stats"].get("prompt_tokens", 0))
            self.usage.completion_tokens += data["stats"].get("tokens", 0)
            legacy = self.logprobs.get(index)
            out.append((index, data["text"], legacy.take() if legacy else None,
                        FINISH.get(data["reason"], "stop")))  # fmt: skip
        return [d for d in out if d[1] or d[2] and d[2]["tokens"] or d[3]]

    def choice(self, index: int, text: str, logprobs: Any, finish: str) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": logprobs, "finish_reason": finish}

    def chunk(self, index: int, text: str, part: Any, reason: str | None) -> dict[str, Any]:
        return {"index": index, "text": text, "logprobs": part, "finish_reason": reason}

    def merge(self, into: Any, part: Any) -> Any:
        return {k: into[k] + part[k] for k in into}  # legacy logprobs: parallel lists

    def _echo(self, prompt: int, index: int, finish: str | None) -> Delta:
        """A choice's opening: the prompt when echoed, and its logprobs when asked."""
        text = self.req.prompts[prompt]
        legacy = LegacyLogprobs(offset=0 if self.req.echo else len(text))
        if self.req.logprobs:
            self.logprobs[index] = legacy
        if not self.req.echo:
            return (index, "", None, finish)
        for token in self.scores.get(prompt, []):
            legacy.add_scored(token, self.req.top_logprobs > 0)
        return (index, text, legacy.take() if self.req.logprobs else None, finish)


class ChatPlan(Plan):
    object, chunk_object = "chat.completion", "chat.completion.chunk"

    def __init__(self, inference: Inference, version_id: int, req: ChatRequest) -> None:
        super().__init__(inference, version_id)
        self.req = req
        self.opened: set[int] = set()  # choices whose first chunk (with the role) went out
        for j in range(req.n):
            make = lambda j=j: runs.generation(  # noqa: E731
                inference, version_id, "", req.params(j), chat=req.messages
            )
            self.steps.append((make, 0, j))

    def on_entry(self, prompt: int, index: int | None, kind: str, data: dict) -> list[Delta]:
        logprobs = self.req.logprobs
        if kind == "tokens":
            text = "".join(t["text"] for t in data["tokens"])
            content = [chat_logprob(t) for t in data["tokens"]] if logprobs else None
            return [(index, text, content, None)]
        if kind == "done":
            self.count_prompt(0, data["stats"].get("prompt_tokens", 0))
            self.usage.completion_tokens += data["stats"].get("tokens", 0)
            return [
                (index, data["text"], [] if logprobs else None, FINISH.get(data["reason"], "stop"))
            ]
        return []

    def choice(self, index: int, text: str, logprobs: Any, finish: str) -> dict[str, Any]:
        return {"index": index, "finish_reason": finish,
                "message": {"role": "assistant", "content": text, "refusal": None},
                "logprobs": None if logprobs is None else {"content": logprobs, "refusal": None}}  # fmt: skip

    def chunk(self, index: int, text: str, part: Any, reason: str | None) -> dict[str, Any]:
        delta: dict[str, Any] = {"content": text} if text or reason is None else {}
        if index not in self.opened:
            self.opened.add(index)
            delta = {"role": "assistant", "content": text}
        return {"index": index, "delta": delta, "finish_reason": reason,
                "logprobs": None if part is None else {"content": part, "refusal": None}}  # fmt: skip

    def merge(self, into: Any, part: Any) -> Any:
        return into + part  # chat logprobs: content entries
