"""`/ws/corpora/` and `/ws/corpora/<id>/` through the real ASGI stack and channel layer."""

import json

import pytest
from channels.testing import WebsocketCommunicator

from webapp.asgi import application
from webapp.corpora import events
from webapp.corpora.models import Corpus

pytestmark = pytest.mark.django_db(transaction=True)


def _communicator(client, path):
    headers = [(b"origin", b"http://localhost")]
    if client is not None:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, path, headers=headers)


@pytest.fixture
def corpus(alice):
    return Corpus.objects.create(owner=alice, name="a.txt", size_bytes=10, received_bytes=4)


async def test_it_sends_the_state_first_then_every_event(alice_client, corpus):
    socket = _communicator(alice_client, f"/ws/corpora/{corpus.pk}/")
    assert (await socket.connect())[0]
    first = await socket.receive_json_from()
    assert first["type"] == "corpus.status" and first["status"] == "uploading"
    assert first["received_bytes"] == 4 and first["url"] == f"/corpora/{corpus.pk}/"
    from channels.layers import get_channel_layer

    event = {**first, "status": "validating"}
    await get_channel_layer().group_send(events.corpus_group(corpus.pk), event)
    assert (await socket.receive_json_from())["status"] == "validating"
    await socket.send_json_to({"type": "status"})
    assert (await socket.receive_json_from())["status"] == "uploading"  # the row is the truth
    await socket.disconnect()


async def test_the_list_socket_follows_all_my_corpora(alice_client, corpus):
    socket = _communicator(alice_client, "/ws/corpora/")
    assert (await socket.connect())[0]
    assert (await socket.receive_json_from())["id"] == corpus.pk
    from channels.layers import get_channel_layer

    await get_channel_layer().group_send(
        events.user_group(corpus.owner_id), events.deleted_event(corpus.pk)
    )
    assert await socket.receive_json_from() == {"type": "corpus.deleted", "id": corpus.pk}
    await socket.disconnect()


async def test_it_refuses_another_users_corpus_before_subscribing(client, bob, corpus):
    await _login(client, bob)
    socket = _communicator(client, f"/ws/corpora/{corpus.pk}/")
    assert await socket.connect() == (False, 4404)


async def test_it_refuses_anonymous_visitors(corpus):
    assert await _communicator(None, "/ws/corpora/").connect() == (False, 4401)


@pytest.mark.parametrize(
    "text, message",
    [
        ("not json", "message is not valid JSON"),
        (json.dumps({"type": "delete"}), 'unknown message; send {"type": "status"}'),
        (json.dumps("status"), 'unknown message; send {"type": "status"}'),
        ("x" * 2000, "messages are JSON text of at most 1024 bytes"),
    ],
)
async def test_it_answers_bad_messages_with_an_error(alice_client, corpus, text, message):
    socket = _communicator(alice_client, "/ws/corpora/")
    await socket.connect()
    await socket.receive_json_from()  # the state
    await socket.send_to(text_data=text)
    assert await socket.receive_json_from() == {"type": "error", "message": message}
    await socket.disconnect()


async def _login(client, user):
    from asgiref.sync import sync_to_async

    await sync_to_async(client.force_login)(user)
