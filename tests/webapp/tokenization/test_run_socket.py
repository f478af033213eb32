import pytest
from channels.testing import WebsocketCommunicator

from webapp.asgi import application

pytestmark = pytest.mark.django_db(transaction=True)


def _socket(client, run):
    cookie = f"sessionid={client.cookies['sessionid'].value}".encode()
    headers = [(b"origin", b"http://localhost"), (b"cookie", cookie)]
    return WebsocketCommunicator(application, f"/ws/tokenizers/{run.pk}/", headers=headers)


async def test_it_sends_the_state_first(alice_client, tokenizer_run):
    socket = _socket(alice_client, tokenizer_run)
    assert (await socket.connect())[0]
    first = await socket.receive_json_from()
    assert first["type"] == "run.status" and first["status"] == "succeeded"
    assert first["result"]["vocab_size"] == tokenizer_run.result["vocab_size"]
    await socket.send_json_to({"type": "nonsense"})
    assert (await socket.receive_json_from())["message"] == (
        "unknown message type; this socket accepts 'status'"
    )
    await socket.disconnect()


async def test_it_refuses_other_users(client, bob, tokenizer_run):
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(bob)
    connected, code = await _socket(client, tokenizer_run).connect()
    assert not connected and code == 4404
