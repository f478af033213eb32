"""workers/outbox.py: events stored in order through failing stores; pushes never block it.
(The real outages, a Redis and a PostgreSQL restart under a real run, are in
tests/webapp/training/test_outages.py.)"""

import threading

import pytest

from workers.outbox import Outbox


class FlakyStore:
    """Fails while `down` is set, as a database does while it restarts."""

    def __init__(self) -> None:
        self.down = threading.Event()
        self.stored: list[int] = []
        self.retried: list[int] = []
        self.attempts_while_down = threading.Semaphore(0)

    def __call__(self, item: int, retried: bool) -> dict:
        if self.down.is_set():
            self.attempts_while_down.release()
            raise ConnectionError("the database is restarting")
        if retried:
            self.retried.append(item)
        self.stored.append(item)
        return {"type": "x", "item": item}


def test_it_stores_everything_in_order_through_an_outage():
    store, pushed = FlakyStore(), []
    outbox = Outbox(store, pushed.append)
    outbox.put(0)
    store.down.set()
    for i in range(1, 50):
        outbox.put(i)
    for _ in range(3):  # three failed attempts, with backoff in between
        assert store.attempts_while_down.acquire(timeout=10)
    store.down.clear()
    assert outbox.close(timeout=30)
    assert store.stored == list(range(50))
    assert len(store.retried) == 1  # only the item that met the outage was retried
    assert [p["item"] for p in pushed] == list(range(50)) and outbox.failures >= 3


def test_a_failing_push_is_dropped_and_storing_goes_on():
    store = FlakyStore()

    def push(payload):
        raise ConnectionError("Redis is down")

    outbox = Outbox(store, push)
    for i in range(5):
        outbox.put(i)
    assert outbox.close(timeout=10) and store.stored == list(range(5))


@pytest.mark.timeout(20)
def test_close_gives_up_after_its_timeout_when_the_store_never_returns():
    store = FlakyStore()
    store.down.set()
    outbox = Outbox(store, lambda p: None)
    outbox.put(1)
    assert outbox.close(timeout=0.5) is False and outbox.pending() == 1
