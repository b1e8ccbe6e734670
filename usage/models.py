"""Token usage aggregates, quota reservations and plans in DynamoDB, updated with atomic ADDs.

Every quota bucket (a ``MonthlyUsage`` item) keeps the invariant ``allocated_tokens == total_tokens +
reserved_tokens``; reservations are conditional on ``allocated_tokens``, because DynamoDB conditions cannot add
two attributes. See docs/usage-and-quotas.md.
"""

from decimal import Decimal

from django.db import models
from pynamodb.attributes import Attribute, NumberAttribute, TTLAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.constants import NUMBER
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from config.dynamodb.tables import table_meta


class DecimalAttribute(Attribute[Decimal]):
    """A DynamoDB number read and written as ``Decimal``: money stays exact (NumberAttribute goes via float)."""

    attr_type = NUMBER

    def serialize(self, value: Decimal) -> str:
        return str(Decimal(value))

    def deserialize(self, value: str) -> Decimal:
        return Decimal(value)


class DailyUsageByDayIndex(GlobalSecondaryIndex):
    """All users' usage for one day (staff reports) without a Scan."""

    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day = UnicodeAttribute(hash_key=True)  # "YYYY-MM-DD"
    user_engine = UnicodeAttribute(range_key=True)  # "<user_id>#<engine_type>"


class UsageCounters:
    """The counters both aggregates keep; totals include title generation, the ``title_*`` part tells it apart."""

    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    cache_read_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    total_tokens = NumberAttribute(default=0)  # input + output + cache read + cache write
    message_count = NumberAttribute(default=0)  # chat turns (the original's messageCount)
    title_count = NumberAttribute(default=0)
    title_tokens = NumberAttribute(default=0)
    estimated_count = NumberAttribute(default=0)  # records whose tokens are estimates (stopped before usage)
    cost_usd = DecimalAttribute(default=Decimal)
    updated_at = UTCDateTimeAttribute(null=True)


class DailyUsage(UsageCounters, Model):
    """Usage of one user x UTC day x engine type."""

    Meta = table_meta("usage_daily")

    user_id = UnicodeAttribute(hash_key=True)
    day_engine = UnicodeAttribute(range_key=True)  # "YYYY-MM-DD#<engine_type>"
    day = UnicodeAttribute()
    user_engine = UnicodeAttribute()
    engine_type = UnicodeAttribute()

    by_day = DailyUsageByDayIndex()


class MonthlyUsageByMonthIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_month"
        projection = AllProjection()

    month = UnicodeAttribute(hash_key=True)  # "YYYY-MM" (or "YYYY-MM#<engine_type>" for engine buckets)
    user_id = UnicodeAttribute(range_key=True)


class MonthlyUsage(UsageCounters, Model):
    """A quota bucket: usage of one user x UTC month ("YYYY-MM"), or x engine type ("YYYY-MM#<engine_type>")."""

    Meta = table_meta("usage_monthly")

    user_id = UnicodeAttribute(hash_key=True)
    month = UnicodeAttribute(range_key=True)
    # Worst-case tokens reserved by turns that have not settled yet.
    reserved_tokens = NumberAttribute(default=0)
    # total_tokens + reserved_tokens, kept as one attribute so a reservation can be a single conditional update.
    allocated_tokens = NumberAttribute(default=0)

    by_month = MonthlyUsageByMonthIndex()


class OpenReservationsByUserIndex(GlobalSecondaryIndex):
    """Sparse: only reservations still open carry ``open_user_id``, so leaked ones are found by key."""

    class Meta:
        index_name = "open_by_user"
        projection = AllProjection()

    open_user_id = UnicodeAttribute(hash_key=True)
    created_at = UTCDateTimeAttribute(range_key=True)


class UsageReservation(Model):
    """One turn's quota reservation; its status makes settling or releasing happen exactly once."""

    Meta = table_meta("usage_reservations")

    reservation_id = UnicodeAttribute(hash_key=True)
    user_id = UnicodeAttribute()
    engine_type = UnicodeAttribute()
    month = UnicodeAttribute()
    day = UnicodeAttribute()
    reserved_tokens = NumberAttribute()
    status = UnicodeAttribute(default="reserved")  # reserved | settled | released | expired
    open_user_id = UnicodeAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    closed_at = UTCDateTimeAttribute(null=True)
    expires_at = TTLAttribute()

    open_by_user = OpenReservationsByUserIndex()


class UserPlan(Model):
    """A user's plan, set by staff only."""

    Meta = table_meta("user_plans")

    user_id = UnicodeAttribute(hash_key=True)
    plan = UnicodeAttribute(default="free")
    updated_at = UTCDateTimeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)


class UsageAccount(models.Model):
    """Admin placeholder (no table): a user's usage and plan live in DynamoDB, keyed by the user id.

    It exists so the admin lists "Usage and plans" and Django creates view/change permissions and LogEntry
    targets for it.
    """

    user_id = models.CharField(primary_key=True, max_length=200)

    class Meta:
        managed = False
        verbose_name = "usage account"
        verbose_name_plural = "usage and plans"

    def __str__(self) -> str:
        return self.user_id
