"""The Channels layer: channels_redis with ``REDIS_URL`` (groups across server processes), else in-memory."""

# Messages one socket's channel holds while its consumer is busy: a fast answer may queue many chunks at once (a
# chunk dropped anyway is re-read from the replay log; an end must not be dropped).
CHANNEL_CAPACITY = 2_000
# Above channels_redis's 5 s blocking pops; redis-py 8's 5 s default kills every consumer (channels_redis#422).
REDIS_SOCKET_TIMEOUT_SECONDS = 10


def channel_layers_config(redis_url: str | None) -> dict:
    if not redis_url:
        return {
            "default": {
                "BACKEND": "config.streams.memory_layer.MemoryChannelLayer",
                "CONFIG": {"capacity": CHANNEL_CAPACITY},
            }
        }
    return {
        "default": {
            "BACKEND": "channels_redis.core.RedisChannelLayer",
            "CONFIG": {
                "hosts": [{"address": redis_url, "socket_timeout": REDIS_SOCKET_TIMEOUT_SECONDS}],
                "capacity": CHANNEL_CAPACITY,
            },
        }
    }
