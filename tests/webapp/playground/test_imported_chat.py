"""An imported model with its own chat template chats in the playground: the version is a chat
version, the real worker renders the conversation with the model's template and stops at the
model's own end ids, so the greedy reply equals `transformers`' `generate(do_sample=False)`
after `apply_chat_template`, token for token; side by side stops there too."""

import pytest
from asgiref.sync import sync_to_async

from tests.hf_models import greedy_reply, save_chatml_model
from tests.webapp.playground.conftest import WORDS, connected, receive_until
from webapp.registry.actions import do_import_version

pytestmark = pytest.mark.django_db(transaction=True)
pytest.importorskip("transformers", reason="transformers is a dev dependency")

CHAT = [{"role": "user", "content": "the mouse ate the cheese?"}]


@pytest.fixture
def chatml(tmp_path):
    corpus = tmp_path / "words.txt"
    corpus.write_text(" ".join(WORDS * 40) + "\n", encoding="utf-8")
    return save_chatml_model(corpus, tmp_path / "src", CHAT), tmp_path / "src"


async def test_an_imported_chat_model_replies_as_transformers(alice_client, alice, celery_worker,
                                                              chatml):  # fmt: skip
    (model, hf_tok, end_ids), source = chatml
    version = await sync_to_async(do_import_version)(alice, "smol", source)
    assert version.is_chat  # it came with a template
    expected = greedy_reply(model, hf_tok, CHAT, end_ids)
    assert expected[-1] == end_ids[1]  # it stops at an end id from generation_config.json

    socket = await connected(alice_client)
    params = {"max_new_tokens": 30, "temperature": 0}
    await socket.send_json_to({"type": "generate", "request_id": "c", "model_version": version.pk,
                               "chat": CHAT, "params": params})  # fmt: skip
    messages = await receive_until(socket, "c")
    assert messages[-1]["type"] == "done" and messages[-1]["reason"] == "end_of_text"
    assert [t["id"] for m in messages if m["type"] == "tokens" for t in m["tokens"]] == expected

    # Side by side of the version with itself: both columns stop at the same end id.
    await socket.send_json_to({"type": "generate", "request_id": "s", "model_version": version.pk,
                               "compare": version.pk, "chat": CHAT, "params": params})  # fmt: skip
    columns: dict[int, list[int]] = {0: [], 1: []}
    reasons = []
    while len(reasons) < 2:
        for message in await receive_until(socket, "s"):
            assert message["type"] != "error", message
            if message["type"] == "tokens":
                columns[message["stream"]] += [t["id"] for t in message["tokens"]]
            if message["type"] == "done":
                reasons.append(message["reason"])
    assert reasons == ["end_of_text", "end_of_text"] and columns == {0: expected, 1: expected}
    await socket.disconnect()
