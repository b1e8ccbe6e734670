"""The in-memory Channels layer sweeps expired messages at most once a second and otherwise is channels' own."""

from channels.layers import InMemoryChannelLayer

from config.streams import memory_layer
from config.streams.memory_layer import MemoryChannelLayer


async def test_the_expiry_sweep_runs_at_most_once_a_second(monkeypatch):
    clock = [1_000.0]
    monkeypatch.setattr(memory_layer.time, "monotonic", lambda: clock[0])
    layer = MemoryChannelLayer(expiry=60)
    sweeps = []
    original = InMemoryChannelLayer._clean_expired
    monkeypatch.setattr(InMemoryChannelLayer, "_clean_expired", lambda self: sweeps.append(1) or original(self))
    for _ in range(50):
        await layer.group_send("g", {"type": "x"})  # one sweep, not fifty
    assert len(sweeps) == 1
    clock[0] += memory_layer.SWEEP_SECONDS
    await layer.group_send("g", {"type": "x"})
    assert len(sweeps) == 2


async def test_messages_and_groups_work_as_channels_in_memory_layer():
    layer = MemoryChannelLayer()
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.group_send("g", {"type": "chat.event", "n": 1})
    assert await layer.receive(channel) == {"type": "chat.event", "n": 1}
