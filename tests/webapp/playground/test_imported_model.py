"""An imported transformers model plays like a trained one: greedy tokens through the
playground's socket equal `model.generate(do_sample=False)`, and score mode agrees with
transformers' own log-probabilities."""

import pytest
import torch
from asgiref.sync import sync_to_async

from tests.hf_models import save_hf_model
from tests.webapp.playground.conftest import connected, receive_until
from webapp.registry.actions import do_import_version

pytestmark = pytest.mark.django_db(transaction=True)
pytest.importorskip("transformers", reason="transformers is a dev dependency")


@pytest.mark.parametrize("family", ["llama-gqa", "nanochat"])
async def test_an_imported_model_streams_greedy_tokens_and_scores_like_transformers(
    alice_client, alice, tiny_checkpoint, celery_worker, tmp_path, family
):
    from lmcore.tokenizer import Tokenizer

    tokenizer = Tokenizer.load(tiny_checkpoint)
    hf = save_hf_model(family, tokenizer, tmp_path / family)
    version = await sync_to_async(do_import_version)(alice, "imported", tmp_path / family)
    socket = await connected(alice_client)
    prompt = "the mouse ate the città"
    await socket.send_json_to({"type": "generate", "request_id": "g", "model_version": version.pk,
                               "prompt": prompt,
                               "params": {"max_new_tokens": 40, "temperature": 0}})  # fmt: skip
    messages = await receive_until(socket, "g")
    assert messages[-1]["type"] == "done", messages[-1]
    streamed = [t["id"] for m in messages if m["type"] == "tokens" for t in m["tokens"]]

    prompt_ids = tokenizer.encode(prompt)
    with torch.no_grad():  # both stop at the model's own end ids (its generation_config.json)
        out = hf.generate(torch.tensor([prompt_ids]), max_new_tokens=40, do_sample=False,
                          eos_token_id=hf.generation_config.eos_token_id)  # fmt: skip
    expected = out[0, len(prompt_ids) :].tolist()
    assert len(expected) >= 10 and streamed == expected  # an end token is streamed too

    text = "the cat ate the cheese perché 日本"
    await socket.send_json_to({"type": "score", "request_id": "s", "model_version": version.pk,
                               "text": text})  # fmt: skip
    result = (await receive_until(socket, "s", kinds=("score",)))[-1]
    assert result["type"] == "score", result
    ids = tokenizer.encode(text)
    with torch.no_grad():
        logprobs = torch.log_softmax(hf(torch.tensor([ids])).logits[0], dim=-1)
    theirs = sum(logprobs[i - 1, ids[i]].item() for i in range(1, len(ids)))
    assert abs(result["total_logprob"] - theirs) < 1e-3
    await socket.disconnect()
