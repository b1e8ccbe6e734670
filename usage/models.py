"""Token usage aggregates and plans in DynamoDB, updated with atomic ADDs."""

from pynamodb.attributes import NumberAttribute, UnicodeAttribute, UTCDateTimeAttribute
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from config.dynamodb import table_meta


class DailyUsageByDayIndex(GlobalSecondaryIndex):
    """All users' usage for one day (staff reports) without a Scan."""

    class Meta:
        index_name = "by_day"
        projection = AllProjection()

    day = UnicodeAttribute(hash_key=True)  # "YYYY-MM-DD"
    user_engine = UnicodeAttribute(range_key=True)  # "<user_id>#<engine_type>"


class DailyUsage(Model):
    """Usage of one user x UTC day x engine type."""

    Meta = table_meta("usage_daily")

    user_id = UnicodeAttribute(hash_key=True)
    day_engine = UnicodeAttribute(range_key=True)  # "YYYY-MM-DD#<engine_type>"
    day = UnicodeAttribute()
    user_engine = UnicodeAttribute()
    engine_type = UnicodeAttribute()
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    cache_read_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    total_tokens = NumberAttribute(default=0)
    message_count = NumberAttribute(default=0)
    cost_usd = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)

    by_day = DailyUsageByDayIndex()


class MonthlyUsageByMonthIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_month"
        projection = AllProjection()

    month = UnicodeAttribute(hash_key=True)  # "YYYY-MM"
    user_id = UnicodeAttribute(range_key=True)


class MonthlyUsage(Model):
    """Usage of one user x UTC month; also holds quota reservations of turns in flight."""

    Meta = table_meta("usage_monthly")

    user_id = UnicodeAttribute(hash_key=True)
    month = UnicodeAttribute(range_key=True)
    input_tokens = NumberAttribute(default=0)
    output_tokens = NumberAttribute(default=0)
    cache_read_tokens = NumberAttribute(default=0)
    cache_write_tokens = NumberAttribute(default=0)
    total_tokens = NumberAttribute(default=0)
    message_count = NumberAttribute(default=0)
    cost_usd = NumberAttribute(default=0)
    # Worst-case tokens reserved by turns that have not settled yet.
    reserved_tokens = NumberAttribute(default=0)
    updated_at = UTCDateTimeAttribute(null=True)

    by_month = MonthlyUsageByMonthIndex()


class UserPlan(Model):
    """A user's plan, set by staff only."""

    Meta = table_meta("user_plans")

    user_id = UnicodeAttribute(hash_key=True)
    plan = UnicodeAttribute(default="free")
    updated_at = UTCDateTimeAttribute(null=True)
    updated_by = UnicodeAttribute(null=True)
