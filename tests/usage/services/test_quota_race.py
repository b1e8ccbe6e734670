"""Many concurrent sends at a nearly exhausted allowance: the limit is never exceeded, nothing leaks."""

import asyncio
import sys
import threading
from concurrent.futures import ThreadPoolExecutor

import pytest

from config.aio import run_io
from config.errors import QuotaExceeded, RateLimited
from tests.factories import SONNET, usage_spend
from usage.models import MonthlyUsage, UsageReservation
from usage.services import quota_release, quota_reserve, usage_record

SENDERS = 12
LIMIT = 10_000
ALREADY_USED = 9_000


@pytest.fixture(autouse=True)
def _limits(settings, plan_limits):
    assert plan_limits["free"] == LIMIT
    settings.USAGE_MIN_OUTPUT_TOKENS = 100


@pytest.fixture
def fast_thread_switching():
    # Switch threads far more often than the default 5 ms, so check-then-write windows actually interleave.
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    yield
    sys.setswitchinterval(previous)


def _nearly_exhaust(user_id: str) -> None:
    usage_spend(user_id=user_id, input_tokens=4_000, output_tokens=5_000)


def _reserve(user_id: str):
    try:
        return quota_reserve(
            user_id=user_id, engine_type="11", estimated_input_tokens=150, max_output_tokens=300, is_staff=False
        )
    except (QuotaExceeded, RateLimited) as exc:
        return exc


def _finish(index: int, reservation) -> None:
    # Half of the turns complete (using less than reserved), half fail and give their reservation back.
    if index % 2:
        quota_release(reservation=reservation)
    else:
        usage_record(
            reservation=reservation, model_id=SONNET, input_tokens=140, output_tokens=reservation.max_output_tokens
        )


def _assert_never_exceeded(user_id: str, outcomes: list) -> None:
    granted = [outcome for outcome in outcomes if not isinstance(outcome, Exception)]
    refused = [outcome for outcome in outcomes if isinstance(outcome, Exception)]
    assert granted, "at least one send fits in the remaining 1,000 tokens"
    assert refused, "not all sends can fit"
    # All reservations were held at the same time (every sender reserved before any finished).
    assert ALREADY_USED + sum(r.reserved_tokens for r in granted) <= LIMIT
    assert all(isinstance(exc, QuotaExceeded) for exc in refused), [exc.code for exc in refused]

    bucket = MonthlyUsage.get(user_id, granted[0].month)
    assert bucket.total_tokens <= LIMIT
    assert bucket.reserved_tokens == 0
    assert bucket.allocated_tokens == bucket.total_tokens
    statuses = {UsageReservation.get(r.reservation_id).status for r in granted}
    assert statuses <= {"settled", "released"}
    assert not list(UsageReservation.open_by_user.query(user_id))


def test_threads_never_exceed_the_limit(atomic_dynamodb, fast_thread_switching):
    user_id = "race-threads"
    _nearly_exhaust(user_id)
    barrier = threading.Barrier(SENDERS)

    def send(_index):
        barrier.wait()
        return _reserve(user_id)

    with ThreadPoolExecutor(max_workers=SENDERS) as pool:
        outcomes = list(pool.map(send, range(SENDERS)))
        granted = [o for o in outcomes if not isinstance(o, Exception)]
        list(pool.map(_finish, range(len(granted)), granted))

    _assert_never_exceeded(user_id, outcomes)
    # 9,000 used; 1,000 left; each send reserves at most 450 and needs at least 250: two full + one clamped.
    assert [r.reserved_tokens for r in sorted(granted, key=lambda r: -r.reserved_tokens)] == [450, 450]


async def test_asyncio_tasks_through_the_io_pool_never_exceed_the_limit(atomic_dynamodb, fast_thread_switching):
    user_id = "race-async"
    await run_io(_nearly_exhaust, user_id)

    outcomes = await asyncio.gather(*(run_io(_reserve, user_id) for _ in range(SENDERS)))
    granted = [o for o in outcomes if not isinstance(o, Exception)]
    await asyncio.gather(*(run_io(_finish, index, r) for index, r in enumerate(granted)))

    await run_io(_assert_never_exceeded, user_id, list(outcomes))
