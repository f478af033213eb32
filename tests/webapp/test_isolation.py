"""Isolation: every URL and websocket route, as another user and as nobody, on alice's objects.

The URLs come from Django's resolver, not from a list: a new view taking an object id fails
here until `KINDS` says which object it takes, and then fails if bob (signed in, not staff)
gets anything but 403/404/405 (or a redirect to a sign-in page) for alice's object under any
method. A new public view (`login_not_required`) fails until `PUBLIC` lists it with a reason.
Anonymous requests must be sent to sign in (or get 401/403/404 from the JSON API).
"""

from __future__ import annotations

import pytest
from asgiref.sync import sync_to_async
from channels.testing import WebsocketCommunicator
from django.urls import URLPattern, URLResolver, get_resolver

from webapp.asgi import application
from webapp.routing import websocket_urlpatterns

pytestmark = pytest.mark.django_db(transaction=True)

# Views anyone may call, and why. Keyed by URL name (namespace:name).
PUBLIC = {
    "login": "the sign-in page itself",
    "healthz": "load balancers and `docker compose` health checks call it anonymously; "
    "details only for staff",
    "livez": "liveness for load balancers and orchestrators: says only that the process serves",
    "readyz": "readiness, as healthz (its older name)",
    "v1:models": "the OpenAI-compatible API authenticates bearer keys itself (401 without)",
    "v1:model": "as v1:models",
    "v1:completions": "as v1:models",
    "v1:chat-completions": "as v1:models",
}
# Django's admin: staff only (admin_view), its own sign-in page; its URLs are regexes.
ADMIN_NAMESPACE = "admin"
# Which of alice's objects each URL argument names: "namespace:name" -> {kwarg: kind}.
KINDS = {
    "corpora:detail": {"pk": "corpus"},
    "corpora:detail_fragment": {"pk": "corpus"},
    "corpora:row": {"pk": "corpus"},
    "corpora:rename": {"pk": "corpus"},
    "corpora:delete": {"pk": "corpus"},
    "corpora:upload": {"pk": "corpus_upload"},
    "tokenization:detail": {"pk": "tokenizer"},
    "tokenization:cancel": {"pk": "tokenizer"},
    "tokenization:delete": {"pk": "tokenizer"},
    "tokenization:vocab": {"pk": "tokenizer"},
    "tokenization:encode": {"pk": "tokenizer"},
    "tokenization:trace": {"pk": "tokenizer"},
    "training:detail": {"pk": "training_run"},
    "training:cancel": {"pk": "training_run"},
    "training:resume": {"pk": "training_run"},
    "training:delete": {"pk": "training_run"},
    "training:finetune": {"version_pk": "version"},
    "registry:detail": {"pk": "version"},
    "registry:promote": {"pk": "version"},
    "registry:archive": {"pk": "version"},
    "registry:download": {"pk": "version"},
    "registry:download_hf": {"pk": "version"},
    "registry:delete": {"pk": "version"},
    "registry:upload": {"pk": "model_upload"},
    "playground:conversation": {"pk": "conversation"},
    "playground:delete_conversation": {"pk": "conversation"},
    "api:revoke": {"pk": "api_key"},
    "api:delete_key": {"pk": "api_key"},
    "registry:download_gguf": {"pk": "version"},
    "registry:download_peft": {"pk": "version"},
    "registry:merge": {"pk": "version"},
    "v1:model": {"model_id": "model_name"},
    "arena:battle": {"public_id": "battle"},
    "arena:vote": {"public_id": "battle"},
    "arena:withdraw": {"pk": "vote"},
    "arena:leaderboard": {"slug": "board"},
    "arena:reset": {"slug": "board"},
    "evaluation:detail": {"pk": "evaluation_run"},
    "evaluation:cancel": {"pk": "evaluation_run"},
    "evaluation:delete": {"pk": "evaluation_run"},
    "evaluation:delete_task": {"pk": "eval_task"},
    "evaluation:items": {"pk": "eval_result"},
}
# Views whose argument names an object every signed-in user shares, and why bob may see it.
SHARED = {
    "arena:leaderboard": "a board is everyone's; it names only the versions the viewer may use "
    "(tests/webapp/arena/test_leaderboard.py)",
}
# Websocket routes: path argument -> kind; routes without arguments are checked below.
WS_KINDS = {
    "ws/corpora/<int:pk>/": "corpus",
    "ws/tokenizers/<int:pk>/": "tokenizer",
    "ws/runs/<int:pk>/": "training_run",
    "ws/evaluations/<int:pk>/": "evaluation_run",
    "ws/arena/<uuid:public_id>/": "battle",
}
WS_WITHOUT_OBJECT = {"ws/system/", "ws/corpora/", "ws/playground/"}
METHODS = ("get", "post", "put", "patch", "delete")
LOGIN_PAGES = ("/accounts/login/", "/admin/login/")


