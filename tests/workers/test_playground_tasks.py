"""The gpu_infer tasks on their own: what they write to a request's Redis Stream."""

import json
import shutil

import pytest
import redis

from webapp.playground.streams import active_key, cancel_key, decode_entry, stream_key

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def version(django_user_model, settings, tmp_path):
    from webapp.registry.models import ModelVersion
    from workers.playground import clear_cache

    clear_cache()
    settings.MEDIA_ROOT = tmp_path / "media"
    owner = django_user_model.objects.create_user("carol")
    return owner, ModelVersion.objects.create(owner=owner, name="t", version=1, params=1, step=0)


def _entries(url, key):
    """Every entry of the stream up to `end`: the task returns once its streams are handed
    to the model's loop, which writes the rest."""
    entries, last = [], "0-0"
    with redis.Redis.from_url(url) as conn:
        while not entries or entries[-1][0] != "end":
            reply = conn.xread({key: last}, block=30_000)
            assert reply, f"no entry on {key} within 30 s"
            for entry_id, fields in reply[0][1]:
                last = entry_id
                entries.append(decode_entry(fields))
    return entries


def test_it_writes_start_batches_done_end_and_frees_the_slot(version, tiny_checkpoint, services):
    from workers.playground import generate_text

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    with redis.Redis.from_url(services) as conn:
        conn.set(active_key(owner.pk), "w1")
        generate_text(owner.pk, "w1", [row.pk], "the cat", {"max_new_tokens": 30, "seed": 2})
        entries = _entries(services, stream_key(owner.pk, "w1"))
        assert conn.get(active_key(owner.pk)) is None
        assert 0 < conn.ttl(stream_key(owner.pk, "w1")) <= 600
    kinds = [k for k, _ in entries]
    assert kinds[:2] == ["start", "loading"] and kinds[-2:] == ["done", "end"]
    tokens = [t for k, d in entries if k == "tokens" for t in d["tokens"]]
    assert len(tokens) == entries[-2][1]["stats"]["tokens"] == 30
    assert len(kinds) - 4 < 30  # batched: fewer entries than tokens once the model is quick


def test_it_says_loading_only_when_the_model_is_not_loaded_yet(version, tiny_checkpoint, services):
    from workers.playground import generate_text, score_text

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    score_text(owner.pk, "l1", row.pk, "the cat")
    generate_text(owner.pk, "l2", [row.pk], "the cat", {"max_new_tokens": 3})
    first = [k for k, _ in _entries(services, stream_key(owner.pk, "l1"))]
    second = [k for k, _ in _entries(services, stream_key(owner.pk, "l2"))]
    assert first == ["start", "loading", "score", "end"]
    assert "loading" not in second and second[0] == "start"


def test_it_refuses_special_tokens_smuggled_in_as_ids(version, tiny_checkpoint, services):
    from workers.playground import generate_text

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    eot = json.loads((row.directory / "tokenizer.json").read_text())["added_tokens"][0]["id"]
    generate_text(owner.pk, "w2", [row.pk], "the", {}, prefix_ids=[eot])
    kind, data = _entries(services, stream_key(owner.pk, "w2"))[-2]
    assert kind == "error" and "never special tokens" in data["message"]


def test_a_typed_special_token_is_plain_text(version, tiny_checkpoint, services):
    from workers.inference import registry
    from workers.loaded_model import prompt_ids

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    loop = registry.acquire(row.pk)
    loaded = loop.wait_loaded()
    registry.release(loop)
    ids, _ = prompt_ids(loaded, "<|endoftext|>", [], None)
    assert loaded.tokenizer.eot_id not in ids and loaded.tokenizer.decode(ids) == "<|endoftext|>"


def test_a_missing_checkpoint_is_a_clear_error(version, services):
    from workers.playground import generate_text

    owner, row = version
    generate_text(owner.pk, "w3", [row.pk], "the", {})
    kind, data = _entries(services, stream_key(owner.pk, "w3"))[-2]
    assert kind == "error" and data["message"].startswith("t v1: the model cannot be loaded")


def test_a_withdrawn_request_never_runs(version, tiny_checkpoint, services):
    from workers.playground import generate_text

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    with redis.Redis.from_url(services) as conn:
        conn.set(cancel_key(owner.pk, "w4"), "1")
    generate_text(owner.pk, "w4", [row.pk], "the", {"max_new_tokens": 50})
    kinds = [k for k, d in _entries(services, stream_key(owner.pk, "w4"))]
    assert kinds == ["start", "done", "end"]  # withdrawn before any model was loaded


def test_a_new_model_evicts_the_least_recently_used_idle_one_to_fit(
    version, tiny_checkpoint, services, settings
):
    from webapp.registry.models import ModelVersion
    from workers.inference import registry
    from workers.playground import generate_text

    # The tiny model: 0.13 MB of weights + 16 KV slots of 32 KB = 0.65 MB; 1 MB holds one.
    settings.PLAYGROUND_MEMORY_MB, settings.PLAYGROUND_MAX_BATCH = 1, 16
    owner, first = version
    second = ModelVersion.objects.create(owner=owner, name="t", version=2, params=1, step=0)
    for row in (first, second):
        shutil.copytree(tiny_checkpoint, row.directory)
    generate_text(owner.pk, "e1", [first.pk], "the", {"max_new_tokens": 3})
    assert _entries(services, stream_key(owner.pk, "e1"))[-2][0] == "done"
    assert list(registry.loops) == [first.pk]
    generate_text(owner.pk, "e2", [second.pk], "the", {"max_new_tokens": 3})
    assert _entries(services, stream_key(owner.pk, "e2"))[-2][0] == "done"
    assert list(registry.loops) == [second.pk]


