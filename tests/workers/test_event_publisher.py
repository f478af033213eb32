import socket
import threading
import time

import pytest
from channels.layers import channel_layers as channel_layers_cache
from channels.layers import get_channel_layer

from webapp.jobs.events import EventPublisher


async def _receive_all(layer, channel, n):
    return [await layer.receive(channel) for _ in range(n)]


def test_it_sends_many_events_from_one_event_loop():
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test.group", channel)
    with EventPublisher() as publisher:
        for step in range(20):
            publisher.group_send("test.group", {"type": "run.metrics", "step": step})
        publisher.send(channel, {"type": "run.status", "status": "done"})
    received = async_to_sync(_receive_all)(get_channel_layer(), channel, 21)
    assert [m["step"] for m in received[:20]] == list(range(20))
    assert received[20] == {"type": "run.status", "status": "done"}


def test_two_threads_share_one_publisher():
    """A training run's supervisor and its outbox thread push through one publisher (one event
    loop) at once; every push must go through (it failed about half of them, "This event loop
    is already running", before each send took its turn)."""
    layer = get_channel_layer()
    from asgiref.sync import async_to_sync

    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test.shared", channel)
    errors: list[str] = []

    def push(thread: int, publisher: EventPublisher) -> None:
        for step in range(100):
            try:
                publisher.group_send("test.shared", {"type": "run.metrics", "step": step,
                                                     "thread": thread})  # fmt: skip
            except Exception as exc:
                errors.append(f"{type(exc).__name__}: {exc}")

    with EventPublisher() as publisher:
        threads = [threading.Thread(target=push, args=(k, publisher)) for k in range(2)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(60)
        assert not any(thread.is_alive() for thread in threads), "a push never returned"
    assert errors == []
    received = async_to_sync(_receive_all)(get_channel_layer(), channel, 200)
    for thread in range(2):  # each thread's events arrive, in its order
        assert [m["step"] for m in received if m["thread"] == thread] == list(range(100))


def test_a_layer_that_never_answers_holds_a_push_for_the_timeout_only(settings):
    """A Redis that accepts connections and never replies (stopped, a dead link): the layer's
    connections have no read timeout, so only the publisher's own bound ends the push."""
    from webapp.environment import channel_layers

    with socket.socket() as silent:  # listening, never accepting: the kernel completes connects
        silent.bind(("127.0.0.1", 0))
        silent.listen(8)
        settings.CHANNEL_LAYERS = channel_layers(f"redis://127.0.0.1:{silent.getsockname()[1]}")
        channel_layers_cache.backends.clear()
        with EventPublisher(timeout=0.5) as publisher:
            started = time.monotonic()
            with pytest.raises(TimeoutError):
                publisher.group_send("test.silent", {"type": "run.metrics"})
            assert time.monotonic() - started < 5