def _walk(patterns, prefix="", namespace=""):
    """(route, "namespace:name", view) for every URL pattern, includes followed."""
    for entry in patterns:
        if isinstance(entry, URLResolver):
            ns = entry.namespace or namespace
            if ns == ADMIN_NAMESPACE:
                yield prefix + str(entry.pattern), ADMIN_NAMESPACE, None
                continue
            inner = f"{namespace}:{entry.namespace}" if namespace and entry.namespace else ns
            yield from _walk(entry.url_patterns, prefix + str(entry.pattern), inner)
        elif isinstance(entry, URLPattern):
            name = f"{namespace}:{entry.name}" if namespace else entry.name
            yield prefix + str(entry.pattern), name, entry.callback


def _routes():
    return [r for r in _walk(get_resolver().url_patterns) if r[1] != ADMIN_NAMESPACE]


@pytest.fixture
def owned(alice, tmp_path, settings, django_user_model):
    """One of each kind of object alice can own (rows only: no view may reach their files).
    Her evaluation result is of a version staff share with everyone, so bob may use its
    version: what hides it from him is its task's source, her private corpus."""
    from webapp.api.models import ApiKey
    from webapp.arena.models import Battle, Board, Vote
    from webapp.corpora.models import Corpus
    from webapp.evaluation.models import EvalResult, EvalTask, EvaluationRun
    from webapp.playground.models import Conversation
    from webapp.registry.models import ModelUpload, ModelVersion
    from webapp.tokenization.models import TokenizerRun
    from webapp.training.models import TrainingRun

    settings.MEDIA_ROOT = tmp_path / "media"
    corpus = Corpus.objects.create(owner=alice, name="words", size_bytes=10, status="ready")
    uploading = Corpus.objects.create(owner=alice, name="half", size_bytes=10)
    tokenizer = TokenizerRun.objects.create(owner=alice, name="tok", vocab_size=300)
    run = TrainingRun.objects.create(
        owner=alice,
        name="alices-model",
        tokenizer=tokenizer,
        preset="tiny",
        model_config={},
        train_config={},
        status="failed",
    )
    version = ModelVersion.objects.create(
        owner=alice, name="alices-model", version=1, params=1, step=0, run=run
    )
    other = ModelVersion.objects.create(
        owner=alice, name="alices-model", version=2, params=1, step=0, run=run
    )
    board, _ = Board.objects.get_or_create(slug="chat", defaults={"title": "Chat", "kind": "chat"})
    battle = Battle.objects.create(
        owner=alice, board=board, left=version, right=other, prompt="p", params={}
    )
    voted = Battle.objects.create(
        owner=alice, board=board, left=other, right=version, prompt="p", params={}
    )
    staff = django_user_model.objects.create_user("staff", password="staff-pw-1", is_staff=True)
    shared = ModelVersion.objects.create(
        owner=staff, name="shared", version=1, params=1, step=0, status="production"
    )
    evaluation = EvaluationRun.objects.create(owner=alice, name="alices-evaluation")
    evaluation.versions.add(version, shared)
    return {
        "battle": battle,
        "vote": Vote.objects.create(battle=voted, outcome="tie"),
        "board": board,
        "evaluation_run": evaluation,
        "eval_task": EvalTask.objects.create(
            owner=alice, name="alices-task", config={}, output_type="multiple_choice", items=1
        ),
        "eval_result": EvalResult.objects.create(
            run=evaluation,
            version=shared,
            task_key=f"bpb:{corpus.pk}",
            task_label="bpb · words",
            output_type="bpb",
        ),
        "corpus": corpus,
        "corpus_upload": uploading,
        "tokenizer": tokenizer,
        "training_run": run,
        "version": version,
        "model_upload": ModelUpload.objects.create(
            owner=alice, name="m", filename="m.zip", size_bytes=10
        ),
        "conversation": Conversation.objects.create(
            owner=alice, title="t", mode="complete", model_version=version
        ),
        "api_key": ApiKey.issue(alice, "alices-key")[0],
        "model_name": "alices-model",
    }