def test_a_model_bigger_than_the_whole_budget_is_a_clear_error(
    version, tiny_checkpoint, services, settings
):
    from workers.playground import generate_text

    settings.PLAYGROUND_MEMORY_MB = 0  # not even the weights and one slot fit
    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    generate_text(owner.pk, "big", [row.pk], "the", {})
    kind, data = _entries(services, stream_key(owner.pk, "big"))[-2]
    assert kind == "error" and "BOTTEGA_PLAYGROUND_MEMORY_MB" in data["message"]


def test_a_model_gets_as_many_slots_as_the_budget_holds_up_to_the_setting(
    version, tiny_checkpoint, services, settings
):
    from lmcore.checkpoint import read_config
    from lmcore.config import GPTConfig
    from lmcore.estimate import estimate_params
    from lmcore.slotcache import slot_bytes
    from workers.inference import registry
    from workers.playground import generate_text

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    config = GPTConfig(**read_config(row.directory)["model"])
    weights, slot = 4 * estimate_params(config), slot_bytes(config, 4)
    settings.PLAYGROUND_MEMORY_MB, settings.PLAYGROUND_MAX_BATCH = 1, 1000
    generate_text(owner.pk, "many", [row.pk], "the", {"max_new_tokens": 2})
    assert _entries(services, stream_key(owner.pk, "many"))[-2][0] == "done"
    loop = registry.loops[row.pk]
    assert loop.slots == (2**20 - weights) // slot > 16  # what 1 MiB holds, not a fixed 16
    assert loop.scheduler.config.max_batch == loop.slots
    assert loop.bytes == weights + loop.slots * slot <= 2**20


def test_chat_prompts_are_lmcore_s_template_and_a_full_context_is_refused(version, tiny_checkpoint):
    from lmcore.chat import END_OF_TURN, render
    from lmcore.errors import LmcoreError
    from workers.loaded_model import prompt_ids
    from workers.playground import load_model

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    loaded = load_model(row.pk)
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "<|end|>hi"}]
    ids, ends = prompt_ids(loaded, "", [], chat)
    assert ids == render(loaded.tokenizer, chat, generation_prompt=True).ids
    assert loaded.tokenizer.special_id(END_OF_TURN) in ends
    long = [{"role": "user", "content": "the cat " * 400}]
    with pytest.raises(LmcoreError, match="no room for a reply"):
        prompt_ids(loaded, "", [], long)


def test_an_inference_loop_outlives_redis_going_away(version, tiny_checkpoint, settings, tmp_path):
    """A stream served while Redis is unreachable ends (its slot freed, its error written
    when Redis is back) and the model's loop serves the next request: it did not die."""
    from webapp.devstack.localredis import free_port, start_local_redis
    from workers import tokenstream
    from workers.inference import Stream, registry
    from workers.tokenstream import Reply

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    port = free_port()  # nothing listens there yet
    settings.REDIS_URL, saved_pool = f"redis://127.0.0.1:{port}/0", tokenstream._pool
    tokenstream._pool = None
    server = None
    try:
        registry.submit(row.pk, Stream(Reply(owner.pk, "gone"), 0, "the", {"max_new_tokens": 20}))
        loop = registry.loops[row.pk]
        with registry.lock:  # release() notifies when the loop's last stream has ended
            assert registry.lock.wait_for(lambda: loop.users == 0, timeout=60)
        server = start_local_redis(tmp_path / "redis", port)
        registry.submit(row.pk, Stream(Reply(owner.pk, "back"), 0, "the", {"max_new_tokens": 3}))
        kinds = [k for k, _ in _entries(settings.REDIS_URL, stream_key(owner.pk, "back"))]
        assert kinds[-2:] == ["done", "end"] and registry.loops[row.pk] is loop
    finally:
        tokenstream._pool = saved_pool
        if server is not None:
            server.stop()


def test_a_chat_reply_ends_when_the_context_is_full_instead_of_cutting_the_conversation(
    version, tiny_checkpoint, services
):
    from workers.loaded_model import prompt_ids
    from workers.playground import generate_text, load_model

    owner, row = version
    shutil.copytree(tiny_checkpoint, row.directory)
    chat = [{"role": "system", "content": "be brief"}, {"role": "user", "content": "the cat " * 6}]
    n = len(prompt_ids(load_model(row.pk), "", [], chat)[0])
    assert 32 < n < 64  # past half the context (64): the window would have dropped its start
    params = {"max_new_tokens": 60, "stop_at_end_of_text": False, "seed": 1}
    generate_text(owner.pk, "c1", [row.pk], "", params, None, chat)
    kind, done = _entries(services, stream_key(owner.pk, "c1"))[-2]
    # said as such: 60 were asked, the context left fewer (the API's reply: not fitted)
    assert kind == "done" and done["reason"] == "context_full"
    assert done["stats"]["tokens"] == 64 - n and done["stats"]["prompt_tokens"] == n
