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
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import AsyncIterator, Iterator
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


def flow_controlled(app: Any) -> Any:
    """Wrap an ASGI HTTP app so streamed bodies wait for the client under daphne."""

    async def wrapped(scope: dict, receive: Any, send: Any) -> None:
        request = _twisted_request(send) if scope["type"] == "http" else None
        if request is None:
            return await app(scope, receive, send)
        gate, registered = _Gate(), False

        async def paced_send(message: dict) -> None:
            nonlocal registered
            streaming = message["type"] == "http.response.body" and message.get("more_body")
            if streaming and not registered and request.producer is None:
                request.registerProducer(gate, True)
                registered = True
            elif not streaming and registered:
                request.unregisterProducer()  # before the last chunk, which finishes it
                registered = False
            await send(message)
            if registered:
                await gate.open.wait()

        try:
            await app(scope, receive, paced_send)
        finally:
            if registered and request.producer is gate:
                request.unregisterProducer()

    return wrapped


async def in_thread(chunks: Iterator[bytes]) -> AsyncIterator[bytes]:
    """A response body made by a blocking iterator (files, zipping), each chunk read in a
    worker thread. An async iterator, because Django would read a synchronous one whole into
    a list before sending it under ASGI."""
    next_chunk = sync_to_async(next, thread_sensitive=False)
    while (chunk := await next_chunk(chunks, None)) is not None:
        yield chunk
