"""The status page's websocket, through the real ASGI stack, channel layer and Celery worker."""

import asyncio
import json

import pytest
from channels.testing import WebsocketCommunicator

from webapp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)

ORIGIN = (b"origin", b"http://localhost")


def _communicator(client=None, origin=ORIGIN) -> WebsocketCommunicator:
    headers = [origin]
    if client is not None:
        cookie = f"sessionid={client.cookies['sessionid'].value}"
        headers.append((b"cookie", cookie.encode()))
    return WebsocketCommunicator(application, "/ws/system/", headers=headers)


async def _connected(client):
    communicator = _communicator(client)
    connected, _ = await communicator.connect()
    assert connected
    return communicator


async def _round_trips(client) -> list[dict]:
    communicator = await _connected(client)
    await communicator.send_json_to({"type": "ping"})
    results = [await communicator.receive_json_from(timeout=10) for _ in range(3)]
    await communicator.disconnect()
    assert {r["queue"] for r in results} == {"cpu", "gpu_train", "gpu_infer"}
    for result in results:
        assert result["type"] == "ping.result"
        assert 0 < result["rtt_ms"] < 5000
    return results


async def test_it_streams_a_round_trip_for_every_queue_without_host_names(
    alice_client, celery_worker
):
    assert [r["worker"] for r in await _round_trips(alice_client)] == [None] * 3


async def test_staff_see_which_worker_answered(admin_client, celery_worker):
    for result in await _round_trips(admin_client):
        assert result["worker"] and result["worker"] in celery_worker.hostname


async def test_it_closes_the_socket_for_anonymous_visitors():
    communicator = _communicator()
    connected, code = await communicator.connect()
    assert not connected and code == 4401


async def test_it_refuses_foreign_origins(alice_client):
    communicator = _communicator(alice_client, origin=(b"origin", b"http://evil.example"))
    connected, _ = await communicator.connect()
    assert not connected


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "message is not valid JSON"),
        (json.dumps({"type": "launch"}), 'unknown message; send {"type": "ping"}'),
        (json.dumps([1, 2]), 'unknown message; send {"type": "ping"}'),
        ("x" * 5000, "messages are JSON text of at most 1024 bytes"),
    ],
)
async def test_it_answers_bad_messages_with_an_error(alice_client, text, message):
    communicator = await _connected(alice_client)
    await communicator.send_to(text_data=text)
    assert await communicator.receive_json_from() == {"type": "error", "message": message}
    await communicator.disconnect()


async def test_it_limits_the_ping_rate(alice_client, celery_worker):
    communicator = await _connected(alice_client)
    await communicator.send_json_to({"type": "ping"})
    await communicator.send_json_to({"type": "ping"})
    received = [await communicator.receive_json_from(timeout=10) for _ in range(4)]
    errors = [r for r in received if r["type"] == "error"]
    assert errors == [{"type": "error", "message": "at most one ping every 0.5 s"}]
    await asyncio.sleep(0.1)
    assert await communicator.receive_nothing(timeout=0.3)
    await communicator.disconnect()
