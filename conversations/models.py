"""Conversations and their messages in DynamoDB. See docs/data-model.md for the access patterns."""

from django.db import models
from pynamodb.attributes import (
    BooleanAttribute,
    JSONAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
    UnicodeSetAttribute,
    UTCDateTimeAttribute,
    VersionAttribute,
)
from pynamodb.indexes import AllProjection, GlobalSecondaryIndex
from pynamodb.models import Model

from config.dynamodb.tables import table_meta

# A conversation's stored title, whoever wrote it (the user, the title model, the first message).
TITLE_MAX_CHARS = 200


class ConversationsByUserIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user_updated"
        projection = AllProjection()

    user_id = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class ConversationsByUserEngineIndex(GlobalSecondaryIndex):
    class Meta:
        index_name = "by_user_engine_updated"
        projection = AllProjection()

    user_engine = UnicodeAttribute(hash_key=True)
    updated_at = UTCDateTimeAttribute(range_key=True)


class Conversation(Model):
    """The head item of a conversation; its messages are separate items (no 400 KB ceiling)."""

    Meta = table_meta("conversations")

    user_id = UnicodeAttribute(hash_key=True)
    conversation_id = UnicodeAttribute(range_key=True)
    engine_type = UnicodeAttribute()
    user_engine = UnicodeAttribute()
    title = UnicodeAttribute(default="")
    title_source = UnicodeAttribute(default="default")  # default | message | model | user
    created_at = UTCDateTimeAttribute()
    updated_at = UTCDateTimeAttribute()
    message_count = NumberAttribute(default=0)
    # The turn currently generating, so a conversation runs one generation at a time; the lease
    # lets a crashed worker's lock expire.
    active_turn_id = UnicodeAttribute(null=True)
    active_turn_expires_at = UTCDateTimeAttribute(null=True)
    # DynamoDB TTL: set from the engine type's retention on every turn (conversations/services/retention.py).
    expires_at = TTLAttribute(null=True)
    version = VersionAttribute()

    by_user = ConversationsByUserIndex()
    by_user_engine = ConversationsByUserEngineIndex()


class Message(Model):
    """One message; ``message_id`` sorts chronologically within its conversation."""

    Meta = table_meta("messages")

    conversation_key = UnicodeAttribute(hash_key=True)  # "<user_id>#<conversation_id>"
    message_id = UnicodeAttribute(range_key=True)
    role = UnicodeAttribute()  # user | assistant
    content = UnicodeAttribute(default="")
    created_at = UTCDateTimeAttribute()
    # complete | stopped | error; an answer is "streaming" while generated, "interrupted" if its worker died
    status = UnicodeAttribute(default="complete")
    turn_id = UnicodeAttribute(null=True)
    idempotency_key = UnicodeAttribute(null=True)
    engine_type = UnicodeAttribute(null=True)
    model_id = UnicodeAttribute(null=True)
    prompt_revision = NumberAttribute(null=True)
    stop_reason = UnicodeAttribute(null=True)
    error_code = UnicodeAttribute(null=True)
    input_tokens = NumberAttribute(null=True)
    output_tokens = NumberAttribute(null=True)
    cache_read_tokens = NumberAttribute(null=True)
    cache_write_tokens = NumberAttribute(null=True)
    usage_estimated = BooleanAttribute(null=True)
    cost_usd = NumberAttribute(null=True)
    price_version = UnicodeAttribute(null=True)
    latency_ms = NumberAttribute(null=True)
    expires_at = TTLAttribute(null=True)  # DynamoDB TTL, from the engine type's retention when written
    # While "streaming": what recovering the turn of a dead worker needs (slot, reservation, estimate), and when
    # the content was last checkpointed (conversations/services/turn_checkpoints.py).
    recovery = JSONAttribute(null=True)
    checkpointed_at = UTCDateTimeAttribute(null=True)


class FeedbackByEngineIndex(GlobalSecondaryIndex):
    """The staff report of one engine type over a time range."""

    class Meta:
        index_name = "by_engine_rated"
        projection = AllProjection()

    engine_type = UnicodeAttribute(hash_key=True)
    rated_at = UTCDateTimeAttribute(range_key=True)


class FeedbackByMonthIndex(GlobalSecondaryIndex):
    """The staff report of every engine type: one partition per UTC month, so a range is a few Queries."""

    class Meta:
        index_name = "by_month_rated"
        projection = AllProjection()

    rated_month = UnicodeAttribute(hash_key=True)  # "YYYY-MM" of rated_at
    rated_at = UTCDateTimeAttribute(range_key=True)


class Feedback(Model):
    """A user's 👍/👎 on one assistant message: its own item, keyed like the message, so rating is one write.

    It copies the message's engine type, prompt revision and model, so the staff report needs no message reads.
    Clearing a rating deletes the item; the report counts current ratings, so a change is never counted twice.
    """

    Meta = table_meta("feedback")

    conversation_key = UnicodeAttribute(hash_key=True)  # "<user_id>#<conversation_id>", as the message's
    message_id = UnicodeAttribute(range_key=True)
    user_id = UnicodeAttribute()
    conversation_id = UnicodeAttribute()
    rating = UnicodeAttribute()  # up | down
    comment = UnicodeAttribute(null=True)
    engine_type = UnicodeAttribute()
    prompt_revision = NumberAttribute(null=True)
    model_id = UnicodeAttribute(null=True)
    rated_at = UTCDateTimeAttribute()
    rated_month = UnicodeAttribute()
    expires_at = TTLAttribute(null=True)  # the message's: feedback goes with the message it rates

    by_engine = FeedbackByEngineIndex()
    by_month = FeedbackByMonthIndex()


class IdempotencyRecord(Model):
    """One item per (user, idempotencyKey): a resent send never starts a second paid generation."""

    Meta = table_meta("idempotency")

    key = UnicodeAttribute(hash_key=True)  # "<user_id>#<idempotency_key>"
    conversation_id = UnicodeAttribute()
    status = UnicodeAttribute(default="running")  # running | complete | stopped | error
    turn_id = UnicodeAttribute(null=True)
    user_message_id = UnicodeAttribute(null=True)
    assistant_message_id = UnicodeAttribute(null=True)
    result = JSONAttribute(null=True)
    created_at = UTCDateTimeAttribute()
    expires_at = TTLAttribute()


class ActiveGenerations(Model):
    """The generations one user has running, shared by every server process: caps concurrent generations.

    ``turns`` holds ``"<turn_id>|<lease expiry, epoch seconds>"`` strings; a string set, because ``ADD`` creates
    it on a missing item and ``size()`` bounds it in one conditional write.
    """

    Meta = table_meta("active_generations")

    user_id = UnicodeAttribute(hash_key=True)
    turns = UnicodeSetAttribute(null=True)


class UserConversationsEntry(models.Model):
    """Admin placeholder (no table) for the read-only staff pages of a user's conversations (conversations/admin.py);
    it provides the ``view_userconversationsentry`` permission that guards them."""

    user_id = models.CharField(max_length=128, primary_key=True)

    class Meta:
        managed = False
        verbose_name = "user's conversations"
        verbose_name_plural = "users' conversations"

    def __str__(self) -> str:
        return self.user_id
