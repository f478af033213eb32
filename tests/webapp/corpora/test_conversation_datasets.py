"""Conversation datasets: uploaded like corpora, every line checked by lmcore on the real
worker; a bad file is rejected with its line number and reason and stores nothing; the page
counts turns and tokens and shows conversations as a chat."""

import json

import pytest
from django.urls import reverse

from tests.webapp.corpora.conftest import files_under, put, settled
from webapp.corpora.models import Corpus, CorpusKind, CorpusStatus

pytestmark = pytest.mark.django_db(transaction=True)


def line(*turns):
    return json.dumps({"messages": [{"role": r, "content": c} for r, c in turns]})


GOOD = "\n".join(
    [line(("system", "Be brief."), ("user", "Ciao?"), ("assistant", "Salve!")),
     *[line(("user", f"say {w}"), ("assistant", w)) for w in ("red", "blue", "green")]]
) + "\n"  # fmt: skip


def upload_dataset(client, data: bytes, name="chat.jsonl") -> Corpus:
    response = client.post("/corpora/uploads/", {"name": name, "size": len(data),
                           "kind": "conversations"}, content_type="application/json")  # fmt: skip
    assert response.status_code == 201, response.json()
    pk = response.json()["id"]
    assert put(client, pk, 0, data).status_code == 200
    return Corpus.objects.get(pk=pk)


def test_it_validates_and_counts_a_conversation_dataset(alice_client, celery_worker, media_root):
    dataset = settled(upload_dataset(alice_client, GOOD.encode()))
    assert dataset.status == CorpusStatus.READY, dataset.error
    assert dataset.kind == CorpusKind.CONVERSATIONS
    assert dataset.stats["conversations"] == {
        "conversations": 4, "messages": 9, "user_messages": 4, "assistant_messages": 4,
        "system_messages": 1, "chars": 20 + 10 + 12 + 14,
    }  # fmt: skip
    assert files_under(media_root) == [dataset.path]
    # Listed with the conversations, never among the text corpora that tokenizers train on.
    conversations = alice_client.get(reverse("corpora:conversations")).content.decode()
    corpora = alice_client.get(reverse("corpora:index")).content.decode()
    assert "chat.jsonl" in conversations and "chat.jsonl" not in corpora


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (GOOD + "{oops\n", "line 5: invalid JSON"),
        (GOOD + line(("robot", "hi")) + "\n", "line 5: message 1 has an unknown role 'robot'"),
        (GOOD + line(("user", "hi")) + "\n", "line 5: no assistant message"),
        (GOOD + line(("user", "a"), ("assistant", "b"), ("system", "c")) + "\n",
         "line 5: roles out of order"),
        ('{"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}\n',
         "line 1: message 1: content is empty"),
        ("Once upon a time\n", "not a JSONL file: line 1 is not JSON"),
    ],
)  # fmt: skip
def test_a_bad_line_rejects_the_file_and_stores_nothing(
    alice_client, celery_worker, media_root, text, reason
):
    dataset = settled(upload_dataset(alice_client, text.encode()))
    assert dataset.status == CorpusStatus.REJECTED
    assert reason in dataset.error and "Nothing was stored" in dataset.error
    assert files_under(media_root) == []
    page = alice_client.get(dataset.get_absolute_url()).content.decode()
    assert reason.split(":")[0] in page


def test_a_conversation_over_the_limit_is_refused(alice_client, celery_worker, media_root,
                                                  settings):  # fmt: skip
    settings.CONVERSATION_MAX_CHARS = 19  # the first conversation holds 20
    dataset = settled(upload_dataset(alice_client, GOOD.encode()))
    assert dataset.status == CorpusStatus.REJECTED
    assert "line 1: conversation of 20 characters, over the limit of 19" in dataset.error
    settings.CONVERSATION_MAX_CHARS = 20  # exactly at the limit is fine
    assert settled(upload_dataset(alice_client, GOOD.encode())).status == CorpusStatus.READY


def test_an_unknown_kind_is_refused(alice_client, media_root):
    response = alice_client.post("/corpora/uploads/", {"name": "a.jsonl", "size": 3,
                                 "kind": "images"}, content_type="application/json")  # fmt: skip
    assert response.status_code == 400 and "images" in response.json()["error"]
    assert not Corpus.objects.exists()


def test_the_page_counts_tokens_and_shows_conversations_as_a_chat(
    alice_client, celery_worker, media_root, chat_tokenizer_run
):
    dataset = settled(upload_dataset(alice_client, GOOD.encode()))
    page = alice_client.get(dataset.get_absolute_url()).content.decode()
    assert 'data-stat="conversations">4<' in page and 'data-stat="turns">9<' in page
    assert page.count('class="chat-log"') == 4
    assert '<li class="message system"><span class="role">system</span><p>Be brief.</p>' in page
    counted = alice_client.get(dataset.get_absolute_url(), {"tokenizer": chat_tokenizer_run.pk})
    html = counted.content.decode()
    from lmcore.chat import render
    from lmcore.conversations import iter_conversations
    from lmcore.tokenizer import Tokenizer

    tok = Tokenizer.load(chat_tokenizer_run.tokenizer_path)
    rendered = [render(tok, m) for _, m in iter_conversations(dataset.path)]
    assert f'data-stat="tokens">{sum(len(r) for r in rendered)}<' in html
    assert f'data-stat="assistant-tokens">{sum(sum(r.mask) for r in rendered)}<' in html


def test_a_tokenizer_without_chat_tokens_is_named_on_the_page(
    alice_client, celery_worker, media_root, tokenizer_run
):
    dataset = settled(upload_dataset(alice_client, GOOD.encode()))
    html = alice_client.get(dataset.get_absolute_url(), {"tokenizer": tokenizer_run.pk})
    assert "lacks the chat tokens" in html.content.decode()
