"""LoRA fine-tuning from the Models page, on a real worker: the form's method, settings and
trainable-parameter figure; a version that stores only the adapter on its parent's weights,
plays with it (the playground's real worker), exports it for peft, and merges into a plain
version (a real cpu task); and the form's refusals, which store nothing."""

import io
import json
import zipfile

import pytest
import torch
from asgiref.sync import async_to_sync
from django.urls import reverse

from lmcore.config import LoRAConfig
from tests.webapp.fixtures_ml import wait_for
from tests.webapp.training.test_finetune import COLOURS, base_version
from webapp.registry.models import ModelVersion
from webapp.training.forms import FineTuneForm
from webapp.training.models import TrainingRun

pytestmark = pytest.mark.django_db(transaction=True)
LORA_FORM = {"text_ratio": 0, "lr": 2e-2, "max_minutes": 5, "max_steps": 40, "device": "cpu",
             "method": "lora", "lora_rank": 4, "lora_alpha": 8, "lora_dropout": 0,
             "lora_targets": ["q", "v", "up", "down"]}  # fmt: skip
CHAT = [{"role": "user", "content": "say green"}]


@pytest.fixture
def dataset(alice, tmp_path):
    """60 one-turn conversations, "say <colour>" answered "<colour>"."""
    from webapp.corpora.actions import do_import_corpus

    source = tmp_path / "colours.jsonl"
    source.write_text("".join(json.dumps({"messages": [
        {"role": "user", "content": f"say {c}"}, {"role": "assistant", "content": c}]}) + "\n"
        for c in COLOURS * 10))  # fmt: skip
    dataset = do_import_corpus(alice, source, name="colours", kind="conversations")
    assert dataset.status == "ready", dataset.error
    return dataset


def play(client, version_pk: int) -> list[dict]:
    """A greedy chat reply from the playground (socket, real gpu_infer worker): its tokens."""
    from tests.webapp.playground.conftest import connected, receive_until

    async def go():
        socket = await connected(client)
        await socket.send_json_to({"type": "generate", "request_id": "lora", "chat": CHAT,
                                   "model_version": version_pk,
                                   "params": {"max_new_tokens": 6, "temperature": 0}})  # fmt: skip
        messages = await receive_until(socket, "lora")
        await socket.disconnect()
        assert messages[-1]["type"] == "done", messages[-1]
        return [t for m in messages if m["type"] == "tokens" for t in m["tokens"]]

    return async_to_sync(go)()


def logprobs(directory, ids: list[int], start: int) -> torch.Tensor:
    """ln p of ids[start:] under the checkpoint at `directory` (lmcore, merged at load)."""
    from lmcore.checkpoint import load_checkpoint

    model = load_checkpoint(directory).model
    with torch.no_grad():
        logits = model(torch.tensor([ids[:-1]]))[0][0]  # (T-1, V)
    picked = torch.log_softmax(logits, -1)[torch.arange(len(ids) - 1), torch.tensor(ids[1:])]
    return picked[start - 1 :]


def test_it_fine_tunes_a_lora_version_that_plays_exports_and_merges(
    alice, alice_client, corpus, chat_tokenizer_run, dataset, celery_worker, tmp_path, settings
):
    from lmcore.chat import reply_prompt
    from lmcore.config import GPTConfig
    from lmcore.tokenizer import Tokenizer
    from workers.playground import clear_cache

    settings.PLAYGROUND_PICKUP_TIMEOUT_S = 30
    clear_cache()
    parent = base_version(alice, corpus, chat_tokenizer_run, tmp_path)
    model = GPTConfig(**json.loads((parent.directory / "config.json").read_text())["model"])
    url = reverse("training:finetune", args=[parent.pk])
    page = alice_client.get(url).content.decode()
    assert 'name="method"' in page and 'value="lora"' in page and "LoRA rank" in page
    assert 'value="gate"' not in page  # this model's MLP has no gate
    per_rank = json.loads(
        page.split('id="lora-estimate" type="application/json">')[1].split("<")[0]
    )
    assert per_rank["per_rank"]["q"] * 4 == LoRAConfig(r=4, targets=["q"]).num_params(model)

    response = alice_client.post(url, {**LORA_FORM, "datasets": [dataset.pk]})
    run = TrainingRun.objects.get(parent=parent)
    assert response["Location"] == run.get_absolute_url()
    assert run.train_config["lora"] == {"r": 4, "alpha": 8.0, "dropout": 0.0,
                                        "targets": ["q", "v", "up", "down"]}  # fmt: skip
    wait_for(lambda: TrainingRun.objects.get(pk=run.pk).status in {"succeeded", "failed"},
             timeout=180)  # fmt: skip
    run.refresh_from_db()
    assert run.status == "succeeded", run.error
    assert "LoRA (rank 4" in alice_client.get(run.get_absolute_url()).content.decode()

    child = ModelVersion.objects.get(run=run)
    assert (child.version, child.is_chat, child.parent, child.base) == (2, True, parent, parent)
    assert sorted(p.name for p in child.directory.iterdir()) == [
        "adapter.safetensors", "config.json", "tokenizer.json"]  # fmt: skip
    config = json.loads((child.directory / "config.json").read_text())
    assert config["lora"]["base"] == f"../{parent.storage_key}"  # the parent's, not a copy
    adapter_bytes = (child.directory / "adapter.safetensors").stat().st_size
    assert adapter_bytes < (parent.directory / "model.safetensors").stat().st_size / 3
    detail = alice_client.get(child.get_absolute_url()).content.decode()
    assert 'id="lora"' in detail and 'id="merge"' in detail and 'id="download-peft"' in detail

    # It plays with the adapter: the playground's logprobs are the merged model's, not the base's.
    tokens = play(alice_client, child.pk)
    tokenizer = Tokenizer.load(child.directory / "tokenizer.json")
    prompt = reply_prompt(tokenizer, CHAT, model.context)
    ids = prompt + [t["id"] for t in tokens]
    played = torch.tensor([t["logprob"] for t in tokens])
    assert (played - logprobs(child.directory, ids, len(prompt))).abs().max() < 1e-4
    assert (played - logprobs(parent.directory, ids, len(prompt))).abs().max() > 1e-3

    peft = alice_client.get(reverse("registry:download_peft", args=[child.pk]))

    async def read():
        return b"".join([chunk async for chunk in peft.streaming_content])

    names = zipfile.ZipFile(io.BytesIO(async_to_sync(read)())).namelist()
    assert sorted(names) == [f"tiny-words-v2-peft/{n}" for n in
                             ("adapter_config.json", "adapter_model.safetensors")]  # fmt: skip

    alice_client.post(reverse("registry:merge", args=[child.pk]))
    merged = wait_for(lambda: ModelVersion.objects.filter(metrics__merged_from=child.pk).first(),
                      timeout=60)  # fmt: skip
    assert (merged.version, merged.parent, merged.base, merged.is_chat) == (3, child, None, True)
    assert "lora" not in json.loads((merged.directory / "config.json").read_text())
    assert (logprobs(merged.directory, ids, len(prompt)) - played).abs().max() < 1e-4
    detail = alice_client.get(child.get_absolute_url()).content.decode()
    assert 'id="merged-version"' in detail and 'id="merge"' not in detail
    again = alice_client.post(reverse("registry:merge", args=[child.pk]), follow=True)
    assert "already merged" in again.content.decode()


