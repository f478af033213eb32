"""Flow control for streamed HTTP responses under daphne, so a big download keeps the web
process's memory flat.

ASGI has no back-pressure: `await send(body)` returns at once, and daphne hands each chunk to
Twisted, whose transport buffers whatever the client has not read yet. A response produced
faster than the client reads (a 500 MB "Download for transformers" zip) would sit in the web
process's memory almost whole (measured: docs/benchmarks.md). Twisted has the answer, a push
producer: the transport calls `pauseProducing()` when its buffer fills and
`resumeProducing()` when it drains. This middleware registers one on daphne's request for
each response that streams (`more_body`), and waits after each chunk until the transport
asks for more. daphne's `send` is `partial(server.handle_reply, protocol)`, the protocol
being the Twisted request; with another server (or in tests) `send` is passed through as is.

Two more things daphne's Twisted request needs told: a client that leaves takes the request's
channel with it, so the producer is dropped without asking the channel (which is None then:
"'NoneType' object has no attribute 'unregisterProducer'", an error per early close); and
Twisted names no 422 or 429 (the status line read "429 Unknown Status"), so the reason phrase
comes from Python's `http.HTTPStatus`.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import tempfile
from collections.abc import AsyncIterator, Callable, Iterator
from http import HTTPStatus
from pathlib import Path
from typing import Any

from asgiref.sync import sync_to_async


class _Gate:
    """A Twisted IPushProducer whose state is an asyncio.Event: set = send more."""

    def __init__(self) -> None:
        self.open = asyncio.Event()
        self.open.set()

    def pauseProducing(self) -> None:  # noqa: N802 (Twisted's interface)
        self.open.clear()

    def resumeProducing(self) -> None:  # noqa: N802
        self.open.set()

    def stopProducing(self) -> None:  # noqa: N802 (the connection is gone: stop waiting)
        self.open.set()


def _twisted_request(send: Any) -> Any:
    protocol = send.args[0] if isinstance(send, functools.partial) and send.args else None
    return protocol if hasattr(protocol, "registerProducer") else None


def _unregister(request: Any, gate: _Gate) -> None:
    if request.producer is not gate:
        return
    if request.channel is None:  # the client left: nothing to tell the connection
        request.producer = None
    else:
        request.unregisterProducer()


def _name_status(request: Any, status: int) -> None:
    """Give the status line a reason phrase where Twisted's table has none."""
    if request.code_message == b"Unknown Status":
        with contextlib.suppress(ValueError):  # a status no table names keeps Twisted's words
            request.code_message = HTTPStatus(status).phrase.encode()


def flow_controlled(app: Any) -> Any:
    """Wrap an ASGI HTTP app so streamed bodies wait for the client under daphne."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        request = _twisted_request(send) if scope["type"] == "http" else None
        if request is None:
            return await app(scope, receive, send)
        gate = _Gate()

        async def paced_send(message: dict) -> None:
            streaming = message["type"] == "http.response.body" and message.get("more_body")
            if streaming and request.producer is None and request.channel is not None:
                request.registerProducer(gate, True)
            elif not streaming:
                _unregister(request, gate)  # before the last chunk, which finishes it
            await send(message)
            if message["type"] == "http.response.start":
                _name_status(request, message["status"])
            if request.producer is gate:
                await gate.open.wait()

        try:
            await app(scope, receive, paced_send)
        finally:
            _unregister(request, gate)

    return wrapped


async def in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A response body made by a blocking iterator (files, zipping), each chunk read in a
    worker thread. An async iterator, because Django would read a synchronous one whole into
    a list before sending it under ASGI."""
    next_chunk = sync_to_async(next, thread_sensitive=False)
    while (chunk := await next_chunk(chunks, None)) is not None:
        yield chunk


async def written_file(write: Callable[[Path], None], scratch: Path) -> AsyncIterator[bytes]:
    """A response body that `write(path)` makes as a file first (a GGUF export): written in a
    worker thread into a temp file under `scratch`, then streamed. The file is unlinked once
    open, so nothing outlives the download."""
    scratch.mkdir(parents=True, exist_ok=True)
    handle, name = tempfile.mkstemp(prefix="download-", suffix=".part", dir=scratch)
    os.close(handle)
    try:
        await sync_to_async(write, thread_sensitive=False)(Path(name))
        f = open(name, "rb")  # noqa: SIM115 (closed below, after the last chunk)
    finally:
        os.unlink(name)
    with f:
        async for chunk in in_thread(iter(lambda: f.read(1 << 20), b"")):
            yield chunk
