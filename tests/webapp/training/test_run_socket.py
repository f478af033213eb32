"""`/ws/runs/<id>/`: the state and the whole history first, then live metrics."""

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator

from tests.webapp.training.helpers import make_run
from webapp.asgi import application
from workers.training import train_model_run

pytestmark = pytest.mark.django_db(transaction=True)


def _socket(client, run):
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, f"/ws/runs/{run.pk}/", headers=headers)


async def _collect_until_done(socket):
    messages = []
    while True:
        message = await socket.receive_json_from(timeout=60)
        messages.append(message)
        if message["type"] == "run.status" and message["status"] in {"succeeded", "failed"}:
            return messages


async def test_it_replays_history_then_streams_live(alice, alice_client, corpus, tokenizer_run):
    run = await sync_to_async(make_run)(alice, corpus, tokenizer_run, max_steps=20)
    live = _socket(alice_client, run)
    assert (await live.connect())[0]
    assert (await live.receive_json_from())["status"] == "queued"
    assert await live.receive_json_from() == {"type": "run.history", "events": []}

    await sync_to_async(train_model_run)(run.pk)  # the task, run here: its pushes reach the socket
    received = await _collect_until_done(live)
    assert received[-1]["status"] == "succeeded", received[-1]["error"]
    live_metrics = [m for m in received if m["type"] == "run.metrics"]
    assert [m["step"] for m in live_metrics if "loss" in m] == [10, 20]
    await live.disconnect()

    late = _socket(alice_client, run)  # a late visitor gets the same story from the database
    assert (await late.connect())[0]
    assert (await late.receive_json_from())["status"] == "succeeded"
    history = (await late.receive_json_from())["events"]
    assert [e for e in history if e["type"] == "run.metrics"] == live_metrics
    await late.disconnect()


async def test_it_refuses_other_users(client, bob, alice, corpus, tokenizer_run):
    run = await sync_to_async(make_run)(alice, corpus, tokenizer_run)
    await sync_to_async(client.force_login)(bob)
    connected, code = await _socket(client, run).connect()
    assert not connected and code == 4404