def _value(obj) -> str:
    """How a URL names the object: a string as it is, else its public id, slug or pk."""
    if isinstance(obj, str):
        return obj
    return str(getattr(obj, "public_id", None) or getattr(obj, "slug", None) or obj.pk)


def _url(route: str, name: str, owned: dict) -> str | None:
    """The route with alice's objects in it; None for a route without arguments."""
    if "<" not in route:
        return "/" + route
    kinds = KINDS.get(name)
    assert kinds, f"{name} ({route}) takes an argument: say in KINDS which object it names"
    url = route
    for kwarg, kind in kinds.items():
        obj = owned[kind]
        value = _value(obj)
        start = url.index("<")
        end = url.index(">", start)
        assert url[start:end].endswith(kwarg), f"{route}: expected <…{kwarg}>"
        url = url[:start] + value + url[end + 1 :]
    assert "<" not in url, f"{route}: an argument KINDS does not name"
    return "/" + url


def _denied(response) -> bool:
    if response.status_code in (401, 403, 404, 405):
        return True
    location = response.get("Location", "")
    return response.status_code == 302 and location.startswith(LOGIN_PAGES)


def test_the_public_views_are_the_listed_ones():
    public = {name for _, name, view in _routes() if getattr(view, "login_required", True) is False}
    assert public == set(PUBLIC), "a view opted out of sign-in: list it in PUBLIC with a reason"


def test_every_view_with_an_object_refuses_another_user(client, bob, owned):
    from webapp.api.models import ApiKey

    client.force_login(bob)
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {ApiKey.issue(bob, 'bobs-key')[1]}"}
    checked, leaks = 0, []
    for route, name, _ in _routes():
        if "<" not in route or name in SHARED:
            continue
        url = _url(route, name, owned)
        refused = 0
        for method in METHODS:
            extra = bearer if name.startswith("v1:") else {}
            response = getattr(client, method)(url, content_type="application/json", **extra)
            if not _denied(response):
                leaks.append(f"{method.upper()} {url} ({name}): {response.status_code}")
            refused += response.status_code != 405
        assert refused, f"{url}: every method answered 405; nothing checked ownership"
        checked += 1
    assert not leaks, "bob reached alice's objects:\n" + "\n".join(leaks)
    assert checked >= len(KINDS) - len(SHARED)


def test_every_view_sends_an_anonymous_client_to_sign_in(client, owned):
    leaks = []
    for route, name, _ in _routes():
        if name in PUBLIC and not name.startswith("v1:"):
            continue
        url = _url(route, name, owned)
        for method in METHODS:
            response = getattr(client, method)(url, content_type="application/json")
            if not _denied(response):
                leaks.append(f"{method.upper()} {url} ({name}): {response.status_code}")
    assert not leaks, "anonymous requests got through:\n" + "\n".join(leaks)


