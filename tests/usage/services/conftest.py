from datetime import UTC, datetime

import pytest

# The last minutes of a month: a turn can start in May and settle in June.
END_OF_MAY = datetime(2026, 5, 31, 23, 50, tzinfo=UTC)


@pytest.fixture
def quota(settings, plan_limits, frozen_time):
    """The quota settings these tests are written against, and the clock at ``END_OF_MAY``."""
    settings.USAGE_MIN_OUTPUT_TOKENS = 256
    settings.USAGE_STAFF_BYPASS = True
    settings.USAGE_RESERVATION_LEASE_SECONDS = 900
    frozen_time.move_to(END_OF_MAY)
    return frozen_time
