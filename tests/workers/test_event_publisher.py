from channels.layers import get_channel_layer

from webapp.jobs.events import EventPublisher


async def _receive_all(layer, channel, n):
    return [await layer.receive(channel) for _ in range(n)]


def test_it_sends_many_events_from_one_event_loop():
    from asgiref.sync import async_to_sync

    layer = get_channel_layer()
    channel = async_to_sync(layer.new_channel)()
    async_to_sync(layer.group_add)("test.group", channel)
    with EventPublisher() as publisher:
        for step in range(20):
            publisher.group_send("test.group", {"type": "run.metrics", "step": step})
        publisher.send(channel, {"type": "run.status", "status": "done"})
    received = async_to_sync(_receive_all)(get_channel_layer(), channel, 21)
    assert [m["step"] for m in received[:20]] == list(range(20))
    assert received[20] == {"type": "run.status", "status": "done"}