def test_the_admin_is_staff_only(client, bob, owned):
    from django.urls import reverse

    corpus = owned["corpus"]
    urls = [
        "/admin/",
        reverse("admin:corpora_corpus_changelist"),
        reverse("admin:corpora_corpus_change", args=[corpus.pk]),
    ]
    for who in (None, bob):
        if who:
            client.force_login(who)
        for url in urls:
            response = client.get(url)
            assert response.status_code == 302, (who, url, response.status_code)
            assert response["Location"].startswith(LOGIN_PAGES)


def test_bodies_naming_alices_objects_are_refused(client, bob, owned):
    """Views without an id in the path that take one in the body: bob cannot use alice's."""
    client.force_login(bob)
    version = owned["version"].pk
    anatomy = client.post(
        "/anatomy/inspect",
        {"model_version": version, "text": "the"},
        content_type="application/json",
    )
    assert anatomy.status_code in (400, 404), anatomy.content
    conversation = client.post(
        "/playground/conversations/",
        {"title": "x", "mode": "complete", "model_version": version},
        content_type="application/json",
    )
    assert conversation.status_code in (400, 404), conversation.content
    finetune = client.post(
        "/training/",
        {"name": "x", "corpora": [owned["corpus"].pk], "tokenizer": owned["tokenizer"].pk},
    )
    assert finetune.status_code in (200, 400) and b"alices" not in finetune.content


def _socket(client, path: str) -> WebsocketCommunicator:
    headers = [(b"origin", b"http://localhost")]
    if "sessionid" in client.cookies:
        headers.append((b"cookie", f"sessionid={client.cookies['sessionid'].value}".encode()))
    return WebsocketCommunicator(application, "/" + path, headers=headers)


def _ws_path(route: str, obj) -> str:
    return route.replace("<int:pk>", str(obj.pk)).replace("<uuid:public_id>", _value(obj))


def test_every_websocket_route_is_known():
    routes = {str(p.pattern) for p in websocket_urlpatterns}
    assert routes == set(WS_KINDS) | WS_WITHOUT_OBJECT, "a new socket: add it to WS_KINDS"


async def test_sockets_refuse_other_users_and_anonymous_clients(client, bob, owned):
    for route, kind in WS_KINDS.items():
        path = _ws_path(route, owned[kind])
        connected, code = await _socket(client, path).connect()
        assert not connected and code == 4401, (path, code)
    for route in WS_WITHOUT_OBJECT:
        connected, code = await _socket(client, route).connect()
        assert not connected and code == 4401, (route, code)
    await sync_to_async(client.force_login)(bob)
    for route, kind in WS_KINDS.items():
        path = _ws_path(route, owned[kind])
        connected, code = await _socket(client, path).connect()
        assert not connected and code == 4404, (path, code)


async def test_bobs_corpus_socket_and_playground_hide_alices_objects(client, bob, owned):
    from webapp.corpora.models import Corpus

    bobs = await Corpus.objects.acreate(owner=bob, name="bobs", size_bytes=1, status="ready")
    await sync_to_async(client.force_login)(bob)
    socket = _socket(client, "ws/corpora/")
    assert (await socket.connect())[0]
    snapshot = await socket.receive_json_from(timeout=10)  # one per corpus of bob's: his only
    assert snapshot["type"] == "corpus.status" and snapshot["id"] == bobs.pk, snapshot
    assert await socket.receive_nothing(timeout=0.5)
    await socket.disconnect()
    socket = _socket(client, "ws/playground/")
    assert (await socket.connect())[0]
    for kind in ("generate", "score"):
        await socket.send_json_to(
            {
                "type": kind,
                "request_id": kind,
                "prompt": "the",
                "text": "the",
                "model_version": owned["version"].pk,
            }
        )
        while (reply := await socket.receive_json_from(timeout=10)).get("request_id") != kind:
            pass
        assert reply["type"] == "error", reply
    await socket.disconnect()
