"""The ping task, run by a real worker, answers through the real channel layer."""

import time

import pytest
from channels.layers import get_channel_layer

from workers.tasks import ping


async def test_it_replies_through_the_channel_layer(celery_worker):
    layer = get_channel_layer()
    channel = await layer.new_channel()
    sent_at = time.time()
    ping.apply_async(
        kwargs={"queue": "gpu_infer", "sent_at": sent_at, "reply_channel": channel},
        queue="gpu_infer",
    )
    message = await layer.receive(channel)
    assert message["type"] == "ping.reply"
    assert message["queue"] == "gpu_infer" and message["sent_at"] == sent_at
    assert message["worker"]
    assert message["handled_at"] >= sent_at


def test_it_returns_its_reply_as_the_task_result(celery_worker):
    result = ping.apply_async(kwargs={"queue": "cpu", "sent_at": 1.0}, queue="cpu")
    reply = result.get(timeout=10)
    assert reply["queue"] == "cpu" and reply["worker"]


@pytest.mark.parametrize("queue", ["cpu", "gpu_train", "gpu_infer"])
def test_it_routes_through_each_queue(celery_worker, queue):
    assert ping.apply_async(kwargs={"queue": queue, "sent_at": 0.0}, queue=queue).get(timeout=10)