def make_lora_version(parent: ModelVersion) -> ModelVersion:
    """The next version of `parent`'s name: a random LoRA adapter on it, saved by lmcore as a
    run's would be (no training: the tests need its files, not its quality)."""
    from lmcore import lora
    from lmcore.adapters import base_reference
    from lmcore.checkpoint import load_checkpoint, save_checkpoint
    from webapp.registry.actions import do_create_version

    ck = load_checkpoint(parent.directory)
    config = LoRAConfig(r=2, targets=["q", "v"])
    lora.add_adapter(ck.model, config)
    with torch.no_grad():
        for name, p in ck.model.named_parameters():
            if ".lora_B." in name:
                p.normal_(0.0, 0.1)
    section = base_reference(config, parent.directory)

    def fill(target):
        target.rmdir()  # save_checkpoint makes it
        save_checkpoint(target, ck.model, ck.tokenizer, lora_section=section)

    metrics = {"lora": config.resolved(ck.model_config).to_dict()}
    return do_create_version(parent.owner, parent.name, fill, params=parent.params, step=1,
                             tokenizer=parent.tokenizer,
                             metrics=metrics, is_chat=True, parent=parent, base=parent)  # fmt: skip


def test_the_form_refuses_bad_lora_settings_and_stores_nothing(
    alice, alice_client, corpus, chat_tokenizer_run, dataset, tmp_path, bob
):
    parent = base_version(alice, corpus, chat_tokenizer_run, tmp_path)
    url = reverse("training:finetune", args=[parent.pk])
    base = {**LORA_FORM, "datasets": [dataset.pk]}
    cases = [
        ({"lora_rank": ""}, "Give the adapter&#x27;s rank"),
        ({"lora_rank": 0}, "Ensure this value is greater than or equal to 1"),
        ({"lora_targets": []}, "Choose at least one matrix to adapt"),
        ({"lora_targets": ["gate"]}, "Select a valid choice. gate is not one of the available"),
        ({"lora_dropout": 0.95}, "Ensure this value is less than or equal to 0.9"),
        ({"lora_alpha": -1}, "Ensure this value is greater than or equal to 0.01"),
    ]
    for change, message in cases:
        response = alice_client.post(url, {**base, **change})
        assert response.status_code == 400, change
        assert message in response.content.decode(), (change, message)
    assert not TrainingRun.objects.filter(parent=parent).exists()

    adapter = make_lora_version(parent)  # a LoRA version: fully, yes; LoRA on it, no
    url = reverse("training:finetune", args=[adapter.pk])
    response = alice_client.post(url, {**base})
    assert response.status_code == 400
    assert "This version is a LoRA adapter itself: merge it" in response.content.decode()
    assert not TrainingRun.objects.exists()
    full = FineTuneForm({**base, "method": "full"}, user=alice, version=adapter)
    assert full.is_valid(), full.errors  # (not launched: no worker in this test)
    assert full.configs[1].init_from == str(adapter.directory) and full.configs[1].lora is None

    parent_page = alice_client.post(reverse("registry:merge", args=[parent.pk]), follow=True)
    assert "is not a LoRA adapter: there is nothing to merge" in parent_page.content.decode()
    alice_client.force_login(bob)  # not bob's to merge, nor to see
    assert alice_client.post(reverse("registry:merge", args=[adapter.pk])).status_code == 404
    assert alice_client.get(reverse("registry:download_peft", args=[adapter.pk])).status_code == 404
    adapter.refresh_from_db()
    assert "merge" not in adapter.metrics
