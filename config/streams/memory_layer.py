"""The in-memory Channels layer of one server process (no ``REDIS_URL``), with expiry swept once a second.

channels' ``InMemoryChannelLayer`` walks every channel and every group membership to drop expired messages on
each ``receive`` and ``group_send``: with one channel and a group or two per socket, a chunk to N sockets costs
O(N) per message, O(N²) per level (docs/performance.md, "Measured steps"). Messages expire after a minute and
memberships after a day, so sweeping at most once a second drops nothing that a reader could still take.
"""

import time

from channels.layers import InMemoryChannelLayer

SWEEP_SECONDS = 1.0


class MemoryChannelLayer(InMemoryChannelLayer):
    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._swept = 0.0

    def _clean_expired(self) -> None:
        now = time.monotonic()
        if now - self._swept >= SWEEP_SECONDS:
            self._swept = now
            super()._clean_expired()
